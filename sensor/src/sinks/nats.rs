//! NATS JetStream: every alert is one message on a subject rendered from a
//! template (`falco.alerts.<cluster>.<hostname>.<priority>` by default),
//! stored in a stream (`FALCO_ALERTS`), with `Nats-Msg-Id` =
//! `<sensor_id>.<seq>` so the server drops a copy it already stored: a
//! retried batch, or a disk-buffer replay after a restart, is stored once.
//!
//! It runs on the shared forwarding worker like every other sink: one batch
//! becomes one payload framing that many messages, and the transport
//! publishes them all before awaiting their acks, so `forward.batch_size`
//! is the in-flight window. Publishes go out in order on one connection,
//! so a batch cut short by a dropped connection stored a prefix of it; the
//! retry stores the rest, keeping per-sensor order.

use super::SinkError;
use super::aggregate::Item;
use super::format::falco_json;
use super::forward::{Encoder, Payload, Transport};
use super::http::PostOutcome;
use crate::config::{NatsConfig, NatsFormat};
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use bytes::{BufMut, Bytes, BytesMut};
use falco_proto::v1::Alert;
use prost::Message as _;
use std::time::Duration;

/// Why the sink cannot reach its stream; every message names the server.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("outputs.nats: cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("outputs.nats: cannot read {what} {path}: {message}")]
    Credentials {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error(
        "outputs.nats: stream {stream} does not exist on {url} and outputs.nats.create_stream is false"
    )]
    NoStream { url: String, stream: String },
    #[error("outputs.nats: stream {stream} on {url}: {message}")]
    Stream {
        url: String,
        stream: String,
        message: String,
    },
}

/// The subject template, rendered per alert with sanitised tokens.
#[derive(Clone, Debug)]
pub struct SubjectTemplate {
    template: String,
}

const PLACEHOLDERS: [&str; 6] = [
    "{cluster}",
    "{hostname}",
    "{priority}",
    "{rule}",
    "{source}",
    "{sensor_id}",
];

impl SubjectTemplate {
    /// Checks that the template renders to a valid publish subject: no
    /// empty token, no wildcard, no whitespace outside placeholders.
    pub fn new(key: &str, template: &str) -> Result<Self, SinkError> {
        let t = SubjectTemplate {
            template: template.to_string(),
        };
        let sample = t.render(&Alert::default());
        let bad = sample.is_empty()
            || sample
                .split('.')
                .any(|tok| tok.is_empty() || tok == "*" || tok == ">")
            || sample.chars().any(|c| c.is_whitespace() || c.is_control());
        if bad {
            return Err(SinkError::Config {
                key: key.into(),
                message: format!(
                    "{template:?} does not render to a valid subject (got {sample:?}): tokens separated by single dots, no wildcards or spaces"
                ),
            });
        }
        Ok(t)
    }

    pub fn render(&self, a: &Alert) -> String {
        let mut out = self.template.clone();
        for p in PLACEHOLDERS {
            if !out.contains(p) {
                continue;
            }
            let value = match p {
                "{cluster}" => a.cluster.clone(),
                "{hostname}" => a.hostname.clone(),
                "{priority}" => a.priority().falco_name().to_ascii_lowercase(),
                "{rule}" => a.rule.clone(),
                "{source}" => a.source.clone(),
                _ => a.sensor_id.clone(),
            };
            out = out.replace(p, &token(&value));
        }
        out
    }
}

/// Every comma-separated server address parses (`nats://`, `tls://`,
/// `host:port`), so a typo fails the start instead of every retry.
pub fn check_urls(urls: &str) -> Result<(), SinkError> {
    for u in urls.split(',').map(str::trim) {
        u.parse::<async_nats::ServerAddr>()
            .map_err(|e| SinkError::Config {
                key: "outputs.nats.url".into(),
                message: format!("{u:?}: {e}"),
            })?;
    }
    Ok(())
}

/// One subject token: a value never adds a level or a wildcard.
pub fn token(value: &str) -> String {
    if value.is_empty() {
        return "_".to_string();
    }
    value
        .chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// The deduplication id: unique per sensor and alert.
pub fn message_id(a: &Alert) -> String {
    let who = if a.sensor_id.is_empty() {
        &a.hostname
    } else {
        &a.sensor_id
    };
    format!("{who}.{}", a.seq)
}

/// One message of a framed batch.
#[derive(Debug, PartialEq)]
pub struct Framed {
    pub subject: String,
    pub id: String,
    pub body: Bytes,
}

pub struct NatsEncoder {
    subject: SubjectTemplate,
    responses: SubjectTemplate,
    format: NatsFormat,
}

impl NatsEncoder {
    pub fn new(cfg: &NatsConfig) -> Result<Self, SinkError> {
        Ok(NatsEncoder {
            subject: SubjectTemplate::new("outputs.nats.subject", &cfg.subject)?,
            responses: SubjectTemplate::new(
                "outputs.nats.response_subject",
                &cfg.response_subject,
            )?,
            format: cfg.format,
        })
    }
}

impl Encoder for NatsEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        let mut buf = BytesMut::new();
        for item in batch {
            let a = &item.alert;
            let body = match self.format {
                NatsFormat::Protobuf => a.encode_to_vec(),
                NatsFormat::Json => falco_json(item).to_string().into_bytes(),
            };
            let subject = if a.responses.is_empty() {
                &self.subject
            } else {
                &self.responses
            };
            put_field(&mut buf, subject.render(a).as_bytes());
            put_field(&mut buf, message_id(a).as_bytes());
            put_field(&mut buf, &body);
        }
        vec![Payload {
            body: buf.freeze(),
            alerts: batch.iter().map(|i| i.count).sum(),
        }]
    }
}

