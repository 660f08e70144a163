//! Builds the typed [`Alert`] of the gRPC API from a matched rule, the event
//! and the sensor state: process (with ancestry), container, Kubernetes,
//! file and network contexts, plus `output_fields`, which always carries the
//! five fields Falco 0.42 appends to every alert.

use crate::event::{Event, EventKind, EventType, SockAddr};
use crate::rules::fields::{self, FieldSpec, Value};
use crate::state::StateView;
use falco_proto::v1::{
    Alert, Ancestor, ContainerContext, FileContext, KubernetesContext, NetworkContext, Priority,
    ProcessContext,
};
use std::collections::HashMap;

/// Fields every alert's `output_fields` carries, whatever the rule says.
pub const MANDATORY_OUTPUT_FIELDS: &[&str] = &[
    "container.id",
    "container.name",
    "container.image.repository",
    "k8s.ns.name",
    "k8s.pod.name",
];

/// How many ancestors an alert's process context lists (nearest first).
pub const MAX_ALERT_ANCESTORS: usize = 16;

/// Text Falco prints for a missing value.
pub const NA: &str = "<NA>";

/// What the engine knows about the rule that fired.
#[derive(Debug, Clone)]
pub struct AlertRule<'a> {
    pub name: &'a str,
    pub priority: Priority,
    pub tags: &'a [String],
    /// The rule's output, already rendered for this event.
    pub output: String,
    /// Every field the rule's condition and output reference, rendered
    /// (`<NA>` for missing values), as (name as written, value).
    pub output_fields: Vec<(String, String)>,
}

/// Builds the alert. `seq` is 0 and `hostname` empty: the alert bus fills them.
pub fn build_alert(rule: &AlertRule<'_>, ev: &Event, st: &dyn StateView) -> Alert {
    let f = Fields { ev, st };
    let mut output_fields: HashMap<String, String> = rule.output_fields.iter().cloned().collect();
    for name in MANDATORY_OUTPUT_FIELDS {
        output_fields
            .entry((*name).to_string())
            .or_insert_with(|| f.text(name).unwrap_or_else(|| NA.to_string()));
    }
    Alert {
        seq: 0,
        time_ns: i64::try_from(ev.ts_ns).unwrap_or(i64::MAX),
        priority: rule.priority as i32,
        rule: rule.name.to_string(),
        output: rule.output.clone(),
        source: "syscall".to_string(),
        hostname: String::new(),
        tags: rule.tags.to_vec(),
        process: Some(process_context(&f)),
        container: Some(container_context(&f)),
        kubernetes: kubernetes_context(&f),
        file: file_context(&f),
        network: network_context(&f),
        output_fields,
        event_type: ev.etype.name().to_string(),
        ..Default::default()
    }
}

/// Field lookups by name for one event.
struct Fields<'a> {
    ev: &'a Event,
    st: &'a dyn StateView,
}

impl Fields<'_> {
    fn value(&self, name: &str, arg: Option<&str>) -> Option<Value<'_>> {
        let spec: FieldSpec = fields::resolve(name, arg).ok()?;
        fields::extract(&spec, self.ev, self.st)
    }

    /// The field rendered as Falco prints it; `None` for `<NA>`.
    fn text(&self, name: &str) -> Option<String> {
        self.text_arg(name, None)
    }

    fn text_arg(&self, name: &str, arg: Option<&str>) -> Option<String> {
        let spec = fields::resolve(name, arg).ok()?;
        let v = fields::extract(&spec, self.ev, self.st)?;
        let mut s = String::new();
        fields::render_field(&spec, &v, &mut s);
        Some(s)
    }

    fn string(&self, name: &str) -> String {
        self.text(name).unwrap_or_default()
    }

    fn int(&self, name: &str) -> i64 {
        match self.value(name, None) {
            Some(Value::Int(n)) => n,
            Some(Value::UInt(n)) => i64::try_from(n).unwrap_or(i64::MAX),
            _ => 0,
        }
    }

    fn uint(&self, name: &str) -> u32 {
        u32::try_from(self.int(name)).unwrap_or(0)
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.value(name, None), Some(Value::Bool(true)))
    }
}

