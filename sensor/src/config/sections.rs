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
    /// Response actions (`response.rs`; docs/response.md). `response: null`
    /// means the defaults.
    #[serde(deserialize_with = "super::response::null_as_default")]
    pub response: super::response::ResponseConfig,
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
    pub capture_env: CaptureEnv,
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
            capture_env: CaptureEnv::Auto,
            io_buffer_bytes: 0,
            filter_enabled: true,
            open_prefilter: true,
            attach: crate::probe::AttachMode::Auto,
        }
    }
}

/// `probe.capture_env`: whether execs carry their environment (`proc.env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureEnv {
    /// `auto`: on exactly while some enabled rule reads `proc.env`
    /// (re-derived on every rules reload).
    #[default]
    Auto,
    /// `true`: always on.
    On,
    /// `false`: always off; rules reading `proc.env` are named in a warning.
    Off,
}

impl Serialize for CaptureEnv {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CaptureEnv::Auto => s.serialize_str("auto"),
            CaptureEnv::On => s.serialize_bool(true),
            CaptureEnv::Off => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for CaptureEnv {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A YAML bool or one of the words (a `-o` override arrives as text).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(CaptureEnv::On),
            Raw::Bool(false) => Ok(CaptureEnv::Off),
            Raw::Text(t) => match t.trim() {
                "auto" => Ok(CaptureEnv::Auto),
                "true" => Ok(CaptureEnv::On),
                "false" => Ok(CaptureEnv::Off),
                other => Err(serde::de::Error::custom(format!(
                    "probe.capture_env must be auto, true or false, got {other:?}"
                ))),
            },
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
    /// Seconds between re-resolutions of the host names rules compare
    /// `fd.*ip.name` with; 0 resolves none (those fields stay missing).
    pub dns_refresh_secs: u64,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            cri_sockets: Vec::new(),
            // One default with the state tracker's own.
            lookup_timeout_ms: crate::state::StateConfig::DEFAULT_CRI_TIMEOUT_MS,
            metadata_wait_ms: crate::state::StateConfig::DEFAULT_METADATA_WAIT_MS,
            max_threads: crate::state::StateConfig::DEFAULT_MAX_THREADS,
            host_root: PathBuf::from("/"),
            dns_refresh_secs: 30,
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
    pub alertmanager: AlertmanagerConfig,
    pub syslog: SyslogConfig,
    pub discord: DiscordConfig,
    pub teams: TeamsConfig,
    pub elasticsearch: ElasticsearchConfig,
    pub s3: S3Config,
    pub smtp: SmtpConfig,
    pub nats: NatsConfig,
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
    /// Which alerts this sink takes besides `min_priority` (see sinks/route.rs).
    pub routing: RoutingConfig,
    /// Bounded on-disk queue in front of the sink; off unless `dir` is set.
    pub disk_buffer: DiskBufferConfig,
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
            routing: RoutingConfig::default(),
            disk_buffer: DiskBufferConfig::default(),
        }
    }
}

/// Alert selection per sink. Lists hold globs; an empty list places no
/// condition; an alert must pass every condition set and match no exclusion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Highest priority taken (with `forward.min_priority` a range).
    #[serde(with = "priority_name")]
    pub max_priority: Priority,
    pub rules: Vec<String>,
    pub exclude_rules: Vec<String>,
    /// The alert has at least one tag matching one of these.
    pub tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub sources: Vec<String>,
    pub exclude_sources: Vec<String>,
    /// Kubernetes namespaces; `""` matches alerts tied to no namespace.
    pub namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            max_priority: Priority::Emergency,
            rules: Vec::new(),
            exclude_rules: Vec::new(),
            tags: Vec::new(),
            exclude_tags: Vec::new(),
            sources: Vec::new(),
            exclude_sources: Vec::new(),
            namespaces: Vec::new(),
            exclude_namespaces: Vec::new(),
        }
    }
}

/// Where a sink spills alerts so outages and restarts lose nothing that fits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskBufferConfig {
    /// Directory (the sink's files go in `<dir>/<sink>/`); null = memory queue only.
    pub dir: Option<PathBuf>,
    /// Bound on undelivered bytes on disk; new alerts beyond it are dropped and counted.
    pub max_bytes: u64,
}

