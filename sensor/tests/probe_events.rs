//! Privileged end-to-end tests of the eBPF probes against the running
//! kernel: actions performed here must come back as decoded events with the
//! right fields. They need root (CI runs as root) and fail loudly when eBPF
//! is unavailable, unless SKIP_PRIVILEGED=1.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use falco_sensor::event::{Event, EventKind, EventType, L4Proto, SockAddr};
use falco_sensor::probe::{AttachMode, OpenFilter, Probe, ProbeConfig, QueueReceiver, preflight};
use std::ffi::CString;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bound on waiting for an event that should arrive within
/// milliseconds; a generous limit only so a broken probe fails instead of
/// hanging. Not a performance assertion.
const WAIT: Duration = Duration::from_secs(20);

fn privileged() -> bool {
    if std::env::var("SKIP_PRIVILEGED").as_deref() == Ok("1") && preflight().is_err() {
        eprintln!("SKIP_PRIVILEGED=1 and eBPF is unavailable: skipping");
        return false;
    }
    if let Err(e) = preflight() {
        panic!("eBPF probes unavailable (set SKIP_PRIVILEGED=1 to skip): {e}");
    }
    true
}

/// The probe settings of these tests: the defaults, with the attach mode
/// from PROBE_ATTACH (`dispatcher`, `per_syscall`, `auto`) so the same tests
/// run in both capture modes.
fn probe_config() -> ProbeConfig {
    let attach = match std::env::var("PROBE_ATTACH").as_deref() {
        Ok("dispatcher") => AttachMode::Dispatcher,
        Ok("per_syscall") => AttachMode::PerSyscall,
        Ok("auto") | Err(_) => AttachMode::Auto,
        Ok(other) => panic!("PROBE_ATTACH={other}: use dispatcher, per_syscall or auto"),
    };
    ProbeConfig {
        attach,
        ..ProbeConfig::default()
    }
}

fn start(interest: &[EventType]) -> (Probe, QueueReceiver<Event>) {
    Probe::start(probe_config(), interest).expect("probe starts")
}

/// Receives events until `want` matches one; returns it and everything seen.
fn wait_for(
    rx: &QueueReceiver<Event>,
    seen: &mut Vec<Event>,
    what: &str,
    want: impl Fn(&Event) -> bool,
) -> Event {
    if let Some(ev) = seen.iter().find(|e| want(e)) {
        return ev.clone();
    }
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(ev) = rx.recv_timeout(Duration::from_millis(200)) {
            let hit = want(&ev);
            seen.push(ev.clone());
            if hit {
                return ev;
            }
        }
    }
    let ours: Vec<String> = seen
        .iter()
        .rev()
        .take(40)
        .map(|e| format!("{} pid={} {:?}", e.etype.name(), e.task.pid, e.kind))
        .collect();
    panic!("no event matched: {what}; last events: {ours:#?}");
}

fn memory_cgroup_of(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            (ctrl.split(',').any(|c| c == "memory") || ctrl.is_empty()).then(|| path.to_string())
        })
        .unwrap()
}

fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn me() -> i64 {
    i64::from(std::process::id())
}

