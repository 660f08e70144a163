#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests in docs/deploy/.

Renders the kustomize overlays (base + overlay resources + strategic-merge
patches) with a small renderer below, validates every rendered object against
the Kubernetes 1.33 OpenAPI schemas (kubernetes-validate, strict: unknown fields
are errors), and checks the security properties the deployment promises.

Why a renderer of our own: no kubectl/kustomize binary is available offline
and neither ships on PyPI. The renderer supports exactly the kustomization
keys the manifests use (resources, components, patches with `path`) and refuses any other
key, so it cannot silently diverge from kustomize. Lists merge by `name` (as
Kubernetes' strategic merge does for containers, env, volumes, volumeMounts);
other lists are replaced, as they are for fields without a merge key.

Usage: validate_manifests.py [DEPLOY_DIR]   (exit status 1 on any failure)
"""

import copy
import pathlib
import sys

import kubernetes_validate
import yaml

K8S_VERSION = "1.33.0"
BASE_CAPS = {"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"}
READ_VERBS = {"get", "list", "watch"}
IPS_GRANTS = {
    ("", "pods", "delete"),
    ("", "pods", "patch"),
    ("networking.k8s.io", "networkpolicies", "create"),
    ("networking.k8s.io", "networkpolicies", "update"),
}
HOST_PATHS = {"/proc", "/etc", "/sys/kernel/btf", "/sys/fs/cgroup", "/run/containerd/containerd.sock"}
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "components", "patches"}


class CheckError(Exception):
    pass


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def key(obj):
    meta = obj.get("metadata", {})
    return (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace"), meta.get("name"))


def merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if k.startswith("$"):
                raise CheckError(f"patch directive {k} is not supported by this renderer")
            out[k] = merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    named = lambda xs: isinstance(xs, list) and xs and all(isinstance(x, dict) and "name" in x for x in xs)
    if named(base) and named(patch):
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            for i, existing in enumerate(out):
                if existing["name"] == item["name"]:
                    out[i] = merge(existing, item)
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def render(directory, used):
    directory = pathlib.Path(directory)
    kfile = directory / "kustomization.yaml"
    used.add(kfile.resolve())
    (kust,) = load_docs(kfile)
    unknown = set(kust) - KUSTOMIZATION_KEYS
    if unknown:
        raise CheckError(f"{kfile}: keys {sorted(unknown)} not supported by this renderer")
    objects = []
    for res in kust.get("resources", []):
        path = (directory / res).resolve()
        if path.is_dir():
            objects.extend(render(path, used))
        else:
            used.add(path)
            objects.extend(load_docs(path))
    seen = set()
    for obj in objects:
        if key(obj) in seen:
            raise CheckError(f"{directory}: duplicate object {key(obj)}")
        seen.add(key(obj))
    # As kustomize: components apply after the resources, before the
    # kustomization's own patches.
    for comp in kust.get("components", []):
        cdir = (directory / comp).resolve()
        cfile = cdir / "kustomization.yaml"
        used.add(cfile)
        (ckust,) = load_docs(cfile)
        if ckust.get("kind") != "Component":
            raise CheckError(f"{cfile}: a component must be kind: Component")
        if set(ckust) - KUSTOMIZATION_KEYS:
            raise CheckError(f"{cfile}: keys {sorted(set(ckust) - KUSTOMIZATION_KEYS)} not supported by this renderer")
        if ckust.get("resources") or ckust.get("components"):
            raise CheckError(f"{cfile}: only patches are supported in a component")
        apply_patches(objects, cdir, ckust, cfile, used)
    apply_patches(objects, directory, kust, kfile, used)
    return objects


def apply_patches(objects, directory, kust, kfile, used):
    for p in kust.get("patches", []):
        if set(p) != {"path"}:
            raise CheckError(f"{kfile}: only patches with `path` are supported, got {p}")
        path = (directory / p["path"]).resolve()
        used.add(path)
        for patch in load_docs(path):
            matches = [i for i, o in enumerate(objects) if key(o) == key(patch)]
            if len(matches) != 1:
                raise CheckError(f"{path}: patch target {key(patch)} matches {len(matches)} objects")
            objects[matches[0]] = merge(objects[matches[0]], patch)


def schema_validate(objects, where):
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            raise CheckError(f"{where}: {obj['kind']}/{obj['metadata']['name']}: {path}: {e.message}")
        except kubernetes_validate.utils.SchemaNotFoundError as e:
            raise CheckError(f"{where}: {obj['kind']}: no schema: {e}")


def find(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if not found:
        raise CheckError(f"no {kind} {name or ''}")
    return found


def walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def grants(objects):
    out = set()
    for role in find(objects, "ClusterRole"):
        for rule in role.get("rules", []):
            for g in rule.get("apiGroups", []):
                for r in rule.get("resources", []):
                    for v in rule.get("verbs", []):
                        out.add((g, r, v))
    bound = {b["roleRef"]["name"] for b in find(objects, "ClusterRoleBinding")}
    roles = {r["metadata"]["name"] for r in find(objects, "ClusterRole")}
    if roles != bound:
        raise CheckError(f"ClusterRoles {sorted(roles)} vs bound {sorted(bound)}")
    return out


def sensor_container(objects):
    (ds,) = find(objects, "DaemonSet", "falco-sensor")
    (c,) = [c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "sensor"]
    return ds, c


def sensor_config(objects):
    (cm,) = find(objects, "ConfigMap", "falco-sensor-config")
    return yaml.safe_load(cm["data"]["config.yaml"])


def check_common(objects, where):
    for node in walk(objects):
        if isinstance(node, dict) and node.get("privileged") is True:
            raise CheckError(f"{where}: privileged: true")
    ds, c = sensor_container(objects)
    pod = ds["spec"]["template"]["spec"]
    if pod.get("hostPID") is not True:
        raise CheckError(f"{where}: DaemonSet must set hostPID: true")
    if pod.get("hostNetwork"):
        raise CheckError(f"{where}: hostNetwork would put the gRPC port on the node")
    if {"operator": "Exists"} not in pod.get("tolerations", []):
        raise CheckError(f"{where}: DaemonSet must tolerate every taint")
    sc = c["securityContext"]
    if sc.get("readOnlyRootFilesystem") is not True:
        raise CheckError(f"{where}: readOnlyRootFilesystem must be true")
    if sc["capabilities"].get("drop") != ["ALL"]:
        raise CheckError(f"{where}: capabilities must drop ALL")
    host = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    if host != HOST_PATHS:
        raise CheckError(f"{where}: hostPath volumes {sorted(host)}, expected {sorted(HOST_PATHS)}")
    host_vols = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    for m in c["volumeMounts"]:
        path = host_vols.get(m["name"])
        # A unix socket must be writable to connect(); everything else from the host is read-only.
        if path and path != "/run/containerd/containerd.sock" and m.get("readOnly") is not True:
            raise CheckError(f"{where}: host path {path} must be mounted readOnly")
    for ctr in pod["containers"] + pod.get("initContainers", []):
        res = ctr.get("resources", {})
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(part, {})):
                raise CheckError(f"{where}: container {ctr['name']} needs cpu and memory {part}")
    for probe in ("livenessProbe", "readinessProbe"):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != "/healthz" or get.get("port") != "metrics":
            raise CheckError(f"{where}: {probe} must GET /healthz on the metrics port")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    if ports != {"grpc": 5060, "metrics": 8765}:
        raise CheckError(f"{where}: container ports {ports}")
    (svc,) = find(objects, "Service", "falco-sensor")
    sports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    if svc["spec"].get("type") != "ClusterIP" or sports != {"grpc": 5060, "metrics": 8765}:
        raise CheckError(f"{where}: Service must be ClusterIP with grpc 5060 and metrics 8765")
    env = {e["name"] for e in c.get("env", [])}
    if not {"POD_NAME", "POD_NAMESPACE", "NODE_NAME"} <= env:
        raise CheckError(f"{where}: sensor needs POD_NAME, POD_NAMESPACE, NODE_NAME from the downward API")
    cfg = sensor_config(objects)
    if cfg["grpc"]["listen"] != "0.0.0.0:5060" or cfg["grpc"].get("allow_actions") is not False:
        raise CheckError(f"{where}: grpc must listen on the pod IP with actions off")
    ns = {n["metadata"]["name"] for n in find(objects, "Namespace")}
    if "falco-sensor" not in cfg["response"]["protected_namespaces"] or ns != {"falco-sensor"}:
        raise CheckError(f"{where}: the sensor's namespace must be protected")
    return c, cfg


def check_base(objects):
    c, cfg = check_common(objects, "base")
    caps = set(c["securityContext"]["capabilities"]["add"])
    if caps != BASE_CAPS:
        raise CheckError(f"base: capabilities {sorted(caps)}, expected {sorted(BASE_CAPS)}")
    g = grants(objects)
    if {v for (_, _, v) in g} - READ_VERBS:
        raise CheckError(f"base: RBAC must be read-only, grants {sorted(g)}")
    if cfg["response"]["mode"] != "ids":
        raise CheckError("base: response.mode must be ids")


def check_ids(objects, base):
    check_base(objects)
    if objects != base:
        raise CheckError("ids overlay must render to the base")


def check_ips(objects, base):
    c, cfg = check_common(objects, "ips")
    caps = set(c["securityContext"]["capabilities"]["add"])
    if caps != BASE_CAPS | {"KILL"}:
        raise CheckError(f"ips: capabilities {sorted(caps)}, expected base + KILL")
    added = grants(objects) - grants(base)
    if added != IPS_GRANTS:
        raise CheckError(f"ips: RBAC adds {sorted(added)}, expected exactly {sorted(IPS_GRANTS)}")
    if not grants(base) <= grants(objects):
        raise CheckError("ips: must keep the base's read grants")
    if cfg["response"]["mode"] != "ips":
        raise CheckError("ips: response.mode must be ips")
    base_cfg = sensor_config(base)
    base_cfg["response"]["mode"] = "ips"
    if base_cfg != cfg:
        raise CheckError("ips: config.yaml must equal the base's except response.mode")


def check_fleet(objects, base):
    c, cfg = check_common(objects, "fleet")
    nats = cfg["outputs"].get("nats", {})
    if nats.get("enabled") is not True or not nats.get("url") or not nats.get("creds_file"):
        raise CheckError("fleet: outputs.nats must be enabled with a url and a creds_file")
    base_cfg = sensor_config(base)
    base_cfg["outputs"]["nats"] = nats
    if base_cfg != cfg:
        raise CheckError("fleet: config.yaml must equal the base's except outputs.nats")
    if grants(objects) != grants(base):
        raise CheckError("fleet: must not change RBAC")
    if c["securityContext"] != sensor_container(base)[1]["securityContext"]:
        raise CheckError("fleet: must not change the sensor's securityContext")
    ds, _ = sensor_container(objects)
    vols = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    creds = vols.get("nats-creds", {}).get("secret", {})
    if creds.get("secretName") != "falco-sensor-nats":
        raise CheckError("fleet: the NATS credentials come from the Secret falco-sensor-nats")
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    m = mounts.get("nats-creds", {})
    if m.get("readOnly") is not True or not nats["creds_file"].startswith(m.get("mountPath", "?") + "/"):
        raise CheckError("fleet: creds_file must be under the read-only nats-creds mount")


def check_dockerfile(path):
    text = path.read_text()
    stages = [l.split()[1] for l in text.splitlines() if l.startswith("FROM ")]
    if len(stages) < 2 or "slim" not in stages[-1]:
        raise CheckError(f"{path}: expected a multi-stage build ending in a slim runtime, got {stages}")
    for needed in ("clang", "libelf-dev", "zlib1g-dev", "libelf1"):
        if needed not in text:
            raise CheckError(f"{path}: does not install {needed}")
    # The BPF object builds from the vendored vmlinux.h: an image build must
    # not depend on the build host's kernel BTF.
    for line in text.splitlines():
        if not line.lstrip().startswith("#") and "/sys/kernel/btf" in line:
            raise CheckError(f"{path}: the build reads /sys/kernel/btf")


def self_test(base, ips, fleet):
    """The checks must catch what they are meant to catch."""
    def must_fail(name, fn):
        try:
            fn()
        except CheckError:
            return
        raise CheckError(f"self-test: check did not catch {name}")

    bad = copy.deepcopy(base)
    sensor_container(bad)[1]["securityContext"]["privileged"] = True
    must_fail("privileged: true", lambda: check_base(bad))
    bad = copy.deepcopy(base)
    for m in sensor_container(bad)[1]["volumeMounts"]:
        m.pop("readOnly", None)
    must_fail("a writable host /proc", lambda: check_base(bad))
    bad = copy.deepcopy(base)
    find(bad, "ClusterRole")[0]["rules"][0]["verbs"].append("delete")
    must_fail("a write verb in base RBAC", lambda: check_base(bad))
    bad = copy.deepcopy(ips)
    find(bad, "ClusterRole", "falco-sensor-respond")[0]["rules"][0]["verbs"].append("create")
    must_fail("an extra ips grant", lambda: check_ips(bad, base))
    bad = copy.deepcopy(fleet)
    for m in sensor_container(bad)[1]["volumeMounts"]:
        if m["name"] == "nats-creds":
            m.pop("readOnly")
    must_fail("a writable NATS credentials mount", lambda: check_fleet(bad, base))
    bad = copy.deepcopy(base)
    sensor_container(bad)[0]["spec"]["template"]["spec"]["hostPid"] = True
    must_fail("a misspelt field", lambda: schema_validate(bad, "self-test"))


def main():
    deploy = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2] / "docs/deploy")
    used = set()
    try:
        base = render(deploy / "base", used)
        rendered = {
            "ids": render(deploy / "overlays/ids", used),
            "ips": render(deploy / "overlays/ips", used),
            "fleet": render(deploy / "overlays/fleet", used),
        }
        for name, objs in [("base", base)] + list(rendered.items()):
            schema_validate(objs, name)
            print(f"ok: {name}: {len(objs)} objects valid against Kubernetes {K8S_VERSION} (strict)")
        check_base(base)
        check_ids(rendered["ids"], base)
        check_ips(rendered["ips"], base)
        check_fleet(rendered["fleet"], base)
        print("ok: no privileged, hostPID, capabilities, mounts, probes, RBAC minimal in ids, ips adds exactly its grants, fleet adds only the NATS sink and its Secret")
        unused = {p.resolve() for p in deploy.rglob("*.yaml")} - used
        if unused:
            raise CheckError(f"manifests not referenced by any kustomization: {sorted(map(str, unused))}")
        check_dockerfile(deploy / "Dockerfile")
        self_test(base, rendered["ips"], rendered["fleet"])
        print("ok: Dockerfile; self-test: the checks catch violations")
    except (CheckError, yaml.YAMLError, KeyError, ValueError) as e:
        print(f"FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
