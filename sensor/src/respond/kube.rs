//! Pod actions through the Kubernetes API (kube-rs): delete, label, isolate.
//! Errors keep the API's status code and reason so the record says e.g.
//! "HTTP 403 Forbidden: pods \"x\" is forbidden: ...".

use super::error::ActionError;
use super::target::PodRef;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Label put on objects the sensor creates.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "falco-sensor");

/// Where the Kubernetes client configuration comes from.
#[derive(Clone, Default)]
pub enum KubeSource {
    /// No Kubernetes: pod actions fail with a clear message.
    Disabled,
    /// In-cluster service account, else `$KUBECONFIG` / `~/.kube/config`.
    #[default]
    Infer,
    /// This kubeconfig file (current context).
    Kubeconfig(PathBuf),
    /// A ready configuration (tests, or a caller with its own setup).
    Config(Box<kube::Config>),
}

impl std::fmt::Debug for KubeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeSource::Disabled => f.write_str("Disabled"),
            KubeSource::Infer => f.write_str("Infer"),
            KubeSource::Kubeconfig(p) => write!(f, "Kubeconfig({})", p.display()),
            KubeSource::Config(c) => write!(f, "Config({})", c.cluster_url),
        }
    }
}

/// A connected client for the pod actions.
#[derive(Clone)]
pub struct PodActions {
    client: kube::Client,
}

impl PodActions {
    /// Builds the client. Must run inside a tokio runtime (kube spawns its
    /// connection machinery there).
    pub async fn connect(source: &KubeSource) -> Result<PodActions, ActionError> {
        let conn_err = |message: String| ActionError::Kube {
            what: "client setup".into(),
            message,
        };
        let config = match source {
            KubeSource::Disabled => {
                return Err(ActionError::Unavailable(
                    "no Kubernetes API configured for this sensor".into(),
                ));
            }
            KubeSource::Infer => kube::Config::infer()
                .await
                .map_err(|e| conn_err(e.to_string()))?,
            KubeSource::Kubeconfig(path) => {
                let kc = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| conn_err(format!("{}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kc, &Default::default())
                    .await
                    .map_err(|e| conn_err(format!("{}: {e}", path.display())))?
            }
            KubeSource::Config(c) => (**c).clone(),
        };
        let client = kube::Client::try_from(config).map_err(|e| conn_err(e.to_string()))?;
        Ok(PodActions { client })
    }

    fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// DELETE the pod with a grace period; conditional on the uid when known.
    pub async fn delete_pod(
        &self,
        pod: &PodRef,
        grace_seconds: u32,
    ) -> Result<String, ActionError> {
        let what = format!("delete pod {}/{}", pod.namespace, pod.name);
        let mut dp = DeleteParams::default().grace_period(grace_seconds);
        if !pod.uid.is_empty() {
            dp = dp.preconditions(Preconditions {
                uid: Some(pod.uid.clone()),
                resource_version: None,
            });
        }
        self.pods(&pod.namespace)
            .delete(&pod.name, &dp)
            .await
            .map_err(|e| api_error(&what, e))?;
        Ok(format!(
            "deleted pod {}/{} (grace period {grace_seconds}s)",
            pod.namespace, pod.name
        ))
    }

    /// Merge-patches labels onto the pod.
    pub async fn label_pod(
        &self,
        pod: &PodRef,
        labels: &BTreeMap<String, String>,
    ) -> Result<String, ActionError> {
        let what = format!("label pod {}/{}", pod.namespace, pod.name);
        let patch = serde_json::json!({ "metadata": { "labels": labels } });
        self.pods(&pod.namespace)
            .patch(&pod.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| api_error(&what, e))?;
        let list: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(format!(
            "labelled pod {}/{} with {}",
            pod.namespace,
            pod.name,
            list.join(",")
        ))
    }

    /// Ensures the deny-all NetworkPolicy exists in the pod's namespace, then
    /// labels the pod so the policy selects it. Policy first: the moment the
    /// label lands the pod is cut off. Both steps are idempotent.
    pub async fn isolate_pod(
        &self,
        pod: &PodRef,
        label: &str,
        policy_name: &str,
    ) -> Result<String, ActionError> {
        let policy = deny_all_policy(&pod.namespace, label, policy_name);
        let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &pod.namespace);
        let what = format!("create networkpolicy {}/{policy_name}", pod.namespace);
        let verb = match api.create(&PostParams::default(), &policy).await {
            Ok(_) => "created",
            // Already there (an earlier isolation in this namespace): overwrite
            // it unconditionally (no resourceVersion) so a hand-edited policy
            // is reset to deny-all. Needs only the `update` verb, no `get`.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let what = format!("replace networkpolicy {}/{policy_name}", pod.namespace);
                api.replace(policy_name, &PostParams::default(), &policy)
                    .await
                    .map_err(|e| api_error(&what, e))?;
                "replaced"
            }
            Err(e) => return Err(api_error(&what, e)),
        };
        let labels = BTreeMap::from([(label.to_string(), "true".to_string())]);
        self.label_pod(pod, &labels).await?;
        Ok(format!(
            "isolated pod {}/{}: {verb} deny-all networkpolicy {policy_name} selecting {label}=true",
            pod.namespace, pod.name
        ))
    }
}

/// A NetworkPolicy with both policy types and no rules: nothing in, nothing out.
pub fn deny_all_policy(namespace: &str, label: &str, name: &str) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.0.to_string(),
                MANAGED_BY.1.to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(label.to_string(), "true".to_string())])),
                match_expressions: None,
            }),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: None,
            egress: None,
        }),
    }
}

fn api_error(what: &str, err: kube::Error) -> ActionError {
    match err {
        kube::Error::Api(status) => ActionError::KubeStatus {
            what: what.to_string(),
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        other => ActionError::Kube {
            what: what.to_string(),
            message: other.to_string(),
        },
    }
}
