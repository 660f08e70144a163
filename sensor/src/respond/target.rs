//! What an alert points at: the process, its container, its pod. Alerts from
//! the sensor's own pipeline carry typed contexts; alerts forwarded from Falco
//! may only have `output_fields`, so those are the fallback.

use falco_proto::v1::Alert;

/// Falco's rendering of a missing field value.
const NOT_AVAILABLE: &str = "<NA>";
/// `container.id` of processes that are not in a container.
const HOST: &str = "host";
/// `source` of alerts received from Falco through the interop receiver.
const FORWARDED_SOURCE: &str = "falco";

/// A Kubernetes pod reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    /// Empty when unknown; when set, deletes are made conditional on it so a
    /// re-created pod with the same name (StatefulSet) is not hit.
    pub uid: String,
}

/// The process / container / pod an alert is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host-namespace process id; 0 when the alert names none.
    pub pid: i64,
    /// `proc.name` as the alert reported it (the kernel comm, at most 15 bytes, or longer).
    pub process_name: String,
    /// Time of the event, Unix ns; a process started after it cannot be the culprit.
    pub event_time_ns: i64,
    /// Full container id when the process runs in a container.
    pub container_id: Option<String>,
    /// Pod, when the container belongs to one.
    pub pod: Option<PodRef>,
    /// The alert was forwarded by Falco (interop): its pid and container may
    /// be on another node, so only pod actions (cluster-wide names) apply.
    pub forwarded: bool,
}

impl Target {
    /// Extracts the target from the typed contexts, falling back to Falco's output fields.
    pub fn from_alert(alert: &Alert) -> Target {
        let field = |name: &str| {
            alert
                .output_fields
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty() && *v != NOT_AVAILABLE)
        };
        let (mut pid, mut process_name) = match &alert.process {
            Some(p) => (p.pid, p.name.clone()),
            None => (0, String::new()),
        };
        if pid == 0 {
            pid = field("proc.pid").and_then(|v| v.parse().ok()).unwrap_or(0);
        }
        if process_name.is_empty() {
            process_name = field("proc.name").unwrap_or_default().to_string();
        }

        let container_id = alert
            .container
            .as_ref()
            .map(|c| {
                if c.full_id.is_empty() {
                    c.id.clone()
                } else {
                    c.full_id.clone()
                }
            })
            .filter(|id| !id.is_empty())
            .or_else(|| {
                field("container.full_id")
                    .or_else(|| field("container.id"))
                    .map(str::to_string)
            })
            .filter(|id| id != HOST);

        let k8s = alert.kubernetes.as_ref();
        let pick = |typed: Option<&String>, name: &str| {
            typed
                .filter(|v| !v.is_empty())
                .cloned()
                .or_else(|| field(name).map(str::to_string))
        };
        let namespace = pick(k8s.map(|k| &k.namespace), "k8s.ns.name");
        let pod_name = pick(k8s.map(|k| &k.pod_name), "k8s.pod.name");
        let uid = pick(k8s.map(|k| &k.pod_uid), "k8s.pod.uid").unwrap_or_default();
        let pod = match (namespace, pod_name) {
            (Some(namespace), Some(name)) if container_id.is_some() => Some(PodRef {
                namespace,
                name,
                uid,
            }),
            _ => None,
        };

        Target {
            pid,
            process_name,
            event_time_ns: alert.time_ns,
            container_id,
            pod,
            forwarded: alert.source == FORWARDED_SOURCE,
        }
    }

    /// A process not inside any container.
    pub fn is_host(&self) -> bool {
        self.container_id.is_none()
    }

    /// Namespace of the pod, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.pod.as_ref().map(|p| p.namespace.as_str())
    }

    /// The unit the cooldown applies to: the pod, else the container, else the host process.
    pub fn cooldown_key(&self) -> String {
        match (&self.pod, &self.container_id) {
            (Some(p), _) => format!("pod:{}/{}", p.namespace, p.name),
            (None, Some(c)) => format!("container:{c}"),
            (None, None) => format!("host-process:{}", self.pid),
        }
    }

    /// Short human description for records and logs.
    pub fn describe(&self) -> String {
        match (&self.pod, &self.container_id) {
            (Some(p), _) => format!("pod {}/{}", p.namespace, p.name),
            (None, Some(c)) => format!("container {}", short_id(c)),
            (None, None) => format!("host process {}", self.pid),
        }
    }
}

/// First 12 characters of a container id, as `container.id` shows it.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors
mod tests {
    use super::*;
    use falco_proto::v1::{ContainerContext, KubernetesContext, ProcessContext};

    #[test]
    fn typed_contexts_win() {
        let alert = Alert {
            time_ns: 5,
            process: Some(ProcessContext {
                pid: 42,
                name: "sh".into(),
                ..Default::default()
            }),
            container: Some(ContainerContext {
                id: "0123456789ab".into(),
                full_id: "0123456789ab".repeat(5) + "cdef",
                ..Default::default()
            }),
            kubernetes: Some(KubernetesContext {
                namespace: "prod".into(),
                pod_name: "web-1".into(),
                pod_uid: "u-1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = Target::from_alert(&alert);
        assert_eq!(t.pid, 42);
        assert_eq!(t.container_id.as_deref().map(str::len), Some(64));
        assert_eq!(t.pod.as_ref().unwrap().uid, "u-1");
        assert_eq!(t.cooldown_key(), "pod:prod/web-1");
        assert!(!t.is_host());
    }

    #[test]
    fn falco_output_fields_are_the_fallback() {
        let mut alert = Alert::default();
        for (k, v) in [
            ("proc.pid", "77"),
            ("proc.name", "nc"),
            ("container.id", "abcdefabcdef"),
            ("k8s.ns.name", "dev"),
            ("k8s.pod.name", "api-0"),
        ] {
            alert.output_fields.insert(k.into(), v.into());
        }
        let t = Target::from_alert(&alert);
        assert_eq!((t.pid, t.process_name.as_str()), (77, "nc"));
        assert_eq!(t.describe(), "pod dev/api-0");
    }

    #[test]
    fn host_processes_have_no_container_or_pod() {
        let mut alert = Alert {
            container: Some(ContainerContext {
                id: "host".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        alert
            .output_fields
            .insert("k8s.ns.name".into(), "<NA>".into());
        alert.output_fields.insert("proc.pid".into(), "9".into());
        let t = Target::from_alert(&alert);
        assert!(t.is_host());
        assert_eq!(t.pod, None);
        assert_eq!(t.cooldown_key(), "host-process:9");
    }
}
