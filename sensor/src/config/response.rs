//! The `response:` section of the sensor config (validated by
//! `Config::load` with the rest of the file, before anything starts). Every key has a default so an
//! empty section (or none at all) gives a responder in `ids` mode with one
//! policy-free setup that never acts. docs/response.md documents each key.

use falco_proto::v1::Priority;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Label that marks a pod isolated by `isolate-pod`; the NetworkPolicy selects it.
pub const DEFAULT_ISOLATION_LABEL: &str = "falco-sensor.io/isolated";

/// What the responder does once a policy matched and every guard passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Decide and record what would be done ("dry-run" records), change nothing.
    #[default]
    Ids,
    /// Run the actions.
    Ips,
}

impl Mode {
    /// The config spelling, for logs and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ids => "ids",
            Mode::Ips => "ips",
        }
    }
}

/// One response action, spelled in config as in the gRPC `RunAction` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// SIGKILL the process that triggered the alert.
    KillProcess,
    /// Stop its container through the container runtime (CRI StopContainer).
    StopContainer,
    /// Delete its pod through the Kubernetes API.
    DeletePod,
    /// Label its pod and create a deny-all NetworkPolicy selecting the label.
    IsolatePod,
    /// Add labels to its pod (e.g. for later review).
    LabelPod,
}

impl Action {
    /// Every action, in the order documented.
    pub const ALL: [Action; 5] = [
        Action::KillProcess,
        Action::StopContainer,
        Action::DeletePod,
        Action::IsolatePod,
        Action::LabelPod,
    ];

    /// The config / wire name, e.g. "kill-process".
    pub fn as_str(self) -> &'static str {
        match self {
            Action::KillProcess => "kill-process",
            Action::StopContainer => "stop-container",
            Action::DeletePod => "delete-pod",
            Action::IsolatePod => "isolate-pod",
            Action::LabelPod => "label-pod",
        }
    }

    /// Parses the wire name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether the action needs a Kubernetes pod (not applicable to bare containers or host processes).
    pub fn needs_pod(self) -> bool {
        matches!(
            self,
            Action::DeletePod | Action::IsolatePod | Action::LabelPod
        )
    }
}

/// The `response:` config section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseConfig {
    /// `ids` (default): record what would be done; `ips`: do it.
    pub mode: Mode,
    /// Policies, tried in order; the first that matches an alert decides its actions.
    pub policies: Vec<PolicyConfig>,
    /// Namespaces never acted in. The sensor's own namespace (from the
    /// `POD_NAMESPACE` environment variable, set by the DaemonSet) is always added.
    pub protected_namespaces: Vec<String>,
    /// Allow actions on host processes (not in any container). Default false.
    pub allow_host: bool,
    /// After acting on a pod (or container, or host process), ignore further
    /// alerts about it for this many seconds. Default 300.
    pub cooldown_seconds: u64,
    /// Global rate limit over all targets (token bucket).
    pub rate_limit: RateLimitConfig,
    /// Responses waiting for the worker; beyond this they are skipped and counted. Default 256.
    pub queue_capacity: usize,
    /// Upper bound on any single action, in seconds. Default 10.
    pub action_timeout_seconds: u64,
    /// Accept `RunAction` requests (the API layer also requires an authenticated client). Default false.
    pub allow_manual: bool,
    /// `delete-pod` settings.
    pub delete_pod: DeletePodConfig,
    /// `stop-container` settings.
    pub stop_container: StopContainerConfig,
    /// `isolate-pod` settings.
    pub isolate_pod: IsolatePodConfig,
    /// `label-pod` settings.
    pub label_pod: LabelPodConfig,
    /// How to reach the Kubernetes API.
    pub kubernetes: KubernetesConfig,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            mode: Mode::Ids,
            policies: Vec::new(),
            protected_namespaces: vec!["kube-system".to_string()],
            allow_host: false,
            cooldown_seconds: 300,
            rate_limit: RateLimitConfig::default(),
            queue_capacity: 256,
            action_timeout_seconds: 10,
            allow_manual: false,
            delete_pod: DeletePodConfig::default(),
            stop_container: StopContainerConfig::default(),
            isolate_pod: IsolatePodConfig::default(),
            label_pod: LabelPodConfig::default(),
            kubernetes: KubernetesConfig::default(),
        }
    }
}

/// One policy: which alerts, and which actions in which order.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Name shown in records and logs.
    pub name: String,
    /// Only alerts at least this severe (Falco names). Default Critical.
    #[serde(
        default = "default_min_priority",
        deserialize_with = "de_priority",
        serialize_with = "ser_priority"
    )]
    pub min_priority: Priority,
    /// Only these rules (exact names); empty means any rule.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Only alerts carrying at least one of these tags; empty means any.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only alerts from these namespaces; empty means any.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Actions, run in this order.
    pub actions: Vec<Action>,
    /// Labels for `label-pod` in this policy; empty means `label_pod.labels`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_min_priority() -> Priority {
    Priority::Critical
}