#[test]
fn exec_open_and_exit_of_a_child_process() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[
        EventType::Execve,
        EventType::Openat,
        EventType::Open,
        EventType::Procexit,
    ]);
    let child = Command::new("/bin/cat")
        .arg("/etc/shadow")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    let cgroup = memory_cgroup_of(std::process::id());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let mut seen = Vec::new();

    let exec = wait_for(&rx, &mut seen, "execve of /bin/cat", |e| {
        e.etype == EventType::Execve && e.task.pid == pid
    });
    assert_eq!(exec.res, 0);
    assert_eq!(exec.task.ppid, me());
    assert_eq!(exec.task.tid, pid);
    assert_eq!(exec.task.comm, "cat");
    assert_eq!(exec.task.uid, 0);
    assert!(
        exec.ts_ns > 1_600_000_000_000_000_000,
        "timestamp is Unix ns: {}",
        exec.ts_ns
    );
    let EventKind::Exec {
        filename,
        argv,
        exe_path,
        cwd,
        cgroup: cg,
        exe_file,
        ..
    } = &exec.kind
    else {
        panic!("{exec:?}")
    };
    assert_eq!(filename, "/bin/cat");
    assert_eq!(
        argv,
        &vec!["/bin/cat".to_string(), "/etc/shadow".to_string()]
    );
    let real_exe = std::fs::canonicalize("/bin/cat").unwrap();
    assert_eq!(exe_path, real_exe.to_str().unwrap());
    assert_eq!(cwd, std::env::current_dir().unwrap().to_str().unwrap());
    assert_eq!(cg, &cgroup);
    assert_eq!(exe_file.ino, std::fs::metadata(&real_exe).unwrap().ino());
    assert!(!exe_file.from_memfd);
    assert!(!exe_file.upper_layer);
    let ns_ino = |name: &str| {
        std::fs::metadata(format!("/proc/self/ns/{name}"))
            .unwrap()
            .ino() as u32
    };
    assert_eq!(exec.task.pidns_ino, ns_ino("pid"));
    assert_eq!(exec.task.mntns_ino, ns_ino("mnt"));
    assert_eq!(exec.task.vpid, pid, "host pid namespace");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(exec.task.cap_effective, cap_eff);
    let loginuid: u32 = std::fs::read_to_string("/proc/self/loginuid")
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(u32::MAX);
    assert_eq!(exec.task.loginuid, loginuid);

    let open = wait_for(&rx, &mut seen, "open of /etc/shadow", |e| {
        e.task.pid == pid
            && matches!(&e.kind, EventKind::Open { path, .. } if path == "/etc/shadow")
    });
    assert!(open.res >= 0, "{open:?}");
    let EventKind::Open {
        resolved_path,
        flags,
        ino,
        ..
    } = &open.kind
    else {
        unreachable!()
    };
    assert_eq!(resolved_path, "/etc/shadow");
    assert_eq!(flags & 0o3, 0, "O_RDONLY");
    assert_eq!(*ino, std::fs::metadata("/etc/shadow").unwrap().ino());

    let exit = wait_for(&rx, &mut seen, "procexit of cat", |e| {
        e.etype == EventType::Procexit && e.task.tid == pid
    });
    assert!(
        matches!(exit.kind, EventKind::Exit { status: 0 }),
        "{exit:?}"
    );
    let stats = probe.stats();
    assert!(stats.events_received >= 3);
    assert!(stats.per_type.get(&EventType::Execve).copied().unwrap_or(0) >= 1);
    probe.stop();
}

#[test]
fn file_operations_of_this_process() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[
        EventType::Open,
        EventType::Openat,
        EventType::Rename,
        EventType::Renameat,
        EventType::Renameat2,
        EventType::Mkdir,
        EventType::Mkdirat,
        EventType::Unlink,
        EventType::Unlinkat,
        EventType::Rmdir,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("written.txt");
    let moved = dir.path().join("moved.txt");
    let sub = dir.path().join("sub");
    let mut f = std::fs::File::create(&file).unwrap();
    f.write_all(b"hello").unwrap();
    let ino = f.metadata().unwrap().ino();
    drop(f);
    std::fs::rename(&file, &moved).unwrap();
    std::fs::create_dir(&sub).unwrap();
    std::fs::remove_file(&moved).unwrap();
    std::fs::remove_dir(&sub).unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let mut seen = Vec::new();

    let open = wait_for(&rx, &mut seen, "open for write", |e| {
        e.task.pid == me() && matches!(&e.kind, EventKind::Open { path, .. } if *path == s(&file))
    });
    let EventKind::Open {
        flags,
        ino: got_ino,
        resolved_path,
        ..
    } = &open.kind
    else {
        unreachable!()
    };
    assert!(open.res >= 0);
    assert_eq!(flags & 0o100, 0o100, "O_CREAT in {flags:o}");
    assert_eq!(flags & 0o3, 0o1, "O_WRONLY in {flags:o}");
    assert_eq!(*got_ino, ino);
    assert_eq!(resolved_path, &s(&file));

    let rename = wait_for(&rx, &mut seen, "rename", |e| {
        e.task.pid == me()
            && matches!(&e.kind, EventKind::Rename { oldpath, .. } if *oldpath == s(&file))
    });
    assert_eq!(rename.res, 0);
    assert!(matches!(&rename.kind, EventKind::Rename { newpath, .. } if *newpath == s(&moved)));

    wait_for(&rx, &mut seen, "mkdir", |e| {
        e.task.pid == me()
            && e.res == 0
            && matches!(&e.kind, EventKind::Mkdir { path, .. } if *path == s(&sub))
    });
    wait_for(&rx, &mut seen, "unlink", |e| {
        e.task.pid == me()
            && e.res == 0
            && matches!(&e.kind, EventKind::Unlink { path, .. } if *path == s(&moved))
    });
    let rmdir = wait_for(&rx, &mut seen, "rmdir", |e| {
        e.task.pid == me() && matches!(&e.kind, EventKind::Unlink { path, .. } if *path == s(&sub))
    });
    assert!(matches!(
        rmdir.etype,
        EventType::Rmdir | EventType::Unlinkat
    ));
    probe.stop();
}

