//! Attaches the probe with a chosen interest set and drains events for a
//! while, then prints the probe counters: a load generator's companion for
//! overhead measurements (`scripts/bench*`).
//!
//! Usage: `probe_load <all|unfiltered|TYPE,TYPE...> <seconds> [PREFIX,PREFIX...] [BASENAME,...]`
//! (the optional third argument turns on the kernel open prefilter with
//! those prefixes, `-` for none; the fourth adds basenames).

use falco_sensor::event::EventType;
use falco_sensor::probe::{OpenFilter, Probe, ProbeConfig};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(which), Some(secs)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: probe_load <all|unfiltered|TYPE,TYPE...> <seconds>");
        return ExitCode::FAILURE;
    };
    let mut cfg = ProbeConfig::default();
    let interest: Vec<EventType> = match which.as_str() {
        "all" => EventType::ALL.to_vec(),
        "unfiltered" => {
            cfg.filter_enabled = false;
            Vec::new()
        }
        list => {
            let mut out = Vec::new();
            for name in list.split(',') {
                match EventType::from_name(name) {
                    Some(t) => out.push(t),
                    None => {
                        eprintln!("unknown event type `{name}`");
                        return ExitCode::FAILURE;
                    }
                }
            }
            out
        }
    };
    let (probe, rx) = match Probe::start(cfg, &interest) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("probe_load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let list = |i: usize| -> Vec<String> {
        args.get(i)
            .filter(|l| l.as_str() != "-")
            .map(|l| l.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    if args.len() > 3 {
        let filter = OpenFilter {
            prefixes: list(3),
            basenames: list(4),
            ..OpenFilter::default()
        };
        if let Err(e) = probe.set_open_filter(Some(&filter)) {
            eprintln!("probe_load: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("attached");
    let end = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    while Instant::now() < end {
        if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
            n += 1;
        }
    }
    let s = probe.stats();
    println!(
        "consumed={n} received={} kernel_drops={} userspace_drops={} decode_errors={}",
        s.events_received, s.kernel_drops, s.userspace_drops, s.decode_errors
    );
    probe.stop();
    ExitCode::SUCCESS
}
