//! End to end with the upstream Falco rulesets (falco_rules, incubating,
//! sandbox; read unmodified from ../shared/compat/falco-rules), the real
//! kernel and real containerd: a plain, unprivileged pod starting raises no
//! alert, and a pod mounting the host's /proc raises "Launch Sensitive Mount
//! Container" with the container's metadata, although that rule fires on
//! the container's very first exec.
//!
//! Privileged: needs root (eBPF, containerd). Fails loudly otherwise unless
//! SKIP_PRIVILEGED=1.

mod support;

use falco_proto::v1::Alert;
use std::path::PathBuf;
use std::time::Duration;
use support::containerd::{Container, IMAGE, Pod, new_uid, unique};
use support::sensor::{Sensor, collect, runtime, summary};

fn upstream(file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/compat/falco-rules")
        .join(file);
    assert!(p.exists(), "upstream rules missing: {}", p.display());
    p.display().to_string()
}

fn short(a: &Alert) -> String {
    a.container
        .as_ref()
        .map(|c| c.id.clone())
        .unwrap_or_default()
}

#[test]
fn plain_pod_is_quiet_and_a_proc_mount_is_caught_at_start() {
    if !support::require_privileged("the upstream rules pod test") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = Vec::new();
    for f in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        args.push("-r".to_string());
        args.push(upstream(f));
    }
    let mut sensor = Sensor::start(dir.path(), &args);
    let rt = runtime();
    let mut client = rt.block_on(sensor.connect());

    let ns = unique("up-ns");
    let plain_pod = Pod::start(&unique("plain"), &ns, &new_uid());
    let plain = Container::start(&plain_pod, "app", IMAGE, &["sleep", "3600"], false);
    let mount_pod = Pod::start(&unique("procmount"), &ns, &new_uid());
    let mounted = Container::start_with_mounts(
        &mount_pod,
        "agent",
        IMAGE,
        &["sleep", "3600"],
        false,
        &[("/proc", "/host/proc")],
    );
    let plain_ids = [plain.id[..12].to_string(), plain_pod.id[..12].to_string()];
    let mounted_id = mounted.id[..12].to_string();

    let alerts = rt.block_on(collect(&mut client, Duration::from_secs(30), |al| {
        al.iter()
            .any(|a| a.rule == "Launch Sensitive Mount Container" && short(a) == mounted_id)
    }));
    // Give the plain pod's start the same time to (wrongly) alert.
    let later = rt.block_on(collect(&mut client, Duration::from_secs(3), |_| false));
    let all = summary(&later);

    let noisy: Vec<&Alert> = later
        .iter()
        .filter(|a| plain_ids.contains(&short(a)))
        .collect();
    assert!(
        noisy.is_empty(),
        "a plain pod start raised alerts:\n{}",
        summary(&noisy.into_iter().cloned().collect::<Vec<_>>())
    );
    let hit = alerts
        .iter()
        .find(|a| a.rule == "Launch Sensitive Mount Container" && short(a) == mounted_id)
        .unwrap_or_else(|| panic!("no sensitive mount alert for the /proc mount:\n{all}"));
    assert_eq!(hit.output_fields["container.name"], "agent");
    assert_eq!(hit.output_fields["k8s.ns.name"], ns);
    assert!(
        hit.output.contains("/host/proc"),
        "mounts listed: {}",
        hit.output
    );
    drop(mounted);
    drop(plain);
    drop(mount_pod);
    drop(plain_pod);
}