fn put_field(buf: &mut BytesMut, bytes: &[u8]) {
    buf.put_u32(bytes.len() as u32);
    buf.put_slice(bytes);
}

/// Splits a payload made by `NatsEncoder` back into its messages.
pub fn unframe(mut body: Bytes) -> Vec<Framed> {
    fn field(body: &mut Bytes) -> Option<Bytes> {
        if body.len() < 4 {
            return None;
        }
        let n = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
        if body.len() < 4 + n {
            return None;
        }
        let _ = body.split_to(4);
        Some(body.split_to(n))
    }
    let mut out = Vec::new();
    while !body.is_empty() {
        let (Some(s), Some(id), Some(b)) = (field(&mut body), field(&mut body), field(&mut body))
        else {
            break;
        };
        out.push(Framed {
            subject: String::from_utf8_lossy(&s).into_owned(),
            id: String::from_utf8_lossy(&id).into_owned(),
            body: b,
        });
    }
    out
}

/// Connects with the configured authentication and TLS, and makes sure the
/// stream exists (creating it when allowed).
pub async fn connect(cfg: &NatsConfig) -> Result<jetstream::Context, NatsError> {
    let client = connect_client(cfg).await?;
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_millis(cfg.forward.timeout_ms.max(100)));
    ensure_stream(&js, cfg, cfg.url.trim()).await?;
    Ok(js)
}