#[test]
fn tcp_connect_and_accept_tuples() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[
        EventType::Connect,
        EventType::Accept,
        EventType::Accept4,
        EventType::Socket,
    ]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
    let client_port = client.local_addr().unwrap().port();
    let (_conn, _) = listener.accept().unwrap();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut seen = Vec::new();

    let connect = wait_for(&rx, &mut seen, "connect", |e| {
        e.task.pid == me()
            && matches!(&e.kind, EventKind::Connect { addr: SockAddr::Inet { port, .. }, .. } if *port == server_port)
    });
    assert_eq!(connect.res, 0);
    let EventKind::Connect { tuple: Some(t), .. } = &connect.kind else {
        panic!("{connect:?}")
    };
    assert_eq!(t.l4, L4Proto::Tcp);
    assert_eq!(
        t.local,
        SockAddr::Inet {
            ip: lo,
            port: client_port
        }
    );
    assert_eq!(
        t.remote,
        SockAddr::Inet {
            ip: lo,
            port: server_port
        }
    );

    let accept = wait_for(&rx, &mut seen, "accept", |e| {
        e.task.pid == me() && matches!(e.etype, EventType::Accept | EventType::Accept4)
    });
    assert!(accept.res >= 0);
    let EventKind::Accept { tuple: Some(t), .. } = &accept.kind else {
        panic!("{accept:?}")
    };
    assert_eq!(
        t.local,
        SockAddr::Inet {
            ip: lo,
            port: server_port
        }
    );
    assert_eq!(
        t.remote,
        SockAddr::Inet {
            ip: lo,
            port: client_port
        }
    );

    wait_for(&rx, &mut seen, "socket", |e| {
        e.task.pid == me() && matches!(e.kind, EventKind::Socket { domain: 2, .. })
    });
    probe.stop();
}

#[test]
fn fork_exec_with_args_chdir_and_failed_exec() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[
        EventType::Clone,
        EventType::Clone3,
        EventType::Fork,
        EventType::Vfork,
        EventType::Execve,
        EventType::Chdir,
    ]);
    let child = Command::new("/bin/sh")
        .args(["-c", "cd /tmp && exec /bin/true one 'two words'"])
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    assert!(child.wait_with_output().unwrap().status.success());
    let missing = "/nonexistent/falco-probe-test";
    assert!(Command::new(missing).spawn().is_err());
    let mut seen = Vec::new();

    let clone = wait_for(&rx, &mut seen, "clone of the child", |e| {
        e.task.pid == me() && e.res == pid && matches!(e.kind, EventKind::Clone { .. })
    });
    assert_eq!(clone.task.pid, me());
    wait_for(&rx, &mut seen, "chdir in sh", |e| {
        e.task.pid == pid
            && e.res == 0
            && matches!(&e.kind, EventKind::Chdir { path, .. } if path == "/tmp")
    });
    let exec = wait_for(&rx, &mut seen, "exec of /bin/true", |e| {
        e.task.pid == pid
            && matches!(&e.kind, EventKind::Exec { filename, .. } if filename == "/bin/true")
    });
    let EventKind::Exec { argv, cwd, .. } = &exec.kind else {
        unreachable!()
    };
    assert_eq!(
        argv,
        &vec!["/bin/true".to_string(), "one".into(), "two words".into()]
    );
    assert_eq!(cwd, "/tmp");
    assert_eq!(exec.task.ppid, me());

    let failed = wait_for(
        &rx,
        &mut seen,
        "failed execve",
        |e| matches!(&e.kind, EventKind::Exec { filename, .. } if filename == missing),
    );
    assert_eq!(failed.res, -libc::ENOENT as i64);
    assert_eq!(failed.task.ppid, me());
    let EventKind::Exec { argv, exe_path, .. } = &failed.kind else {
        unreachable!()
    };
    assert_eq!(argv, &vec![missing.to_string()]);
    assert_eq!(exe_path, "");
    probe.stop();
}

#[test]
fn memfd_create_and_fileless_exec() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[EventType::MemfdCreate, EventType::Execve]);
    let name = CString::new("falco-probe-test").unwrap();
    // SAFETY: `name` is a valid NUL-terminated string; flags 0 are valid.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    assert!(fd >= 0);
    let bin = std::fs::read("/bin/true").unwrap();
    // SAFETY: fd is a memfd we own; the buffer is valid for its length.
    let n = unsafe { libc::write(fd, bin.as_ptr().cast(), bin.len()) };
    assert_eq!(n as usize, bin.len());
    let child = Command::new(format!("/proc/self/fd/{fd}")).spawn().unwrap();
    let pid = i64::from(child.id());
    assert!(child.wait_with_output().unwrap().status.success());
    let mut seen = Vec::new();

    let memfd = wait_for(&rx, &mut seen, "memfd_create", |e| {
        e.task.pid == me() && e.etype == EventType::MemfdCreate
    });
    assert_eq!(memfd.res, i64::from(fd));
    assert!(
        matches!(&memfd.kind, EventKind::MemfdCreate { name, flags: 0 } if name == "falco-probe-test")
    );
    let exec = wait_for(&rx, &mut seen, "exec from memfd", |e| {
        e.task.pid == pid && e.etype == EventType::Execve
    });
    let EventKind::Exec {
        exe_file, exe_path, ..
    } = &exec.kind
    else {
        unreachable!()
    };
    assert!(exe_file.from_memfd, "exe {exe_path} not flagged as memfd");
    // SAFETY: closing the fd we opened above.
    unsafe { libc::close(fd) };
    probe.stop();
}

