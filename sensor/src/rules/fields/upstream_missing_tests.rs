//! The upstream conditions that name the missing value (`<NA>`), read from
//! `../shared/compat/falco-rules/` (never copied into the tree): for each,
//! an event whose field is missing and one where it is present, checked
//! through the macro (a probe rule that is the macro alone) and through
//! the upstream rules that use it. docs/rule-language.md ("Missing
//! values") lists these conditions.

use super::tests::{CID, FULL_CID, event, exec, fixture, open};
use crate::event::{Event, EventKind, EventType};
use crate::rules::{LoadOptions, RuleMatching, RuleSet, load_sources};
use crate::state::{ContainerMount, MemoryState};

const STABLE: &str = "falco_rules.yaml";
const INCUBATING: &str = "falco-incubating_rules.yaml";
const SANDBOX: &str = "falco-sandbox_rules.yaml";

fn upstream_text(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/compat/falco-rules")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The upstream `files` in order, then `extra` (probe rules over their
/// macros), every rule evaluated.
fn load(files: &[&str], extra: &str) -> RuleSet {
    let mut sources: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.to_string(), upstream_text(f)))
        .collect();
    sources.push(("probes.yaml".to_string(), extra.to_string()));
    let opts = LoadOptions {
        rule_matching: RuleMatching::All,
        ..Default::default()
    };
    load_sources(&sources, &opts)
        .unwrap_or_else(|e| panic!("{files:?}: {e}"))
        .ruleset
}

/// A rule that fires exactly when `condition` holds.
fn probe(name: &str, condition: &str) -> String {
    format!(
        "- rule: {name}\n  desc: probe\n  condition: {condition}\n  output: probe\n  priority: INFO\n"
    )
}

fn fired(rs: &RuleSet, ev: &Event, st: &MemoryState) -> Vec<String> {
    let mut out = Vec::new();
    rs.evaluate(ev, st, &mut out);
    out.iter()
        .filter_map(|m| rs.rule(m.rule).map(|r| r.name().to_string()))
        .collect()
}

fn fires(rs: &RuleSet, rule: &str, ev: &Event, st: &MemoryState) -> bool {
    fired(rs, ev, st).iter().any(|r| r == rule)
}

/// `ev` as if from a thread the state does not know (tid 4242), with the
/// comm the kernel reported (`""`: none, so `proc.name` is missing).
fn from_unknown(mut ev: Event, comm: &str) -> Event {
    ev.task.tid = 4242;
    ev.task.pid = 4242;
    ev.task.ppid = 0;
    ev.task.comm = comm.to_string();
    ev
}

fn read_shadow(st: &MemoryState, comm: &str) -> Event {
    let ev = event(
        st,
        200,
        EventType::Openat,
        3,
        open("/etc/shadow", "/etc/shadow", libc::O_RDONLY, 0),
    );
    from_unknown(ev, comm)
}

#[test]
fn proc_name_exists_requires_a_known_name_in_every_ruleset() {
    let st = fixture();
    for file in [STABLE, INCUBATING, SANDBOX] {
        let rs = load(
            &[file],
            &probe("probe", "evt.type = openat and proc_name_exists"),
        );
        assert!(
            !fires(&rs, "probe", &read_shadow(&st, ""), &st),
            "{file}: proc_name_exists holds for a process with no name"
        );
        assert!(
            fires(&rs, "probe", &read_shadow(&st, "evil"), &st),
            "{file}: proc_name_exists fails for a named process"
        );
    }
}

#[test]
fn stable_rules_guarded_by_proc_name_exists_skip_unnamed_processes() {
    let st = fixture();
    let rs = load(&[STABLE], "");
    let rule = "Read sensitive file untrusted";
    assert!(!fires(&rs, rule, &read_shadow(&st, ""), &st));
    assert!(fires(&rs, rule, &read_shadow(&st, "evil"), &st));

    let traceme = |comm: &str| {
        let ev = event(
            &st,
            200,
            EventType::Ptrace,
            0,
            EventKind::Ptrace {
                request: i64::from(libc::PTRACE_TRACEME),
                pid: 0,
            },
        );
        from_unknown(ev, comm)
    };
    let rule = "PTRACE anti-debug attempt";
    assert!(!fires(&rs, rule, &traceme(""), &st));
    assert!(fires(&rs, rule, &traceme("evil"), &st));
}

#[test]
fn known_user_in_container_requires_a_known_user() {
    let st = fixture();
    let rs = load(
        &[INCUBATING],
        &probe("probe", "evt.type = setuid and known_user_in_container"),
    );
    let setuid = |uid: u32| {
        let mut ev = event(
            &st,
            300,
            EventType::Setuid,
            0,
            EventKind::SetId {
                real: 0,
                effective: 0,
                saved: 0,
            },
        );
        ev.task.uid = uid;
        ev
    };
    // uid 101 is `nginx` in the container's passwd; 4242 is nobody's.
    assert!(fires(&rs, "probe", &setuid(101), &st));
    assert!(!fires(&rs, "probe", &setuid(4242), &st));
}

/// The first process of the fixture's container (`nginx`, pid 300) as
/// the container starts: its exec, seen with pid 1 in the container.
fn container_start(st: &MemoryState) -> Event {
    let mut ev = event(
        st,
        300,
        EventType::Execve,
        0,
        exec(&["nginx", "-g", "daemon off;"], "/usr/sbin/nginx", false),
    );
    ev.task.vpid = 1;
    ev.task.vtid = 1;
    ev
}

fn with_mounts(mut st: MemoryState, sources: &[&str]) -> MemoryState {
    let c = st
        .containers
        .get_mut(CID)
        .unwrap_or_else(|| panic!("fixture has no container {CID}"));
    assert_eq!(c.full_id, FULL_CID);
    c.mounts = sources
        .iter()
        .map(|s| ContainerMount {
            source: s.to_string(),
            dest: s.to_string(),
            mode: String::new(),
            read_write: true,
            propagation: "rprivate".to_string(),
        })
        .collect();
    st
}

#[test]
fn sensitive_mount_needs_a_sensitive_mount() {
    let rs = load(
        &[SANDBOX],
        &probe("probe", "evt.type = execve and sensitive_mount"),
    );
    let rule = "Launch Sensitive Mount Container";
    for (mounts, want) in [
        (&[][..], false),
        (&["/srv/data"][..], false),
        (&["/proc"][..], true),
        (&["/srv/data", "/run/containerd/containerd.sock"][..], true),
        (&["/var/run/docker.sock"][..], true),
        (&["/etc"][..], true),
    ] {
        let st = with_mounts(fixture(), mounts);
        let ev = container_start(&st);
        assert_eq!(
            fires(&rs, "probe", &ev, &st),
            want,
            "macro, mounts {mounts:?}"
        );
        assert_eq!(fires(&rs, rule, &ev, &st), want, "rule, mounts {mounts:?}");
    }
}

#[test]
fn a_plain_container_start_raises_no_alert_from_the_upstream_rulesets() {
    let rs = load(&[STABLE, INCUBATING, SANDBOX], "");
    let plain = with_mounts(fixture(), &["/srv/data"]);
    let ev = container_start(&plain);
    assert_eq!(fired(&rs, &ev, &plain), Vec::<String>::new());
    // A container that mounts /proc still does.
    let proc_mount = with_mounts(fixture(), &["/proc"]);
    assert_eq!(
        fired(&rs, &container_start(&proc_mount), &proc_mount),
        ["Launch Sensitive Mount Container"]
    );
}
