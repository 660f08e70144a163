//! Alert renderings shared by the sinks: Falco's json_output object and its
//! text line, plus the aggregation suffix.

use super::aggregate::Item;
use chrono::{DateTime, Local, SecondsFormat, Utc};
use falco_proto::v1::Alert;
use serde_json::{Map, Value, json};
use std::fmt::Write;

/// RFC 3339 UTC with nanoseconds, as Falco writes `time`.
pub fn rfc3339_ns(time_ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(time_ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Falco's json_output object, plus `cluster` and `seq`, and for aggregated
/// items `count`, `first_time`, `last_time`.
pub fn falco_json(item: &Item) -> Value {
    let a = &item.alert;
    let fields: Map<String, Value> = a
        .output_fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut obj = json!({
        "hostname": a.hostname,
        "output": a.output,
        "priority": a.priority().falco_name(),
        "rule": a.rule,
        "source": a.source,
        "tags": a.tags,
        "time": rfc3339_ns(a.time_ns),
        "output_fields": fields,
        "cluster": a.cluster,
        "seq": a.seq,
    });
    if item.count > 1
        && let Some(o) = obj.as_object_mut()
    {
        o.insert("count".into(), json!(item.count));
        o.insert("first_time".into(), json!(rfc3339_ns(item.first_ns)));
        o.insert("last_time".into(), json!(rfc3339_ns(item.last_ns)));
    }
    if !a.responses.is_empty()
        && let Some(o) = obj.as_object_mut()
    {
        let responses: Vec<Value> = a
            .responses
            .iter()
            .map(|r| {
                json!({"action": r.action, "outcome": r.outcome, "detail": r.detail,
                       "time": rfc3339_ns(r.time_ns), "alert_seq": r.alert_seq})
            })
            .collect();
        o.insert("responses".into(), Value::Array(responses));
    }
    obj
}

/// Falco's text line: `HH:MM:SS.nnnnnnnnn: Priority Output` in local time,
/// with control characters made visible so event data cannot drive a terminal.
pub fn text_line(item: &Item) -> String {
    let a = &item.alert;
    let t = DateTime::<Utc>::from_timestamp_nanos(a.time_ns).with_timezone(&Local);
    let mut line = format!(
        "{}: {} {}",
        t.format("%H:%M:%S.%9f"),
        a.priority().falco_name(),
        sanitize_terminal(&a.output)
    );
    if item.count > 1 {
        line.push_str(&aggregate_suffix(item));
    }
    if !a.cluster.is_empty() {
        let _ = write!(line, " cluster={}", sanitize_terminal(&a.cluster));
    }
    for r in &a.responses {
        let _ = write!(
            line,
            " response={}:{}",
            sanitize_terminal(&r.action),
            sanitize_terminal(&r.outcome)
        );
    }
    line
}

/// " (×37 in 5m, first 12:00:01, last 12:04:58)"
pub fn aggregate_suffix(item: &Item) -> String {
    let span_s = (item.last_ns - item.first_ns).max(0) / 1_000_000_000;
    let span = if span_s >= 120 {
        format!("{}m", span_s / 60)
    } else {
        format!("{span_s}s")
    };
    let hms = |ns: i64| {
        DateTime::<Utc>::from_timestamp_nanos(ns)
            .with_timezone(&Local)
            .format("%H:%M:%S")
            .to_string()
    };
    format!(
        " (×{} in {span}, first {}, last {})",
        item.count,
        hms(item.first_ns),
        hms(item.last_ns)
    )
}

/// Replaces C0/C1 control characters (ESC, CR, BEL, ...) by `\xNN` / `\u{..}`.
pub fn sanitize_terminal(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        if ch.is_control() {
            let c = ch as u32;
            if c < 0x100 {
                let _ = write!(out, "\\x{c:02x}");
            } else {
                let _ = write!(out, "\\u{{{c:x}}}");
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// An output field, or a typed context value when the field is absent; `None` for "<NA>".
pub fn field<'a>(a: &'a Alert, name: &str) -> Option<&'a str> {
    if let Some(v) = a.output_fields.get(name) {
        return (v != "<NA>" && !v.is_empty()).then_some(v.as_str());
    }
    let typed = match name {
        "k8s.ns.name" => a.kubernetes.as_ref().map(|k| k.namespace.as_str()),
        "k8s.pod.name" => a.kubernetes.as_ref().map(|k| k.pod_name.as_str()),
        "container.id" => a.container.as_ref().map(|c| c.id.as_str()),
        "container.name" => a.container.as_ref().map(|c| c.name.as_str()),
        "container.image.repository" => a.container.as_ref().map(|c| c.image_repository.as_str()),
        "proc.cmdline" => a.process.as_ref().map(|p| p.cmdline.as_str()),
        "proc.name" => a.process.as_ref().map(|p| p.name.as_str()),
        "user.name" => a.process.as_ref().map(|p| p.user_name.as_str()),
        "fd.name" => a.file.as_ref().map(|f| f.path.as_str()),
        _ => None,
    };
    typed.filter(|v| !v.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use falco_proto::v1::Priority;
    use std::sync::Arc;

    #[test]
    fn json_has_falco_shape_and_text_is_sanitized() {
        let a = Alert {
            seq: 7,
            time_ns: 1_700_000_000_123_456_789,
            priority: Priority::Warning as i32,
            rule: "r".into(),
            output: "bad \x1b[31mred\x07".into(),
            source: "syscall".into(),
            hostname: "n".into(),
            tags: vec!["t".into()],
            output_fields: [("proc.name".to_string(), "sh".to_string())].into(),
            ..Default::default()
        };
        let item = Item::single(Arc::new(a));
        let v = falco_json(&item);
        assert_eq!(v["time"], "2023-11-14T22:13:20.123456789Z");
        assert_eq!(v["priority"], "Warning");
        assert_eq!(v["output_fields"]["proc.name"], "sh");
        assert_eq!(v["tags"][0], "t");
        let line = text_line(&item);
        assert!(line.contains(": Warning bad \\x1b[31mred\\x07"), "{line}");
        assert!(!line.contains('\x1b'));
    }
}
