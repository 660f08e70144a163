//! Prometheus text exposition (format 0.0.4) of `SensorCounters`.

use super::{SensorCounters, rss_bytes};
use crate::event::EventType;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Renders every counter; label values are escaped as the format requires
/// (rule names are user text).
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
    for (metric, help, pick) in [
        ("alerts_sent_total", "Alerts delivered, per sink.", 0usize),
        (
            "alerts_failed_total",
            "Alerts given up after retries, per sink.",
            1,
        ),
        (
            "alerts_dropped_total",
            "Alerts dropped on a full sink queue, per sink.",
            2,
        ),
    ] {
        header(&mut out, metric, "counter", help);
        for s in &sinks {
            let v = match pick {
                0 => s.sent.load(Relaxed),
                1 => s.failed.load(Relaxed),
                _ => s.dropped.load(Relaxed),
            };
            let _ = writeln!(
                out,
                "falco_sensor_{metric}{{sink=\"{}\"}} {v}",
                escape(&s.name)
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
