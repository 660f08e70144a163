//! `falco-console tail` and `falco-console stats`: the same alerts and counters
//! for scripts and pipes. Output is sanitized like the views.

use crate::alert::{AlertRecord, rfc3339};
use crate::event::{AppEvent, Event, SensorUpdateKind};
use crate::filter::Filter;
use crate::sanitize::sanitize;
use crate::source::{SensorTarget, file, grpc, nats};
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
    fleet: Vec<nats::NatsOptions>,
    files: Vec<PathBuf>,
    filter: Filter,
    json: bool,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Event>(4096);
    let live = !targets.is_empty() || !fleet.is_empty();
    for t in targets {
        tokio::spawn(grpc::run_sensor(t, HashMap::new(), tx.clone()));
    }
    for o in fleet {
        tokio::spawn(nats::run_events(o, tx.clone()));
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

/// `falco-console stats --nats URL`: the stream's totals and every sensor
/// whose status arrives within one status interval (sensors publish every 5 s).
pub async fn nats_stats(o: &nats::NatsOptions) -> anyhow::Result<String> {
    use tokio_stream::StreamExt;
    let js = nats::connect(o).await?;
    let mut stream = js
        .get_stream(&o.stream)
        .await
        .map_err(|e| anyhow::anyhow!("NATS {}: stream {}: {e}", o.url, o.stream))?;
    let state = stream
        .info()
        .await
        .map_err(|e| anyhow::anyhow!("NATS {}: stream {}: {e}", o.url, o.stream))?
        .state
        .clone();
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&sanitize(&l));
        out.push('\n');
    };
    line(format!(
        "nats {} stream {}: {} alerts, {} bytes, stream seq {}..{}",
        o.url, o.stream, state.messages, state.bytes, state.first_sequence, state.last_sequence
    ));
    let subject = format!(
        "falco.status.{}.{}",
        o.cluster.as_deref().map_or("*".to_string(), nats_token),
        o.node.as_deref().map_or("*".to_string(), nats_token)
    );
    let mut sub = js
        .client()
        .subscribe(subject)
        .await
        .map_err(|e| anyhow::anyhow!("NATS {}: {e}", o.url))?;
    let mut seen: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(6);
    while let Ok(Some(m)) = tokio::time::timeout_at(until, sub.next()).await {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&m.payload) {
            let id = v["sensor_id"].as_str().unwrap_or_default().to_string();
            seen.insert(id, v);
        }
    }
    line(format!("  {} sensors reporting", seen.len()));
    for v in seen.values() {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let n = |k: &str| v[k].as_u64().unwrap_or_default();
        line(format!(
            "  sensor {}/{} id {} version {} health {}: rules {}/{}, {} events/s, drops {} kernel {} userspace {} alerts, last alert #{}",
            s("cluster"),
            s("hostname"),
            s("sensor_id"),
            s("version"),
            s("health"),
            n("rules_enabled"),
            n("rules_loaded"),
            v["events_per_sec"].as_f64().unwrap_or_default(),
            n("kernel_drops"),
            n("userspace_drops"),
            n("alerts_dropped"),
            n("last_seq"),
        ));
    }
    Ok(out)
}

fn nats_token(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}