#[test]
fn interest_filter_is_applied_in_the_kernel_and_updatable() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[EventType::Execve]);
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before-interest");
    std::fs::write(&before, b"x").unwrap();
    let child = Command::new("/bin/true").arg("marker-1").spawn().unwrap();
    let pid1 = i64::from(child.id());
    child.wait_with_output().unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, &mut seen, "exec marker 1", |e| {
        e.task.pid == pid1 && e.etype == EventType::Execve
    });
    assert!(
        seen.iter().all(|e| e.etype == EventType::Execve),
        "only execve is in the interest set: {:?}",
        seen.iter().map(|e| e.etype).collect::<Vec<_>>()
    );
    assert_eq!(
        probe.stats().per_type.keys().copied().collect::<Vec<_>>(),
        vec![EventType::Execve]
    );

    probe
        .set_interest(&[EventType::Execve, EventType::Open, EventType::Openat])
        .unwrap();
    let after = dir.path().join("after-interest");
    std::fs::write(&after, b"x").unwrap();
    let after_s = after.to_str().unwrap().to_string();
    wait_for(
        &rx,
        &mut seen,
        "open after set_interest",
        |e| matches!(&e.kind, EventKind::Open { path, .. } if *path == after_s),
    );
    let before_s = before.to_str().unwrap().to_string();
    assert!(
        !seen
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Open { path, .. } if *path == before_s)),
        "an open from before set_interest crossed the filter"
    );
    probe.stop();
}

#[test]
fn drops_are_counted_when_buffers_are_too_small() {
    if !privileged() {
        return;
    }
    let cfg = ProbeConfig {
        ring_buffer_bytes: 4096,
        channel_capacity: 1,
        ..probe_config()
    };
    let (probe, rx) =
        Probe::start(cfg, &[EventType::Openat, EventType::Open, EventType::Close]).unwrap();
    for _ in 0..20_000 {
        drop(std::fs::File::open("/dev/null").unwrap());
    }
    // Let the reader drain what the ring buffer kept, without consuming the
    // channel: everything beyond its single slot is a userspace drop.
    let deadline = Instant::now() + WAIT;
    let mut stats = probe.stats();
    while stats.events_received < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        stats = probe.stats();
    }
    assert!(stats.events_received >= 2, "{stats:?}");
    assert!(stats.kernel_drops + stats.userspace_drops > 0, "{stats:?}");
    assert!(
        stats.userspace_drops > 0,
        "channel of 1 must overflow: {stats:?}"
    );
    drop(rx);
    probe.stop();
}

/// An open filter of path prefixes only.
fn prefixes(p: &[&str]) -> OpenFilter {
    OpenFilter {
        prefixes: p.iter().map(|s| s.to_string()).collect(),
        ..OpenFilter::default()
    }
}

