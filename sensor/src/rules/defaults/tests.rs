//! The default ruleset through the engine: it loads cleanly, every rule is
//! documented and tagged, and every rule has a positive and a negative
//! synthetic event.

use super::*;
use crate::event::{Event, EventKind, EventType};
use crate::rules::fields::tests::{event, exec, fixture, inet, open, tcp};
use crate::rules::{LoadOptions, RuleMatching, RuleSet, load_sources};
use crate::state::MemoryState;

pub(crate) fn load_defaults() -> RuleSet {
    let opts = LoadOptions {
        rule_matching: RuleMatching::All,
        ..Default::default()
    };
    let loaded = load_sources(
        &[(
            DEFAULT_RULES_NAME.to_string(),
            default_rules_yaml().to_string(),
        )],
        &opts,
    )
    .unwrap_or_else(|e| panic!("default rules do not load: {e}"));
    assert!(
        loaded.warnings.is_empty(),
        "default rules load with warnings: {:?}",
        loaded.warnings
    );
    loaded.ruleset
}

#[test]
fn default_rules_load() {
    let rs = load_defaults();
    assert!(rs.rules().count() >= 17);
}

fn fired(rs: &RuleSet, ev: &Event, st: &MemoryState) -> Vec<String> {
    let mut out = Vec::new();
    rs.evaluate(ev, st, &mut out);
    out.iter()
        .filter_map(|m| rs.rule(m.rule).map(|r| r.name().to_string()))
        .collect()
}

fn exec_as(st: &MemoryState, tid: i64, comm: &str, argv: &[&str], exe_path: &str) -> Event {
    let mut ev = event(st, tid, EventType::Execve, 0, exec(argv, exe_path, false));
    ev.task.comm = comm.to_string();
    ev
}

fn open_as(st: &MemoryState, tid: i64, comm: &str, path: &str, flags: i32) -> Event {
    let mut ev = event(
        st,
        tid,
        EventType::Openat,
        3,
        open(path, path, flags, 0o644),
    );
    ev.task.comm = comm.to_string();
    ev
}

