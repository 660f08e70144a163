//! A fleet over NATS JetStream: the sensors' NATS sink stores every alert
//! in a stream (`FALCO_ALERTS`, subjects
//! `falco.alerts.<cluster>.<hostname>.<priority>`); this source reads it
//! with an ordered consumer, from a start time (`--since`), from a stream
//! sequence (resume), or only new alerts, filtered by cluster and node on
//! the server. The consumer is recreated after any failure from the last
//! stream sequence seen, so a server restart loses and repeats nothing.
//!
//! Alerts are stored under `nats:<cluster>/<hostname>@<sensor id prefix>`, so
//! the store's `UNIQUE(sensor, seq)` deduplicates by (sensor id, seq), and a
//! restarted console resumes from what it stored (`resume_start`).

use crate::alert::AlertRecord;
use crate::event::{AppEvent, Event, SensorUpdate, SensorUpdateKind};
use crate::sanitize::sanitized;
use async_nats::jetstream::{self, consumer};
use falco_proto::v1::Alert;
use prost::Message as _;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum NatsSourceError {
    #[error("NATS {url}: {what}")]
    Config { url: String, what: String },
    #[error("NATS {url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    #[error("NATS {url}: stream {stream}: {message}")]
    Stream {
        url: String,
        stream: String,
        message: String,
    },
}

/// Where in the stream to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Only alerts stored from now on.
    New,
    /// Everything the stream holds.
    All,
    /// Alerts stored at or after this time (Unix ns).
    Since(i64),
    /// Resume after this stream sequence.
    After(u64),
}

#[derive(Debug, Clone)]
pub struct NatsOptions {
    pub url: String,
    pub stream: String,
    pub creds: Option<PathBuf>,
    pub token: Option<String>,
    pub ca: Option<PathBuf>,
    pub cluster: Option<String>,
    pub node: Option<String>,
    pub start: Start,
}

impl NatsOptions {
    pub fn new(url: &str) -> Self {
        NatsOptions {
            url: url.to_string(),
            stream: "FALCO_ALERTS".to_string(),
            creds: None,
            token: None,
            ca: None,
            cluster: None,
            node: None,
            start: Start::New,
        }
    }

    /// `falco.alerts.<cluster|*>.<node|*>.>`: the filter runs on the server.
    pub fn filter_subject(&self) -> String {
        let tok = |v: &Option<String>| v.as_deref().map_or("*".to_string(), token);
        format!("falco.alerts.{}.{}.>", tok(&self.cluster), tok(&self.node))
    }

    /// The name shown for this source.
    pub fn name(&self) -> String {
        format!("nats {}", self.url)
    }
}

/// The sensor sink's token sanitising, so `--cluster prod.eu` finds what a
/// sensor with cluster `prod.eu` published.
fn token(value: &str) -> String {
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

/// The store key of an alert read from NATS.
pub fn source_key(a: &Alert) -> String {
    let sid: String = a.sensor_id.chars().take(8).collect();
    format!("{KEY_PREFIX}{}/{}@{sid}", a.cluster, a.hostname)
}

const KEY_PREFIX: &str = "nats:";

/// How far before the latest stored alert a restarted console starts
/// reading: covers clock skew between sensors and the NATS server.
pub const RESUME_MARGIN: Duration = Duration::from_secs(60);

/// Where a restarted console resumes: at the latest event time it stored
/// from this source's clusters, minus `RESUME_MARGIN`, by stored time.
/// Every alert it stored was in the stream at or before its read, and an
/// alert's event time is before its stored time, so nothing stored after
/// the last read is skipped; the overlap is read again and the store keeps
/// one copy per (sensor id, seq). Nothing stored yet: the whole stream.
pub fn resume_start(
    store: &crate::store::Store,
    opts: &NatsOptions,
) -> Result<Start, crate::store::StoreError> {
    let prefix = match &opts.cluster {
        Some(c) => format!("{KEY_PREFIX}{c}/"),
        None => KEY_PREFIX.to_string(),
    };
    let margin = i64::try_from(RESUME_MARGIN.as_nanos()).unwrap_or(i64::MAX);
    Ok(match store.latest_time_ns(&prefix)? {
        Some(t) => Start::Since(t.saturating_sub(margin)),
        None => Start::All,
    })
}

pub async fn connect(opts: &NatsOptions) -> Result<jetstream::Context, NatsSourceError> {
    let mut c = match &opts.creds {
        Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| NatsSourceError::Config {
                url: opts.url.clone(),
                what: format!("--nats-creds {}: {e}", path.display()),
            })?,
        None => async_nats::ConnectOptions::new(),
    };
    if let Some(t) = &opts.token {
        c = c.token(t.clone());
    }
    if let Some(ca) = &opts.ca {
        c = c.add_root_certificates(ca.clone()).require_tls(true);
    }
    let client = c
        .name("falco-console")
        .connection_timeout(Duration::from_secs(5))
        .connect(opts.url.as_str())
        .await
        .map_err(|e| NatsSourceError::Connect {
            url: opts.url.clone(),
            message: e.to_string(),
        })?;
    Ok(jetstream::new(client))
}