fn process_context(f: &Fields<'_>) -> ProcessContext {
    let args = match f.ev.kind {
        EventKind::Exec { ref argv, .. } if f.ev.res == 0 => argv.get(1..).unwrap_or(&[]).to_vec(),
        _ => {
            f.st.thread(f.ev.task.tid)
                .or_else(|| f.st.process(f.ev.task.pid))
                .map(|t| t.args.clone())
                .unwrap_or_default()
        }
    };
    let ancestors = (1..=MAX_ALERT_ANCESTORS)
        .map_while(|n| {
            let idx = n.to_string();
            let pid = match f.value("proc.apid", Some(&idx))? {
                Value::Int(p) => p,
                _ => return None,
            };
            Some(Ancestor {
                pid,
                name: f.text_arg("proc.aname", Some(&idx)).unwrap_or_default(),
                exe_path: f.text_arg("proc.aexepath", Some(&idx)).unwrap_or_default(),
                cmdline: f.text_arg("proc.acmdline", Some(&idx)).unwrap_or_default(),
            })
        })
        .collect();
    ProcessContext {
        pid: f.ev.task.pid,
        ppid: f.int("proc.ppid"),
        name: f.string("proc.name"),
        exe: f.string("proc.exe"),
        exe_path: f.string("proc.exepath"),
        cmdline: f.string("proc.cmdline"),
        args,
        cwd: f.string("proc.cwd"),
        uid: f.ev.task.uid,
        user_name: f.string("user.name"),
        loginuid: f.int("user.loginuid"),
        tty: f.uint("proc.tty"),
        ancestors,
        tid: f.ev.task.tid,
        gid: f.ev.task.gid,
        group_name: f.string("group.name"),
        exe_from_memfd: f.flag("proc.is_exe_from_memfd"),
        exe_upper_layer: f.flag("proc.is_exe_upper_layer"),
    }
}

fn container_context(f: &Fields<'_>) -> ContainerContext {
    ContainerContext {
        id: f.string("container.id"),
        name: f.string("container.name"),
        image_repository: f.string("container.image.repository"),
        image_tag: f.string("container.image.tag"),
        privileged: f.flag("container.privileged"),
        full_id: f.string("container.full_id"),
        image: f.string("container.image"),
        runtime: f.string("container.type"),
    }
}