#[test]
fn open_prefilter_sends_only_matching_absolute_paths() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[EventType::Open, EventType::Openat, EventType::Execve]);
    let dir = tempfile::tempdir().unwrap();
    let wanted_dir = dir.path().join("wanted");
    std::fs::create_dir(&wanted_dir).unwrap();
    let prefix = format!("{}/", wanted_dir.to_str().unwrap());
    probe.set_open_filter(Some(&prefixes(&[&prefix]))).unwrap();
    // Events stamped after this instant were all subject to the prefilter
    // (the margin covers the boot-to-wall clock offset's error).
    let filtered_from = unix_ns() + 20_000_000;
    std::thread::sleep(Duration::from_millis(40));
    let other = dir.path().join("other.txt");
    let wanted = wanted_dir.join("file.txt");
    std::fs::write(&other, b"x").unwrap();
    std::fs::write(&wanted, b"x").unwrap();
    let wanted_s = wanted.to_str().unwrap().to_string();
    let other_s = other.to_str().unwrap().to_string();
    let mut seen = Vec::new();
    wait_for(
        &rx,
        &mut seen,
        "open under the prefix",
        |e| matches!(&e.kind, EventKind::Open { path, .. } if *path == wanted_s),
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Open { path, .. } if *path == other_s)),
        "an open outside the prefixes crossed the prefilter"
    );
    // Only this thread's opens: other processes (and tests) open
    // directories and unnormalised paths, which the prefilter always passes.
    let tid = my_tid();
    assert!(
        seen.iter()
            .filter(|e| e.ts_ns > filtered_from && e.task.tid == tid)
            .all(|e| match &e.kind {
                EventKind::Open { path, .. } => !path.starts_with('/') || path.starts_with(&prefix),
                _ => true,
            }),
        "only prefixed absolute paths pass"
    );

    probe.set_open_filter(None).unwrap();
    std::fs::write(&other, b"y").unwrap();
    wait_for(
        &rx,
        &mut seen,
        "open after the prefilter is off",
        |e| matches!(&e.kind, EventKind::Open { path, .. } if *path == other_s),
    );
    let too_long = format!("/{}", "a".repeat(80));
    assert!(
        probe
            .set_open_filter(Some(&prefixes(&[&too_long])))
            .is_err()
    );
    assert!(
        probe
            .set_open_filter(Some(&prefixes(&["relative"])))
            .is_err()
    );
    probe.stop();
}

#[test]
fn open_filter_passes_basenames_and_unnormalised_paths() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[EventType::Open, EventType::Openat, EventType::Execve]);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap().to_string();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let filter = OpenFilter {
        prefixes: vec![format!("{base}/wanted/")],
        basenames: vec!["needle.key".to_string()],
        ..OpenFilter::default()
    };
    probe.set_open_filter(Some(&filter)).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let other = format!("{base}/sub/other.txt");
    let needle_like = format!("{base}/sub/needle.key.bak");
    let needle = format!("{base}/sub/needle.key");
    // Userspace resolves these to paths no prefix or basename names, but
    // the kernel cannot know what a rule makes of them: they must pass.
    let dotdot = format!("{base}/sub/../odd1.txt");
    let dot = format!("{base}/./odd2.txt");
    let double = format!("{base}//odd3.txt");
    for p in [&other, &needle_like, &needle, &dotdot, &dot, &double] {
        std::fs::write(p, b"x").unwrap();
    }
    // Directories pass too: openat(dirfd, ...) and fchdir resolve through them.
    let subdir = format!("{base}/sub");
    drop(std::fs::File::open(&subdir).unwrap());
    let mut seen = Vec::new();
    for (what, want) in [
        ("open of a directory", &subdir),
        ("open by basename", &needle),
        ("open with ..", &dotdot),
        ("open with .", &dot),
        ("open with //", &double),
    ] {
        wait_for(
            &rx,
            &mut seen,
            what,
            |e| matches!(&e.kind, EventKind::Open { path, .. } if path == want),
        );
    }
    for dropped in [&other, &needle_like] {
        assert!(
            !seen
                .iter()
                .any(|e| matches!(&e.kind, EventKind::Open { path, .. } if path == dropped)),
            "{dropped} crossed the prefilter"
        );
    }
    // Prefixes only, none sharing the paths' second byte: an odd path
    // still passes, a plain one does not.
    let prefixes_only = OpenFilter {
        prefixes: vec!["/nonexistent-prefix/".to_string()],
        ..OpenFilter::default()
    };
    probe.set_open_filter(Some(&prefixes_only)).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let plain = format!("{base}/sub/plain.txt");
    let odd = format!("{base}/sub/../odd4.txt");
    std::fs::write(&plain, b"x").unwrap();
    std::fs::write(&odd, b"x").unwrap();
    wait_for(
        &rx,
        &mut seen,
        "odd path under a prefix-only filter",
        |e| matches!(&e.kind, EventKind::Open { path, .. } if *path == odd),
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Open { path, .. } if *path == plain)),
        "{plain} crossed the prefix-only filter"
    );
    let bad = OpenFilter {
        basenames: vec!["a/b".to_string()],
        ..OpenFilter::default()
    };
    assert!(probe.set_open_filter(Some(&bad)).is_err());
    probe.set_open_filter(None).unwrap();
    std::fs::write(&other, b"y").unwrap();
    wait_for(
        &rx,
        &mut seen,
        "open after the filter is off",
        |e| matches!(&e.kind, EventKind::Open { path, .. } if *path == other),
    );
    probe.stop();
}

fn my_tid() -> i64 {
    // SAFETY: gettid has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

fn is_open_of(e: &Event, want: &str) -> bool {
    matches!(&e.kind, EventKind::Open { path, .. } if path == want)
}

fn open_fd(path: &str) -> (std::fs::File, i64) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap();
    let fd = i64::from(f.as_raw_fd());
    (f, fd)
}

