//! The console's alert model: one shape for alerts from a sensor (gRPC) and from
//! Falco json_output files. Every string is sanitized on construction, so nothing
//! downstream (views, `tail`, exports) can carry a terminal escape sequence.

use crate::sanitize::sanitized;
use chrono::{DateTime, SecondsFormat, Utc};
use falco_proto::v1;
use falco_proto::v1::Priority;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Value Falco renders for a field it could not resolve.
pub const NA: &str = "<NA>";

/// One parent process in an alert's ancestry, nearest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AncestorInfo {
    pub pid: i64,
    pub name: String,
    pub cmdline: String,
}

/// An alert as the console keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Store row id; 0 until stored.
    #[serde(skip)]
    pub id: i64,
    /// Where it came from: the sensor id (or address) or `file:PATH`.
    pub sensor: String,
    /// Sequence number within `sensor`.
    pub seq: u64,
    pub time_ns: i64,
    /// Wire value of `falco_proto::v1::Priority`.
    pub priority: i32,
    pub rule: String,
    pub output: String,
    pub source: String,
    pub hostname: String,
    pub tags: Vec<String>,
    pub event_type: String,
    pub proc_name: String,
    pub cmdline: String,
    pub pid: i64,
    pub user: String,
    pub ancestors: Vec<AncestorInfo>,
    pub container_id: String,
    pub container_name: String,
    pub image: String,
    pub privileged: bool,
    pub namespace: String,
    pub pod: String,
    pub fields: BTreeMap<String, String>,
    pub responses: Vec<String>,
}

impl AlertRecord {
    pub fn priority(&self) -> Priority {
        Priority::try_from(self.priority).unwrap_or(Priority::Unspecified)
    }

    /// `namespace/pod`, or empty for host processes.
    pub fn pod_ref(&self) -> String {
        if self.pod.is_empty() {
            String::new()
        } else {
            format!("{}/{}", self.namespace, self.pod)
        }
    }

    /// Builds the record from a sensor's wire alert. `sensor` is the source key.
    pub fn from_proto(sensor: &str, a: &v1::Alert) -> Self {
        let p = a.process.clone().unwrap_or_default();
        let c = a.container.clone().unwrap_or_default();
        let k = a.kubernetes.clone().unwrap_or_default();
        let mut fields: BTreeMap<String, String> = a
            .output_fields
            .iter()
            .map(|(k, v)| (sanitized(k), sanitized(v)))
            .collect();
        let image = if c.image_repository.is_empty() {
            field(&fields, "container.image.repository")
        } else {
            sanitized(&c.image_repository)
        };
        if let Some(f) = &a.file
            && !f.path.is_empty()
        {
            fields
                .entry("fd.name".into())
                .or_insert_with(|| sanitized(&f.path));
        }
        AlertRecord {
            id: 0,
            sensor: sanitized(sensor),
            seq: a.seq,
            time_ns: a.time_ns,
            priority: a.priority,
            rule: sanitized(&a.rule),
            output: sanitized(&a.output),
            source: sanitized(&a.source),
            hostname: sanitized(&a.hostname),
            tags: a.tags.iter().map(|t| sanitized(t)).collect(),
            event_type: sanitized(&a.event_type),
            proc_name: sanitized(&p.name),
            cmdline: sanitized(&p.cmdline),
            pid: p.pid,
            user: sanitized(&p.user_name),
            ancestors: p
                .ancestors
                .iter()
                .map(|an| AncestorInfo {
                    pid: an.pid,
                    name: sanitized(&an.name),
                    cmdline: sanitized(&an.cmdline),
                })
                .collect(),
            container_id: sanitized(&c.id),
            container_name: sanitized(&c.name),
            image,
            privileged: c.privileged,
            namespace: sanitized(&k.namespace),
            pod: sanitized(&k.pod_name),
            responses: a
                .responses
                .iter()
                .map(|r| sanitized(&format!("{} {}: {}", r.action, r.outcome, r.detail)))
                .collect(),
            fields,
        }
    }

