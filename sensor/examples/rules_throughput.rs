//! Single-thread rule evaluation throughput with the three upstream Falco
//! rulesets and our default ruleset loaded: a realistic event mix (an execve in a container, an
//! openat of /etc/passwd, a connect, a read-only open of a library) is
//! evaluated repeatedly; prints thread CPU ns/event and heap allocations
//! per event.
//!
//!     CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo run -p falco-sensor --example rules_throughput
//!
//! Numbers belong in scripts/bench*; this is the quick check while
//! working on the engine.

use falco_sensor::event::{
    Event, EventKind, EventType, ExeFileInfo, L4Proto, SockAddr, SockTuple, TaskContext,
};
use falco_sensor::rules::{LoadOptions, RuleMatching, default_rules_yaml, load_sources};
use falco_sensor::state::{ContainerInfo, MemoryState, PodInfo, ThreadInfo};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// CPU time of this thread: the machine is shared, so wall time would
/// count time spent waiting for a core.
fn cpu_ns() -> u128 {
    u128::from(falco_sensor::sys::thread_cpu_ns())
}

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CID: &str = "0123456789ab";

fn state() -> MemoryState {
    let mut st = MemoryState::default();
    let mut th = |tid: i64, ppid: i64, comm: &str, cid: &str, args: &[&str]| {
        st.threads.insert(
            tid,
            ThreadInfo {
                tid,
                pid: tid,
                ppid,
                comm: comm.into(),
                exe: format!("/usr/bin/{comm}"),
                exe_path: format!("/usr/bin/{comm}"),
                args: args.iter().map(|s| s.to_string()).collect(),
                container_id: Arc::from(cid),
                cwd: "/app".into(),
                uid: 0,
                loginuid: u32::MAX,
                ..ThreadInfo::default()
            },
        );
    };
    th(1, 0, "systemd", "host", &[]);
    th(200, 1, "containerd-shim", "host", &["-namespace", "k8s.io"]);
    th(250, 200, "node", CID, &["server.js"]);
    th(300, 250, "sh", CID, &["-c", "cat /etc/passwd"]);
    th(301, 300, "cat", CID, &["/etc/passwd"]);
    th(302, 300, "curl", CID, &["http://10.1.2.3/"]);
    st.containers.insert(
        CID.into(),
        ContainerInfo {
            id: CID.into(),
            full_id: format!("{CID}{}", "0".repeat(52)),
            name: "web".into(),
            image: "docker.io/library/node:22".into(),
            image_repository: "docker.io/library/node".into(),
            image_tag: "22".into(),
            pod: Some(PodInfo {
                name: "web-0".into(),
                namespace: "prod".into(),
                ..PodInfo::default()
            }),
            resolved: true,
            ..ContainerInfo::default()
        },
    );
    st.fds.insert(
        (301, 3),
        falco_sensor::state::FdInfo {
            kind: falco_sensor::state::FdKind::File,
            name: "/etc/passwd".into(),
            flags: 0,
            tuple: None,
            dev: 0,
            ino: 0,
            connected: false,
        },
    );
    st.users.insert(
        (CID.to_string(), 0),
        ("root".into(), "/root".into(), "/bin/sh".into()),
    );
    st
}

fn task(pid: i64, ppid: i64, comm: &str) -> TaskContext {
    TaskContext {
        tid: pid,
        pid,
        ppid,
        vtid: pid,
        vpid: pid,
        comm: comm.into(),
        loginuid: u32::MAX,
        ..TaskContext::default()
    }
}