impl Default for DiskBufferConfig {
    fn default() -> Self {
        DiskBufferConfig {
            dir: None,
            max_bytes: 256 << 20,
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
    /// Message text with Falco field names (`%rule %proc.cmdline`); empty = the alert's output.
    pub template: String,
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
            template: String::new(),
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

/// Prometheus Alertmanager (`POST <url>/api/v2/alerts`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerConfig {
    pub enabled: bool,
    /// Base URLs, e.g. `http://alertmanager:9093`; several for an HA cluster (each gets every alert).
    pub urls: Vec<String>,
    /// `endsAt` is now + this: an alert not seen again resolves after it.
    pub resolve_timeout_secs: u64,
    /// Fixed labels on every alert.
    pub extra_labels: BTreeMap<String, String>,
    pub forward: ForwardConfig,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            enabled: false,
            urls: Vec::new(),
            resolve_timeout_secs: 300,
            extra_labels: BTreeMap::new(),
            forward: ForwardConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    #[default]
    Udp,
    Tcp,
    Tls,
}

/// What follows the RFC 5424 header and structured data.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// The alert's output line.
    #[default]
    Text,
    /// Falco's JSON alert.
    Json,
}

/// Syslog (RFC 5424) over UDP, TCP or TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyslogConfig {
    pub enabled: bool,
    /// `host:port` of the receiver.
    pub address: String,
    pub protocol: SyslogProtocol,
    pub facility: String,
    pub app_name: String,
    pub format: SyslogFormat,
    pub forward: ForwardConfig,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            enabled: false,
            address: String::new(),
            protocol: SyslogProtocol::Udp,
            facility: "local0".to_string(),
            app_name: "falco".to_string(),
            format: SyslogFormat::Text,
            forward: ForwardConfig::default(),
        }
    }
}

/// Forward settings of the chat and e-mail sinks: Warning and above, aggregated.
fn chat_forward() -> ForwardConfig {
    let mut forward = ForwardConfig {
        min_priority: Priority::Warning,
        ..ForwardConfig::default()
    };
    forward.aggregation.enabled = true;
    forward
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    pub enabled: bool,
    /// `https://discord.com/api/webhooks/<id>/<token>`.
    pub webhook_url: String,
    /// Overrides the webhook's name when not empty.
    pub username: String,
    /// Overrides the webhook's avatar when not empty.
    pub avatar_url: String,
    pub forward: ForwardConfig,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            enabled: false,
            webhook_url: String::new(),
            username: "falco-sensor".to_string(),
            avatar_url: String::new(),
            forward: chat_forward(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamsConfig {
    pub enabled: bool,
    /// The HTTP POST URL of a Teams Workflows "post to a channel when a webhook
    /// request is received" flow.
    pub webhook_url: String,
    pub forward: ForwardConfig,
}

impl Default for TeamsConfig {
    fn default() -> Self {
        TeamsConfig {
            enabled: false,
            webhook_url: String::new(),
            forward: chat_forward(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElasticsearchConfig {
    pub enabled: bool,
    /// Base URL of the cluster, e.g. `https://es:9200`; `/_bulk` is appended.
    pub url: String,
    /// Index name; `%Y %m %d %H` (and `%%`) are replaced from the alert time in UTC.
    /// With `data_stream: true`, the data stream's name (no date pattern).
    pub index: String,
    /// Write to a data stream (`op_type: create`, `@timestamp` set) instead of dated indices.
    pub data_stream: bool,
    /// Install the index template (`PUT _index_template/<template_name>`) at start.
    pub install_template: bool,
    pub template_name: String,
    /// `Authorization: ApiKey <api_key>` (the base64 "encoded" value Elasticsearch returns).
    pub api_key: String,
    pub basic_auth: Option<BasicAuth>,
    pub forward: ForwardConfig,
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        ElasticsearchConfig {
            enabled: false,
            url: String::new(),
            index: "falco-%Y.%m.%d".to_string(),
            data_stream: false,
            install_template: true,
            template_name: "falco-sensor".to_string(),
            api_key: String::new(),
            basic_auth: None,
            forward: ForwardConfig {
                batch_size: 500,
                ..ForwardConfig::default()
            },
        }
    }
}

/// How the bucket appears in S3 URLs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum S3UrlStyle {
    /// Virtual-host style on AWS (no `endpoint`), path style on custom endpoints.
    #[default]
    Auto,
    /// `https://endpoint/bucket/key` (MinIO, most S3-compatible servers).
    Path,
    /// `https://bucket.endpoint/key`.
    VirtualHost,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub enabled: bool,
    pub bucket: String,
    /// S3 API endpoint for MinIO, GCS, ... (e.g. `https://storage.googleapis.com`);
    /// empty means AWS (`https://s3.<region>.amazonaws.com`).
    pub endpoint: String,
    pub region: String,
    /// First element of every object key.
    pub prefix: String,
    /// Credentials; empty means AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
    /// AWS_SESSION_TOKEN from the environment.
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub url_style: S3UrlStyle,
    pub forward: ForwardConfig,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            enabled: false,
            bucket: String::new(),
            endpoint: String::new(),
            region: "us-east-1".to_string(),
            prefix: "falco".to_string(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: String::new(),
            url_style: S3UrlStyle::Auto,
            // One object per 1000 alerts or per minute, whichever comes first.
            forward: ForwardConfig {
                batch_size: 1000,
                batch_wait_ms: 60_000,
                ..ForwardConfig::default()
            },
        }
    }
}

/// Transport security of the SMTP connection.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (local relays only).
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Both empty: no authentication.
    pub username: String,
    pub password: String,
    /// `Falco <falco@example.com>` or a bare address.
    pub from: String,
    pub to: Vec<String>,
    /// Put before the subject, e.g. `[prod]`.
    pub subject_prefix: String,
    pub forward: ForwardConfig,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            enabled: false,
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: String::new(),
            from: String::new(),
            to: Vec::new(),
            subject_prefix: String::new(),
            forward: chat_forward(),
        }
    }
}