    /// Parses one line of Falco's json_output (also what `:export` writes).
    pub fn from_falco_json(sensor: &str, seq: u64, line: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        let s = |k: &str| obj.get(k).and_then(|x| x.as_str()).unwrap_or_default();
        let rule = s("rule");
        if rule.is_empty() {
            return Err("missing \"rule\"".into());
        }
        let time_ns = match obj.get("time") {
            Some(serde_json::Value::String(t)) => DateTime::parse_from_rfc3339(t)
                .map_err(|e| format!("bad \"time\" {t:?}: {e}"))?
                .timestamp_nanos_opt()
                .ok_or_else(|| format!("\"time\" {t:?} out of range"))?,
            Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or_default(),
            _ => return Err("missing \"time\"".into()),
        };
        let priority = s("priority")
            .parse::<Priority>()
            .map_err(|e| e.to_string())?;
        let mut fields = BTreeMap::new();
        if let Some(serde_json::Value::Object(of)) = obj.get("output_fields") {
            for (k, v) in of {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => NA.to_string(),
                    other => other.to_string(),
                };
                fields.insert(sanitized(k), sanitized(&text));
            }
        }
        let tags = match obj.get("tags") {
            Some(serde_json::Value::Array(t)) => {
                t.iter().filter_map(|x| x.as_str()).map(sanitized).collect()
            }
            _ => Vec::new(),
        };
        let mut ancestors = Vec::new();
        for i in 1..=16 {
            let name = field(&fields, &format!("proc.aname[{i}]"));
            if name.is_empty() {
                break;
            }
            let pid = field(&fields, &format!("proc.apid[{i}]"))
                .parse()
                .unwrap_or_default();
            ancestors.push(AncestorInfo {
                pid,
                name,
                cmdline: String::new(),
            });
        }
        if ancestors.is_empty() {
            let pname = field(&fields, "proc.pname");
            if !pname.is_empty() {
                ancestors.push(AncestorInfo {
                    pid: field(&fields, "proc.ppid").parse().unwrap_or_default(),
                    name: pname,
                    cmdline: field(&fields, "proc.pcmdline"),
                });
            }
        }
        let console = obj.get("console");
        let hostname = {
            let h = s("hostname");
            if h.is_empty() {
                field(&fields, "evt.hostname")
            } else {
                sanitized(h)
            }
        };
        Ok(AlertRecord {
            id: 0,
            sensor: console
                .and_then(|c| c.get("sensor"))
                .and_then(|x| x.as_str())
                .map(sanitized)
                .unwrap_or_else(|| sanitized(sensor)),
            seq: console
                .and_then(|c| c.get("seq"))
                .and_then(|x| x.as_u64())
                .unwrap_or(seq),
            time_ns,
            priority: priority as i32,
            rule: sanitized(rule),
            output: sanitized(s("output")),
            source: sanitized(s("source")),
            hostname,
            tags,
            event_type: field(&fields, "evt.type"),
            proc_name: field(&fields, "proc.name"),
            cmdline: field(&fields, "proc.cmdline"),
            pid: field(&fields, "proc.pid").parse().unwrap_or_default(),
            user: field(&fields, "user.name"),
            ancestors,
            container_id: field(&fields, "container.id"),
            container_name: field(&fields, "container.name"),
            image: field(&fields, "container.image.repository"),
            privileged: field(&fields, "container.privileged") == "true",
            namespace: field(&fields, "k8s.ns.name"),
            pod: field(&fields, "k8s.pod.name"),
            fields,
            responses: Vec::new(),
        })
    }

    /// Falco json_output shape, plus a `console` object with where it came from
    /// and its triage state so a later `open` keeps the context.
    pub fn to_falco_json(&self, state: &str, notes: &[String]) -> serde_json::Value {
        serde_json::json!({
            "time": rfc3339(self.time_ns),
            "priority": self.priority().falco_name(),
            "rule": self.rule,
            "output": self.output,
            "source": self.source,
            "hostname": self.hostname,
            "tags": self.tags,
            "output_fields": self.fields,
            "console": {"sensor": self.sensor, "seq": self.seq, "state": state, "notes": notes},
        })
    }

    /// Drops what only the detail view, exceptions and exports read (output
    /// fields, ancestry, responses, tags, source, event type) and the spare
    /// capacity of the rest: the list view's copy of an alert whose full
    /// record is in the store. Compute [`AlertRecord::haystack`] first.
    pub fn shed_detail(&mut self) {
        self.fields = BTreeMap::new();
        self.ancestors = Vec::new();
        self.responses = Vec::new();
        self.tags = Vec::new();
        self.source = String::new();
        self.event_type = String::new();
        for s in [
            &mut self.sensor,
            &mut self.rule,
            &mut self.output,
            &mut self.hostname,
            &mut self.proc_name,
            &mut self.cmdline,
            &mut self.user,
            &mut self.container_id,
            &mut self.container_name,
            &mut self.image,
            &mut self.namespace,
            &mut self.pod,
        ] {
            s.shrink_to_fit();
        }
    }

    /// Lowercased text the free-text filter searches.
    pub fn haystack(&self) -> String {
        let mut h = String::with_capacity(self.output.len() + 128);
        for part in [
            &self.rule,
            &self.output,
            &self.hostname,
            &self.namespace,
            &self.pod,
            &self.container_name,
            &self.image,
            &self.cmdline,
            &self.user,
        ] {
            h.push_str(part);
            h.push('\u{1f}');
        }
        for t in &self.tags {
            h.push_str(t);
            h.push(' ');
        }
        h.to_lowercase()
    }
}

