//! Tracker semantics with synthetic events. Thread ids are above any real
//! pid_max so /proc never answers for them.

use super::super::resolver::LookupError;
use super::super::test_support::{CID, Scripted, web_container};
use super::*;
use crate::event::{ExeFileInfo, L4Proto, SockTuple};
use std::time::{Duration, Instant};

const BASE: i64 = 50_000_000;

fn cfg() -> StateConfig {
    StateConfig {
        cri_enabled: false,
        ..StateConfig::default()
    }
}

fn task(tid: i64, pid: i64, ppid: i64, comm: &str) -> TaskContext {
    TaskContext {
        tid,
        pid,
        ppid,
        vtid: tid,
        vpid: pid,
        comm: comm.into(),
        loginuid: u32::MAX,
        ..TaskContext::default()
    }
}

fn ev(etype: EventType, res: i64, task: TaskContext, kind: EventKind) -> Event {
    Event {
        num: 0,
        ts_ns: 1_000,
        cpu: 0,
        etype,
        res,
        task,
        kind,
    }
}

fn run(st: &mut StateTracker, mut e: Event) -> Event {
    st.apply(&mut e);
    st.finish(&e);
    e
}

fn exec(task: TaskContext, argv: &[&str], exe_path: &str, cgroup: &str) -> Event {
    ev(
        EventType::Execve,
        0,
        task,
        EventKind::Exec {
            filename: exe_path.into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            exe_path: exe_path.into(),
            cwd: String::new(),
            exe_file: ExeFileInfo::default(),
            flags: 0,
            cgroup: cgroup.into(),
        },
    )
}

fn open(task: TaskContext, res: i64, path: &str, dirfd: i64) -> Event {
    ev(
        EventType::Openat,
        res,
        task,
        EventKind::Open {
            path: path.into(),
            resolved_path: String::new(),
            flags: 0,
            mode: 0,
            dirfd,
            dev: 0,
            ino: 0,
        },
    )
}

fn seeded_shell(st: &mut StateTracker) -> i64 {
    let pid = BASE + 1;
    st.insert_thread(ThreadInfo {
        tid: pid,
        pid,
        ppid: 1,
        comm: "bash".into(),
        exe: "bash".into(),
        exe_path: "/usr/bin/bash".into(),
        cwd: "/home/u".into(),
        container_id: Arc::from(HOST_CONTAINER_ID),
        ..ThreadInfo::default()
    });
    pid
}

#[test]
fn fork_exec_exit_lifecycle_and_ancestry() {
    let mut st = StateTracker::new(cfg());
    let sh = seeded_shell(&mut st);
    let child = BASE + 2;
    run(
        &mut st,
        ev(
            EventType::Clone,
            child,
            task(sh, sh, 1, "bash"),
            EventKind::Clone { flags: 0x11 },
        ),
    );
    let c = st.thread(child).expect("child created by clone");
    assert_eq!((c.pid, c.ppid, c.comm.as_str()), (child, sh, "bash"));
    assert_eq!(c.cwd, "/home/u", "cwd inherited");

    run(
        &mut st,
        exec(
            task(child, child, sh, "cat"),
            &["cat", "/etc/hosts"],
            "/usr/bin/cat",
            "/process_api/5c979a74b00b18caa0db835341546e83",
        ),
    );
    let c = st.thread(child).unwrap();
    assert_eq!(c.comm, "cat");
    assert_eq!(c.exe, "cat");
    assert_eq!(c.exe_path, "/usr/bin/cat");
    assert_eq!(c.args, vec!["/etc/hosts".to_string()]);
    assert_eq!(&*c.container_id, "host", "process_api cgroup is the host");
    // proc.pname / proc.aname[2] style walk
    let parent = st.process(c.ppid).unwrap();
    assert_eq!(parent.comm, "bash");
    assert!(st.process(parent.ppid).is_none_or(|p| p.pid == 1));

    // A failed exec changes nothing.
    let mut failed = exec(task(child, child, sh, "cat"), &["nope"], "/nope", "");
    failed.res = -2;
    run(&mut st, failed);
    assert_eq!(st.thread(child).unwrap().exe_path, "/usr/bin/cat");

    // Rules on procexit still see the thread; finish removes it.
    let mut exit = ev(
        EventType::Procexit,
        0,
        task(child, child, sh, "cat"),
        EventKind::Exit { status: 0 },
    );
    st.apply(&mut exit);
    assert!(st.thread(child).is_some());
    st.finish(&exit);
    assert!(st.thread(child).is_none());
    assert!(st.fd(child, 0).is_none());
}