/// How the NATS sink encodes an alert.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum NatsFormat {
    /// The `falco.v1.Alert` protobuf message, as the gRPC API sends it.
    #[default]
    Protobuf,
    /// Falco's JSON alert.
    Json,
}

/// NATS JetStream: every alert is one message on `subject` (a template),
/// stored in `stream`, deduplicated by its `Nats-Msg-Id` (`<sensor_id>.<seq>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    pub enabled: bool,
    /// Server URL(s), comma-separated: `nats://host:4222`, `tls://host:4222`.
    pub url: String,
    /// Subject template; `{cluster}`, `{hostname}`, `{priority}`, `{rule}`,
    /// `{source}` and `{sensor_id}` are replaced by sanitised tokens.
    pub subject: String,
    /// Subject of response audits (alerts carrying response records), same
    /// placeholders; inside the alert stream so readers see them in order.
    pub response_subject: String,
    /// Presence: the sensor's status (JSON) is published here (core NATS,
    /// not stored) every `status_interval_secs`; 0 turns it off.
    pub status_subject: String,
    pub status_interval_secs: u64,
    pub format: NatsFormat,
    /// JetStream stream the subjects belong to.
    pub stream: String,
    /// Subjects of the stream when the sensor creates it.
    pub stream_subjects: Vec<String>,
    /// Create the stream when it does not exist (else its absence is an error).
    pub create_stream: bool,
    /// Stream limits used when creating it: 0 means unlimited.
    pub max_age_secs: u64,
    pub max_bytes: u64,
    pub replicas: usize,
    /// Window in which the server drops a message whose id it already stored.
    pub duplicate_window_secs: u64,
    /// A `.creds` file (JWT + NKey seed).
    pub creds_file: Option<PathBuf>,
    /// A file holding an NKey seed (`SU...`).
    pub nkey_file: Option<PathBuf>,
    pub token: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// CA bundle (PEM) to verify the server's certificate; implies TLS.
    pub ca_file: Option<PathBuf>,
    /// Require TLS even without `ca_file` (system roots).
    pub tls_required: bool,
    /// `forward.batch_size` is the in-flight window: that many publishes
    /// are sent before their acks are awaited.
    pub forward: ForwardConfig,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            enabled: false,
            url: "nats://127.0.0.1:4222".to_string(),
            subject: "falco.alerts.{cluster}.{hostname}.{priority}".to_string(),
            response_subject: "falco.alerts.{cluster}.{hostname}.response".to_string(),
            status_subject: "falco.status.{cluster}.{hostname}".to_string(),
            status_interval_secs: 5,
            format: NatsFormat::Protobuf,
            stream: "FALCO_ALERTS".to_string(),
            stream_subjects: vec!["falco.alerts.>".to_string()],
            create_stream: true,
            max_age_secs: 7 * 24 * 3600,
            max_bytes: 0,
            replicas: 1,
            duplicate_window_secs: 600,
            creds_file: None,
            nkey_file: None,
            token: None,
            user: None,
            password: None,
            ca_file: None,
            tls_required: false,
            forward: ForwardConfig::default(),
        }
    }
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
