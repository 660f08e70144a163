//! Counters shared by every stage of the sensor, their Prometheus text
//! rendering, and the `/metrics` + `/healthz` endpoint.

mod prometheus;
pub mod server;

pub use prometheus::render as render_prometheus;

use crate::event::EventType;
use falco_proto::v1::{
    EventTypeStats, GetStatsResponse, Priority, PriorityStats, RuleStats, SinkStats,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Delivery counters for one sink.
#[derive(Debug, Default)]
pub struct SinkCounters {
    pub name: String,
    /// Alerts the receiver accepted.
    pub sent: AtomicU64,
    /// Alerts given up on after retries (or refused by the receiver).
    pub failed: AtomicU64,
    /// Alerts never attempted because the sink's queue (or disk buffer) was full.
    pub dropped: AtomicU64,
    /// Delivery attempts repeated after a retryable failure (one per retry of a request).
    pub retried: AtomicU64,
    /// Alerts waiting in the sink's memory queue (sampled by the forwarder).
    pub queued: AtomicU64,
    /// Undelivered bytes in the sink's disk buffer.
    pub buffer_bytes: AtomicU64,
    /// Of `dropped`: alerts dropped because the disk buffer was full (or unreadable).
    pub buffer_dropped: AtomicU64,
}

impl SinkCounters {
    pub fn to_stats(&self) -> SinkStats {
        SinkStats {
            sink: self.name.clone(),
            sent: self.sent.load(Relaxed),
            failed: self.failed.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
        }
    }
}

/// Atomic counters the pipeline increments; cheap enough for the hot path
/// (events are one relaxed atomic add, indexed by event type id).
#[derive(Debug)]
pub struct SensorCounters {
    started: Instant,
    events: Box<[AtomicU64]>,
    pub kernel_drops: AtomicU64,
    pub userspace_drops: AtomicU64,
    /// 1 when syscall exits are captured per syscall, 0 with the dispatcher.
    pub probe_per_syscall: AtomicU64,
    /// Syscalls the per-syscall program is attached to now.
    pub probe_attached_syscalls: AtomicU64,
    /// Events held back while their container's metadata was looked up.
    pub metadata_held_events: AtomicU64,
    /// Alerts sent without container metadata because the wait timed out.
    pub metadata_wait_timeouts: AtomicU64,
    /// Container metadata lookups that failed or timed out (each retry counts).
    pub cri_lookup_failures: AtomicU64,
    pub rule_reloads: AtomicU64,
    pub rule_reload_failures: AtomicU64,
    pub subscribers: AtomicU64,
    /// Subscribers cut off because their queue was full.
    pub subscribers_detached: AtomicU64,
    pub last_seq: AtomicU64,
    /// Per rule, alerts indexed by the wire priority value (0..=8).
    alerts: Mutex<BTreeMap<String, [u64; 9]>>,
    sinks: Mutex<Vec<Arc<SinkCounters>>>,
}

impl Default for SensorCounters {
    fn default() -> Self {
        SensorCounters {
            started: Instant::now(),
            events: (0..=EventType::COUNT).map(|_| AtomicU64::new(0)).collect(),
            kernel_drops: AtomicU64::new(0),
            userspace_drops: AtomicU64::new(0),
            probe_per_syscall: AtomicU64::new(0),
            probe_attached_syscalls: AtomicU64::new(0),
            metadata_held_events: AtomicU64::new(0),
            metadata_wait_timeouts: AtomicU64::new(0),
            cri_lookup_failures: AtomicU64::new(0),
            rule_reloads: AtomicU64::new(0),
            rule_reload_failures: AtomicU64::new(0),
            subscribers: AtomicU64::new(0),
            subscribers_detached: AtomicU64::new(0),
            last_seq: AtomicU64::new(0),
            alerts: Mutex::new(BTreeMap::new()),
            sinks: Mutex::new(Vec::new()),
        }
    }
}

// A poisoned lock only means another thread panicked mid-update of a counter
// map; the map itself is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SensorCounters {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// One decoded event of this type.
    pub fn event_seen(&self, t: EventType) {
        if let Some(c) = self.events.get(usize::from(t.id())) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Replaces the count for a type with a cumulative value (e.g. from `ProbeStats`).
    pub fn set_events_seen(&self, t: EventType, total: u64) {
        if let Some(c) = self.events.get(usize::from(t.id())) {
            c.store(total, Relaxed);
        }
    }

    pub fn events_seen(&self, t: EventType) -> u64 {
        self.events
            .get(usize::from(t.id()))
            .map_or(0, |c| c.load(Relaxed))
    }

    pub fn events_seen_total(&self) -> u64 {
        self.events.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Called by the bus for every published alert.
    pub fn record_alert(&self, rule: &str, priority: Priority) {
        let idx = usize::try_from(priority as i32).unwrap_or(0).min(8);
        let mut map = lock(&self.alerts);
        // Lookup by &str first: no allocation for rules seen before.
        if let Some(n) = map.get_mut(rule) {
            n[idx] += 1;
        } else {
            let mut n = [0u64; 9];
            n[idx] = 1;
            map.insert(rule.to_string(), n);
        }
    }

    /// Alerts per (rule, priority) since start.
    pub fn alerts_by_rule(&self) -> Vec<(String, Priority, u64)> {
        let mut out = Vec::new();
        for (rule, counts) in lock(&self.alerts).iter() {
            for (p, n) in counts.iter().enumerate() {
                if *n > 0 {
                    let p = i32::try_from(p).unwrap_or(0);
                    let p = Priority::try_from(p).unwrap_or(Priority::Unspecified);
                    out.push((rule.clone(), p, *n));
                }
            }
        }
        out
    }

    /// The counters of the sink with this name, created on first use.
    pub fn sink(&self, name: &str) -> Arc<SinkCounters> {
        let mut sinks = lock(&self.sinks);
        if let Some(s) = sinks.iter().find(|s| s.name == name) {
            return s.clone();
        }
        let s = Arc::new(SinkCounters {
            name: name.to_string(),
            ..SinkCounters::default()
        });
        sinks.push(s.clone());
        s
    }

    pub fn sinks(&self) -> Vec<Arc<SinkCounters>> {
        lock(&self.sinks).clone()
    }

    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Fills every counter-backed field of a GetStats answer; the caller adds
    /// what only it knows (rules loaded/enabled).
    pub fn fill_stats(&self, out: &mut GetStatsResponse) {
        out.uptime_seconds = self.uptime_seconds();
        out.event_types = EventType::ALL
            .iter()
            .filter_map(|t| {
                let seen = self.events_seen(*t);
                (seen > 0).then(|| EventTypeStats {
                    event_type: t.name().to_string(),
                    seen,
                    dropped: 0,
                })
            })
            .collect();
        let by_rule = self.alerts_by_rule();
        let mut per_priority: BTreeMap<i32, u64> = BTreeMap::new();
        for (_, p, n) in &by_rule {
            *per_priority.entry(*p as i32).or_default() += n;
        }
        out.rules = by_rule
            .into_iter()
            .map(|(rule, p, alerts)| RuleStats {
                rule,
                priority: p as i32,
                alerts,
            })
            .collect();
        out.priorities = per_priority
            .into_iter()
            .map(|(priority, alerts)| PriorityStats { priority, alerts })
            .collect();
        out.events_seen = self.events_seen_total();
        out.kernel_drops = self.kernel_drops.load(Relaxed);
        out.userspace_drops = self.userspace_drops.load(Relaxed);
        out.sinks = self.sinks().iter().map(|s| s.to_stats()).collect();
        out.subscribers = u32::try_from(self.subscribers.load(Relaxed)).unwrap_or(u32::MAX);
        out.last_seq = self.last_seq.load(Relaxed);
        out.rule_reloads = self.rule_reloads.load(Relaxed);
        out.rule_reload_failures = self.rule_reload_failures.load(Relaxed);
        out.probe_attach = if self.probe_per_syscall.load(Relaxed) == 1 {
            "per_syscall".into()
        } else {
            "dispatcher".into()
        };
        out.probe_attached_syscalls =
            u32::try_from(self.probe_attached_syscalls.load(Relaxed)).unwrap_or(u32::MAX);
    }
}

/// Resident set size in bytes, from /proc/self/statm.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let c = SensorCounters::new();
        c.event_seen(EventType::Execve);
        c.event_seen(EventType::Execve);
        c.kernel_drops.store(3, Relaxed);
        c.record_alert("Terminal \"shell\"", Priority::Notice);
        c.sink("loki").dropped.fetch_add(2, Relaxed);
        c.sink("loki").retried.fetch_add(4, Relaxed);
        c.sink("loki").buffer_bytes.store(1234, Relaxed);
        let text = render_prometheus(&c);
        assert!(
            text.contains("falco_sensor_events_total{type=\"execve\"} 2"),
            "{text}"
        );
        assert!(text.contains("falco_sensor_kernel_drops_total 3"), "{text}");
        c.probe_per_syscall.store(1, Relaxed);
        c.probe_attached_syscalls.store(12, Relaxed);
        let text = render_prometheus(&c);
        assert!(text.contains("falco_sensor_probe_per_syscall 1"), "{text}");
        assert!(
            text.contains("falco_sensor_probe_attached_syscalls 12"),
            "{text}"
        );
        let mut stats = GetStatsResponse::default();
        c.fill_stats(&mut stats);
        assert_eq!(stats.probe_attach, "per_syscall");
        assert_eq!(stats.probe_attached_syscalls, 12);
        assert!(
            text.contains(
                "falco_sensor_rule_matches_total{rule=\"Terminal \\\"shell\\\"\",priority=\"Notice\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("falco_sensor_alerts_dropped_total{sink=\"loki\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("falco_sensor_alerts_retried_total{sink=\"loki\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("falco_sensor_sink_buffer_bytes{sink=\"loki\"} 1234"),
            "{text}"
        );
        assert!(
            text.contains("falco_sensor_resident_memory_bytes "),
            "{text}"
        );
        let mut stats = GetStatsResponse::default();
        c.fill_stats(&mut stats);
        assert_eq!(stats.events_seen, 2);
        assert_eq!(stats.rules[0].alerts, 1);
        assert_eq!(stats.priorities[0].priority, Priority::Notice as i32);
    }
}