#[test]
fn threads_share_the_process_and_main_thread_outlives_its_exit() {
    let mut st = StateTracker::new(cfg());
    let sh = seeded_shell(&mut st);
    let t2 = BASE + 3;
    run(
        &mut st,
        ev(
            EventType::Clone,
            t2,
            task(sh, sh, 1, "bash"),
            EventKind::Clone {
                flags: crate::event::abi::CLONE_THREAD | crate::event::abi::CLONE_VM,
            },
        ),
    );
    let t = st.thread(t2).unwrap();
    assert_eq!((t.pid, t.ppid), (sh, 1));
    run(
        &mut st,
        open(task(t2, sh, 1, "bash"), 5, "/etc/passwd", -100),
    );
    assert_eq!(
        st.fd(sh, 5).unwrap().name,
        "/etc/passwd",
        "one fd table per process"
    );
    // chdir in one thread moves the whole process.
    run(
        &mut st,
        ev(
            EventType::Chdir,
            0,
            task(t2, sh, 1, "bash"),
            EventKind::Chdir {
                path: "/srv".into(),
                resolved_path: String::new(),
                fd: -1,
            },
        ),
    );
    assert_eq!(st.process(sh).unwrap().cwd, "/srv");
    let e = run(&mut st, open(task(sh, sh, 1, "bash"), 6, "data", -100));
    let EventKind::Open { resolved_path, .. } = &e.kind else {
        unreachable!()
    };
    assert_eq!(resolved_path, "/srv/data");

    run(
        &mut st,
        ev(
            EventType::Procexit,
            0,
            task(sh, sh, 1, "bash"),
            EventKind::Exit { status: 0 },
        ),
    );
    assert!(
        st.process(sh).is_some(),
        "main thread kept while a thread runs"
    );
    assert!(st.fd(sh, 5).is_some());
    run(
        &mut st,
        ev(
            EventType::Procexit,
            0,
            task(t2, sh, 1, "bash"),
            EventKind::Exit { status: 0 },
        ),
    );
    assert!(st.process(sh).is_none());
    assert!(
        st.fd(sh, 5).is_none(),
        "fd table dropped with the last thread"
    );
}

