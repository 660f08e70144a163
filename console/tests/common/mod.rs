//! Fixtures shared by the console's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use falco_console::alert::{AlertRecord, AncestorInfo};
use falco_console::app::App;
use falco_proto::v1::Priority;
use std::collections::BTreeMap;

/// 2024-05-01T10:30:00Z: a fixed clock so rendering is deterministic.
pub const NOW_NS: i64 = 1_714_559_400 * 1_000_000_000;

pub struct Spec<'a> {
    pub age_s: i64,
    pub prio: Priority,
    pub rule: &'a str,
    pub ns: &'a str,
    pub pod: &'a str,
    pub cmd: &'a str,
}

pub fn alert(seq: u64, s: &Spec) -> AlertRecord {
    let proc_name = s.cmd.split(' ').next().unwrap_or_default().to_string();
    let mut fields = BTreeMap::new();
    fields.insert("proc.name".to_string(), proc_name.clone());
    fields.insert("proc.cmdline".to_string(), s.cmd.to_string());
    fields.insert(
        "container.id".to_string(),
        if s.pod.is_empty() {
            "host".into()
        } else {
            "3f2a9c1b7d40".into()
        },
    );
    fields.insert(
        "container.image.repository".to_string(),
        "docker.io/library/nginx".into(),
    );
    fields.insert("k8s.ns.name".to_string(), s.ns.to_string());
    fields.insert("k8s.pod.name".to_string(), s.pod.to_string());
    fields.insert("user.name".to_string(), "root".into());
    AlertRecord {
        id: 0,
        sensor: "sensor-a".into(),
        seq,
        time_ns: NOW_NS - s.age_s * 1_000_000_000,
        priority: s.prio as i32,
        rule: s.rule.into(),
        output: format!(
            "{} detected (user=root command={} pod={})",
            s.rule, s.cmd, s.pod
        ),
        source: "syscall".into(),
        hostname: "node-1".into(),
        tags: vec![
            "container".into(),
            "shell".into(),
            "mitre_execution".into(),
            "T1059".into(),
        ],
        event_type: "execve".into(),
        proc_name,
        cmdline: s.cmd.into(),
        pid: 4242 + seq as i64,
        user: "root".into(),
        ancestors: vec![
            AncestorInfo {
                pid: 4200,
                name: "runc".into(),
                cmdline: "runc init".into(),
            },
            AncestorInfo {
                pid: 1,
                name: "containerd-shim".into(),
                cmdline: String::new(),
            },
        ],
        container_id: if s.pod.is_empty() {
            "host".into()
        } else {
            "3f2a9c1b7d40".into()
        },
        container_name: if s.pod.is_empty() {
            String::new()
        } else {
            "web".into()
        },
        image: if s.pod.is_empty() {
            String::new()
        } else {
            "docker.io/library/nginx".into()
        },
        privileged: false,
        namespace: s.ns.into(),
        pod: s.pod.into(),
        fields,
        responses: Vec::new(),
    }
}

pub fn sample() -> Vec<AlertRecord> {
    let specs = [
        Spec {
            age_s: 3000,
            prio: Priority::Notice,
            rule: "Launch Package Management Process in Container",
            ns: "default",
            pod: "web-1",
            cmd: "apt-get install curl",
        },
        Spec {
            age_s: 1200,
            prio: Priority::Warning,
            rule: "Terminal shell in container",
            ns: "default",
            pod: "web-1",
            cmd: "bash -i",
        },
        Spec {
            age_s: 600,
            prio: Priority::Warning,
            rule: "Read sensitive file untrusted",
            ns: "prod",
            pod: "api-0",
            cmd: "cat /etc/shadow",
        },
        Spec {
            age_s: 240,
            prio: Priority::Critical,
            rule: "Drop and execute new binary in container",
            ns: "prod",
            pod: "api-0",
            cmd: "/tmp/x",
        },
        Spec {
            age_s: 100,
            prio: Priority::Warning,
            rule: "Terminal shell in container",
            ns: "default",
            pod: "web-1",
            cmd: "bash -i",
        },
        Spec {
            age_s: 50,
            prio: Priority::Error,
            rule: "Write below etc",
            ns: "",
            pod: "",
            cmd: "vi /etc/hosts",
        },
        Spec {
            age_s: 20,
            prio: Priority::Warning,
            rule: "Terminal shell in container",
            ns: "default",
            pod: "web-1",
            cmd: "bash -i",
        },
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| alert(i as u64 + 1, s))
        .collect()
}

/// An app with the sample alerts, a fixed clock and UTC times.
pub fn app() -> App {
    let mut app = App::new("sensors 127.0.0.1:5060", NOW_NS);
    app.utc = true;
    app.color = false;
    for a in sample() {
        app.push_alert(a);
    }
    app.flush();
    app.prepare();
    app
}
pub mod fake_sensor;
