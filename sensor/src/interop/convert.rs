//! Falco json_output object → typed `Alert`.

use chrono::DateTime;
use falco_proto::v1::{
    Alert, ContainerContext, FileContext, KubernetesContext, NetworkContext, Priority,
    ProcessContext,
};
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum FalcoJsonError {
    #[error("body is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("body is not a JSON object")]
    NotObject,
    #[error("field `{0}` is missing or not a string")]
    Missing(&'static str),
    #[error("field `priority`: {0}")]
    Priority(#[from] falco_proto::ParsePriorityError),
    #[error("field `time` {0:?} is not RFC 3339")]
    Time(String),
}

/// Always present in our alerts' output_fields, "<NA>" when Falco did not send them.
const REQUIRED_FIELDS: &[&str] = &[
    "container.id",
    "container.name",
    "container.image.repository",
    "k8s.ns.name",
    "k8s.pod.name",
];

pub fn alert_from_falco_json(body: &[u8]) -> Result<Alert, FalcoJsonError> {
    let v: Value = serde_json::from_slice(body)?;
    let o = v.as_object().ok_or(FalcoJsonError::NotObject)?;
    let s = |k: &'static str| o.get(k).and_then(Value::as_str);
    let rule = s("rule").ok_or(FalcoJsonError::Missing("rule"))?;
    let priority: Priority = s("priority")
        .ok_or(FalcoJsonError::Missing("priority"))?
        .parse()?;
    let time_ns = match s("time") {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .ok()
            .and_then(|d| d.timestamp_nanos_opt())
            .ok_or_else(|| FalcoJsonError::Time(t.to_string()))?,
        None => chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
    };
    let mut fields: HashMap<String, String> = o
        .get("output_fields")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), scalar(v)))
                .collect::<HashMap<_, _>>()
        })
        .unwrap_or_default();
    if let Some(src) = s("source")
        && !fields.contains_key("evt.source")
    {
        fields.insert("evt.source".to_string(), src.to_string());
    }
    for k in REQUIRED_FIELDS {
        fields
            .entry((*k).to_string())
            .or_insert_with(|| "<NA>".to_string());
    }
    let tags = o
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut alert = Alert {
        time_ns,
        priority: priority as i32,
        rule: rule.to_string(),
        output: s("output").unwrap_or_default().to_string(),
        source: "falco".to_string(),
        hostname: s("hostname").unwrap_or_default().to_string(),
        tags,
        event_type: get(&fields, "evt.type").unwrap_or_default(),
        ..Alert::default()
    };
    fill_contexts(&mut alert, &fields);
    alert.output_fields = fields;
    Ok(alert)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "<NA>".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn get(f: &HashMap<String, String>, k: &str) -> Option<String> {
    f.get(k).filter(|v| *v != "<NA>").cloned()
}

fn num<T: std::str::FromStr>(f: &HashMap<String, String>, k: &str) -> Option<T> {
    get(f, k).and_then(|v| v.parse().ok())
}

fn any_of(f: &HashMap<String, String>, prefix: &str) -> bool {
    f.iter().any(|(k, v)| k.starts_with(prefix) && v != "<NA>")
}

fn fill_contexts(a: &mut Alert, f: &HashMap<String, String>) {
    if any_of(f, "proc.") || any_of(f, "user.") {
        let cmdline = get(f, "proc.cmdline").unwrap_or_default();
        a.process = Some(ProcessContext {
            pid: num(f, "proc.pid").unwrap_or_default(),
            ppid: num(f, "proc.ppid").unwrap_or_default(),
            name: get(f, "proc.name").unwrap_or_default(),
            exe: get(f, "proc.exe").unwrap_or_default(),
            exe_path: get(f, "proc.exepath").unwrap_or_default(),
            args: cmdline
                .split_whitespace()
                .skip(1)
                .map(str::to_string)
                .collect(),
            cmdline,
            cwd: get(f, "proc.cwd").unwrap_or_default(),
            uid: num(f, "user.uid").unwrap_or_default(),
            user_name: get(f, "user.name").unwrap_or_default(),
            loginuid: num(f, "user.loginuid").unwrap_or(-1),
            tty: num(f, "proc.tty").unwrap_or_default(),
            tid: num(f, "thread.tid").unwrap_or_default(),
            ..ProcessContext::default()
        });
    }
    if let Some(id) = get(f, "container.id") {
        a.container = Some(ContainerContext {
            id,
            name: get(f, "container.name").unwrap_or_default(),
            image_repository: get(f, "container.image.repository").unwrap_or_default(),
            image_tag: get(f, "container.image.tag").unwrap_or_default(),
            privileged: get(f, "container.privileged").as_deref() == Some("true"),
            full_id: get(f, "container.full_id").unwrap_or_default(),
            image: get(f, "container.image").unwrap_or_default(),
            ..ContainerContext::default()
        });
    }
    if let Some(namespace) = get(f, "k8s.ns.name") {
        a.kubernetes = Some(KubernetesContext {
            namespace,
            pod_name: get(f, "k8s.pod.name").unwrap_or_default(),
            pod_uid: get(f, "k8s.pod.uid").unwrap_or_default(),
            ..KubernetesContext::default()
        });
    }
    if let Some(path) = get(f, "fd.name").or_else(|| get(f, "fs.path.name")) {
        a.file = Some(FileContext {
            path,
            flags: get(f, "evt.arg.flags").unwrap_or_default(),
            ..FileContext::default()
        });
    }
    if let Some(proto) = get(f, "fd.l4proto") {
        a.network = Some(NetworkContext {
            protocol: proto,
            src_ip: get(f, "fd.cip")
                .or_else(|| get(f, "fd.sip"))
                .unwrap_or_default(),
            src_port: num(f, "fd.cport").unwrap_or_default(),
            dst_ip: get(f, "fd.sip")
                .or_else(|| get(f, "fd.rip"))
                .unwrap_or_default(),
            dst_port: num(f, "fd.sport")
                .or_else(|| num(f, "fd.rport"))
                .unwrap_or_default(),
            ..NetworkContext::default()
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn falco_json_becomes_typed_alert() {
        let body = br#"{"hostname":"n1","output":"Shell spawned","priority":"Notice",
            "rule":"Terminal shell in container","source":"syscall","tags":["shell"],
            "time":"2024-05-01T10:00:00.123456789Z",
            "output_fields":{"proc.pid":42,"proc.cmdline":"bash -i","container.id":"abc123",
              "k8s.ns.name":"prod","k8s.pod.name":"web-1","evt.type":"execve","user.name":null}}"#;
        let a = alert_from_falco_json(body).unwrap();
        assert_eq!(a.source, "falco");
        assert_eq!(a.priority(), Priority::Notice);
        assert_eq!(a.time_ns % 1_000_000_000, 123_456_789);
        let p = a.process.as_ref().unwrap();
        assert_eq!((p.pid, p.args.clone()), (42, vec!["-i".to_string()]));
        assert_eq!(a.kubernetes.as_ref().unwrap().pod_name, "web-1");
        assert_eq!(a.output_fields["container.name"], "<NA>");
        assert_eq!(a.output_fields["evt.source"], "syscall");
        assert_eq!(a.event_type, "execve");
    }

    #[test]
    fn bad_input_is_named() {
        let e = alert_from_falco_json(br#"{"rule":"r","priority":"loud"}"#).unwrap_err();
        assert!(e.to_string().contains("priority"), "{e}");
        let e = alert_from_falco_json(br#"{"priority":"Notice"}"#).unwrap_err();
        assert!(e.to_string().contains("rule"), "{e}");
        assert!(alert_from_falco_json(b"nope").is_err());
    }
}