#[test]
fn fd_lifecycle_and_relative_paths() {
    let mut st = StateTracker::new(cfg());
    let sh = seeded_shell(&mut st);
    let t = || task(sh, sh, 1, "bash");

    let e = run(&mut st, open(t(), 3, "../x/./y.txt", -100));
    let EventKind::Open { resolved_path, .. } = &e.kind else {
        unreachable!()
    };
    assert_eq!(resolved_path, "/home/x/y.txt");
    assert_eq!(st.fd(sh, 3).unwrap().kind, FdKind::File);

    // A directory fd as dirfd for openat.
    let mut dir = open(t(), 4, "/etc", -100);
    if let EventKind::Open { flags, .. } = &mut dir.kind {
        *flags = crate::event::abi::O_DIRECTORY;
    }
    run(&mut st, dir);
    assert_eq!(st.fd(sh, 4).unwrap().kind, FdKind::Directory);
    let e = run(&mut st, open(t(), 6, "ssl/../shadow", 4));
    let EventKind::Open { resolved_path, .. } = &e.kind else {
        unreachable!()
    };
    assert_eq!(resolved_path, "/etc/shadow");

    // Failed opens add nothing.
    run(&mut st, open(t(), -13, "/root/secret", -100));
    assert!(st.fd(sh, -13).is_none());

    // dup2 and fcntl(F_DUPFD_CLOEXEC) copy the entry.
    run(
        &mut st,
        ev(
            EventType::Dup2,
            10,
            t(),
            EventKind::Dup {
                oldfd: 6,
                newfd: 10,
                flags: 0,
            },
        ),
    );
    assert_eq!(st.fd(sh, 10).unwrap().name, "/etc/shadow");
    run(
        &mut st,
        ev(
            EventType::Fcntl,
            11,
            t(),
            EventKind::Fcntl { fd: 6, cmd: 1030 },
        ),
    );
    assert_eq!(st.fd(sh, 11).unwrap().flags & 0o2_000_000, 0o2_000_000);

    // close: visible to rules on the close event, gone after finish.
    let mut close = ev(EventType::Close, 0, t(), EventKind::Close { fd: 10 });
    st.apply(&mut close);
    assert!(st.fd(sh, 10).is_some());
    st.finish(&close);
    assert!(st.fd(sh, 10).is_none());

    // socket + connect give a named, connected inet fd.
    run(
        &mut st,
        ev(
            EventType::Socket,
            7,
            t(),
            EventKind::Socket {
                domain: 2,
                sock_type: 1,
                proto: 0,
            },
        ),
    );
    let remote = SockAddr::Inet {
        ip: "10.1.2.3".parse().unwrap(),
        port: 443,
    };
    run(
        &mut st,
        ev(
            EventType::Connect,
            0,
            t(),
            EventKind::Connect {
                fd: 7,
                addr: remote.clone(),
                tuple: Some(SockTuple {
                    l4: L4Proto::Tcp,
                    local: SockAddr::Inet {
                        ip: "10.0.0.5".parse().unwrap(),
                        port: 40000,
                    },
                    remote,
                }),
            },
        ),
    );
    let s = st.fd(sh, 7).unwrap();
    assert_eq!(s.kind, FdKind::Ipv4Socket);
    assert!(s.connected);
    assert_eq!(s.name, "10.0.0.5:40000->10.1.2.3:443");

    // pipe2 and memfd_create
    run(
        &mut st,
        ev(
            EventType::Pipe2,
            0,
            t(),
            EventKind::Pipe {
                fds: [8, 9],
                flags: 0,
            },
        ),
    );
    assert_eq!(st.fd(sh, 9).unwrap().kind, FdKind::Pipe);
    run(
        &mut st,
        ev(
            EventType::MemfdCreate,
            12,
            t(),
            EventKind::MemfdCreate {
                name: "payload".into(),
                flags: 1,
            },
        ),
    );
    assert_eq!(st.fd(sh, 12).unwrap().name, "memfd:payload");

    // exec drops close-on-exec fds (fcntl F_DUPFD_CLOEXEC, MFD_CLOEXEC).
    run(&mut st, exec(t(), &["true"], "/usr/bin/true", ""));
    assert!(st.fd(sh, 11).is_none());
    assert!(st.fd(sh, 12).is_none());
    assert!(st.fd(sh, 7).is_some());
    assert!(st.fd(sh, 6).is_some());
}

#[test]
fn chdir_fchdir_and_relative_unlink() {
    let mut st = StateTracker::new(cfg());
    let sh = seeded_shell(&mut st);
    let t = || task(sh, sh, 1, "bash");
    run(
        &mut st,
        ev(
            EventType::Chdir,
            0,
            t(),
            EventKind::Chdir {
                path: "../../var/./log".into(),
                resolved_path: String::new(),
                fd: -1,
            },
        ),
    );
    assert_eq!(st.thread(sh).unwrap().cwd, "/var/log");
    let e = run(
        &mut st,
        ev(
            EventType::Unlinkat,
            0,
            t(),
            EventKind::Unlink {
                path: "old.log".into(),
                resolved_path: String::new(),
                dirfd: -100,
                flags: 0,
            },
        ),
    );
    let EventKind::Unlink { resolved_path, .. } = &e.kind else {
        unreachable!()
    };
    assert_eq!(resolved_path, "/var/log/old.log");

    let mut d = open(t(), 5, "/tmp", -100);
    if let EventKind::Open { flags, .. } = &mut d.kind {
        *flags = crate::event::abi::O_DIRECTORY;
    }
    run(&mut st, d);
    run(
        &mut st,
        ev(
            EventType::Fchdir,
            0,
            t(),
            EventKind::Chdir {
                path: String::new(),
                resolved_path: String::new(),
                fd: 5,
            },
        ),
    );
    assert_eq!(st.thread(sh).unwrap().cwd, "/tmp");
}

#[test]
fn unknown_threads_are_created_from_the_event_and_inherit_from_parent() {
    let mut st = StateTracker::new(cfg());
    let sh = seeded_shell(&mut st);
    let stranger = BASE + 40;
    run(
        &mut st,
        open(task(stranger, stranger, sh, "curl"), 3, "/x", -100),
    );
    let t = st.thread(stranger).expect("created lazily");
    assert_eq!(t.comm, "curl");
    assert_eq!(t.ppid, sh);
    assert_eq!(t.cwd, "/home/u", "inherited from the known parent");
    assert_eq!(st.stats().threads_from_event, 1);
}

