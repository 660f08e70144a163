//! Prometheus text exposition (format 0.0.4) of `SensorCounters`.

use super::{SensorCounters, SinkCounters, rss_bytes};
use crate::event::EventType;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Renders every counter; label values are escaped as the format requires
/// (rule names are user text).
/// One per-sink series: name, type, help, and how to read it.
type SinkMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&SinkCounters) -> u64,
);

pub fn render(c: &SensorCounters) -> String {
    let mut out = String::with_capacity(4096);
    header(
        &mut out,
        "events_total",
        "counter",
        "Events decoded, per event type.",
    );
    for t in EventType::ALL {
        let n = c.events_seen(*t);
        if n > 0 {
            let _ = writeln!(
                out,
                "falco_sensor_events_total{{type=\"{}\"}} {n}",
                t.name()
            );
        }
    }
    scalar(
        &mut out,
        "kernel_drops_total",
        "counter",
        "Events the kernel could not put in the ring buffer.",
        c.kernel_drops.load(Relaxed),
    );
    scalar(
        &mut out,
        "probe_per_syscall",
        "gauge",
        "1 when syscall exits are captured per syscall, 0 with the sys_exit dispatcher.",
        c.probe_per_syscall.load(Relaxed),
    );
    scalar(
        &mut out,
        "probe_attached_syscalls",
        "gauge",
        "Syscall exit tracepoints the per-syscall program is attached to.",
        c.probe_attached_syscalls.load(Relaxed),
    );
    scalar(
        &mut out,
        "userspace_drops_total",
        "counter",
        "Events dropped between the ring buffer reader and the engine.",
        c.userspace_drops.load(Relaxed),
    );
    scalar(
        &mut out,
        "container_metadata_held_events_total",
        "counter",
        "Events held back while their new container's metadata was looked up.",
        c.metadata_held_events.load(Relaxed),
    );
    scalar(
        &mut out,
        "container_metadata_wait_timeouts_total",
        "counter",
        "Alerts sent without container metadata because state.metadata_wait_ms passed first.",
        c.metadata_wait_timeouts.load(Relaxed),
    );
    scalar(
        &mut out,
        "cri_lookup_failures_total",
        "counter",
        "Container metadata lookups that failed or timed out (retries included).",
        c.cri_lookup_failures.load(Relaxed),
    );
    header(
        &mut out,
        "rule_matches_total",
        "counter",
        "Alerts produced, per rule and priority.",
    );
    for (rule, p, n) in c.alerts_by_rule() {
        let _ = writeln!(
            out,
            "falco_sensor_rule_matches_total{{rule=\"{}\",priority=\"{}\"}} {n}",
            escape(&rule),
            p.falco_name()
        );
    }
    let sinks = c.sinks();
    let per_sink: [SinkMetric; 7] = [
        (
            "alerts_sent_total",
            "counter",
            "Alerts delivered, per sink.",
            |s| s.sent.load(Relaxed),
        ),
        (
            "alerts_failed_total",
            "counter",
            "Alerts given up after retries or refused by the receiver, per sink.",
            |s| s.failed.load(Relaxed),
        ),
        (
            "alerts_dropped_total",
            "counter",
            "Alerts dropped on a full sink queue or disk buffer, per sink.",
            |s| s.dropped.load(Relaxed),
        ),
        (
            "alerts_retried_total",
            "counter",
            "Delivery attempts repeated after a retryable failure, per sink.",
            |s| s.retried.load(Relaxed),
        ),
        (
            "sink_queued_alerts",
            "gauge",
            "Alerts waiting in the sink's memory queue.",
            |s| s.queued.load(Relaxed),
        ),
        (
            "sink_buffer_bytes",
            "gauge",
            "Undelivered bytes in the sink's disk buffer.",
            |s| s.buffer_bytes.load(Relaxed),
        ),
        (
            "sink_buffer_dropped_total",
            "counter",
            "Alerts dropped because the sink's disk buffer was full (included in alerts_dropped_total).",
            |s| s.buffer_dropped.load(Relaxed),
        ),
    ];
    for (metric, kind, help, value) in per_sink {
        header(&mut out, metric, kind, help);
        for s in &sinks {
            let _ = writeln!(
                out,
                "falco_sensor_{metric}{{sink=\"{}\"}} {}",
                escape(&s.name),
                value(s)
            );
        }
    }
    scalar(
        &mut out,
        "subscribers",
        "gauge",
        "Connected gRPC Subscribe streams.",
        c.subscribers.load(Relaxed),
    );
    scalar(
        &mut out,
        "subscribers_detached_total",
        "counter",
        "Subscribe streams cut off because the client did not keep up.",
        c.subscribers_detached.load(Relaxed),
    );
    scalar(
        &mut out,
        "last_alert_seq",
        "gauge",
        "Highest alert sequence number assigned.",
        c.last_seq.load(Relaxed),
    );
    scalar(
        &mut out,
        "rule_reloads_total",
        "counter",
        "Successful rule reloads.",
        c.rule_reloads.load(Relaxed),
    );
    scalar(
        &mut out,
        "rule_reload_failures_total",
        "counter",
        "Failed rule reloads.",
        c.rule_reload_failures.load(Relaxed),
    );
    scalar(
        &mut out,
        "uptime_seconds",
        "gauge",
        "Seconds since the sensor started.",
        c.uptime_seconds(),
    );
    scalar(
        &mut out,
        "resident_memory_bytes",
        "gauge",
        "Resident set size of the sensor process.",
        rss_bytes().unwrap_or(0),
    );
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP falco_sensor_{name} {help}");
    let _ = writeln!(out, "# TYPE falco_sensor_{name} {kind}");
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, v: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "falco_sensor_{name} {v}");
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}
