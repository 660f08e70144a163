//! Container identity and metadata against a real containerd, driven like
//! the kubelet drives it. Privileged: fails loudly without root unless
//! SKIP_PRIVILEGED=1.

#![allow(clippy::unwrap_used)]

mod support;

use falco_proto::cri::v1::ContainerState;
use falco_sensor::state::cgroup::{container_from_proc_cgroup, primary_cgroup_path};
use falco_sensor::state::cri::CriClient;
use falco_sensor::state::{StateConfig, StateTracker, StateView};
use std::path::{Path, PathBuf};
use support::containerd::{Container, IMAGE, Pod, SOCKET, new_uid, unique};

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn pod_container_metadata_exec_and_stop() {
    if !support::require_privileged("containerd state test") {
        return;
    }
    let uid = new_uid();
    let pod_name = unique("state-web");
    let pod = Pod::start(&pod_name, "falco-test", &uid);
    let app = Container::start(&pod, "app", IMAGE, &["/bin/sleep", "3600"], true);
    let plain = Container::start(&pod, "plain", IMAGE, &["/bin/sleep", "3600"], false);
    let pid = app.pid();

    // The cgroup maps to exactly this container and pod.
    let cgroup_text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let found = container_from_proc_cgroup(&cgroup_text).expect("container found in cgroup");
    assert_eq!(found.id, app.id);
    assert_eq!(found.runtime, "containerd");
    assert_eq!(found.pod_uid.as_deref(), Some(uid.as_str()));
    assert_eq!(
        primary_cgroup_path(&cgroup_text),
        Some(format!("/kubepods/besteffort/pod{uid}/{}", app.id).as_str())
    );

    // CriClient: metadata straight from the runtime.
    let rt = client_runtime();
    let client = rt
        .block_on(async { CriClient::connect(Path::new(SOCKET)) })
        .unwrap();
    let version = rt.block_on(client.version()).unwrap();
    assert_eq!(version.runtime_name, "containerd");
    let info = rt.block_on(client.container_info(&app.id)).unwrap();
    assert_eq!(info.full_id, app.id);
    assert_eq!(info.id, app.id[..12]);
    assert_eq!(info.name, "app");
    assert_eq!(info.image, IMAGE);
    assert_eq!(info.image_repository, "localhost/falco-test/busybox");
    assert_eq!(info.image_tag, "1.0");
    assert!(info.privileged);
    assert!(info.start_ns > 0);
    let p = info.pod.as_ref().expect("pod metadata");
    assert_eq!(p.name, pod_name);
    assert_eq!(p.namespace, "falco-test");
    assert_eq!(p.uid, uid);
    assert_eq!(p.sandbox_id, pod.id);
    assert_eq!(p.labels.get("app").map(String::as_str), Some("falco-test"));
    let plain_info = rt.block_on(client.container_info(&plain.id)).unwrap();
    assert_eq!(plain_info.name, "plain");
    assert!(!plain_info.privileged);

    // The tracker: seeding finds the container process and resolves it.
    let mut st = StateTracker::new(StateConfig {
        cri_sockets: vec![PathBuf::from(SOCKET)],
        ..StateConfig::default()
    });
    st.seed_from_proc().unwrap();
    let t = st.process(pid).expect("container process seeded");
    assert_eq!(&*t.container_id, &app.id[..12]);
    assert_eq!(t.comm, "sleep");
    let c = st.container(&t.container_id).expect("container known");
    assert!(c.resolved, "resolved through CRI: {c:?}");
    assert_eq!(c.name, "app");
    assert_eq!(c.image_repository, "localhost/falco-test/busybox");
    assert_eq!(c.runtime, "containerd");
    assert_eq!(
        c.pod.as_ref().map(|p| p.name.as_str()),
        Some(pod_name.as_str())
    );
    // Users come from the container's own /etc/passwd.
    assert_eq!(st.user_name(&t.container_id, 1000), Some("app"));
    assert_eq!(
        st.user_home_shell(&t.container_id, 1000),
        Some(("/home/app", "/bin/sh"))
    );
    // This test process is on the host.
    let me = st.process(i64::from(std::process::id())).unwrap();
    assert_eq!(&*me.container_id, "host");

    // Exec without a TTY runs in the container's cgroup.
    let out = app.exec_sync(&["cat", "/proc/self/cgroup"]);
    assert_eq!(out.exit_code, 0, "{out:?}");
    assert_eq!(
        container_from_proc_cgroup(&out.stdout).map(|c| c.id),
        Some(app.id.clone())
    );
    let who = app.exec_sync(&["id", "-u"]);
    assert_eq!(who.stdout.trim(), "0");

    // Exec with a TTY.
    let (term, status) = app.exec_tty(&["/bin/sh", "-c", "tty; test -t 1 && echo is-a-tty"]);
    assert!(status.is_empty(), "exec failed: {status}");
    assert!(term.contains("/dev/pts/"), "{term:?}");
    assert!(term.contains("is-a-tty"), "{term:?}");

    // stop_container, as the responder uses it.
    rt.block_on(client.stop_container(&plain.id, 0)).unwrap();
    assert_eq!(plain.state(), ContainerState::ContainerExited);
    assert_eq!(app.state(), ContainerState::ContainerRunning);
}
