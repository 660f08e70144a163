//! Kubernetes calls for the pod drilldown: pod status, events, log tail, delete,
//! and sensor discovery. Everything returned is sanitized (labels, annotations,
//! event messages and logs are controlled by whoever runs the pod).

use crate::sanitize::sanitized;
use k8s_openapi::api::core::v1::{ContainerState, Event as K8sEvent, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::Path;

/// Lines of container log shown in the drilldown.
pub const LOG_TAIL_LINES: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("kubeconfig context: {0}")]
    Context(kube::config::KubeconfigError),
    #[error("Kubernetes client: {0}")]
    Client(kube::Error),
    #[error("{what} {namespace}/{name}: {source}")]
    Api {
        what: &'static str,
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// A kube client plus the namespace commands default to.
#[derive(Clone)]
pub struct Kube {
    pub client: Client,
    pub namespace: String,
    pub context: String,
}

impl Kube {
    /// From `path` (or `$KUBECONFIG` / `~/.kube/config` when `None`) and an optional context.
    pub async fn connect(path: Option<&Path>, context: Option<&str>) -> Result<Self, KubeError> {
        let opts = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let (config, context_name) = match path {
            Some(p) => {
                let kc = Kubeconfig::read_from(p).map_err(|source| KubeError::Kubeconfig {
                    path: p.display().to_string(),
                    source,
                })?;
                let name = context
                    .map(str::to_string)
                    .or_else(|| kc.current_context.clone())
                    .unwrap_or_default();
                let cfg = Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(KubeError::Context)?;
                (cfg, name)
            }
            None => {
                let cfg = match Config::from_kubeconfig(&opts).await {
                    Ok(c) => c,
                    Err(_) => Config::infer().await?,
                };
                let name = context
                    .map(str::to_string)
                    .or_else(|| {
                        Kubeconfig::read()
                            .ok()
                            .and_then(|k| k.current_context.clone())
                    })
                    .unwrap_or_else(|| "in-cluster".into());
                (cfg, name)
            }
        };
        let namespace = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(KubeError::Client)?;
        Ok(Kube {
            client,
            namespace,
            context: sanitized(&context_name),
        })
    }

    fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), ns)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerInfo {
    pub name: String,
    pub image: String,
    pub state: String,
    pub ready: bool,
    pub restarts: i32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInfo {
    pub time: String,
    pub kind: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
}

/// Everything the pod drilldown shows besides the pod's alerts (those come from the store).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodDetails {
    pub namespace: String,
    pub name: String,
    pub phase: String,
    pub node: String,
    pub pod_ip: String,
    pub start_time: String,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub owners: Vec<String>,
    pub containers: Vec<ContainerInfo>,
    pub events: Vec<EventInfo>,
    pub log_container: String,
    pub logs: Vec<String>,
    /// A part that could not be loaded (events or logs), shown in place.
    pub partial_errors: Vec<String>,
}

fn state_text(s: Option<&ContainerState>) -> String {
    let Some(s) = s else {
        return "unknown".into();
    };
    if s.running.is_some() {
        "Running".into()
    } else if let Some(w) = &s.waiting {
        format!("Waiting: {}", w.reason.as_deref().unwrap_or("-"))
    } else if let Some(t) = &s.terminated {
        format!(
            "Terminated: {} (exit {})",
            t.reason.as_deref().unwrap_or("-"),
            t.exit_code
        )
    } else {
        "unknown".into()
    }
}

fn pairs(m: Option<&std::collections::BTreeMap<String, String>>) -> Vec<(String, String)> {
    m.map(|m| {
        m.iter()
            .map(|(k, v)| (sanitized(k), sanitized(v)))
            .collect()
    })
    .unwrap_or_default()
}

