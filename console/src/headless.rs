//! `falco-console tail` and `falco-console stats`: the same alerts and counters
//! for scripts and pipes. Output is sanitized like the views.

use crate::alert::{AlertRecord, rfc3339};
use crate::event::{AppEvent, Event, SensorUpdateKind};
use crate::filter::Filter;
use crate::sanitize::sanitize;
use crate::source::{SensorTarget, file, grpc};
use crate::triage::TriageState;
use falco_proto::v1::{GetStatsResponse, GetVersionResponse};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// One human-readable line per alert.
pub fn tail_line(a: &AlertRecord) -> String {
    let pod = if a.pod.is_empty() {
        "(host)".to_string()
    } else {
        a.pod_ref()
    };
    let line = format!(
        "{} {:<13} {} [{} {} {}] {}",
        rfc3339(a.time_ns),
        a.priority().falco_name(),
        a.rule,
        a.hostname,
        pod,
        if a.container_name.is_empty() {
            "-"
        } else {
            &a.container_name
        },
        a.output
    );
    // Already sanitized at construction; sanitizing again is cheap and keeps
    // this function safe on its own.
    sanitize(&line).into_owned()
}

pub fn tail_json(a: &AlertRecord) -> String {
    a.to_falco_json(TriageState::New.as_str(), &[]).to_string()
}

/// Text for `falco-console stats`.
pub fn stats_text(name: &str, v: &GetVersionResponse, s: &GetStatsResponse) -> String {
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&sanitize(&l));
        out.push('\n');
    };
    line(format!("sensor {name}"));
    line(format!(
        "  version {} (api {}) on {} kernel {}, health: {}",
        v.version, v.api_version, v.hostname, v.kernel, v.health
    ));
    line(format!(
        "  sensor id {}{}, actions {}",
        v.sensor_id,
        if v.cluster.is_empty() {
            String::new()
        } else {
            format!(" cluster {}", v.cluster)
        },
        if v.actions_enabled {
            "enabled"
        } else {
            "disabled"
        }
    ));
    line(format!(
        "  uptime {}s, rules {}/{} enabled, reloads {} ({} failed)",
        s.uptime_seconds, s.rules_enabled, s.rules_loaded, s.rule_reloads, s.rule_reload_failures
    ));
    line(format!(
        "  events {} seen, {} kernel drops, {} userspace drops; last alert #{}; {} subscribers",
        s.events_seen, s.kernel_drops, s.userspace_drops, s.last_seq, s.subscribers
    ));
    let mut rules: Vec<_> = s.rules.iter().filter(|r| r.alerts > 0).collect();
    rules.sort_by_key(|r| std::cmp::Reverse(r.alerts));
    for r in rules.iter().take(20) {
        line(format!("  {:>8}  {}", r.alerts, r.rule));
    }
    out
}

/// Streams alerts from sensors and files to stdout until stdout closes.
/// Source problems (reconnects, gaps) go to stderr so a pipe sees only alerts.
pub async fn tail(
    targets: Vec<SensorTarget>,
    files: Vec<PathBuf>,
    filter: Filter,
    json: bool,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Event>(4096);
    let live = !targets.is_empty();
    for t in targets {
        tokio::spawn(grpc::run_sensor(t, HashMap::new(), tx.clone()));
    }
    for f in files {
        let r = file::read_alerts(&f)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", f.display())))?;
        for e in &r.errors {
            eprintln!("{}", sanitize(e));
        }
        for a in r.alerts {
            let _ = tx.send(Event::App(AppEvent::Alert(Box::new(a)))).await;
        }
    }
    drop(tx);
    let stdout = std::io::stdout();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::App(AppEvent::Alert(a)) => {
                if !filter.matches(&a, TriageState::New, &a.haystack()) {
                    continue;
                }
                let text = if json { tail_json(&a) } else { tail_line(&a) };
                let mut out = stdout.lock();
                if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
                    return Ok(()); // reader went away (e.g. `| head`)
                }
            }
            Event::App(AppEvent::Sensor(u)) => match u.kind {
                SensorUpdateKind::Disconnected { error, retry_in_ms } => {
                    eprintln!(
                        "{}: {} (retry in {retry_in_ms} ms)",
                        sanitize(&u.source),
                        sanitize(&error)
                    )
                }
                SensorUpdateKind::Gap {
                    first,
                    last,
                    reason,
                } => eprintln!(
                    "{}: gap: alerts #{first}..#{last} lost ({})",
                    sanitize(&u.source),
                    sanitize(&reason)
                ),
                _ => {}
            },
            _ => {}
        }
    }
    if live {
        // Every sensor task ended: only happens if they all stopped.
        eprintln!("all sources ended");
    }
    Ok(())
}