#[test]
fn open_filter_substrings_directories_and_comms() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[EventType::Open, EventType::Openat, EventType::Execve]);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap().to_string();
    for d in ["sub", "exact", "exact/deeper", "sub/x.."] {
        std::fs::create_dir(format!("{base}/{d}")).unwrap();
    }
    let filter = OpenFilter {
        substrings: vec!["needle-sub".to_string()],
        directories: vec![format!("{base}/exact")],
        comms: vec!["kfilter-comm".to_string()],
        ..OpenFilter::default()
    };
    probe.set_open_filter(Some(&filter)).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let by_substring = format!("{base}/sub/a-needle-sub.txt");
    let by_suffix = format!("{base}/sub/zz.needle-sub");
    let near_miss = format!("{base}/sub/needle-su.txt");
    let in_exact = format!("{base}/exact/f.txt");
    let below_exact = format!("{base}/exact/deeper/f.txt");
    let by_comm = format!("{base}/sub/by-comm.txt");
    let other_thread = format!("{base}/sub/other-thread.txt");
    // Not `..` itself, but a path with `../` in it: kept for `contains '../'`.
    let dotdot_name = format!("{base}/sub/x../f.txt");
    for p in [
        &by_substring,
        &by_suffix,
        &near_miss,
        &in_exact,
        &below_exact,
        &by_comm,
        &other_thread,
        &dotdot_name,
    ] {
        std::fs::write(p, b"x").unwrap();
    }
    for (name, path) in [("kfilter-comm", &by_comm), ("kfilter-other", &other_thread)] {
        let path = path.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || drop(std::fs::File::open(&path).unwrap()))
            .unwrap()
            .join()
            .unwrap();
    }
    let mut seen = Vec::new();
    for (what, want) in [
        ("open by substring", &by_substring),
        ("open by suffix", &by_suffix),
        ("open directly in an exact directory", &in_exact),
        ("open by a named process", &by_comm),
        ("open of a path with ../", &dotdot_name),
    ] {
        wait_for(&rx, &mut seen, what, |e| is_open_of(e, want));
    }
    let by_comm_open = seen.iter().find(|e| is_open_of(e, &by_comm)).unwrap();
    assert_eq!(by_comm_open.task.comm, "kfilter-comm");
    // A last wanted open: everything before it has been read.
    let marker = format!("{base}/sub/marker-needle-sub");
    std::fs::write(&marker, b"x").unwrap();
    wait_for(&rx, &mut seen, "marker", |e| is_open_of(e, &marker));
    for dropped in [&near_miss, &below_exact, &other_thread] {
        assert!(
            !seen.iter().any(|e| is_open_of(e, dropped)),
            "{dropped} crossed the prefilter"
        );
    }
    // The kernel caches the last dropped path per CPU; a new filter must
    // not reuse that verdict.
    for _ in 0..3 {
        drop(std::fs::File::open(&near_miss).unwrap());
    }
    let widened = OpenFilter {
        substrings: vec!["needle-su".to_string()],
        ..OpenFilter::default()
    };
    probe.set_open_filter(Some(&widened)).unwrap();
    drop(std::fs::File::open(&near_miss).unwrap());
    wait_for(&rx, &mut seen, "a dropped path under a wider filter", |e| {
        is_open_of(e, &near_miss)
    });
    let bad = OpenFilter {
        substrings: vec!["abc".to_string()],
        ..OpenFilter::default()
    };
    assert!(probe.set_open_filter(Some(&bad)).is_err());
    let bad = OpenFilter {
        comms: vec!["a-name-longer-than-comm".to_string()],
        ..OpenFilter::default()
    };
    assert!(probe.set_open_filter(Some(&bad)).is_err());
    probe.stop();
}

