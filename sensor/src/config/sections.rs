//! The config file's sections. Every struct denies unknown keys and defaults
//! every field, so an empty file is a valid config.

use falco_proto::v1::Priority;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Loki labels the sensor knows how to fill.
pub const LOKI_LABELS: &[&str] = &[
    "priority",
    "rule",
    "source",
    "hostname",
    "cluster",
    "k8s_ns_name",
    "k8s_pod_name",
    "container_name",
    "tags",
];

/// The whole config file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Cluster name put on every alert and in every sink.
    pub cluster: String,
    /// Node name; empty means the kernel's hostname.
    pub hostname: String,
    pub rules: RulesConfig,
    pub probe: ProbeSection,
    pub state: StateSection,
    pub grpc: GrpcConfig,
    pub metrics: MetricsConfig,
    pub outputs: OutputsConfig,
    pub interop: InteropConfig,
    /// Response actions; owned by the respond module, kept opaque here.
    pub response: serde_yaml::Value,
}

/// Falco's rule_matching: stop at the first matching rule or evaluate all.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleMatchingMode {
    #[default]
    First,
    All,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Rules files or directories, loaded in order. Empty: the embedded default ruleset.
    pub files: Vec<PathBuf>,
    pub rule_matching: RuleMatchingMode,
    #[serde(with = "priority_name")]
    pub min_priority: Priority,
    pub enabled_rules: Vec<String>,
    pub disabled_rules: Vec<String>,
    pub disabled_tags: Vec<String>,
    /// Directory PutRulesFile writes into (loaded after `files`).
    pub writable_dir: PathBuf,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            files: Vec::new(),
            rule_matching: RuleMatchingMode::First,
            min_priority: Priority::Debug,
            enabled_rules: Vec::new(),
            disabled_rules: Vec::new(),
            disabled_tags: Vec::new(),
            writable_dir: PathBuf::from("/var/lib/falco-sensor/rules.d"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeSection {
    pub ring_buffer_bytes: usize,
    pub channel_capacity: usize,
    pub capture_env: bool,
    pub io_buffer_bytes: usize,
    pub filter_enabled: bool,
    /// Derive the kernel open prefilter from the rules (see docs/probes.md).
    pub open_prefilter: bool,
    /// How syscall exits are captured: `auto`, `per_syscall` or
    /// `dispatcher` (see docs/probes.md).
    pub attach: crate::probe::AttachMode,
}

impl Default for ProbeSection {
    fn default() -> Self {
        ProbeSection {
            ring_buffer_bytes: 4 << 20,
            channel_capacity: 16384,
            capture_env: false,
            io_buffer_bytes: 0,
            filter_enabled: true,
            open_prefilter: true,
            attach: crate::probe::AttachMode::Auto,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateSection {
    /// CRI sockets to ask for container metadata; empty means auto-detect.
    pub cri_sockets: Vec<PathBuf>,
    pub lookup_timeout_ms: u64,
    /// How long events of a new container may wait for its metadata so
    /// their alerts carry it; 0 judges them at once.
    pub metadata_wait_ms: u64,
    pub max_threads: usize,
    pub host_root: PathBuf,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            cri_sockets: Vec::new(),
            lookup_timeout_ms: 1000,
            metadata_wait_ms: 1000,
            max_threads: 131_072,
            host_root: PathBuf::from("/"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    pub enabled: bool,
    pub listen: String,
    pub tls: TlsConfig,
    /// Bearer token clients must present; empty disables token auth.
    pub token: String,
    /// File holding the token (first line); wins over `token`.
    pub token_file: Option<PathBuf>,
    /// Accept RunAction / PutRulesFile from authenticated clients.
    pub allow_actions: bool,
    /// Alerts held in memory for `since_seq` resume.
    pub resume_buffer: usize,
    /// Alerts queued per subscriber before it is detached as too slow.
    pub subscriber_queue: usize,
    pub heartbeat_interval_secs: u64,
    pub keepalive_interval_secs: u64,
    pub keepalive_timeout_secs: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            enabled: true,
            listen: "127.0.0.1:5060".to_string(),
            tls: TlsConfig::default(),
            token: String::new(),
            token_file: None,
            allow_actions: false,
            resume_buffer: 10_000,
            subscriber_queue: 4096,
            heartbeat_interval_secs: 5,
            keepalive_interval_secs: 30,
            keepalive_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: "127.0.0.1:8765".to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct OutputsConfig {
    pub stdout: StdoutConfig,
    pub file: FileConfig,
    pub loki: LokiConfig,
    pub slack: SlackConfig,
    pub webhook: WebhookConfig,
}

/// Line format of the stdout and file sinks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LineFormat {
    /// `HH:MM:SS.nnnnnnnnn: Priority Output`, like Falco's default.
    #[default]
    Text,
    /// Falco's json_output shape, one object per line.
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StdoutConfig {
    pub enabled: bool,
    pub format: LineFormat,
    #[serde(with = "priority_name")]
    pub min_priority: Priority,
    pub queue_capacity: usize,
}

impl Default for StdoutConfig {
    fn default() -> Self {
        StdoutConfig {
            enabled: true,
            format: LineFormat::Text,
            min_priority: Priority::Debug,
            queue_capacity: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub enabled: bool,
    pub path: PathBuf,
    pub format: LineFormat,
    #[serde(with = "priority_name")]
    pub min_priority: Priority,
    pub queue_capacity: usize,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            enabled: false,
            path: PathBuf::new(),
            format: LineFormat::Json,
            min_priority: Priority::Debug,
            queue_capacity: 10_000,
        }
    }
}

/// Settings shared by every HTTP forwarder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    #[serde(with = "priority_name")]
    pub min_priority: Priority,
    /// Alerts queued while the receiver is slow or down; beyond this they are dropped and counted.
    pub queue_capacity: usize,
    /// Most alerts per request (Loki); Slack and webhook always send one alert per request.
    pub batch_size: usize,
    /// How long to wait to fill a batch.
    pub batch_wait_ms: u64,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Retries after the first attempt; 0 = no retry. Retries stop early only on 4xx (except 429).
    pub max_retries: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Verify the receiver's TLS certificate (https URLs).
    pub tls_verify: bool,
    /// Extra CA bundle (PEM) trusted besides the system roots.
    pub ca_file: Option<PathBuf>,
    pub aggregation: AggregationConfig,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            min_priority: Priority::Debug,
            queue_capacity: 10_000,
            batch_size: 100,
            batch_wait_ms: 1000,
            timeout_ms: 10_000,
            max_retries: 10,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            tls_verify: true,
            ca_file: None,
            aggregation: AggregationConfig::default(),
        }
    }
}

/// Noise control: identical alerts inside a window become one message with a count.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AggregationConfig {
    pub enabled: bool,
    pub window_secs: u64,
    /// What makes two alerts identical: `rule`, `priority`, `hostname`, or any output field name.
    pub key: Vec<String>,
}

impl Default for AggregationConfig {
    fn default() -> Self {
        AggregationConfig {
            enabled: false,
            window_secs: 60,
            key: vec![
                "rule".to_string(),
                "k8s.ns.name".to_string(),
                "k8s.pod.name".to_string(),
                "container.id".to_string(),
                "proc.cmdline".to_string(),
            ],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiConfig {
    pub enabled: bool,
    /// Base URL, e.g. `http://loki:3100`; `/loki/api/v1/push` is appended.
    pub url: String,
    /// Sent as X-Scope-OrgID when not empty.
    pub tenant: String,
    pub basic_auth: Option<BasicAuth>,
    /// Labels filled from each alert (see LOKI_LABELS).
    pub labels: Vec<String>,
    /// Fixed labels added to every stream.
    pub extra_labels: BTreeMap<String, String>,
    pub forward: ForwardConfig,
}

impl Default for LokiConfig {
    fn default() -> Self {
        LokiConfig {
            enabled: false,
            url: String::new(),
            tenant: String::new(),
            basic_auth: None,
            labels: [
                "priority",
                "rule",
                "source",
                "hostname",
                "cluster",
                "k8s_ns_name",
                "k8s_pod_name",
                "tags",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            extra_labels: BTreeMap::from([("job".to_string(), "falco".to_string())]),
            forward: ForwardConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfig {
    pub enabled: bool,
    pub webhook_url: String,
    /// Overrides the webhook's channel when not empty.
    pub channel: String,
    pub username: String,
    pub forward: ForwardConfig,
}

impl Default for SlackConfig {
    fn default() -> Self {
        let mut forward = ForwardConfig {
            min_priority: Priority::Warning,
            ..ForwardConfig::default()
        };
        forward.aggregation.enabled = true;
        SlackConfig {
            enabled: false,
            webhook_url: String::new(),
            channel: String::new(),
            username: "falco-sensor".to_string(),
            forward,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    pub enabled: bool,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub forward: ForwardConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct InteropConfig {
    pub falco_http: FalcoHttpConfig,
}

/// Receiver for the JSON Falco's `http_output` posts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FalcoHttpConfig {
    pub enabled: bool,
    pub listen: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for FalcoHttpConfig {
    fn default() -> Self {
        FalcoHttpConfig {
            enabled: false,
            listen: "127.0.0.1:2802".to_string(),
            max_body_bytes: 1 << 20,
        }
    }
}

/// Priorities as Falco's names ("Warning", "info", ...) in YAML.
mod priority_name {
    use falco_proto::v1::Priority;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Priority, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.falco_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Priority, D::Error> {
        let name = String::deserialize(d)?;
        name.parse::<Priority>().map_err(serde::de::Error::custom)
    }
}
