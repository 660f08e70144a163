//! Container identity from a cgroup path.
//!
//! Only exact 64-hex-digit ids in shapes that container runtimes really create
//! count. Anything else is the host: in particular this VM puts every process
//! in a memory cgroup `/process_api/<32 hex>`, which is not a container.

/// A container found in a cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// Full 64 hex digit container id.
    pub id: String,
    /// "containerd", "cri-o", "docker" or "podman".
    pub runtime: &'static str,
    /// Kubernetes pod uid (with dashes) when the path is under `kubepods`.
    pub pod_uid: Option<String>,
}

/// systemd scope prefixes (`<prefix><id>.scope`) and the runtime that creates them.
const SCOPE_PREFIXES: &[(&str, &str)] = &[
    ("cri-containerd-", "containerd"),
    ("crio-", "cri-o"),
    ("docker-", "docker"),
    ("libpod-", "podman"),
];

/// Extracts the container (and pod) from one cgroup path such as
/// `/kubepods/besteffort/pod<uid>/<id>` or
/// `/kubepods.slice/.../cri-containerd-<id>.scope`. `None` means the host.
pub fn container_id_from_cgroup(path: &str) -> Option<ContainerRef> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let pod_uid = components.iter().find_map(|c| pod_uid_of(c));
    let under_kubepods = components.first().is_some_and(|c| {
        *c == "kubepods" || c.starts_with("kubepods.") || c.starts_with("kubepods-")
    });
    // The innermost matching component wins: podman and systemd may nest a
    // `container` or `init.scope` group below the container's own.
    for (i, comp) in components.iter().enumerate().rev() {
        if let Some((id, runtime)) = scoped_id(comp) {
            return Some(ContainerRef {
                id: id.to_string(),
                runtime,
                pod_uid,
            });
        }
        if is_container_id(comp) {
            let parent = i.checked_sub(1).map(|p| components[p]);
            let runtime = match parent {
                Some("docker") => "docker",
                Some("libpod_parent") => "podman",
                Some(p) if pod_uid_of(p).is_some() && under_kubepods => "containerd",
                _ => continue,
            };
            return Some(ContainerRef {
                id: (*comp).to_string(),
                runtime,
                pod_uid,
            });
        }
    }
    None
}

/// Finds the container in the contents of `/proc/<pid>/cgroup`, trying every
/// hierarchy (v1 controllers and the v2 `0::` line).
pub fn container_from_proc_cgroup(contents: &str) -> Option<ContainerRef> {
    contents
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .find_map(container_id_from_cgroup)
}

/// The cgroup path rules and the tracker use for a process: the memory
/// controller's on cgroup v1, the unified hierarchy's (`0::`) otherwise.
pub fn primary_cgroup_path(contents: &str) -> Option<&str> {
    let mut unified = None;
    for line in contents.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            return Some(path);
        }
        if controllers.is_empty() {
            unified = Some(path);
        }
    }
    unified
}

/// `<prefix><id>.scope`, `<prefix><id>` (podman's cgroupfs layout) and the
/// `...slice:cri-containerd:<id>` form of containerd's systemd driver.
fn scoped_id(comp: &str) -> Option<(&str, &'static str)> {
    if let Some((_, id)) = comp.rsplit_once(":cri-containerd:") {
        return is_container_id(id).then_some((id, "containerd"));
    }
    if let Some((_, id)) = comp.rsplit_once(":crio:") {
        return is_container_id(id).then_some((id, "cri-o"));
    }
    let stem = comp.strip_suffix(".scope").unwrap_or(comp);
    SCOPE_PREFIXES.iter().find_map(|(prefix, runtime)| {
        let id = stem.strip_prefix(prefix)?;
        is_container_id(id).then_some((id, *runtime))
    })
}

