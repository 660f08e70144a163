//! Criterion micro-benchmarks of the condition evaluator (issue 8): single
//! conditions of each common shape (string `=`, `in` list, `pmatch`,
//! `contains`, `startswith`), and whole upstream rulesets on a matching and
//! a non-matching open and execve. Each case runs `RuleSet::evaluate`, i.e.
//! what the sensor does per event after the state update.
//!
//!     cargo bench -p falco-sensor --bench condition_eval
//!
//! The upstream cases read `<repo>/../shared/compat/falco-rules/` and are
//! skipped with a note when it is absent.

use criterion::{Criterion, criterion_group, criterion_main};
use falco_sensor::event::{Event, EventKind, EventType, ExeFileInfo, TaskContext};
use falco_sensor::rules::{
    LoadOptions, RuleMatch, RuleMatching, RuleSet, load_files, load_sources,
};
use falco_sensor::state::MemoryState;
use std::hint::black_box;
use std::path::PathBuf;

#[path = "../examples/support/eval_fixture.rs"]
mod eval_fixture;
use eval_fixture::{CID, open_kind, thread, web_container};

/// A container shell (pid 300) under containerd-shim, a host sshd (400),
/// and a container shell (500) whose parent is outside the container (the
/// shape of `kubectl exec`).
fn state() -> MemoryState {
    let mut st = MemoryState::default();
    for th in [
        thread(1, 0, "systemd", "host", &[]),
        thread(200, 1, "containerd-shim", "host", &[]),
        thread(300, 200, "bash", CID, &[]),
        thread(400, 1, "sshd", "host", &[]),
        thread(500, 0, "bash", CID, &[]),
    ] {
        st.threads.insert(th.tid, th);
    }
    st.containers.insert(CID.into(), web_container());
    st
}

/// An event of `pid` (its only thread); sshd has no terminal, the shells do.
fn event(etype: EventType, pid: i64, comm: &str, kind: EventKind) -> Event {
    let task = TaskContext {
        tid: pid,
        pid,
        ppid: match pid {
            300 => 200,
            500 => 0,
            _ => 1,
        },
        comm: comm.into(),
        tty: if pid == 400 { 0 } else { 34816 },
        ..TaskContext::default()
    };
    eval_fixture::event(etype, task, kind)
}

fn open(pid: i64, comm: &str, path: &str) -> Event {
    event(EventType::Openat, pid, comm, open_kind(path))
}

fn execve(pid: i64, comm: &str, argv: &[&str]) -> Event {
    let mut ev = event(
        EventType::Execve,
        pid,
        comm,
        EventKind::Exec {
            filename: format!("/usr/bin/{comm}"),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            exe_path: format!("/usr/bin/{comm}"),
            cwd: "/".into(),
            exe_file: ExeFileInfo::default(),
            flags: 0,
            cgroup: String::new(),
        },
    );
    ev.res = 0;
    ev
}

fn one_rule(condition: &str) -> RuleSet {
    let yaml = format!(
        "- rule: bench\n  desc: d\n  condition: {condition}\n  output: o\n  priority: NOTICE\n"
    );
    match load_sources(&[("bench.yaml".into(), yaml)], &LoadOptions::default()) {
        Ok(l) => l.ruleset,
        Err(e) => panic!("bench rule does not load: {e}"),
    }
}

/// Benches one evaluation; `name` ends in `/match` or `/nomatch`, which
/// is checked first so a case measures what it says.
fn bench_case(c: &mut Criterion, name: &str, rules: &RuleSet, st: &MemoryState, ev: &Event) {
    let mut out: Vec<RuleMatch> = Vec::with_capacity(8);
    rules.evaluate(ev, st, &mut out);
    let matched = !out.is_empty();
    assert_eq!(
        matched,
        name.ends_with("/match"),
        "bench case {name}: matched = {matched}"
    );
    c.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            rules.evaluate(black_box(ev), st, &mut out);
            out.len()
        })
    });
}

fn conditions(c: &mut Criterion) {
    let st = state();
    let hit = open(300, "bash", "/etc/shadow");
    let miss = open(400, "sshd", "/usr/lib/x86_64-linux-gnu/libc.so.6");
    let cases = [
        ("str_eq", "evt.type = openat and proc.name = bash"),
        (
            "in_list",
            "evt.type = openat and proc.name in (sh, zsh, ksh, dash, tcsh, csh, fish, ash, bash)",
        ),
        (
            "pmatch",
            "evt.type = openat and fd.name pmatch (/etc, /root/.ssh, /var/run/secrets, /boot)",
        ),
        ("contains", "evt.type = openat and fd.name contains shadow"),
        (
            "startswith",
            "evt.type = openat and fd.name startswith /etc/",
        ),
    ];
    for (name, cond) in cases {
        let rules = one_rule(cond);
        bench_case(c, &format!("cond/{name}/match"), &rules, &st, &hit);
        bench_case(c, &format!("cond/{name}/nomatch"), &rules, &st, &miss);
    }
}

fn upstream_files() -> Option<Vec<PathBuf>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat/falco-rules");
    let files: Vec<PathBuf> = [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    files.iter().all(|f| f.exists()).then_some(files)
}

fn rulesets(c: &mut Criterion) {
    let Some(files) = upstream_files() else {
        eprintln!("condition_eval: upstream rulesets not found; ruleset cases skipped");
        return;
    };
    let opts = LoadOptions {
        rule_matching: RuleMatching::All,
        ..LoadOptions::default()
    };
    let rules = match load_files(&files, &opts) {
        Ok(l) => l.ruleset,
        Err(e) => panic!("upstream rules do not load: {e}"),
    };
    let st = state();
    let cases = [
        // Read sensitive file untrusted.
        ("open/match", open(300, "evil", "/etc/shadow")),
        ("open/nomatch", open(400, "sshd", "/tmp/build/x.o")),
        // Terminal shell in container.
        ("execve/match", execve(500, "bash", &["bash", "-i"])),
        ("execve/nomatch", execve(400, "ls", &["ls", "-l"])),
    ];
    for (name, ev) in &cases {
        bench_case(c, &format!("upstream/{name}"), &rules, &st, ev);
    }
}

criterion_group!(benches, conditions, rulesets);
criterion_main!(benches);