/// Converts a Pod object; `container` picks whose log to tail (first otherwise).
pub fn pod_details(pod: &Pod) -> PodDetails {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let statuses = status
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let containers = spec
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let st = statuses.iter().find(|s| s.name == c.name);
            ContainerInfo {
                name: sanitized(&c.name),
                image: sanitized(c.image.as_deref().unwrap_or_default()),
                state: sanitized(&state_text(st.and_then(|s| s.state.as_ref()))),
                ready: st.is_some_and(|s| s.ready),
                restarts: st.map(|s| s.restart_count).unwrap_or_default(),
            }
        })
        .collect();
    PodDetails {
        namespace: sanitized(meta.namespace.as_deref().unwrap_or_default()),
        name: sanitized(meta.name.as_deref().unwrap_or_default()),
        phase: sanitized(status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown")),
        node: sanitized(
            spec.and_then(|s| s.node_name.as_deref())
                .unwrap_or_default(),
        ),
        pod_ip: sanitized(status.and_then(|s| s.pod_ip.as_deref()).unwrap_or_default()),
        start_time: status
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
        labels: pairs(meta.labels.as_ref()),
        annotations: pairs(meta.annotations.as_ref()),
        owners: meta
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|o| sanitized(&format!("{}/{}", o.kind, o.name)))
            .collect(),
        containers,
        ..Default::default()
    }
}

/// Loads the pod, its recent events and a log tail of `container` (or the first).
/// A failure to get events or logs is recorded in `partial_errors`, not fatal.
pub async fn load_pod(
    kube: &Kube,
    namespace: &str,
    name: &str,
    container: Option<&str>,
) -> Result<PodDetails, KubeError> {
    let api_err = |what, source| KubeError::Api {
        what,
        namespace: sanitized(namespace),
        name: sanitized(name),
        source,
    };
    let pods = kube.pods(namespace);
    let pod = pods.get(name).await.map_err(|e| api_err("get pod", e))?;
    let mut d = pod_details(&pod);

    let events: Api<K8sEvent> = Api::namespaced(kube.client.clone(), namespace);
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    match events.list(&lp).await {
        Ok(list) => {
            let mut evs: Vec<EventInfo> = list
                .items
                .iter()
                .map(|e| EventInfo {
                    time: e
                        .last_timestamp
                        .as_ref()
                        .map(|t| t.0.to_string())
                        .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
                        .unwrap_or_default(),
                    kind: sanitized(e.type_.as_deref().unwrap_or_default()),
                    reason: sanitized(e.reason.as_deref().unwrap_or_default()),
                    message: sanitized(e.message.as_deref().unwrap_or_default()),
                    count: e.count.unwrap_or(1),
                })
                .collect();
            evs.sort_by(|a, b| b.time.cmp(&a.time));
            d.events = evs;
        }
        Err(e) => d.partial_errors.push(sanitized(&format!("events: {e}"))),
    }

    let log_container = container
        .filter(|c| d.containers.iter().any(|x| x.name == *c))
        .map(str::to_string)
        .or_else(|| d.containers.first().map(|c| c.name.clone()));
    if let Some(c) = log_container {
        let lp = LogParams {
            container: Some(c.clone()),
            tail_lines: Some(LOG_TAIL_LINES),
            ..Default::default()
        };
        match pods.logs(name, &lp).await {
            Ok(text) => d.logs = text.lines().map(sanitized).collect(),
            Err(e) => d.partial_errors.push(sanitized(&format!("logs: {e}"))),
        }
        d.log_container = c;
    }
    Ok(d)
}

pub async fn delete_pod(kube: &Kube, namespace: &str, name: &str) -> Result<(), KubeError> {
    kube.pods(namespace)
        .delete(name, &DeleteParams::default())
        .await
        .map(|_| ())
        .map_err(|source| KubeError::Api {
            what: "delete pod",
            namespace: sanitized(namespace),
            name: sanitized(name),
            source,
        })
}

/// A sensor pod found by discovery.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorPod {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub ready: bool,
}

/// Running pods matching `selector` in `namespace` (the sensor DaemonSet's pods).
pub async fn discover_sensors(
    kube: &Kube,
    namespace: &str,
    selector: &str,
) -> Result<Vec<SensorPod>, KubeError> {
    let list = kube
        .pods(namespace)
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|source| KubeError::Api {
            what: "list pods",
            namespace: sanitized(namespace),
            name: format!("-l {}", sanitized(selector)),
            source,
        })?;
    Ok(list
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .map(|p| {
            let d = pod_details(p);
            SensorPod {
                ready: !d.containers.is_empty() && d.containers.iter().all(|c| c.ready),
                namespace: d.namespace,
                name: d.name,
                node: d.node,
            }
        })
        .collect())
}