/// A field's value, empty when missing or `<NA>`.
pub fn field(fields: &BTreeMap<String, String>, name: &str) -> String {
    match fields.get(name) {
        Some(v) if v != NA => v.clone(),
        _ => String::new(),
    }
}

/// UTC RFC 3339 with nanoseconds, as Falco writes `time`.
pub fn rfc3339(time_ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(time_ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Whether a tag is a MITRE ATT&CK technique id (T1059, T1059.004) or tactic tag.
pub fn is_mitre(tag: &str) -> bool {
    let t = tag.strip_prefix("mitre_").map(|_| true);
    if t.is_some() {
        return true;
    }
    let Some(rest) = tag.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, ""));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && sub.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FALCO_LINE: &str = r#"{"hostname":"node-1","output":"10:00:00.000000000: Warning Shell spawned (user=root shell=bash\u001b[2J)","priority":"Warning","rule":"Terminal shell in container","source":"syscall","tags":["container","mitre_execution","T1059"],"time":"2024-05-01T10:00:00.123456789Z","output_fields":{"container.id":"abc123def456","container.name":"web","container.image.repository":"nginx","k8s.ns.name":"default","k8s.pod.name":"web-1","proc.name":"bash","proc.cmdline":"bash -i","user.name":"root","proc.pid":4242,"proc.aname[1]":"runc","proc.apid[1]":4200,"proc.aname[2]":"containerd-shim","evt.type":"execve","fd.name":null}}"#;

    #[test]
    fn parses_falco_json_output() {
        let a = AlertRecord::from_falco_json("file:x", 7, FALCO_LINE).unwrap();
        assert_eq!(a.rule, "Terminal shell in container");
        assert_eq!(a.priority(), Priority::Warning);
        assert_eq!(a.time_ns % 1_000_000_000, 123_456_789);
        assert_eq!(a.seq, 7);
        assert_eq!(a.pod_ref(), "default/web-1");
        assert_eq!(a.pid, 4242);
        assert_eq!(a.ancestors.len(), 2);
        assert_eq!(a.ancestors[0].pid, 4200);
        assert_eq!(a.fields["fd.name"], NA);
        assert!(a.output.contains("\\x1b[2J"), "{}", a.output);
        assert!(!a.output.contains('\x1b'));
    }

    #[test]
    fn export_round_trips_through_parser() {
        let a = AlertRecord::from_falco_json("file:x", 7, FALCO_LINE).unwrap();
        let line = a.to_falco_json("acknowledged", &[]).to_string();
        let b = AlertRecord::from_falco_json("other", 1, &line).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(
            AlertRecord::from_falco_json("f", 1, "{}")
                .unwrap_err()
                .contains("rule")
        );
        let e = AlertRecord::from_falco_json(
            "f",
            1,
            r#"{"rule":"r","priority":"Loud","time":"2024-05-01T10:00:00Z"}"#,
        )
        .unwrap_err();
        assert!(e.contains("Loud"), "{e}");
    }

    #[test]
    fn proto_strings_are_sanitized() {
        let a = v1::Alert {
            seq: 3,
            rule: "r\x1b]0;x\x07".into(),
            process: Some(v1::ProcessContext {
                name: "e\u{9b}vil".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = AlertRecord::from_proto("s", &a);
        assert_eq!(r.rule, "r\\x1b]0;x\\x07");
        assert_eq!(r.proc_name, "e\\x9bvil");
    }

    #[test]
    fn mitre_tags() {
        assert!(is_mitre("T1059"));
        assert!(is_mitre("T1059.004"));
        assert!(is_mitre("mitre_execution"));
        assert!(!is_mitre("container"));
        assert!(!is_mitre("T10"));
    }
}