fn kubernetes_context(f: &Fields<'_>) -> Option<KubernetesContext> {
    let th =
        f.st.thread(f.ev.task.tid)
            .or_else(|| f.st.process(f.ev.task.pid))?;
    let pod = f.st.container(&th.container_id)?.pod.as_ref()?;
    Some(KubernetesContext {
        namespace: pod.namespace.clone(),
        pod_name: pod.name.clone(),
        pod_uid: pod.uid.clone(),
        labels: pod
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

fn file_context(f: &Fields<'_>) -> Option<FileContext> {
    let ev = f.ev;
    match &ev.kind {
        EventKind::Open { .. } => Some(FileContext {
            path: f.string("fd.name"),
            flags: if ev.etype == EventType::Creat {
                String::new()
            } else {
                f.text_arg("evt.arg", Some("flags")).unwrap_or_default()
            },
            ..Default::default()
        }),
        EventKind::Unlink { .. } | EventKind::Mkdir { .. } => Some(FileContext {
            path: f.string("fs.path.name"),
            ..Default::default()
        }),
        EventKind::Chmod { path, .. } if !path.is_empty() => Some(FileContext {
            path: f.string("fs.path.name"),
            ..Default::default()
        }),
        EventKind::Rename { .. } | EventKind::Link { .. } | EventKind::Symlink { .. } => {
            Some(FileContext {
                path: f.string("fs.path.target"),
                source_path: f.string("fs.path.source"),
                target_path: f.string("fs.path.target"),
                ..Default::default()
            })
        }
        EventKind::Exec { .. } => None,
        _ => {
            let kind = f.text("fd.type")?;
            if kind != "file" && kind != "directory" && kind != "memfd" {
                return None;
            }
            Some(FileContext {
                path: f.text("fd.name")?,
                ..Default::default()
            })
        }
    }
}

fn network_context(f: &Fields<'_>) -> Option<NetworkContext> {
    let family = f.text("fd.type")?;
    match family.as_str() {
        "ipv4" | "ipv6" => {
            let port = |name: &str| u32::try_from(f.int(name)).unwrap_or(0);
            Some(NetworkContext {
                protocol: f.string("fd.l4proto"),
                src_ip: f.string("fd.cip"),
                src_port: port("fd.cport"),
                dst_ip: f.string("fd.sip"),
                dst_port: port("fd.sport"),
                unix_path: String::new(),
                family,
            })
        }
        "unix" => {
            let unix_path = match &f.ev.kind {
                EventKind::Connect {
                    addr: SockAddr::Unix { path },
                    ..
                }
                | EventKind::Bind {
                    addr: SockAddr::Unix { path },
                    ..
                } => path.clone(),
                _ => f.string("fd.name"),
            };
            Some(NetworkContext {
                protocol: "unix".to_string(),
                unix_path,
                family,
                ..Default::default()
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fields::tests::{CID, FULL_CID, TS, event, exec, fixture, inet, open, tcp};

    fn rule<'a>(tags: &'a [String]) -> AlertRule<'a> {
        AlertRule {
            name: "Test rule",
            priority: Priority::Warning,
            tags,
            output: "something happened".to_string(),
            output_fields: vec![
                ("proc.name".to_string(), "sh".to_string()),
                ("k8s.ns.name".to_string(), "prod".to_string()),
            ],
        }
    }

    #[test]
    fn container_exec_alert_fills_every_context() {
        let st = fixture();
        let ev = event(
            &st,
            310,
            EventType::Execve,
            0,
            exec(&["sh", "-c", "id"], "/bin/sh", false),
        );
        let tags = vec!["container".to_string(), "T1059".to_string()];
        let a = build_alert(&rule(&tags), &ev, &st);
        assert_eq!(a.seq, 0);
        assert_eq!(a.time_ns, TS as i64);
        assert_eq!(a.priority, Priority::Warning as i32);
        assert_eq!(a.rule, "Test rule");
        assert_eq!(a.output, "something happened");
        assert_eq!(a.source, "syscall");
        assert_eq!(a.tags, tags);
        assert_eq!(a.event_type, "execve");

        let p = a.process.expect("process context");
        assert_eq!((p.pid, p.ppid, p.tid), (310, 300, 310));
        assert_eq!(p.name, "sh");
        assert_eq!(p.exe, "sh");
        assert_eq!(p.exe_path, "/bin/sh");
        assert_eq!(p.cmdline, "sh -c id");
        assert_eq!(p.args, vec!["-c", "id"]);
        assert_eq!(p.cwd, "/root");
        assert_eq!((p.uid, p.user_name.as_str()), (101, "nginx"));
        assert_eq!(p.loginuid, -1);
        assert_eq!(p.tty, 34816);
        let names: Vec<&str> = p.ancestors.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["nginx", "containerd-shim", "systemd"]);
        assert_eq!(p.ancestors[0].pid, 300);
        assert_eq!(p.ancestors[0].cmdline, "nginx -g daemon off;");
        assert_eq!(p.ancestors[0].exe_path, "/usr/sbin/nginx");

        let c = a.container.expect("container context");
        assert_eq!(c.id, CID);
        assert_eq!(c.full_id, FULL_CID);
        assert_eq!(c.name, "web");
        assert_eq!(c.image_repository, "docker.io/library/nginx");
        assert_eq!(c.image_tag, "1.25");
        assert_eq!(c.runtime, "containerd");
        let k = a.kubernetes.expect("kubernetes context");
        assert_eq!(
            (k.namespace.as_str(), k.pod_name.as_str()),
            ("prod", "web-0")
        );
        assert_eq!(k.labels.get("app").map(String::as_str), Some("web"));
        assert!(a.file.is_none());
        assert!(a.network.is_none());

        let of = &a.output_fields;
        assert_eq!(of["proc.name"], "sh");
        assert_eq!(of["container.id"], CID);
        assert_eq!(of["container.name"], "web");
        assert_eq!(of["container.image.repository"], "docker.io/library/nginx");
        assert_eq!(of["k8s.ns.name"], "prod");
        assert_eq!(of["k8s.pod.name"], "web-0");
    }

    #[test]
    fn host_file_alert_has_host_container_and_na_fields() {
        let st = fixture();
        let ev = event(
            &st,
            200,
            EventType::Openat,
            3,
            open("shadow", "/etc/shadow", libc::O_RDONLY, 0),
        );
        let a = build_alert(
            &AlertRule {
                output_fields: Vec::new(),
                ..rule(&[])
            },
            &ev,
            &st,
        );
        let c = a.container.expect("container context");
        assert_eq!((c.id.as_str(), c.name.as_str()), ("host", "host"));
        assert_eq!(c.image_repository, "");
        assert!(a.kubernetes.is_none());
        let f = a.file.expect("file context");
        assert_eq!(f.path, "/etc/shadow");
        assert_eq!(f.flags, "O_RDONLY");
        let of = &a.output_fields;
        assert_eq!(of.len(), MANDATORY_OUTPUT_FIELDS.len());
        assert_eq!(of["container.id"], "host");
        assert_eq!(of["container.name"], "host");
        assert_eq!(of["container.image.repository"], NA);
        assert_eq!(of["k8s.ns.name"], NA);
        assert_eq!(of["k8s.pod.name"], NA);
        let p = a.process.expect("process");
        let names: Vec<&str> = p.ancestors.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["bash", "sshd", "systemd"]);
        assert_eq!(p.loginuid, 1000);
    }

    #[test]
    fn network_and_rename_contexts() {
        let st = fixture();
        let ev = event(
            &st,
            310,
            EventType::Connect,
            0,
            EventKind::Connect {
                fd: 3,
                addr: inet("93.184.216.34", 443),
                tuple: Some(tcp(inet("10.0.0.5", 40000), inet("93.184.216.34", 443))),
            },
        );
        let a = build_alert(&rule(&[]), &ev, &st);
        let n = a.network.expect("network context");
        assert_eq!(n.protocol, "tcp");
        assert_eq!(n.family, "ipv4");
        assert_eq!((n.src_ip.as_str(), n.src_port), ("10.0.0.5", 40000));
        assert_eq!((n.dst_ip.as_str(), n.dst_port), ("93.184.216.34", 443));
        assert!(a.file.is_none());

        let unix = event(
            &st,
            310,
            EventType::Connect,
            0,
            EventKind::Connect {
                fd: 8,
                addr: SockAddr::Unix {
                    path: "/run/containerd/containerd.sock".to_string(),
                },
                tuple: None,
            },
        );
        let n = build_alert(&rule(&[]), &unix, &st)
            .network
            .expect("unix network context");
        assert_eq!(n.family, "unix");
        assert_eq!(n.unix_path, "/run/containerd/containerd.sock");

        let rename = event(
            &st,
            200,
            EventType::Rename,
            0,
            EventKind::Rename {
                oldpath: "/tmp/a".to_string(),
                newpath: "/usr/bin/a".to_string(),
                resolved_oldpath: "/tmp/a".to_string(),
                resolved_newpath: "/usr/bin/a".to_string(),
                flags: 0,
            },
        );
        let f = build_alert(&rule(&[]), &rename, &st)
            .file
            .expect("file context");
        assert_eq!(f.source_path, "/tmp/a");
        assert_eq!(f.target_path, "/usr/bin/a");
        assert_eq!(f.path, "/usr/bin/a");
    }
}