/// `response: null` (or an empty `response:`) is the default section.
pub(super) fn null_as_default<'de, D: Deserializer<'de>>(d: D) -> Result<ResponseConfig, D::Error> {
    Ok(Option::<ResponseConfig>::deserialize(d)?.unwrap_or_default())
}

fn ser_priority<S: Serializer>(p: &Priority, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.falco_name())
}

fn de_priority<'de, D: Deserializer<'de>>(d: D) -> Result<Priority, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map_err(serde::de::Error::custom)
}

/// Token bucket: `burst` actions at once, refilled at `per_minute`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained responses per minute over all targets. Default 10.
    pub per_minute: f64,
    /// Responses allowed at once. Default 5.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_minute: 10.0,
            burst: 5,
        }
    }
}

/// `delete-pod` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeletePodConfig {
    /// Grace period given to the pod, seconds. Default 0 (stop now: it is compromised).
    pub grace_period_seconds: u32,
}

/// `stop-container` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopContainerConfig {
    /// Seconds the runtime waits after SIGTERM before SIGKILL. Default 0.
    pub timeout_seconds: u64,
}

/// `isolate-pod` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IsolatePodConfig {
    /// Label key set to "true" on the pod. Default `falco-sensor.io/isolated`.
    pub label: String,
    /// Name of the deny-all NetworkPolicy created in the pod's namespace.
    /// Default `falco-sensor-isolate`.
    pub network_policy_name: String,
}

impl Default for IsolatePodConfig {
    fn default() -> Self {
        IsolatePodConfig {
            label: DEFAULT_ISOLATION_LABEL.to_string(),
            network_policy_name: "falco-sensor-isolate".to_string(),
        }
    }
}

/// `label-pod` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelPodConfig {
    /// Labels added when a policy names none. Default `falco-sensor.io/review: "true"`.
    pub labels: BTreeMap<String, String>,
}

impl Default for LabelPodConfig {
    fn default() -> Self {
        LabelPodConfig {
            labels: BTreeMap::from([("falco-sensor.io/review".to_string(), "true".to_string())]),
        }
    }
}

/// How to reach the Kubernetes API.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Kubeconfig file; unset means in-cluster config (service account),
    /// falling back to `$KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
}

/// A config value the responder cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResponseConfigError {
    #[error("response.policies[{index}] ({name:?}): {problem}")]
    Policy {
        index: usize,
        name: String,
        problem: String,
    },
    #[error("response.{key}: {problem}")]
    Key { key: &'static str, problem: String },
    #[error("response: {0}")]
    Parse(String),
}

impl ResponseConfig {
    /// Reads the `response:` section as the config loader keeps it (an
    /// untyped YAML value; null or absent means all defaults) and validates it.
    pub fn from_yaml_value(value: &serde_yaml::Value) -> Result<Self, ResponseConfigError> {
        let cfg = if value.is_null() {
            ResponseConfig::default()
        } else {
            serde_yaml::from_value(value.clone())
                .map_err(|e| ResponseConfigError::Parse(e.to_string()))?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what serde cannot: non-empty action lists, valid label syntax,
    /// a usable rate limit and queue.
    pub fn validate(&self) -> Result<(), ResponseConfigError> {
        if self.queue_capacity == 0 {
            return Err(key_err("queue_capacity", "must be at least 1"));
        }
        if self.action_timeout_seconds == 0 {
            return Err(key_err("action_timeout_seconds", "must be at least 1"));
        }
        if self.rate_limit.burst == 0 {
            return Err(key_err("rate_limit.burst", "must be at least 1"));
        }
        if !(self.rate_limit.per_minute.is_finite() && self.rate_limit.per_minute >= 0.0) {
            return Err(key_err(
                "rate_limit.per_minute",
                "must be a finite number >= 0",
            ));
        }
        check_label_key(&self.isolate_pod.label).map_err(|p| key_err("isolate_pod.label", &p))?;
        check_name(&self.isolate_pod.network_policy_name)
            .map_err(|p| key_err("isolate_pod.network_policy_name", &p))?;
        check_labels(&self.label_pod.labels).map_err(|p| key_err("label_pod.labels", &p))?;
        for (index, policy) in self.policies.iter().enumerate() {
            let fail = |problem: String| ResponseConfigError::Policy {
                index,
                name: policy.name.clone(),
                problem,
            };
            if policy.name.trim().is_empty() {
                return Err(fail("name must not be empty".into()));
            }
            if policy.actions.is_empty() {
                return Err(fail("actions must name at least one action".into()));
            }
            check_labels(&policy.labels).map_err(|p| fail(format!("labels: {p}")))?;
        }
        Ok(())
    }

    /// Cooldown as a duration.
    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(self.cooldown_seconds)
    }

    /// Per-action timeout as a duration.
    pub fn action_timeout(&self) -> Duration {
        Duration::from_secs(self.action_timeout_seconds)
    }
}

fn key_err(key: &'static str, problem: &str) -> ResponseConfigError {
    ResponseConfigError::Key {
        key,
        problem: problem.to_string(),
    }
}

fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in labels {
        check_label_key(k)?;
        check_label_value(v).map_err(|p| format!("value of {k:?}: {p}"))?;
    }
    Ok(())
}

