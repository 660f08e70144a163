use super::*;
use crate::event::{Event, EventKind, TaskContext};
use crate::rules::{LoadOptions, RuleSet, default_rules_yaml, load_sources};
use crate::state::fdname::resolve;
use crate::state::{ContainerInfo, MemoryState, ThreadInfo};
use std::sync::Arc;

fn ruleset(yaml: &str) -> RuleSet {
    load_sources(
        &[("test.yaml".into(), yaml.into())],
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("load failed: {e}"))
    .ruleset
}

fn rule(name: &str, cond: &str) -> String {
    format!(
        "- rule: {name}\n  desc: d\n  condition: {cond}\n  output: \"out %proc.name\"\n  priority: WARNING\n"
    )
}

/// The filter for one open rule with `cond` (after `evt.type in (...) and`).
fn open_rule(cond: &str) -> Result<OpenFilter, FullCapture> {
    derive(&ruleset(&rule(
        "r",
        &format!("evt.type in (open, openat, openat2, creat) and {cond}"),
    )))
}

/// A filter with these prefixes and basenames, as derived from rules with
/// no rule on close events.
fn filter(prefixes: &[&str], basenames: &[&str]) -> OpenFilter {
    OpenFilter {
        prefixes: strings(prefixes),
        basenames: strings(basenames),
        close_filter: true,
        ..OpenFilter::default()
    }
}