#[test]
fn container_exec_registers_an_unresolved_container() {
    let mut st = StateTracker::new(cfg());
    let sh = seeded_shell(&mut st);
    let uid = "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718";
    run(
        &mut st,
        exec(
            task(sh, sh, 1, "nginx"),
            &["nginx"],
            "/usr/sbin/nginx",
            &format!("/kubepods/besteffort/pod{uid}/{CID}"),
        ),
    );
    let t = st.thread(sh).unwrap();
    assert_eq!(&*t.container_id, &CID[..12]);
    let c = st
        .container(&t.container_id)
        .expect("container known by short id");
    assert!(!c.resolved);
    assert_eq!(c.full_id, CID);
    assert_eq!(c.runtime, "containerd");
    assert_eq!(c.pod.as_ref().map(|p| p.uid.as_str()), Some(uid));
    assert!(st.container(CID).is_some(), "and by full id");

    st.insert_container(ContainerInfo {
        id: CID[..12].into(),
        full_id: CID.into(),
        name: "web".into(),
        resolved: true,
        ..ContainerInfo::default()
    });
    assert_eq!(st.container(&CID[..12]).unwrap().name, "web");
}

#[test]
fn thread_table_is_bounded() {
    let mut st = StateTracker::new(StateConfig {
        max_threads: 50,
        ..cfg()
    });
    for i in 0..500 {
        let tid = BASE + 1000 + i;
        run(&mut st, open(task(tid, tid, 1, "x"), 3, "/a", -100));
        assert!(st.stats().threads <= 50);
    }
    assert!(st.stats().threads_evicted >= 450);
    // The most recent ones survive.
    assert!(st.thread(BASE + 1499).is_some());
    assert!(st.thread(BASE + 1000).is_none());
}

#[test]
fn users_from_host_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::create_dir_all(dir.path().join("proc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:100::/home/alice:/bin/zsh\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("etc/group"), "users:x:100:\n").unwrap();
    let mut st = StateTracker::new(StateConfig {
        host_root: dir.path().to_path_buf(),
        ..cfg()
    });
    let sh = seeded_shell(&mut st);
    let mut t = task(sh, sh, 1, "bash");
    t.uid = 1000;
    t.gid = 100;
    run(&mut st, open(t, 3, "/x", -100));
    assert_eq!(st.user_name("host", 1000), Some("alice"));
    assert_eq!(st.group_name("host", 100), Some("users"));
    assert_eq!(
        st.user_home_shell("host", 1000),
        Some(("/home/alice", "/bin/zsh"))
    );
    assert_eq!(
        st.thread(sh).unwrap().uid,
        1000,
        "credentials follow the kernel"
    );
}

#[test]
fn tracker_can_move_to_the_pipeline_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<StateTracker>();
}

fn start_container_process(st: &mut StateTracker) -> i64 {
    let sh = seeded_shell(st);
    run(
        st,
        exec(
            task(sh, sh, 1, "app"),
            &["app"],
            "/app",
            &format!("/system.slice/docker-{CID}.scope"),
        ),
    );
    sh
}

/// Polls until `done` or two seconds pass.
fn poll_until(st: &mut StateTracker, mut done: impl FnMut(&StateTracker) -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        st.poll_metadata();
        if done(st) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn lookups_never_block_the_event_and_answers_arrive_later() {
    let source = Scripted::new(vec![Ok(web_container())], Duration::from_millis(200));
    let mut st = StateTracker::with_metadata_source(cfg(), Some(source));
    let started = Instant::now();
    let sh = start_container_process(&mut st);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "apply waited for the runtime"
    );
    assert!(!st.container(CID).unwrap().resolved);
    assert!(matches!(
        st.metadata_state(sh),
        MetadataState::Pending { .. }
    ));
    assert!(poll_until(&mut st, |st| st
        .container(CID)
        .is_some_and(|c| c.resolved)));
    let c = st.container(CID).unwrap();
    assert_eq!(c.name, "web");
    assert_eq!(c.runtime, "docker", "the cgroup's runtime is kept");
    assert_eq!(st.metadata_state(sh), MetadataState::Settled);
    assert_eq!(st.stats().cri_socket.as_deref(), Some("scripted"));
}

