//! Forwarders fed from the bus, one queue each: stdout, file, Loki, Slack,
//! webhook, Alertmanager, syslog, Discord, Teams, Elasticsearch, S3, SMTP,
//! NATS JetStream. Common batching/retry/backoff lives in `forward`, routing
//! in `route`, the disk buffer in `disk_buffer`, message templates in
//! `template`, the HTTP client in `http`, renderings in `format`, noise
//! control in `aggregate`, chat-text escaping in `chat`.
//!
//! A new sink needs only its encoder (and a transport when it is not one
//! HTTP URL) and a `start_worker` call: routing, the disk buffer,
//! aggregation, retries and metrics come with the `forward` settings.

pub mod aggregate;
pub mod alertmanager;
pub mod aws_credentials;
pub mod chat;
pub mod discord;
pub mod disk_buffer;
pub mod elasticsearch;
pub mod format;
pub mod forward;
pub mod http;
pub mod lines;
pub mod loki;
pub mod nats;
pub mod nats_status;
pub mod route;
pub mod s3;
pub mod slack;
pub mod smtp;
pub mod syslog;
pub mod teams;
pub mod template;
pub mod webhook;

use crate::bus::AlertBus;
use crate::config::{ForwardConfig, OutputsConfig};
use forward::{Encoder, EncoderSend, SinkWorker, Transport};
use http::HttpClient;
use std::sync::Arc;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    #[error("{key}: TLS setup: {message}")]
    Tls { key: String, message: String },
    #[error("cannot start sink thread: {0}")]
    Spawn(String),
    #[error("{key}.forward.disk_buffer: {source}")]
    DiskBuffer {
        key: String,
        source: disk_buffer::DiskBufferError,
    },
}

/// Running sinks: async forwarders and line-writer threads.
#[derive(Default)]
pub struct RunningSinks {
    pub tasks: Vec<JoinHandle<()>>,
    pub threads: Vec<std::thread::JoinHandle<()>>,
}

/// Starts every enabled sink on the current tokio runtime, each with its own
/// bus queue. Fails (naming the key) before any alert flows if one is misconfigured.
pub fn start_all(cfg: &OutputsConfig, bus: &AlertBus) -> Result<RunningSinks, SinkError> {
    let mut running = RunningSinks::default();
    let counters = bus.counters();
    if cfg.stdout.enabled {
        let c = counters.sink("stdout");
        let rx = bus.add_sink(
            cfg.stdout.min_priority,
            cfg.stdout.queue_capacity,
            c.clone(),
        );
        running.threads.push(lines::spawn_writer(
            "stdout",
            Box::new(std::io::stdout()),
            cfg.stdout.format,
            rx,
            c,
        )?);
    }
    if cfg.file.enabled {
        let file = lines::open_file(&cfg.file.path)?;
        let c = counters.sink("file");
        let rx = bus.add_sink(cfg.file.min_priority, cfg.file.queue_capacity, c.clone());
        running.threads.push(lines::spawn_writer(
            "file",
            Box::new(std::io::BufWriter::new(file)),
            cfg.file.format,
            rx,
            c,
        )?);
    }
    if cfg.loki.enabled {
        let target = loki::target(&cfg.loki)?;
        running.tasks.push(start_forwarder(
            "loki",
            "outputs.loki",
            bus,
            &cfg.loki.forward,
            target,
            loki::LokiEncoder::new(&cfg.loki),
        )?);
    }
    if cfg.slack.enabled {
        let target = slack::target(&cfg.slack)?;
        running.tasks.push(start_forwarder(
            "slack",
            "outputs.slack",
            bus,
            &cfg.slack.forward,
            target,
            slack::SlackEncoder::new(&cfg.slack)?,
        )?);
    }
    if cfg.webhook.enabled {
        let target = webhook::target(&cfg.webhook)?;
        running.tasks.push(start_forwarder(
            "webhook",
            "outputs.webhook",
            bus,
            &cfg.webhook.forward,
            target,
            webhook::WebhookEncoder,
        )?);
    }
    if cfg.alertmanager.enabled {
        let opts = &cfg.alertmanager.forward;
        let transport = alertmanager::FanOut {
            client: HttpClient::new(
                "outputs.alertmanager",
                opts.tls_verify,
                opts.ca_file.as_deref(),
            )?,
            targets: alertmanager::targets(&cfg.alertmanager)?,
        };
        running.tasks.push(start_worker(
            "alertmanager",
            "outputs.alertmanager",
            bus,
            opts,
            alertmanager::AlertmanagerEncoder::new(&cfg.alertmanager),
            transport,
        )?);
    }
    if cfg.syslog.enabled {
        running.tasks.push(start_worker(
            "syslog",
            "outputs.syslog",
            bus,
            &cfg.syslog.forward,
            syslog::SyslogEncoder::new(&cfg.syslog)?,
            syslog::SyslogTransport::new(&cfg.syslog)?,
        )?);
    }
    if cfg.discord.enabled {
        let target = discord::target(&cfg.discord)?;
        running.tasks.push(start_forwarder(
            "discord",
            "outputs.discord",
            bus,
            &cfg.discord.forward,
            target,
            discord::DiscordEncoder::new(&cfg.discord),
        )?);
    }
    if cfg.teams.enabled {
        let target = teams::target(&cfg.teams)?;
        running.tasks.push(start_forwarder(
            "teams",
            "outputs.teams",
            bus,
            &cfg.teams.forward,
            target,
            teams::TeamsEncoder::new(&cfg.teams),
        )?);
    }
    if cfg.elasticsearch.enabled {
        let target = elasticsearch::target(&cfg.elasticsearch)?;
        running.tasks.push(start_forwarder(
            "elasticsearch",
            "outputs.elasticsearch",
            bus,
            &cfg.elasticsearch.forward,
            target,
            elasticsearch::ElasticsearchEncoder::new(&cfg.elasticsearch)?,
        )?);
    }
    if cfg.s3.enabled {
        let target = s3::target(&cfg.s3)?;
        running.tasks.push(start_forwarder(
            "s3",
            "outputs.s3",
            bus,
            &cfg.s3.forward,
            target,
            s3::S3Encoder::new(&cfg.s3)?,
        )?);
    }
    if cfg.smtp.enabled {
        running.tasks.push(start_forwarder(
            "smtp",
            "outputs.smtp",
            bus,
            &cfg.smtp.forward,
            smtp::target(&cfg.smtp),
            smtp::SmtpEncoder::new(&cfg.smtp, &bus.identity().hostname)?,
        )?);
    }
    if cfg.nats.enabled {
        nats::check_urls(&cfg.nats.url)?;
        nats::SubjectTemplate::new("outputs.nats.status_subject", &cfg.nats.status_subject)?;
        running.tasks.push(start_worker(
            "nats",
            "outputs.nats",
            bus,
            &cfg.nats.forward,
            nats::NatsEncoder::new(&cfg.nats)?,
            nats::NatsTransport::new(&cfg.nats),
        )?);
    }
    Ok(running)
}