#[test]
fn closes_of_dropped_opens_are_not_sent() {
    if !privileged() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap().to_string();
    let wanted = format!("{base}/wanted.txt");
    let dropped = format!("{base}/dropped.txt");
    for p in [&wanted, &dropped] {
        std::fs::write(p, b"x").unwrap();
    }
    // Started after the files exist: every open of them it sees is ours.
    let (probe, rx) = start(&[EventType::Openat, EventType::Close, EventType::Dup2]);
    let mut filter = OpenFilter {
        prefixes: vec![wanted.clone()],
        close_filter: true,
        ..OpenFilter::default()
    };
    probe.set_open_filter(Some(&filter)).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let tid = my_tid();
    let ours = |e: &Event| e.task.tid == tid;
    let mut seen = Vec::new();
    // Both fds open at once, so they differ.
    let (first, _) = open_fd(&wanted);
    wait_for(&rx, &mut seen, "first wanted open", |e| {
        ours(e) && is_open_of(e, &wanted)
    });
    let start = seen.len();
    let (d, dropped_fd) = open_fd(&dropped);
    let (w, wanted_fd) = open_fd(&wanted);
    drop(d);
    drop(w);
    drop(first);
    let close_of = |fd: i64| {
        move |e: &Event| ours(e) && matches!(e.kind, EventKind::Close { fd: f } if f == fd)
    };
    wait_for(
        &rx,
        &mut seen,
        "close of the wanted fd",
        close_of(wanted_fd),
    );
    // A dup2 onto the number of a dropped open's fd makes it one userspace
    // knows: its close is sent again.
    let (d, dropped_again) = open_fd(&dropped);
    let (w2, _) = open_fd(&wanted);
    use std::os::fd::AsRawFd;
    // SAFETY: both fds are open and owned by `w2` and `d`; dup2 replaces
    // `d`'s fd, which `d` still closes once.
    assert!(unsafe { libc::dup2(w2.as_raw_fd(), d.as_raw_fd()) } >= 0);
    drop(d);
    drop(w2);
    wait_for(
        &rx,
        &mut seen,
        "close of a dup2 target",
        close_of(dropped_again),
    );
    let marker_open = format!("{base}/wanted.txt");
    drop(std::fs::File::open(&marker_open).unwrap());
    wait_for(&rx, &mut seen, "marker", |e| {
        ours(e) && is_open_of(e, &wanted)
    });
    let crossed: Vec<&Event> = seen[start..]
        .iter()
        .filter(|e| ours(e) && is_open_of(e, &dropped))
        .collect();
    assert!(
        crossed.is_empty(),
        "the dropped open crossed the prefilter: {crossed:?}"
    );
    let closes_of_dropped = seen[start..]
        .iter()
        .take_while(|e| !(ours(e) && matches!(e.kind, EventKind::Close { fd } if fd == wanted_fd)))
        .filter(|e| close_of(dropped_fd)(e))
        .count();
    assert_eq!(closes_of_dropped, 0, "the close of a dropped open was sent");

    // With the close filter off, that close is sent.
    filter.close_filter = false;
    probe.set_open_filter(Some(&filter)).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let (d, dropped_fd) = open_fd(&dropped);
    drop(d);
    wait_for(
        &rx,
        &mut seen,
        "close with the close filter off",
        close_of(dropped_fd),
    );
    probe.stop();
}

