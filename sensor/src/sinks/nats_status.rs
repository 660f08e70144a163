//! Presence for a fleet: with the NATS sink on, every `status_interval_secs`
//! the sensor publishes a small JSON status (identity, version, rules,
//! events/s, drops, last seq) on `status_subject`
//! (`falco.status.<cluster>.<hostname>`), so a console reading the fleet
//! knows which sensors are alive without reaching each one. Core NATS, not
//! JetStream: a status is only worth its freshness, and the next one
//! replaces it. Its own connection, so a slow alert stream never delays it.

use super::nats::{SubjectTemplate, connect_client};
use crate::api::SensorInfo;
use crate::bus::AlertBus;
use crate::config::NatsConfig;
use falco_proto::v1::{Alert, GetStatsResponse};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The status document (stable field names: the console and scripts read them).
pub fn status_json(
    bus: &AlertBus,
    stats: &GetStatsResponse,
    version: &str,
    health: &str,
    events_per_sec: f64,
) -> Value {
    let id = bus.identity();
    json!({
        "sensor_id": id.sensor_id,
        "hostname": id.hostname,
        "cluster": id.cluster,
        "version": version,
        "health": health,
        "time_ns": chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
        "uptime_seconds": stats.uptime_seconds,
        "rules_loaded": stats.rules_loaded,
        "rules_enabled": stats.rules_enabled,
        "events_seen": stats.events_seen,
        "events_per_sec": (events_per_sec * 10.0).round() / 10.0,
        "kernel_drops": stats.kernel_drops,
        "userspace_drops": stats.userspace_drops,
        "alerts_dropped": stats.sinks.iter().map(|s| s.dropped).sum::<u64>(),
        "last_seq": stats.last_seq,
    })
}

/// Publishes the status until `shutdown`. Connection failures are logged
/// (naming the server) and retried at the next tick.
pub async fn run(
    cfg: NatsConfig,
    bus: AlertBus,
    info: Arc<dyn SensorInfo>,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = Duration::from_secs(cfg.status_interval_secs.max(1));
    let subject = match SubjectTemplate::new("outputs.nats.status_subject", &cfg.status_subject) {
        Ok(t) => t.render(&Alert {
            cluster: bus.identity().cluster.clone(),
            hostname: bus.identity().hostname.clone(),
            sensor_id: bus.identity().sensor_id.clone(),
            ..Alert::default()
        }),
        Err(e) => {
            tracing::error!(sink = "nats", "{e}; no status published");
            return;
        }
    };
    let mut client = None;
    let mut last: Option<(Instant, u64)> = None;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        if client.is_none() {
            match connect_client(&cfg).await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::warn!(sink = "nats", "status: {e}");
                    continue;
                }
            }
        }
        let mut stats = GetStatsResponse::default();
        bus.counters().fill_stats(&mut stats);
        stats.last_seq = bus.last_seq();
        let info2 = info.clone();
        // SensorInfo may take locks held by the engine: off the runtime.
        let Ok((stats, version)) = tokio::task::spawn_blocking(move || {
            info2.fill_stats(&mut stats);
            (stats, info2.version())
        })
        .await
        else {
            continue;
        };
        let now = Instant::now();
        let rate = match last {
            Some((t, seen)) => {
                stats.events_seen.saturating_sub(seen) as f64
                    / now.duration_since(t).as_secs_f64().max(1e-3)
            }
            None => 0.0,
        };
        last = Some((now, stats.events_seen));
        let version_text = if version.version.is_empty() {
            env!("CARGO_PKG_VERSION").to_string()
        } else {
            version.version.clone()
        };
        let health = if version.health.is_empty() {
            "ok"
        } else {
            version.health.as_str()
        };
        let body = status_json(&bus, &stats, &version_text, health, rate).to_string();
        if let Some(c) = &client
            && let Err(e) = c.publish(subject.clone(), body.into()).await
        {
            tracing::debug!(sink = "nats", "status publish to {}: {e}", cfg.url);
        }
    }
}
