//! Seeding from /proc: a process started before the tracker is known with
//! its command line, cwd and ancestry back to this test process.

#![allow(clippy::unwrap_used)]

use falco_sensor::state::{StateConfig, StateTracker, StateView};
use std::process::{Command, Stdio};

#[test]
fn process_started_before_the_tracker_is_known_with_ancestry() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("sh")
        .args(["-c", "sleep 30; exit 0"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sh_pid = i64::from(child.id());
    // The shell forks sleep; wait until that grandchild exists.
    let sleep_pid = (0..200)
        .find_map(|_| {
            let found = std::fs::read_to_string(format!("/proc/{sh_pid}/task/{sh_pid}/children"))
                .ok()
                .and_then(|s| {
                    s.split_whitespace()
                        .next()
                        .and_then(|p| p.parse::<i64>().ok())
                });
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            found
        })
        .expect("sh started sleep");

    let mut st = StateTracker::new(StateConfig {
        cri_enabled: false,
        ..StateConfig::default()
    });
    let n = st.seed_from_proc().unwrap();
    assert!(n > 3, "seeded {n} threads");

    let sleep = st.process(sleep_pid).expect("sleep known after seeding");
    assert_eq!(sleep.comm, "sleep");
    assert_eq!(sleep.args, vec!["30".to_string()]);
    assert_eq!(sleep.ppid, sh_pid);
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(sleep.cwd, cwd.to_string_lossy());
    assert_eq!(&*sleep.container_id, "host");

    let sh = st.process(sleep.ppid).expect("parent sh known");
    assert_eq!(sh.comm, "sh");
    assert_eq!(sh.exe, "sh");
    assert_eq!(
        sh.args,
        vec!["-c".to_string(), "sleep 30; exit 0".to_string()]
    );
    assert_eq!(sh.cmdline(), "sh -c sleep 30; exit 0");

    // Walk proc.aname[N]-style up to this test process.
    let me = i64::from(std::process::id());
    let mut cur = sh;
    let mut hops = 0;
    while cur.pid != me {
        cur = st
            .process(cur.ppid)
            .unwrap_or_else(|| panic!("ancestor {} of {} unknown", cur.ppid, cur.pid));
        hops += 1;
        assert!(hops < 64, "no path to the test process");
    }
    assert_eq!(hops, 1);
    let test_proc = st.process(me).unwrap();
    assert!(!test_proc.exe_path.is_empty());
    // This process's fds were seeded too.
    assert!(st.fd(me, 0).is_some() || st.fd(me, 1).is_some());

    child.kill().unwrap();
    child.wait().unwrap();
}

/// Sockets and files open before seeding get their kinds and names.
#[test]
fn fds_open_before_seeding_are_named() {
    use falco_sensor::state::FdKind;
    use std::os::fd::AsRawFd;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("s.sock");
    let unix = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let file_path = dir.path().join("data.txt");
    let file = std::fs::File::create(&file_path).unwrap();

    let mut st = StateTracker::new(StateConfig {
        cri_enabled: false,
        ..StateConfig::default()
    });
    st.seed_from_proc().unwrap();
    let me = i64::from(std::process::id());
    let fd = |raw: i32| st.fd(me, i64::from(raw)).cloned();

    let l = fd(listener.as_raw_fd()).expect("listener fd");
    assert_eq!(l.kind, FdKind::Ipv4Socket);
    assert_eq!(l.name, format!("127.0.0.1:{port}"));
    let c = fd(client.as_raw_fd()).expect("client fd");
    assert!(c.connected);
    let client_port = client.local_addr().unwrap().port();
    assert_eq!(c.name, format!("127.0.0.1:{client_port}->127.0.0.1:{port}"));
    assert!(fd(accepted.as_raw_fd()).is_some_and(|a| a.connected));
    let u = fd(unix.as_raw_fd()).expect("unix fd");
    assert_eq!(u.kind, FdKind::UnixSocket);
    assert_eq!(u.name, sock_path.to_string_lossy());
    let f = fd(file.as_raw_fd()).expect("file fd");
    assert_eq!(f.kind, FdKind::File);
    assert_eq!(f.name, file_path.canonicalize().unwrap().to_string_lossy());
    assert_ne!(f.flags & 1, 0, "opened for writing (O_WRONLY)");
}

/// A thread first seen in an event (its process never seen) is read from
/// /proc together with its process's main thread.
#[test]
fn unseen_thread_is_read_from_proc_with_its_process() {
    use falco_sensor::event::{Event, EventKind, EventType, TaskContext};

    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::Builder::new()
        .name("probe-me".into())
        .spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(i64::from(unsafe { libc::gettid() })).unwrap();
            let _ = stop_rx.recv();
        })
        .unwrap();
    let tid = rx.recv().unwrap();
    let me = i64::from(std::process::id());

    let mut st = StateTracker::new(StateConfig {
        cri_enabled: false,
        ..StateConfig::default()
    });
    let mut ev = Event {
        num: 1,
        ts_ns: 1,
        cpu: 0,
        etype: EventType::Close,
        res: 0,
        task: TaskContext {
            tid,
            pid: me,
            ppid: 1,
            vtid: tid,
            vpid: me,
            comm: "probe-me".into(),
            loginuid: u32::MAX,
            ..TaskContext::default()
        },
        kind: EventKind::Close { fd: 999 },
    };
    st.apply(&mut ev);
    st.finish(&ev);
    let t = st.thread(tid).expect("thread read from /proc");
    assert_eq!(t.pid, me);
    assert_eq!(t.comm, "probe-me");
    let main = st.process(me).expect("main thread read too");
    assert_eq!(main.tid, me);
    assert!(!main.exe_path.is_empty());
    assert_eq!(st.stats().threads_from_proc, 1);

    stop_tx.send(()).unwrap();
    worker.join().unwrap();
}