fn connect_to(st: &MemoryState, tid: i64, ip: &str, port: u16) -> Event {
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

fn path_event(st: &MemoryState, comm: &str, etype: EventType, kind: EventKind) -> Event {
    let mut ev = event(st, 200, etype, 0, kind);
    ev.task.comm = comm.to_string();
    ev
}

fn rename(from: &str, to: &str) -> EventKind {
    EventKind::Rename {
        oldpath: from.to_string(),
        newpath: to.to_string(),
        resolved_oldpath: from.to_string(),
        resolved_newpath: to.to_string(),
        flags: 0,
    }
}

fn chmod(path: &str, mode: u32) -> EventKind {
    EventKind::Chmod {
        path: path.to_string(),
        resolved_path: path.to_string(),
        fd: -1,
        mode,
    }
}

fn symlink(target: &str, link: &str) -> EventKind {
    EventKind::Symlink {
        target: target.to_string(),
        linkpath: link.to_string(),
        resolved_linkpath: link.to_string(),
    }
}

/// (rule, event that must fire exactly that rule, events that must not fire it).
fn cases(st: &MemoryState) -> Vec<(&'static str, Event, Vec<Event>)> {
    let mut shell_no_tty = exec_as(st, 310, "bash", &["bash"], "/bin/bash");
    shell_no_tty.task.tty = 0;
    let mut shell_from_shell = exec_as(st, 310, "bash", &["bash"], "/bin/bash");
    shell_from_shell.task.ppid = 100;
    let mut memfd = exec_as(st, 310, "x", &["x"], "/memfd:x (deleted)");
    if let EventKind::Exec { exe_file, .. } = &mut memfd.kind {
        exe_file.from_memfd = true;
    }
    let mut shm_cwd = exec_as(st, 200, "x", &["./x"], "/dev/shm/x");
    if let EventKind::Exec { cwd, exe_path, .. } = &mut shm_cwd.kind {
        *cwd = "/dev/shm".to_string();
        *exe_path = "/tmp/x".to_string();
    }
    let dup = |oldfd: i64, newfd: i64, tid: i64| {
        event(
            st,
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
    let ptrace = |request: i64| {
        event(
            st,
            200,
            EventType::Ptrace,
            0,
            EventKind::Ptrace { request, pid: 300 },
        )
    };
    let module = |res: i64| {
        event(
            st,
            200,
            EventType::FinitModule,
            res,
            EventKind::ModuleLoad {
                fd: 3,
                params: String::new(),
            },
        )
    };
    let unlink = |path: &str, comm: &str| {
        path_event(
            st,
            comm,
            EventType::Unlinkat,
            EventKind::Unlink {
                path: path.to_string(),
                resolved_path: path.to_string(),
                dirfd: -100,
                flags: 0,
            },
        )
    };
    vec![
        (
            "Terminal shell in container",
            exec_as(st, 310, "bash", &["bash"], "/bin/bash"),
            vec![
                shell_no_tty,
                shell_from_shell,
                exec_as(st, 200, "bash", &["bash"], "/bin/bash"),
            ],
        ),
        (
            "Write below etc",
            open_as(st, 310, "python3", "/etc/passwd", libc::O_WRONLY),
            vec![
                open_as(st, 310, "python3", "/etc/passwd", libc::O_RDONLY),
                open_as(st, 310, "useradd", "/etc/passwd", libc::O_WRONLY),
                open_as(st, 310, "python3", "/etcetera/x", libc::O_WRONLY),
            ],
        ),
        (
            "Read sensitive file untrusted",
            open_as(st, 200, "cat", "/etc/shadow", libc::O_RDONLY),
            vec![
                open_as(st, 200, "sshd", "/etc/shadow", libc::O_RDONLY),
                open_as(st, 200, "cat", "/etc/hostname", libc::O_RDONLY),
            ],
        ),
        (
            "Contact K8S API Server From Container",
            connect_to(st, 310, "10.96.0.1", 443),
            vec![
                connect_to(st, 310, "10.96.0.10", 53),
                connect_to(st, 200, "10.96.0.1", 443),
            ],
        ),
        (
            "Unexpected network connection",
            connect_to(st, 310, "93.184.216.34", 443),
            vec![
                connect_to(st, 310, "10.1.2.3", 8080),
                connect_to(st, 310, "127.0.0.1", 8080),
                connect_to(st, 200, "93.184.216.34", 443),
            ],
        ),
        (
            "Launch Package Management Process in Container",
            exec_as(
                st,
                310,
                "apt-get",
                &["apt-get", "install", "nmap"],
                "/usr/bin/apt-get",
            ),
            vec![
                exec_as(st, 310, "ls", &["ls"], "/bin/ls"),
                exec_as(
                    st,
                    200,
                    "apt-get",
                    &["apt-get", "update"],
                    "/usr/bin/apt-get",
                ),
            ],
        ),
        (
            "Modify binary dirs",
            path_event(st, "mv", EventType::Rename, rename("/tmp/a", "/usr/bin/a")),
            vec![
                path_event(
                    st,
                    "dpkg",
                    EventType::Rename,
                    rename("/tmp/a", "/usr/bin/a"),
                ),
                path_event(st, "mv", EventType::Rename, rename("/tmp/a", "/tmp/b")),
                path_event(st, "mv", EventType::Rename, rename("/tmp/a", "/usr/binx")),
            ],
        ),
        (
            "Fileless execution via memfd",
            memfd,
            vec![exec_as(st, 310, "x", &["x"], "/usr/bin/x")],
        ),
        (
            "Execution from /dev/shm",
            exec_as(st, 200, "x", &["/dev/shm/x"], "/dev/shm/x"),
            vec![exec_as(st, 200, "x", &["/usr/bin/x"], "/usr/bin/x")],
        ),
        ("Execution from /dev/shm", shm_cwd, vec![]),
        (
            "PTRACE attached to process",
            ptrace(16),
            vec![ptrace(2), ptrace(0)],
        ),
        (
            "Set setuid or setgid bit",
            path_event(st, "chmod", EventType::Chmod, chmod("/tmp/sh", 0o4755)),
            vec![
                path_event(st, "chmod", EventType::Chmod, chmod("/tmp/sh", 0o755)),
                path_event(st, "dpkg", EventType::Chmod, chmod("/usr/bin/su", 0o4755)),
            ],
        ),
        (
            "Create symlink or hardlink over sensitive files",
            path_event(
                st,
                "ln",
                EventType::Symlinkat,
                symlink("/etc/shadow", "/tmp/s"),
            ),
            vec![path_event(
                st,
                "ln",
                EventType::Symlinkat,
                symlink("/tmp/f", "/tmp/s"),
            )],
        ),
        (
            "Reverse shell",
            dup(3, 0, 310),
            vec![dup(3, 1, 200), dup(3, 5, 310)],
        ),
        (
            "Clear log activities",
            open_as(
                st,
                200,
                "sh",
                "/var/log/syslog",
                libc::O_WRONLY | libc::O_TRUNC,
            ),
            vec![
                open_as(
                    st,
                    200,
                    "sh",
                    "/var/log/syslog",
                    libc::O_WRONLY | libc::O_APPEND,
                ),
                open_as(
                    st,
                    200,
                    "logrotate",
                    "/var/log/syslog",
                    libc::O_WRONLY | libc::O_TRUNC,
                ),
            ],
        ),
        (
            "Clear log activities",
            unlink("/var/log/auth.log", "rm"),
            vec![unlink("/tmp/x.log", "rm")],
        ),
        (
            "Search for private keys",
            exec_as(
                st,
                200,
                "find",
                &["find", "/", "-name", "id_rsa"],
                "/usr/bin/find",
            ),
            vec![exec_as(
                st,
                200,
                "find",
                &["find", "/", "-name", "*.txt"],
                "/usr/bin/find",
            )],
        ),
        ("Kernel module loaded", module(0), vec![module(-1)]),
        (
            "Container escape via release_agent",
            open_as(
                st,
                310,
                "sh",
                "/sys/fs/cgroup/rdma/release_agent",
                libc::O_WRONLY,
            ),
            vec![
                open_as(
                    st,
                    200,
                    "sh",
                    "/sys/fs/cgroup/rdma/release_agent",
                    libc::O_WRONLY,
                ),
                open_as(
                    st,
                    310,
                    "sh",
                    "/sys/fs/cgroup/rdma/release_agent",
                    libc::O_RDONLY,
                ),
            ],
        ),
    ]
}

#[test]
fn every_default_rule_has_a_positive_and_a_negative_case() {
    let st = fixture();
    let rs = load_defaults();
    let cases = cases(&st);
    let mut failures = Vec::new();
    for (rule, pos, negs) in &cases {
        let got = fired(&rs, pos, &st);
        if got != [rule.to_string()] {
            failures.push(format!(
                "{rule}: positive {} fired {got:?}",
                pos.etype.name()
            ));
        }
        for (i, neg) in negs.iter().enumerate() {
            let got = fired(&rs, neg, &st);
            if got.iter().any(|r| r == rule) {
                failures.push(format!("{rule}: negative #{i} fired {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for r in rs.rules() {
        let positive = cases.iter().any(|(n, _, _)| *n == r.name());
        let negative = cases
            .iter()
            .any(|(n, _, negs)| *n == r.name() && !negs.is_empty());
        assert!(
            positive && negative,
            "{} lacks a positive or negative case",
            r.name()
        );
    }
}

#[test]
fn default_rules_are_documented_tagged_and_name_their_context() {
    let rs = load_defaults();
    let required = [
        "Terminal shell in container",
        "Write below etc",
        "Read sensitive file untrusted",
        "Contact K8S API Server From Container",
        "Unexpected network connection",
        "Launch Package Management Process in Container",
        "Modify binary dirs",
    ];
    for name in required {
        assert!(rs.rule_by_name(name).is_some(), "missing rule {name}");
    }
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rules.md"),
    )
    .expect("docs/rules.md");
    for r in rs.rules() {
        let name = r.name();
        assert!(!r.desc().trim().is_empty(), "{name}: no desc");
        assert!(
            r.tags().iter().any(|t| t.starts_with("mitre_")),
            "{name}: no MITRE tactic tag"
        );
        assert!(
            r.tags()
                .iter()
                .any(|t| t.starts_with('T') && t[1..].starts_with(|c: char| c.is_ascii_digit())),
            "{name}: no MITRE technique tag"
        );
        let out = r.output_format();
        for f in [
            "%proc.name",
            "%user.name",
            "%container.name",
            "%k8s.ns.name",
            "%k8s.pod.name",
        ] {
            assert!(out.contains(f), "{name}: output lacks {f}");
        }
        assert!(
            docs.contains(name),
            "docs/rules.md does not describe {name}"
        );
    }
}

#[test]
fn operators_replace_the_outbound_allow_list() {
    let st = fixture();
    let tuning = r#"
- list: allowed_outbound_destination_networks
  items: ["93.184.216.0/24"]
  override:
    items: replace
"#;
    let opts = LoadOptions {
        rule_matching: RuleMatching::All,
        ..Default::default()
    };
    let rs = load_sources(
        &[
            (
                DEFAULT_RULES_NAME.to_string(),
                default_rules_yaml().to_string(),
            ),
            ("tuning.yaml".to_string(), tuning.to_string()),
        ],
        &opts,
    )
    .unwrap_or_else(|e| panic!("defaults + tuning: {e}"))
    .ruleset;
    let rule = "Unexpected network connection".to_string();
    let allowed = connect_to(&st, 310, "93.184.216.34", 443);
    let private = connect_to(&st, 310, "10.1.2.3", 8080);
    assert!(!fired(&rs, &allowed, &st).contains(&rule));
    assert!(fired(&rs, &private, &st).contains(&rule));
}