/// Starts an HTTP forwarder posting to `target`.
fn start_forwarder<E: Encoder>(
    name: &str,
    key: &str,
    bus: &AlertBus,
    opts: &ForwardConfig,
    target: http::HttpTarget,
    encoder: E,
) -> Result<JoinHandle<()>, SinkError> {
    let client = HttpClient::new(key, opts.tls_verify, opts.ca_file.as_deref())?;
    // The encoder delivers its own payloads: a plain POST unless the sink
    // replaces it (S3, Elasticsearch, SMTP).
    let encoder = Arc::new(encoder);
    let transport = EncoderSend {
        encoder: encoder.clone(),
        client,
        target,
    };
    start_worker(name, key, bus, opts, encoder, transport)
}

/// Registers the sink on the bus with its routing, opens its disk buffer
/// (failing the start, naming the key, when it cannot), and spawns the
/// shared forwarding loop. `name` is the sink's metrics label and the
/// disk buffer's subdirectory.
pub fn start_worker<E: Encoder, T: Transport>(
    name: &str,
    key: &str,
    bus: &AlertBus,
    opts: &ForwardConfig,
    encoder: E,
    transport: T,
) -> Result<JoinHandle<()>, SinkError> {
    let counters = bus.counters().sink(name);
    let disk = forward::open_disk_buffer(name, opts, &counters).map_err(|source| {
        SinkError::DiskBuffer {
            key: key.to_string(),
            source,
        }
    })?;
    let route = route::Route::from_config(opts);
    let admits: Option<crate::bus::SinkFilter> = (!route.is_priority_only())
        .then(|| Arc::new(move |a: &falco_proto::v1::Alert| route.admits(a)) as _);
    let rx = bus.add_filtered_sink(
        opts.min_priority,
        admits,
        opts.queue_capacity,
        counters.clone(),
    );
    let worker = SinkWorker {
        name: name.to_string(),
        encoder,
        transport,
        opts: opts.clone(),
        counters,
        disk,
    };
    Ok(tokio::spawn(worker.run(rx)))
}