fn events() -> Vec<Event> {
    let exec = Event {
        num: 1,
        ts_ns: 1_000,
        cpu: 0,
        etype: EventType::Execve,
        res: 0,
        task: task(301, 300, "cat"),
        kind: EventKind::Exec {
            filename: "/usr/bin/cat".into(),
            argv: vec!["cat".into(), "/etc/passwd".into()],
            env: Vec::new(),
            exe_path: "/usr/bin/cat".into(),
            cwd: "/app".into(),
            exe_file: ExeFileInfo::default(),
            flags: 0,
            cgroup: format!("/kubepods/besteffort/podx/{CID}"),
        },
    };
    let open = |path: &str, flags: u32| Event {
        num: 2,
        ts_ns: 2_000,
        cpu: 0,
        etype: EventType::Openat,
        res: 3,
        task: task(301, 300, "cat"),
        kind: EventKind::Open {
            path: path.into(),
            resolved_path: path.into(),
            flags,
            mode: 0,
            dirfd: -100,
            dev: 0,
            ino: 0,
        },
    };
    let remote = SockAddr::Inet {
        ip: "10.1.2.3"
            .parse()
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
        port: 80,
    };
    let connect = Event {
        num: 3,
        ts_ns: 3_000,
        cpu: 0,
        etype: EventType::Connect,
        res: 0,
        task: task(302, 300, "curl"),
        kind: EventKind::Connect {
            fd: 3,
            addr: remote.clone(),
            tuple: Some(SockTuple {
                l4: L4Proto::Tcp,
                local: SockAddr::Inet {
                    ip: std::net::Ipv4Addr::new(172, 17, 0, 2).into(),
                    port: 40000,
                },
                remote,
            }),
        },
    };
    vec![
        exec,
        open("/etc/passwd", 0o2_000_000),
        connect,
        open("/usr/lib/x86_64-linux-gnu/libc.so.6", 0o2_000_000),
    ]
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat/falco-rules");
    let mut sources = Vec::new();
    for f in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        let path: PathBuf = dir.join(f);
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push((path.display().to_string(), text)),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    sources.push((
        "falco-sensor_rules.yaml".to_string(),
        default_rules_yaml().to_string(),
    ));
    let t0 = Instant::now();
    let loaded = match load_sources(
        &sources,
        &LoadOptions {
            rule_matching: RuleMatching::All,
            ..LoadOptions::default()
        },
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("load failed: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "loaded {} rules ({} enabled) in {:?}",
        loaded.summary.rules,
        loaded.summary.enabled_rules,
        t0.elapsed()
    );
    let rs = loaded.ruleset;
    let st = state();
    let evs = events();
    let mut out = Vec::with_capacity(64);
    for ev in &evs {
        out.clear();
        rs.evaluate(ev, &st, &mut out);
        let names: Vec<&str> = out
            .iter()
            .filter_map(|m| rs.rule(m.rule).map(|r| r.name()))
            .collect();
        println!("{:>8}: {names:?}", ev.etype.name());
    }
    let iters = 200_000usize;
    for ev in &evs {
        let a0 = ALLOCS.load(Ordering::Relaxed);
        let t = cpu_ns();
        for _ in 0..iters {
            out.clear();
            rs.evaluate(ev, &st, &mut out);
        }
        let ns = (cpu_ns() - t) as f64 / iters as f64;
        let allocs = (ALLOCS.load(Ordering::Relaxed) - a0) as f64 / iters as f64;
        let path = match &ev.kind {
            EventKind::Open { path, .. } => path.as_str(),
            _ => "",
        };
        println!(
            "{:>8} {path:<40} {ns:>8.0} ns/event  {allocs:.2} allocs/event",
            ev.etype.name()
        );
    }
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t = cpu_ns();
    let wall = Instant::now();
    for _ in 0..iters {
        for ev in &evs {
            out.clear();
            rs.evaluate(ev, &st, &mut out);
        }
    }
    let n = (iters * evs.len()) as f64;
    let ns = (cpu_ns() - t) as f64 / n;
    println!(
        "mix: {ns:.0} CPU ns/event = {:.0} events/s per core (wall {:.0} ns/event on this shared machine), {:.2} allocs/event",
        1e9 / ns,
        wall.elapsed().as_nanos() as f64 / n,
        (ALLOCS.load(Ordering::Relaxed) - a0) as f64 / n
    );
}