#[test]
fn failed_lookups_are_retried_quickly_with_backoff_until_resolved() {
    let source = Scripted::new(
        vec![
            Err(LookupError::Failed("NotFound".into())),
            Err(LookupError::Failed("NotFound".into())),
            Err(LookupError::TimedOut("slow".into())),
            Ok(web_container()),
        ],
        Duration::ZERO,
    );
    let asked = source.asked.clone();
    let mut st = StateTracker::with_metadata_source(cfg(), Some(source));
    start_container_process(&mut st);
    assert!(poll_until(&mut st, |st| st
        .container(CID)
        .is_some_and(|c| c.resolved)));
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 4, "three failures, then the answer");
    let gaps: Vec<Duration> = asked.windows(2).map(|w| w[1] - w[0]).collect();
    // 25 ms, 50 ms, 100 ms: tens of milliseconds at first, doubling.
    for (gap, least) in gaps.iter().zip([25u64, 50, 100]) {
        assert!(*gap >= Duration::from_millis(least), "{gaps:?}");
    }
    let stats = st.stats();
    assert_eq!(
        (
            stats.cri_lookups,
            stats.cri_failures,
            stats.cri_timeouts,
            stats.cri_retries
        ),
        (4, 2, 1, 3)
    );
}

#[test]
fn a_container_that_is_gone_is_no_longer_asked_about() {
    let source = Scripted::new(vec![], Duration::ZERO);
    let asked = source.asked.clone();
    let mut st = StateTracker::with_metadata_source(cfg(), Some(source));
    let sh = start_container_process(&mut st);
    assert!(st.settle_lookups(Duration::from_secs(2)));
    run(
        &mut st,
        ev(
            EventType::Procexit,
            0,
            task(sh, sh, 1, "app"),
            EventKind::Exit { status: 0 },
        ),
    );
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        st.poll_metadata();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        asked.lock().unwrap().len(),
        1,
        "asked again after its last thread exited"
    );
}

#[test]
fn retry_backoff_is_capped() {
    let c = StateConfig {
        cri_retry_initial: Duration::from_millis(25),
        cri_retry_max: Duration::from_secs(30),
        ..cfg()
    };
    assert_eq!(retry_delay(&c, 1), Duration::from_millis(25));
    assert_eq!(retry_delay(&c, 2), Duration::from_millis(50));
    assert_eq!(retry_delay(&c, 11), Duration::from_millis(25 * 1024));
    assert_eq!(retry_delay(&c, 12), Duration::from_secs(30));
    assert_eq!(retry_delay(&c, u32::MAX), Duration::from_secs(30));
}

#[test]
fn no_runtime_means_nothing_to_wait_for() {
    let source = Scripted::new(
        vec![Err(LookupError::NoRuntime("no CRI socket".into()))],
        Duration::ZERO,
    );
    let mut st = StateTracker::with_metadata_source(cfg(), Some(source));
    let sh = start_container_process(&mut st);
    assert!(poll_until(&mut st, |st| st.metadata_state(sh)
        == MetadataState::Settled));
    let c = st.container(CID).unwrap();
    assert!(!c.resolved);
    assert_eq!(
        c.runtime, "docker",
        "the placeholder keeps what the cgroup told"
    );
}

#[test]
fn without_a_resolver_containers_are_settled_placeholders() {
    let mut st = StateTracker::new(cfg());
    let sh = start_container_process(&mut st);
    assert_eq!(st.metadata_state(sh), MetadataState::Settled);
    assert!(!st.container(CID).unwrap().resolved);
}

#[test]
fn runtime_that_does_not_answer_leaves_container_unresolved() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("cri.sock");
    // Accepts connections and never answers.
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let _server = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let mut st = StateTracker::new(StateConfig {
        cri_enabled: true,
        cri_sockets: vec![sock.clone()],
        cri_timeout: Duration::from_millis(100),
        ..cfg()
    });
    let sh = seeded_shell(&mut st);
    run(
        &mut st,
        exec(
            task(sh, sh, 1, "app"),
            &["app"],
            "/app",
            &format!("/system.slice/crio-{CID}.scope"),
        ),
    );
    let c = st.container(CID).expect("placeholder registered");
    assert!(!c.resolved);
    assert_eq!(c.runtime, "cri-o");
    assert!(st.settle_lookups(Duration::from_secs(2)));
    let stats = st.stats();
    assert_eq!((stats.cri_lookups, stats.cri_timeouts), (1, 1));
    assert_eq!(stats.cri_socket, Some(sock.display().to_string()));
}