#[test]
fn exec_from_an_overlayfs_upper_layer_is_flagged() {
    if !privileged() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|d| {
        let p = dir.path().join(d);
        std::fs::create_dir(&p).unwrap();
        p
    });
    std::fs::copy("/bin/true", lower.join("from-image")).unwrap();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&merged)
        .status()
        .unwrap();
    assert!(status.success(), "mount -t overlay failed");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(merged.clone());
    std::fs::copy("/bin/true", merged.join("written")).unwrap();
    std::fs::set_permissions(
        merged.join("written"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let (probe, rx) = start(&[EventType::Execve]);
    let run = |name: &str| {
        let child = Command::new(merged.join(name)).spawn().unwrap();
        let pid = i64::from(child.id());
        assert!(child.wait_with_output().unwrap().status.success());
        pid
    };
    let image_pid = run("from-image");
    let written_pid = run("written");
    let mut seen = Vec::new();
    let upper_flag = |pid: i64, seen: &mut Vec<Event>| {
        let ev = wait_for(&rx, seen, "exec in overlay", |e| e.task.pid == pid);
        let EventKind::Exec {
            exe_file, exe_path, ..
        } = &ev.kind
        else {
            unreachable!()
        };
        assert!(
            exe_path.ends_with("/merged/from-image") || exe_path.ends_with("/merged/written"),
            "{exe_path}"
        );
        exe_file.upper_layer
    };
    assert!(
        !upper_flag(image_pid, &mut seen),
        "a lower-layer binary is not upper"
    );
    assert!(
        upper_flag(written_pid, &mut seen),
        "a binary written through the mount is upper"
    );
    probe.stop();
}

#[test]
fn udp_sendto_and_recvfrom_carry_addresses_and_leading_data() {
    if !privileged() {
        return;
    }
    let cfg = ProbeConfig {
        io_buffer_bytes: 8,
        ..probe_config()
    };
    let (probe, rx) = Probe::start(cfg, &[EventType::Sendto, EventType::Recvfrom]).unwrap();
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_port = server.local_addr().unwrap().port();
    let client_port = client.local_addr().unwrap().port();
    client
        .send_to(b"falco-udp-payload", ("127.0.0.1", server_port))
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = server.recv_from(&mut buf).unwrap();
    assert_eq!(n, 17);
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut seen = Vec::new();

    let send = wait_for(&rx, &mut seen, "sendto", |e| {
        e.task.pid == me() && e.etype == EventType::Sendto
    });
    assert_eq!(send.res, 17);
    let EventKind::Io {
        addr, tuple, data, ..
    } = &send.kind
    else {
        panic!("{send:?}")
    };
    assert_eq!(
        addr,
        &Some(SockAddr::Inet {
            ip: lo,
            port: server_port
        })
    );
    assert_eq!(data.as_slice(), b"falco-ud", "first io_buffer_bytes bytes");
    let t = tuple.as_ref().unwrap();
    assert_eq!(t.l4, L4Proto::Udp);
    assert_eq!(
        t.local,
        SockAddr::Inet {
            ip: lo,
            port: client_port
        }
    );

    let recv = wait_for(&rx, &mut seen, "recvfrom", |e| {
        e.task.pid == me() && e.etype == EventType::Recvfrom
    });
    assert_eq!(recv.res, 17);
    let EventKind::Io { addr, data, .. } = &recv.kind else {
        panic!("{recv:?}")
    };
    assert_eq!(
        addr,
        &Some(SockAddr::Inet {
            ip: lo,
            port: client_port
        })
    );
    assert_eq!(data.as_slice(), b"falco-ud");
    probe.stop();
}

#[test]
fn exec_environment_on_demand_and_mount_strings() {
    if !privileged() {
        return;
    }
    let cfg = ProbeConfig {
        capture_env: true,
        ..probe_config()
    };
    let (probe, rx) = Probe::start(cfg, &[EventType::Execve, EventType::Mount]).unwrap();
    let child = Command::new("/bin/true")
        .arg("env-marker")
        .env("FALCO_PROBE_TEST", "env-value")
        .spawn()
        .unwrap();
    let pid = i64::from(child.id());
    child.wait_with_output().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_str().unwrap().to_string();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "falco-test-src", &target])
        .status()
        .unwrap();
    assert!(status.success());
    Command::new("umount").arg(&target).status().unwrap();
    let mut seen = Vec::new();

    let exec = wait_for(&rx, &mut seen, "exec with env", |e| {
        e.task.pid == pid && e.etype == EventType::Execve
    });
    let EventKind::Exec {
        filename,
        argv,
        env,
        ..
    } = &exec.kind
    else {
        unreachable!()
    };
    assert_eq!(filename, "/bin/true");
    assert_eq!(argv, &vec!["/bin/true".to_string(), "env-marker".into()]);
    assert!(
        env.iter().any(|v| v == "FALCO_PROBE_TEST=env-value"),
        "{env:?}"
    );

    let mount = wait_for(
        &rx,
        &mut seen,
        "mount",
        |e| matches!(&e.kind, EventKind::Mount { target: t, .. } if *t == target),
    );
    assert_eq!(mount.res, 0);
    let EventKind::Mount { source, fstype, .. } = &mount.kind else {
        unreachable!()
    };
    assert_eq!(source, "falco-test-src");
    assert_eq!(fstype, "tmpfs");
    probe.stop();
}

#[test]
fn controlling_tty_is_reported() {
    if !privileged() {
        return;
    }
    let (probe, rx) = start(&[EventType::Execve]);
    // `script` runs the command on a fresh pseudo-terminal as its controlling tty.
    let status = Command::new("script")
        .args(["-qec", "/bin/true tty-marker", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let no_tty = Command::new("/bin/true")
        .arg("no-tty-marker")
        .spawn()
        .unwrap();
    let no_tty_pid = i64::from(no_tty.id());
    no_tty.wait_with_output().unwrap();
    let mut seen = Vec::new();
    let marker = |m: &'static str| move |e: &Event| matches!(&e.kind, EventKind::Exec { argv, .. } if argv.iter().any(|a| a == m));
    let with_tty = wait_for(&rx, &mut seen, "exec on a pty", marker("tty-marker"));
    // Unix98 ptys are major 136.
    assert_eq!(with_tty.task.tty >> 20, 136, "tty {:#x}", with_tty.task.tty);
    let without = wait_for(&rx, &mut seen, "exec without tty", marker("no-tty-marker"));
    assert_eq!(without.task.pid, no_tty_pid);
    let own_tty = std::fs::read_to_string("/proc/self/stat")
        .unwrap()
        .rsplit(')')
        .next()
        .and_then(|rest| {
            rest.split_whitespace()
                .nth(4)
                .map(|s| s.parse::<i64>().unwrap())
        })
        .unwrap();
    if own_tty == 0 {
        assert_eq!(without.task.tty, 0, "a child of a tty-less test has no tty");
    }
    probe.stop();
}
