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

    // A program written inside the container (overlay upper layer) next to
    // one from the image.
    let dropped = app.exec_sync(&[
        "sh",
        "-c",
        "mkdir -p /tmp/d && cp /bin/busybox /tmp/d/sleep && /tmp/d/sleep 3600 >/dev/null 2>&1 &",
    ]);
    assert_eq!(dropped.exit_code, 0, "{dropped:?}");
    wait_for_exe_in_cgroup(
        &format!("kubepods/besteffort/pod{uid}/{}", app.id),
        "/tmp/d/sleep",
    );

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
    assert!(!t.exe_upper_layer, "/bin/sleep comes from the image");
    let dropped_proc = st
        .threads()
        .find(|t| t.exe_path == "/tmp/d/sleep" && *t.container_id == app.id[..12])
        .unwrap_or_else(|| {
            let mine: Vec<_> = st
                .threads()
                .filter(|t| *t.container_id == app.id[..12])
                .map(|t| (t.pid, t.comm.clone(), t.exe_path.clone()))
                .collect();
            panic!("process of the dropped binary not seeded; container threads: {mine:?}")
        });
    assert!(dropped_proc.exe_upper_layer, "{dropped_proc:?}");

    // The pod's sandbox process is known as the pod's "POD" container.
    let sandbox = st
        .container(&pod.id[..12])
        .expect("sandbox container registered from its cgroup");
    assert!(sandbox.resolved, "{sandbox:?}");
    assert_eq!(sandbox.name, "POD");
    assert_eq!(sandbox.image, support::containerd::PAUSE_IMAGE);
    assert_eq!(
        sandbox.pod.as_ref().map(|p| p.uid.as_str()),
        Some(uid.as_str())
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

    // An interactive shell on a TTY.
    let (term, status) = app.exec_tty_input(&["/bin/sh"], b"echo typed-$((6*7)); exit\n");
    assert!(status.is_empty(), "interactive exec failed: {status}");
    assert!(term.contains("typed-42"), "{term:?}");

    // stop_container, as the responder uses it.
    rt.block_on(client.stop_container(&plain.id, 0)).unwrap();
    assert_eq!(plain.state(), ContainerState::ContainerExited);
    assert_eq!(app.state(), ContainerState::ContainerRunning);
}

/// Containers first seen in an exec event are resolved through CRI on the
/// spot; unknown ids are cached as unresolved and not asked again at once.
#[test]
fn exec_event_resolves_container_on_first_sight() {
    if !support::require_privileged("containerd state test") {
        return;
    }
    let uid = new_uid();
    let pod_name = unique("state-exec");
    let pod = Pod::start(&pod_name, "falco-test", &uid);
    let ctr = Container::start(&pod, "worker", IMAGE, &["/bin/sleep", "3600"], false);
    let pid = ctr.pid();
    let cgroup_text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let cgroup = primary_cgroup_path(&cgroup_text).unwrap().to_string();

    let mut st = StateTracker::new(StateConfig {
        cri_sockets: vec![PathBuf::from(SOCKET)],
        ..StateConfig::default()
    });
    let mut ev = exec_event(pid, &cgroup);
    st.apply(&mut ev);
    st.finish(&ev);
    // The event itself never waits for the runtime; the answer follows.
    assert!(
        st.settle_lookups(std::time::Duration::from_secs(5)),
        "CRI lookup not answered"
    );
    let t = st.thread(pid).expect("thread created lazily");
    assert_eq!(&*t.container_id, &ctr.id[..12]);
    assert_eq!(t.exe_path, "/bin/sleep");
    let c = st.container(&ctr.id).expect("container registered");
    assert!(c.resolved, "{c:?}");
    assert_eq!(c.name, "worker");
    assert!(!c.privileged);
    let p = c.pod.as_ref().unwrap();
    assert_eq!(
        (p.name.as_str(), p.namespace.as_str()),
        (pod_name.as_str(), "falco-test")
    );
    let lookups = st.stats().cri_lookups;
    assert_eq!(lookups, 1);

    // A well-formed id the runtime does not know: unresolved, asked again
    // with a growing backoff while it shows activity, never resolved.
    let ghost = "f".repeat(64);
    let ghost_cgroup = format!("/kubepods/besteffort/pod{uid}/{ghost}");
    let mut ev = exec_event(pid, &ghost_cgroup);
    st.apply(&mut ev);
    assert!(st.settle_lookups(std::time::Duration::from_secs(5)));
    let g = st.container(&ghost).expect("placeholder for unknown id");
    assert!(!g.resolved);
    assert_eq!(g.pod.as_ref().map(|p| p.uid.as_str()), Some(uid.as_str()));
    assert_eq!(st.stats().cri_failures, 1);
    let until = std::time::Instant::now() + std::time::Duration::from_millis(400);
    while std::time::Instant::now() < until {
        st.poll_metadata();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    st.settle_lookups(std::time::Duration::from_secs(5));
    let stats = st.stats();
    assert!(
        stats.cri_retries >= 2 && stats.cri_retries <= 5,
        "25, 50, 100, 200 ms backoff within 400 ms: {stats:?}"
    );
    assert_eq!(stats.cri_failures, stats.cri_retries + 1);
    assert!(!st.container(&ghost).expect("still registered").resolved);
}

fn exec_event(pid: i64, cgroup: &str) -> falco_sensor::event::Event {
    use falco_sensor::event::{Event, EventKind, EventType, ExeFileInfo, TaskContext};
    Event {
        num: 1,
        ts_ns: 1,
        cpu: 0,
        etype: EventType::Execve,
        res: 0,
        task: TaskContext {
            tid: pid,
            pid,
            ppid: 1,
            vtid: 1,
            vpid: 1,
            comm: "sleep".into(),
            loginuid: u32::MAX,
            ..TaskContext::default()
        },
        kind: EventKind::Exec {
            filename: "/bin/sleep".into(),
            argv: vec!["sleep".into(), "3600".into()],
            env: vec![],
            exe_path: "/bin/sleep".into(),
            cwd: "/".into(),
            exe_file: ExeFileInfo::default(),
            flags: 0,
            cgroup: cgroup.into(),
        },
    }
}

/// Waits until a process of the cgroup runs `exe` (the background job of an
/// exec has forked but maybe not yet exec'd when the exec returns).
fn wait_for_exe_in_cgroup(cgroup: &str, exe: &str) {
    let procs = Path::new("/sys/fs/cgroup/memory")
        .join(cgroup)
        .join("cgroup.procs");
    let unified = Path::new("/sys/fs/cgroup")
        .join(cgroup)
        .join("cgroup.procs");
    for _ in 0..500 {
        let text = std::fs::read_to_string(&procs)
            .or_else(|_| std::fs::read_to_string(&unified))
            .unwrap_or_default();
        let running = text.lines().any(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == Path::new(exe))
        });
        if running {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no process running {exe} in cgroup {cgroup}");
}
