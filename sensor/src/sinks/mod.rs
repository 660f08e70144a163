//! Forwarders fed from the bus, one queue each: stdout, file, Loki, Slack,
//! webhook, Discord, Teams, Elasticsearch, S3, SMTP. Common batching, retry
//! and backoff live in `forward`, the HTTP client in `http`, renderings in
//! `format`, noise control in `aggregate`, chat-text escaping in `chat`.

pub mod aggregate;
pub mod aws_credentials;
pub mod chat;
pub mod discord;
pub mod elasticsearch;
pub mod format;
pub mod forward;
pub mod http;
pub mod lines;
pub mod loki;
pub mod s3;
pub mod slack;
pub mod smtp;
pub mod teams;
pub mod webhook;

use crate::bus::AlertBus;
use crate::config::{ForwardConfig, OutputsConfig};
use forward::{Encoder, Forwarder};
use http::HttpClient;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    #[error("{key}: TLS setup: {message}")]
    Tls { key: String, message: String },
    #[error("cannot start sink thread: {0}")]
    Spawn(String),
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
            slack::SlackEncoder::new(&cfg.slack),
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
    Ok(running)
}

fn start_forwarder<E: Encoder>(
    name: &str,
    key: &str,
    bus: &AlertBus,
    opts: &ForwardConfig,
    target: http::HttpTarget,
    encoder: E,
) -> Result<JoinHandle<()>, SinkError> {
    let client = HttpClient::new(key, opts.tls_verify, opts.ca_file.as_deref())?;
    let counters = bus.counters().sink(name);
    let rx = bus.add_sink(opts.min_priority, opts.queue_capacity, counters.clone());
    let fwd = Forwarder {
        name: name.to_string(),
        encoder,
        client,
        target,
        opts: opts.clone(),
        counters,
    };
    Ok(tokio::spawn(fwd.run(rx)))
}