/// `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid_with_underscores>.slice`
/// (systemd) → the pod uid with dashes.
fn pod_uid_of(comp: &str) -> Option<String> {
    // containerd's systemd form appends `:cri-containerd:<id>` to the pod slice.
    let comp = comp.split(':').next().unwrap_or(comp);
    let raw = if let Some(slice) = comp.strip_suffix(".slice") {
        let idx = slice.rfind("-pod")?;
        slice.get(idx + 4..)?
    } else {
        comp.strip_prefix("pod")?
    };
    let uid = raw.replace('_', "-");
    is_pod_uid(&uid).then_some(uid)
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A Kubernetes UID is an RFC 4122 UUID: 8-4-4-4-12 hex digits.
fn is_pod_uid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ID: &str = "4b3f1c2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";
    const UID: &str = "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718";
    const UID_US: &str = "1f2e3d4c_5b6a_7980_a1b2_c3d4e5f60718";

    #[test]
    fn recognised_shapes() {
        let cases: Vec<(String, &str, Option<&str>)> = vec![
            // containerd / CRI, cgroupfs driver, v1 and v2 look the same
            (
                format!("/kubepods/besteffort/pod{UID}/{ID}"),
                "containerd",
                Some(UID),
            ),
            (
                format!("/kubepods/burstable/pod{UID}/{ID}"),
                "containerd",
                Some(UID),
            ),
            (format!("/kubepods/pod{UID}/{ID}"), "containerd", Some(UID)),
            // containerd, systemd driver
            (
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_US}.slice/cri-containerd-{ID}.scope"
                ),
                "containerd",
                Some(UID),
            ),
            (
                format!("/kubepods.slice/kubepods-pod{UID_US}.slice/cri-containerd-{ID}.scope"),
                "containerd",
                Some(UID),
            ),
            (
                format!(
                    "/system.slice/containerd.service/kubepods-burstable-pod{UID_US}.slice:cri-containerd:{ID}"
                ),
                "containerd",
                Some(UID),
            ),
            // CRI-O
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_US}.slice/crio-{ID}.scope"
                ),
                "cri-o",
                Some(UID),
            ),
            (
                format!("/kubepods/besteffort/pod{UID}/crio-{ID}"),
                "cri-o",
                Some(UID),
            ),
            // docker
            (format!("/docker/{ID}"), "docker", None),
            (format!("/system.slice/docker-{ID}.scope"), "docker", None),
            // podman
            (format!("/machine.slice/libpod-{ID}.scope"), "podman", None),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                "podman",
                None,
            ),
            (format!("/libpod_parent/libpod-{ID}"), "podman", None),
            (format!("/libpod_parent/{ID}"), "podman", None),
            (
                format!(
                    "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
                ),
                "podman",
                None,
            ),
        ];
        for (path, runtime, uid) in cases {
            let got = container_id_from_cgroup(&path)
                .unwrap_or_else(|| panic!("no container found in {path}"));
            assert_eq!(got.id, ID, "{path}");
            assert_eq!(got.runtime, runtime, "{path}");
            assert_eq!(got.pod_uid.as_deref(), uid, "{path}");
        }
    }

    #[test]
    fn host_and_lookalike_paths_are_not_containers() {
        let short = &ID[..32];
        let cases = [
            "/".to_string(),
            String::new(),
            // this VM's host processes
            format!("/process_api/{short}"),
            "/process_api/5c979a74b00b18caa0db835341546e83".to_string(),
            "/user.slice/user-0.slice/session-1.scope".to_string(),
            "/system.slice/containerd.service".to_string(),
            // pod-level cgroup (the pause process is in a container, not here)
            format!("/kubepods/besteffort/pod{UID}"),
            // 64 hex under an unknown parent
            format!("/process_api/{ID}"),
            format!("/{ID}"),
            // wrong lengths and non-hex
            format!("/docker/{}", &ID[..63]),
            format!("/docker/{ID}0"),
            format!("/docker/{}", ID.replace('a', "g")),
            format!("/system.slice/docker-{}.scope", &ID[..12]),
            format!("/kubepods/besteffort/podnot-a-uid/{ID}"),
            // conmon helper scopes are the runtime's, not the container's
            format!("/machine.slice/libpod-conmon-{ID}.scope"),
            format!("/system.slice/crio-conmon-{ID}.scope"),
        ];
        for path in cases {
            assert_eq!(container_id_from_cgroup(&path), None, "{path}");
        }
    }

    #[test]
    fn proc_cgroup_file_v1_hybrid_and_v2() {
        let host_v1 =
            "9:name=systemd:/\n4:memory:/process_api/5c979a74b00b18caa0db835341546e83\n0::/\n";
        assert_eq!(container_from_proc_cgroup(host_v1), None);
        assert_eq!(
            primary_cgroup_path(host_v1),
            Some("/process_api/5c979a74b00b18caa0db835341546e83")
        );

        let ctr_v1 = format!(
            "9:name=systemd:/kubepods/besteffort/pod{UID}/{ID}\n4:memory:/kubepods/besteffort/pod{UID}/{ID}\n1:cpu,cpuacct:/kubepods/besteffort/pod{UID}/{ID}\n0::/\n"
        );
        let got = container_from_proc_cgroup(&ctr_v1).map(|c| c.id);
        assert_eq!(got.as_deref(), Some(ID));
        assert_eq!(
            primary_cgroup_path(&ctr_v1),
            Some(format!("/kubepods/besteffort/pod{UID}/{ID}").as_str())
        );

        let ctr_v2 = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(
            container_from_proc_cgroup(&ctr_v2).map(|c| c.runtime),
            Some("docker")
        );
        assert_eq!(
            primary_cgroup_path(&ctr_v2),
            Some(format!("/system.slice/docker-{ID}.scope").as_str())
        );
        assert_eq!(container_from_proc_cgroup("garbage without colons"), None);
    }
}