/// Kubernetes label key: optional DNS-subdomain prefix and `/`, then a name of
/// at most 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !ok {
            return Err(format!("label key {key:?}: prefix is not a DNS subdomain"));
        }
    }
    if name.is_empty() {
        return Err(format!("label key {key:?}: name part is empty"));
    }
    check_label_value(name).map_err(|p| format!("label key {key:?}: {p}"))
}

fn check_label_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let ok = v.len() <= 63
        && v.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
        && v.starts_with(alnum)
        && v.ends_with(alnum);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a label value (<= 63 of [A-Za-z0-9-_.], alphanumeric at both ends)"
        ))
    }
}

fn check_name(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!("{v:?} is not a Kubernetes object name"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors
mod tests {
    use super::*;

    #[test]
    fn empty_section_gives_safe_defaults() {
        let cfg: ResponseConfig = serde_yaml::from_str("{}").unwrap();
        assert_eq!(cfg.mode, Mode::Ids);
        assert!(cfg.policies.is_empty());
        assert_eq!(cfg.protected_namespaces, vec!["kube-system"]);
        assert!(!cfg.allow_host);
        assert!(!cfg.allow_manual);
        assert_eq!(cfg.cooldown_seconds, 300);
        cfg.validate().unwrap();
    }

    #[test]
    fn full_policy_parses() {
        let yaml = r#"
mode: ips
policies:
  - name: shells
    min_priority: warning
    rules: ["Terminal shell in container"]
    tags: [mitre_execution]
    namespaces: [prod]
    actions: [kill-process, label-pod]
    labels: {security.example.com/flagged: "yes"}
"#;
        let cfg: ResponseConfig = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(cfg.mode, Mode::Ips);
        let p = &cfg.policies[0];
        assert_eq!(p.min_priority, Priority::Warning);
        assert_eq!(p.actions, vec![Action::KillProcess, Action::LabelPod]);
        cfg.validate().unwrap();
    }

    #[test]
    fn default_min_priority_is_critical() {
        let cfg: ResponseConfig =
            serde_yaml::from_str("policies: [{name: p, actions: [delete-pod]}]").unwrap();
        assert_eq!(cfg.policies[0].min_priority, Priority::Critical);
    }

    #[test]
    fn bad_input_is_named() {
        let err =
            serde_yaml::from_str::<ResponseConfig>("policies: [{name: p, actions: [reboot-node]}]")
                .unwrap_err();
        assert!(err.to_string().contains("reboot-node"), "{err}");
        let err = serde_yaml::from_str::<ResponseConfig>(
            "policies: [{name: p, min_priority: severe, actions: [kill-process]}]",
        )
        .unwrap_err();
        assert!(err.to_string().contains("severe"), "{err}");
        let err = serde_yaml::from_str::<ResponseConfig>("mod: ips").unwrap_err();
        assert!(err.to_string().contains("mod"), "{err}");

        let cfg: ResponseConfig =
            serde_yaml::from_str("policies: [{name: p, actions: []}]").unwrap();
        assert!(matches!(
            cfg.validate(),
            Err(ResponseConfigError::Policy { index: 0, .. })
        ));
        let cfg: ResponseConfig = serde_yaml::from_str(
            "policies: [{name: p, actions: [label-pod], labels: {\"bad key!\": x}}]",
        )
        .unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("bad key!"), "{err}");
        let cfg: ResponseConfig = serde_yaml::from_str("rate_limit: {burst: 0}").unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("burst"));
    }

    #[test]
    fn from_the_loaders_untyped_value() {
        let cfg = ResponseConfig::from_yaml_value(&serde_yaml::Value::Null).unwrap();
        assert_eq!(cfg.mode, Mode::Ids);
        let v: serde_yaml::Value = serde_yaml::from_str("mode: ips\ncooldown_seconds: 5").unwrap();
        let cfg = ResponseConfig::from_yaml_value(&v).unwrap();
        assert_eq!((cfg.mode, cfg.cooldown_seconds), (Mode::Ips, 5));
        let v: serde_yaml::Value = serde_yaml::from_str("mode: block").unwrap();
        let err = ResponseConfig::from_yaml_value(&v).unwrap_err().to_string();
        assert!(
            err.starts_with("response: ") && err.contains("block"),
            "{err}"
        );
    }

    #[test]
    fn label_syntax() {
        assert!(check_label_key("falco-sensor.io/isolated").is_ok());
        assert!(check_label_key("app").is_ok());
        assert!(check_label_key("/x").is_err());
        assert!(check_label_key("Example.com/x").is_err());
        assert!(check_label_value("true").is_ok());
        assert!(check_label_value("-x").is_err());
        assert!(check_label_value(&"a".repeat(64)).is_err());
    }

    #[test]
    fn action_names_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("kill"), None);
    }
}
