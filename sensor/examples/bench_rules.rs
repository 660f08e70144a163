//! Micro-benchmark of the condition evaluator for `scripts/bench.sh` (issue 8,
//! engine section): loads rules files, then times `RuleSet::evaluate` on a
//! few typical events over a fixture state, single thread. No criterion: a
//! warm-up pass, then the median of several timed batches per event.
//!
//! Usage: bench_rules [--iters N] RULES_FILE...
//! Prints one JSON object: ns per evaluation per event and overall.

use falco_sensor::event::{Event, EventKind, EventType, L4Proto, SockAddr, SockTuple, TaskContext};
use falco_sensor::rules::{LoadOptions, RuleMatch, load_files};
use falco_sensor::state::MemoryState;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

#[path = "support/eval_fixture.rs"]
mod eval_fixture;
use eval_fixture::{CID, open_kind, thread, web_container};

/// A container shell (pid 300) under containerd-shim, and a host sshd (400).
fn state() -> MemoryState {
    let mut st = MemoryState::default();
    for th in [
        thread(1, 0, "systemd", "host", &[]),
        thread(200, 1, "containerd-shim", "host", &[]),
        thread(300, 200, "bash", CID, &["-i"]),
        thread(400, 1, "sshd", "host", &["-D"]),
    ] {
        st.threads.insert(th.tid, th);
    }
    st.containers.insert(CID.into(), web_container());
    st
}

fn task(pid: i64, comm: &str) -> TaskContext {
    TaskContext {
        tid: pid,
        pid,
        ppid: if pid == 300 { 200 } else { 1 },
        comm: comm.into(),
        ..TaskContext::default()
    }
}

fn event(etype: EventType, pid: i64, comm: &str, kind: EventKind) -> Event {
    eval_fixture::event(etype, task(pid, comm), kind)
}

fn open(pid: i64, comm: &str, path: &str) -> Event {
    event(EventType::Openat, pid, comm, open_kind(path))
}

fn connect(pid: i64, comm: &str) -> Event {
    let remote = SockAddr::Inet {
        ip: std::net::IpAddr::from([10, 0, 0, 1]),
        port: 443,
    };
    let mut ev = event(
        EventType::Connect,
        pid,
        comm,
        EventKind::Connect {
            fd: 3,
            addr: remote.clone(),
            tuple: Some(SockTuple {
                l4: L4Proto::Tcp,
                local: SockAddr::Inet {
                    ip: std::net::IpAddr::from([172, 17, 0, 2]),
                    port: 40000,
                },
                remote,
            }),
        },
    );
    ev.res = 0;
    ev
}

fn main() -> anyhow::Result<()> {
    let mut iters = 200_000u32;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--iters" {
            iters = args.next().unwrap_or_default().parse()?;
        } else {
            files.push(PathBuf::from(a));
        }
    }
    anyhow::ensure!(
        !files.is_empty(),
        "usage: bench_rules [--iters N] RULES_FILE..."
    );
    let t = Instant::now();
    let loaded = load_files(&files, &LoadOptions::default())?;
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let rules = loaded.ruleset;
    let st = state();
    let events = [
        (
            "open_etc_shadow_container",
            open(300, "bash", "/etc/shadow"),
        ),
        ("open_tmp_host", open(400, "sshd", "/tmp/build/x.o")),
        ("connect_container", connect(300, "bash")),
    ];
    let mut out: Vec<RuleMatch> = Vec::with_capacity(16);
    let mut parts = Vec::new();
    let mut total_ns = 0.0;
    for (name, ev) in &events {
        for _ in 0..iters / 10 {
            out.clear();
            rules.evaluate(black_box(ev), &st, &mut out);
        }
        let mut batches = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..iters / 5 {
                out.clear();
                rules.evaluate(black_box(ev), &st, &mut out);
            }
            batches.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(iters / 5));
        }
        batches.sort_by(f64::total_cmp);
        let ns = batches[2];
        total_ns += ns;
        parts.push(format!(
            "\"{name}\":{{\"ns\":{ns:.1},\"matches\":{}}}",
            out.len()
        ));
    }
    let mean = total_ns / events.len() as f64;
    println!(
        "{{\"rules_enabled\":{},\"compile_ms\":{compile_ms:.1},\"mean_ns\":{mean:.1},\"evals_per_s\":{:.0},{}}}",
        loaded.summary.enabled_rules,
        1e9 / mean,
        parts.join(",")
    );
    Ok(())
}