/// A filter with substrings, exact directories and process names.
fn filter_of(substrings: &[&str], directories: &[&str], comms: &[&str]) -> OpenFilter {
    OpenFilter {
        substrings: strings(substrings),
        directories: strings(directories),
        comms: strings(comms),
        close_filter: true,
        ..OpenFilter::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn path_checks_become_prefixes_and_basenames() {
    let cases: &[(&str, OpenFilter)] = &[
        ("fd.name = /etc/shadow", filter(&["/etc/shadow"], &[])),
        (
            "fd.name in (/etc/shadow, /root/.ssh/id_rsa)",
            filter(&["/etc/shadow", "/root/.ssh/id_rsa"], &[]),
        ),
        ("fd.name startswith /etc/", filter(&["/etc/"], &[])),
        (
            "fd.name pmatch (/var/log/, /srv)",
            filter(&["/srv", "/var/log"], &[]),
        ),
        (
            "fd.directory = /usr/bin",
            filter_of(&[], &["/usr/bin"], &[]),
        ),
        (
            "fd.directory in (/bin, /sbin)",
            filter_of(&[], &["/bin", "/sbin"], &[]),
        ),
        ("fd.directory = /", filter_of(&[], &["/"], &[])),
        ("fd.directory startswith /srv/", filter(&["/srv/"], &[])),
        ("fd.name contains /.ssh/", filter_of(&["/.ssh/"], &[], &[])),
        (
            "fd.name endswith authorized_keys",
            filter_of(&["authorized_keys"], &[], &[]),
        ),
        // A suffix starting at a `/` is an exact last component.
        ("fd.name endswith /shadow", filter(&[], &["shadow"])),
        (
            "fd.filename contains _history",
            filter_of(&["_history"], &[], &[]),
        ),
        ("fd.filename startswith id_", filter_of(&["/id_"], &[], &[])),
        ("fd.name glob '/proc/*/environ'", filter(&["/proc/"], &[])),
        (
            "fd.name glob '*/.aws/credentials'",
            filter_of(&["/.aws/credentials"], &[], &[]),
        ),
        // The kernel always passes paths with `../`: nothing to add.
        ("fd.nameraw contains '../'", filter(&[], &[])),
        (
            "fd.nameraw contains '../' and fd.nameraw glob '*../*../*'",
            filter(&[], &[]),
        ),
        ("fd.nameraw startswith /etc/", filter(&["/etc/"], &[])),
        ("proc.name = tar", filter_of(&[], &[], &["tar"])),
        (
            "proc.name in (sshd, a-very-long-process-name)",
            filter_of(&[], &[], &["a-very-long-pro", "sshd"]),
        ),
        // Either kind of constraint bounds a conjunction: the cheaper one.
        (
            "proc.name = sshd and fd.name contains liblzma.so",
            filter_of(&[], &[], &["sshd"]),
        ),
        (
            "(fd.name startswith /etc/ or proc.name = cat)",
            OpenFilter {
                prefixes: strings(&["/etc/"]),
                comms: strings(&["cat"]),
                close_filter: true,
                ..OpenFilter::default()
            },
        ),
        (
            "fd.filename = release_agent",
            filter(&[], &["release_agent"]),
        ),
        (
            "fd.filename in (shadow, id_rsa)",
            filter(&[], &["id_rsa", "shadow"]),
        ),
        // One constraining conjunct suffices; the others may be anything.
        (
            "proc.name != sshd and fd.name contains x and fd.name startswith /etc/",
            filter(&["/etc/"], &[]),
        ),
        // Every branch constrains: the union.
        (
            "(fd.name startswith /etc/ or fd.filename = id_rsa) and not proc.name = a",
            filter(&["/etc/"], &["id_rsa"]),
        ),
        // A prefix under another one adds nothing.
        (
            "(fd.name startswith /etc/ or fd.name = /etc/shadow)",
            filter(&["/etc/"], &[]),
        ),
    ];
    for (cond, want) in cases {
        assert_eq!(open_rule(cond).as_ref(), Ok(want), "condition: {cond}");
    }
}

#[test]
fn conditions_the_kernel_cannot_check_force_a_full_capture() {
    for cond in [
        "proc.name != cat",
        "proc.name startswith cat",
        "proc.pname = cat",
        "not fd.name startswith /etc/",
        "fd.name != /etc/shadow",
        // Shorter than the kernel's 4-byte window: in nearly every path.
        "fd.name contains key",
        "fd.name endswith .sh",
        "fd.name glob '/*'",
        "fd.name iglob '/etc/*'",
        "fd.name regex '^/etc/'",
        "fd.name icontains shadow",
        "tolower(fd.name) = /etc/shadow",
        "fd.name = val(fd.nameraw)",
        "fd.name = relative/path",
        "fd.directory = relative",
        "fd.filename startswith i",
        "(fd.name startswith /etc/ or fd.name contains x)",
    ] {
        match open_rule(cond) {
            Err(FullCapture::Unconstrained { rule, .. }) => assert_eq!(rule, "r", "{cond}"),
            other => panic!("`{cond}` must force a full capture, got {other:?}"),
        }
    }
}

#[test]
fn rules_on_other_events_do_not_widen_the_filter() {
    let yaml = rule("o", "evt.type = openat and fd.name startswith /etc/")
        + &rule("e", "evt.type = execve and proc.name = cat")
        + &rule(
            "c",
            "evt.type = connect and fd.typechar = 4 and fd.sport = 443",
        )
        // Only sockets can satisfy it, so file opens do not matter.
        + &rule("d", "evt.type = dup2 and fd.typechar in (4, 6)")
        // Reads no fd field: the fd table cannot change whether it holds.
        + &rule("m", "evt.type = fchmod and evt.rawres = 0");
    assert_eq!(derive(&ruleset(&yaml)), Ok(filter(&["/etc/"], &[])));
    // Branches for other event types fold away when specialised to opens.
    let mixed = rule(
        "x",
        "(evt.type = openat and fd.filename = shadow) or (evt.type = execve and proc.name = cat)",
    );
    assert_eq!(derive(&ruleset(&mixed)), Ok(filter(&[], &["shadow"])));
    assert_eq!(
        derive(&ruleset(&rule("e", "evt.type = execve"))),
        Ok(filter(&[], &[]))
    );
}

#[test]
fn fd_table_readers_force_a_full_capture() {
    let on_close = rule("o", "evt.type = openat and fd.name startswith /etc/")
        + &rule("c", "evt.type = close and fd.name startswith /tmp/");
    assert_eq!(
        derive(&ruleset(&on_close)),
        Err(FullCapture::FdTable {
            rule: "c".into(),
            event_type: EventType::Close
        })
    );
    let negated = rule("d", "evt.type = dup2 and not fd.typechar in (4, 6)");
    assert!(matches!(
        derive(&ruleset(&negated)),
        Err(FullCapture::FdTable { .. })
    ));
    let stdin = rule(
        "s",
        "evt.type = execve and proc.stdin.name startswith /tmp/",
    );
    assert_eq!(
        derive(&ruleset(&stdin)),
        Err(FullCapture::FdTableField {
            rule: "s".into(),
            field: "proc.stdin.name".into()
        })
    );
}

#[test]
fn too_many_paths_are_widened_to_parent_directories() {
    let names: Vec<String> = (0..40).map(|i| format!("/srv/app{i}/config")).collect();
    let cond = format!("fd.name in ({})", names.join(", "));
    let f = open_rule(&cond).unwrap();
    assert!(f.prefixes.len() <= crate::probe::MAX_OPEN_PREFIXES, "{f:?}");
    for n in &names {
        assert!(f.passes(n), "{n} must pass {f:?}");
    }
    assert!(!f.passes("/usr/lib/x"), "{f:?}");
    let long = format!("/{}", "d/".repeat(60));
    let f = open_rule(&format!("fd.name startswith {long}")).unwrap();
    assert!(f.prefixes[0].len() <= MAX_OPEN_PREFIX_LEN);
    assert!(f.passes(&format!("{long}file")));
    let many: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
    let cond = format!("fd.filename in ({})", many.join(", "));
    assert!(matches!(open_rule(&cond), Err(FullCapture::TooMany { .. })));
}

#[test]
fn the_filter_mirror_passes_what_userspace_normalises() {
    let f = filter(&["/etc/"], &["id_rsa"]);
    for p in [
        "/etc/passwd",
        "/home/u/.ssh/id_rsa",
        "relative/x",
        "/tmp/../etc/shadow",
        "/./etc/shadow",
        "//etc/shadow",
        "/tmp/x/",
        "/",
    ] {
        assert!(f.passes(p), "{p}");
    }
    for p in [
        "/tmp/x",
        "/home/u/.ssh/id_rsa.pub",
        "/etcx/passwd",
        "/tmp/...x",
    ] {
        assert!(!f.passes(p), "{p}");
    }
}

const CID: &str = "0123456789ab";

/// A shell in a container (pid 300) and one on the host (pid 400).
fn state() -> MemoryState {
    let mut st = MemoryState::default();
    for (tid, cid) in [(300, CID), (400, "host")] {
        st.threads.insert(
            tid,
            ThreadInfo {
                tid,
                pid: tid,
                ppid: 1,
                comm: "bash".into(),
                exe: "bash".into(),
                exe_path: "/usr/bin/bash".into(),
                container_id: Arc::from(cid),
                cwd: "/".into(),
                ..ThreadInfo::default()
            },
        );
    }
    st.containers.insert(
        CID.into(),
        ContainerInfo {
            id: CID.into(),
            resolved: true,
            ..ContainerInfo::default()
        },
    );
    st
}

fn open_event(etype: EventType, pid: i64, raw: &str, flags: u32) -> Event {
    Event {
        num: 1,
        ts_ns: 1,
        cpu: 0,
        etype,
        res: 3,
        task: TaskContext {
            tid: pid,
            pid,
            ppid: 1,
            comm: "bash".into(),
            ..TaskContext::default()
        },
        kind: EventKind::Open {
            path: raw.into(),
            resolved_path: resolve("/", raw),
            flags,
            mode: 0,
            dirfd: -100,
            dev: 0,
            ino: 0,
        },
    }
}

/// Property over the default ruleset: every open some default rule matches,
/// whatever form the path was written in, crosses the derived filter.
#[test]
fn default_rules_filter_passes_every_open_they_match() {
    let loaded = load_sources(
        &[(
            "falco-sensor_rules.yaml".into(),
            default_rules_yaml().into(),
        )],
        &LoadOptions::default(),
    )
    .unwrap();
    let rs = loaded.ruleset;
    let f = derive(&rs).unwrap_or_else(|why| panic!("defaults must be filterable: {why}"));
    assert!(!f.prefixes.is_empty() && !f.basenames.is_empty(), "{f:?}");
    let paths = [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/sudoers.d/extra",
        "/etc/pam.d/sshd",
        "/etc/security/pwquality.conf",
        "/root/.ssh/authorized_keys",
        "/root/.ssh/id_rsa",
        "/var/log/syslog",
        "/var/log/nginx/access.log",
        "/var/log",
        "/home/u/wtmp",
        "/tmp/auth.log",
        "/run/log/messages",
        "/usr/bin/ls",
        "/usr/local/sbin/tool",
        "/bin/sh",
        "/sbin/init",
        "/sys/fs/cgroup/rdma/release_agent",
        "/tmp/release_agent",
        "/tmp/x",
        "/home/u/.bashrc",
        "/var/logs/x",
        "/etcx",
        "/usr/bin/sub/x",
    ];
    let o_wronly_creat_trunc = 0o1 | 0o100 | 0o1000;
    let st = state();
    let mut matched_rules = BTreeSet::new();
    let mut out = Vec::new();
    for path in paths {
        for raw in [
            path.to_string(),
            format!("/tmp/..{path}"),
            format!("/.{path}"),
            format!("/{path}"),
        ] {
            for etype in OPEN_TYPES {
                for flags in [0, o_wronly_creat_trunc] {
                    for pid in [300, 400] {
                        let ev = open_event(*etype, pid, &raw, flags);
                        out.clear();
                        rs.evaluate(&ev, &st, &mut out);
                        for m in &out {
                            let name = rs.rule(m.rule).unwrap().name().to_string();
                            assert!(
                                f.passes(&raw),
                                "rule `{name}` matches an open of {raw} that {f:?} drops"
                            );
                            matched_rules.insert(name);
                        }
                    }
                }
            }
        }
    }
    // The table must exercise every default rule on opens.
    for want in [
        "Write below etc",
        "Read sensitive file untrusted",
        "Clear log activities",
        "Modify binary dirs",
        "Container escape via release_agent",
    ] {
        assert!(matched_rules.contains(want), "{want} never matched");
    }
    // And the filter does filter: paths no rule names are dropped.
    for p in [
        "/tmp/x",
        "/home/u/.bashrc",
        "/usr/lib/libc.so.6",
        "/proc/self/stat",
    ] {
        assert!(!f.passes(p), "{p} passes {f:?}");
    }
}

/// The default ruleset and the three upstream ones, loaded as the
/// benchmark loads them.
fn four_rulesets() -> RuleSet {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat/falco-rules");
    let mut sources = vec![(
        "falco-sensor_rules.yaml".to_string(),
        default_rules_yaml().to_string(),
    )];
    for f in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        let p = dir.join(f);
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        sources.push((p.display().to_string(), text));
    }
    load_sources(&sources, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("loading the four rulesets: {e}"))
        .ruleset
}

#[test]
fn four_rulesets_derive_a_filter() {
    let rs = four_rulesets();
    let f = derive(&rs).unwrap_or_else(|why| panic!("all four rulesets must be filterable: {why}"));
    println!("{f:#?}");
    for p in ["/etc/", "/proc/", "/root/", "/home/", "/var/log"] {
        assert!(f.prefixes.iter().any(|x| x == p), "prefix {p}: {f:?}");
    }
    assert!(
        !f.prefixes.iter().any(|p| p.len() <= 1),
        "a bare / prefix passes everything: {f:?}"
    );
    for b in [".bash_history", "release_agent", "sources.list"] {
        assert!(f.basenames.iter().any(|x| x == b), "basename {b}: {f:?}");
    }
    // `Delete or rename shell history` and `Detect release_agent File
    // Container Escapes` look for substrings and suffixes.
    for s in ["ash_history", "release_agent"] {
        assert!(f.substrings.iter().any(|x| x == s), "substring {s}: {f:?}");
    }
    // `Write below root`: `fd.directory = /`; `Write below binary dir`.
    for d in ["/", "/usr/bin", "/root/.ssh"] {
        assert!(f.directories.iter().any(|x| x == d), "directory {d}: {f:?}");
    }
    // `Exfiltrating Artifacts via Kubernetes Control Plane` (tar) and
    // `Backdoored library loaded into SSHD` (sshd).
    assert_eq!(f.comms, ["sshd", "tar"]);
    assert!(f.close_filter, "no rule needs the closes of dropped opens");
    // Paths no rule watches are dropped, among them the benchmark's
    // open+close target (scratch dirs of scripts/bench/driver.py).
    for p in [
        "/tmp/falco-bench-k2j9x_q1/openclose-target",
        "/tmp/falco-bench-00000000/openclose-target",
        "/var/tmp/data.bin",
        "/usr/share/zoneinfo/UTC",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/tmp/x",
    ] {
        assert!(!f.passes_for(p, "bash"), "{p} passes {f:?}");
    }
    assert!(f.passes_for("/tmp/x", "tar"));
}

/// Property over all four rulesets: every open some rule matches, whatever
/// form the path was written in and whichever of a few processes opens it,
/// crosses the derived filter.
#[test]
fn four_rulesets_filter_passes_every_open_they_match() {
    let rs = four_rulesets();
    let f = derive(&rs).unwrap();
    let paths = [
        "/etc/shadow",
        "/etc/ld.so.preload",
        "/root/.ssh/authorized_keys",
        "/home/u/.ssh/authorized_keys",
        "/home/u/.ssh/id_rsa",
        "/home/u/.bash_history",
        "/root/.zsh_history",
        "/tmp/.bash_history",
        "/var/tmp/x.fish_history",
        "/proc/1/environ",
        "/proc/self/environ",
        "/sys/fs/cgroup/rdma/release_agent",
        "/tmp/cg/release_agent",
        "/usr/lib/liblzma.so.5.6.0",
        "/lib/x86_64-linux-gnu/liblzma.so.5.6.0",
        "/x",
        "/newfile",
        "/usr/bin/x",
        "/usr/local/bin/x",
        "/bin/x",
        "/dev/x",
        "/boot/vmlinuz",
        "/var/log/syslog",
        "/tmp/x",
        "/var/tmp/x",
        "/opt/app/data",
        "/var/lib/rpm/Packages",
        "/etc/apt/sources.list.d/x.list",
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "/tmp/a.tar",
    ];
    let o_wronly_creat_trunc = 0o1 | 0o100 | 0o1000;
    let st = state();
    let mut matched_rules = BTreeSet::new();
    let mut out = Vec::new();
    for path in paths {
        for raw in [
            path.to_string(),
            format!("/tmp/..{path}"),
            format!("/.{path}"),
        ] {
            for etype in OPEN_TYPES {
                for flags in [0, o_wronly_creat_trunc] {
                    for comm in ["bash", "sshd", "tar", "nginx"] {
                        let mut ev = open_event(*etype, 400, &raw, flags);
                        ev.task.comm = comm.into();
                        out.clear();
                        rs.evaluate(&ev, &st, &mut out);
                        for m in &out {
                            let name = rs.rule(m.rule).unwrap().name().to_string();
                            assert!(
                                f.passes_for(&raw, comm),
                                "rule `{name}` matches an open of {raw} by {comm} that the filter drops"
                            );
                            matched_rules.insert(name);
                        }
                    }
                }
            }
        }
    }
    println!("{matched_rules:#?}");
    assert!(matched_rules.len() >= 5, "{matched_rules:?}");
}

#[test]
fn the_mirror_checks_substrings_directories_and_dotdot_components() {
    let f = OpenFilter {
        substrings: strings(&["/.ssh/", "_history"]),
        directories: strings(&["/", "/usr/bin"]),
        ..OpenFilter::default()
    };
    for p in [
        "/home/u/.ssh/config",
        "/root/.zsh_history",
        "/newfile",
        "/usr/bin/x",
        // `contains '../'` rules: a component ending in `..` before a `/`.
        "/tmp/x../y",
    ] {
        assert!(f.passes(p), "{p}");
    }
    for p in [
        "/home/u/.config/x",
        "/usr/bin/sub/x",
        "/usr/binx",
        "/tmp/x..",
    ] {
        assert!(!f.passes(p), "{p}");
    }
    // One window per substring is in the bitmap, and only that one.
    let bits = f.gram_bitmap();
    assert_eq!(bits.iter().map(|w| w.count_ones()).sum::<u32>(), 2);
    assert_eq!(crate::probe::gram_of(b"/.ssh/"), Some(*b".ssh"));
    assert_eq!(crate::probe::gram_of(b"a/b/c/d"), Some(*b"/c/d"));
    assert_eq!(crate::probe::gram_of(b"abc"), None);
}