/// A plain NATS connection with the configured authentication and TLS.
pub async fn connect_client(cfg: &NatsConfig) -> Result<async_nats::Client, NatsError> {
    let url = cfg.url.trim().to_string();
    let mut opts = match &cfg.creds_file {
        Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| NatsError::Credentials {
                what: "creds_file",
                path: path.display().to_string(),
                message: e.to_string(),
            })?,
        None => async_nats::ConnectOptions::new(),
    };
    if let Some(path) = &cfg.nkey_file {
        let seed = std::fs::read_to_string(path).map_err(|e| NatsError::Credentials {
            what: "nkey_file",
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        opts = opts.nkey(seed.trim().to_string());
    }
    if let Some(token) = &cfg.token {
        opts = opts.token(token.clone());
    }
    if let (Some(u), Some(p)) = (&cfg.user, &cfg.password) {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(ca) = &cfg.ca_file {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    } else if cfg.tls_required {
        opts = opts.require_tls(true);
    }
    opts.name("falco-sensor")
        .connection_timeout(Duration::from_millis(cfg.forward.timeout_ms.max(100)))
        .connect(url.as_str())
        .await
        .map_err(|e| NatsError::Connect {
            url: url.clone(),
            message: e.to_string(),
        })
}

async fn ensure_stream(
    js: &jetstream::Context,
    cfg: &NatsConfig,
    url: &str,
) -> Result<(), NatsError> {
    let stream_err = |message: String| NatsError::Stream {
        url: url.to_string(),
        stream: cfg.stream.clone(),
        message,
    };
    match js.get_stream(&cfg.stream).await {
        Ok(_) => return Ok(()),
        Err(e) => {
            let missing = matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
                if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND);
            if !missing {
                return Err(stream_err(format!(
                    "{e} (is JetStream enabled on the server?)"
                )));
            }
        }
    }
    if !cfg.create_stream {
        return Err(NatsError::NoStream {
            url: url.to_string(),
            stream: cfg.stream.clone(),
        });
    }
    let config = stream::Config {
        name: cfg.stream.clone(),
        subjects: cfg.stream_subjects.clone(),
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(cfg.max_age_secs),
        max_bytes: if cfg.max_bytes == 0 {
            -1
        } else {
            i64::try_from(cfg.max_bytes).unwrap_or(i64::MAX)
        },
        num_replicas: cfg.replicas.max(1),
        duplicate_window: Duration::from_secs(cfg.duplicate_window_secs.max(1)),
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| stream_err(format!("cannot create it: {e}")))?;
    tracing::info!(sink = "nats", "created stream {} on {url}", cfg.stream);
    Ok(())
}

/// Publishes framed batches, connecting (again) when needed.
pub struct NatsTransport {
    cfg: NatsConfig,
    js: tokio::sync::Mutex<Option<jetstream::Context>>,
}

impl NatsTransport {
    pub fn new(cfg: &NatsConfig) -> Self {
        NatsTransport {
            cfg: cfg.clone(),
            js: tokio::sync::Mutex::new(None),
        }
    }

    async fn context(&self) -> Result<jetstream::Context, NatsError> {
        let mut slot = self.js.lock().await;
        if let Some(js) = slot.as_ref() {
            return Ok(js.clone());
        }
        let js = connect(&self.cfg).await?;
        *slot = Some(js.clone());
        Ok(js)
    }

    async fn publish_all(&self, js: &jetstream::Context, body: Bytes) -> PostOutcome {
        let mut acks = Vec::new();
        for m in unframe(body) {
            let msg = jetstream::message::PublishMessage::build()
                .payload(m.body)
                .message_id(&m.id);
            match js.send_publish(m.subject.clone(), msg).await {
                Ok(ack) => acks.push(ack),
                Err(e) if matches!(e.kind(), PublishErrorKind::MaxPayloadExceeded) => {
                    tracing::warn!(
                        sink = "nats",
                        "dropping alert {} on {}: {e}",
                        m.id,
                        m.subject
                    );
                }
                Err(e) => return PostOutcome::Retry(format!("{}: publish: {e}", self.cfg.url)),
            }
        }
        for ack in acks {
            match ack.await {
                Ok(_) => {}
                Err(e) if matches!(e.kind(), PublishErrorKind::StreamNotFound) => {
                    // Deleted under us, or the subject is outside the stream:
                    // check (and maybe create) it again before the retry.
                    *self.js.lock().await = None;
                    return PostOutcome::Retry(format!(
                        "{}: no stream takes the subject (stream {}): {e}",
                        self.cfg.url, self.cfg.stream
                    ));
                }
                Err(e) => return PostOutcome::Retry(format!("{}: ack: {e}", self.cfg.url)),
            }
        }
        PostOutcome::Accepted
    }
}

impl Transport for NatsTransport {
    async fn send(&self, body: Bytes) -> PostOutcome {
        let js = match self.context().await {
            Ok(js) => js,
            Err(e) => {
                tracing::error!(sink = "nats", "{e}");
                return PostOutcome::Retry(e.to_string());
            }
        };
        // Publishes may wait for a reconnect; the whole window has one deadline.
        let deadline = Duration::from_millis(self.cfg.forward.timeout_ms.max(100));
        match tokio::time::timeout(deadline, self.publish_all(&js, body)).await {
            Ok(outcome) => outcome,
            Err(_) => PostOutcome::Retry(format!("{}: no ack within {deadline:?}", self.cfg.url)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use falco_proto::v1::Priority;
    use std::sync::Arc;

    fn alert() -> Alert {
        Alert {
            seq: 7,
            sensor_id: "s-1".into(),
            cluster: "prod.eu".into(),
            hostname: "node a>*".into(),
            priority: Priority::Warning as i32,
            rule: "Terminal shell".into(),
            ..Default::default()
        }
    }

    #[test]
    fn subject_tokens_are_sanitised() {
        let t = SubjectTemplate::new("k", "falco.alerts.{cluster}.{hostname}.{priority}").unwrap();
        assert_eq!(t.render(&alert()), "falco.alerts.prod_eu.node_a__.warning");
        assert!(t.render(&Alert::default()).starts_with("falco.alerts._._."));
        assert!(SubjectTemplate::new("k", "falco..{rule}").is_err());
        assert!(SubjectTemplate::new("k", "falco.>").is_err());
        assert!(SubjectTemplate::new("k", "falco alerts").is_err());
    }

    #[test]
    fn server_urls_are_checked() {
        assert!(check_urls("nats://a:4222, tls://b:4222").is_ok());
        let e = check_urls("nats://a:4222,http://b")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("outputs.nats.url") && e.contains("http://b"),
            "{e}"
        );
    }

    #[test]
    fn frames_round_trip_with_ids() {
        let enc = NatsEncoder::new(&NatsConfig::default()).unwrap();
        let mut b = alert();
        b.seq = 8;
        let p = enc.encode(&[Item::single(Arc::new(alert())), Item::single(Arc::new(b))]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].alerts, 2);
        let msgs = unframe(p[0].body.clone());
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].id, "s-1.7");
        assert_eq!(msgs[1].id, "s-1.8");
        let back = Alert::decode(msgs[1].body.clone()).unwrap();
        assert_eq!(back.seq, 8);
        assert_eq!(back.rule, "Terminal shell");
    }
}