/// One decoded alert and its stream sequence.
pub struct Received {
    pub stream_seq: u64,
    pub alert: Alert,
}

/// Reads the stream from `start` until the stream or the channel ends;
/// returns the last stream sequence delivered.
async fn session(
    js: &jetstream::Context,
    opts: &NatsOptions,
    start: Start,
    out: &mpsc::Sender<Received>,
) -> Result<u64, NatsSourceError> {
    let stream_err = |message: String| NatsSourceError::Stream {
        url: opts.url.clone(),
        stream: opts.stream.clone(),
        message,
    };
    let stream = js
        .get_stream(&opts.stream)
        .await
        .map_err(|e| stream_err(e.to_string()))?;
    let deliver_policy = match start {
        Start::New => consumer::DeliverPolicy::New,
        Start::All => consumer::DeliverPolicy::All,
        Start::Since(ns) => consumer::DeliverPolicy::ByStartTime {
            start_time: async_nats::datetime::from_nanos(i128::from(ns))
                .map_err(|e| stream_err(format!("--since: {e}")))?,
        },
        Start::After(seq) => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
    };
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: opts.filter_subject(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| stream_err(format!("consumer: {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| stream_err(format!("consumer: {e}")))?;
    let mut last = match start {
        Start::After(s) => s,
        _ => 0,
    };
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| stream_err(e.to_string()))?;
        let Ok(info) = m.info() else { continue };
        let seq = info.stream_sequence;
        if seq <= last {
            continue;
        }
        last = seq;
        // A body that is not an Alert (a JSON-format sensor) is skipped:
        // the console reads the protobuf format.
        let Ok(alert) = Alert::decode(m.payload.clone()) else {
            continue;
        };
        if out
            .send(Received {
                stream_seq: seq,
                alert,
            })
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(last)
}

/// Reads alerts until `out` closes, reconnecting with backoff and resuming
/// after the last stream sequence. Failures go to `errors` (one line each).
pub async fn run(opts: NatsOptions, out: mpsc::Sender<Received>, errors: mpsc::Sender<String>) {
    let mut start = opts.start;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let result = match connect(&opts).await {
            Ok(js) => session(&js, &opts, start, &out).await,
            Err(e) => Err(e),
        };
        if out.is_closed() {
            return;
        }
        match result {
            Ok(last) => {
                if last > 0 {
                    start = Start::After(last);
                }
                backoff = FIRST_BACKOFF;
            }
            Err(e) => {
                if errors
                    .send(format!("{e} (retry in {} ms)", backoff.as_millis()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Runs the source for the app: alerts become `AppEvent::Alert`, failures a
/// `Disconnected` update of the source.
pub async fn run_events(opts: NatsOptions, tx: mpsc::Sender<Event>) {
    let name = opts.name();
    let (atx, mut arx) = mpsc::channel::<Received>(1024);
    let (etx, mut erx) = mpsc::channel::<String>(16);
    tokio::spawn(run(opts, atx, etx));
    loop {
        let ev = tokio::select! {
            r = arx.recv() => match r {
                Some(r) => Event::App(AppEvent::Alert(Box::new(AlertRecord::from_proto(
                    &source_key(&r.alert),
                    &r.alert,
                )))),
                None => return,
            },
            e = erx.recv() => match e {
                Some(e) => Event::App(AppEvent::Sensor(SensorUpdate {
                    source: name.clone(),
                    kind: SensorUpdateKind::Disconnected {
                        error: sanitized(&e),
                        retry_in_ms: 0,
                    },
                })),
                None => return,
            },
        };
        if tx.send(ev).await.is_err() {
            return;
        }
    }
}

/// `12h`, `30m`, `45s`, `2d` as a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?}: add a unit (s, m, h, d)"))?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number then s, m, h or d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (s, m, h, d)")),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_subject_and_durations() {
        let mut o = NatsOptions::new("nats://x:4222");
        assert_eq!(o.filter_subject(), "falco.alerts.*.*.>");
        o.cluster = Some("prod.eu".into());
        assert_eq!(o.filter_subject(), "falco.alerts.prod_eu.*.>");
        o.node = Some("node-1".into());
        assert_eq!(o.filter_subject(), "falco.alerts.prod_eu.node-1.>");
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43200)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert!(parse_duration("12").is_err());
        assert!(parse_duration("3w").is_err());
    }
}
