//! A sensor over gRPC: connect, subscribe, and on any failure reconnect with
//! exponential backoff, resuming after the last sequence number received so a
//! restarted stream loses nothing the sensor still holds.

use crate::alert::AlertRecord;
use crate::event::{AppEvent, Event, SensorUpdate, SensorUpdateKind};
use crate::sanitize::sanitized;
use falco_proto::v1::sensor_service_client::SensorServiceClient;
use falco_proto::v1::subscribe_response::Payload;
use falco_proto::v1::{
    GetStatsRequest, GetStatsResponse, GetVersionRequest, GetVersionResponse, PutRulesFileRequest,
    PutRulesFileResponse, SubscribeRequest,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const STATS_EVERY: Duration = Duration::from_secs(2);
/// Sensors send heartbeats every few seconds; silence this long means a dead path
/// (e.g. a half-open port-forward) that TCP alone would not notice for minutes.
const STALL_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("sensor {target}: {what}")]
    Config { target: String, what: String },
    #[error("sensor {target}: cannot connect: {source}")]
    Connect {
        target: String,
        source: tonic::transport::Error,
    },
    #[error("sensor {target}: {rpc}: {status}")]
    Rpc {
        target: String,
        rpc: &'static str,
        status: String,
    },
    #[error("sensor {target}: no message for {0:?}; reconnecting", STALL_AFTER)]
    Stalled { target: String },
}

/// TLS material for a sensor connection (mTLS when cert and key are given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Name to verify in the sensor's certificate instead of the address's host.
    pub server_name: Option<String>,
}

/// How to reach one sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorTarget {
    /// Shown in the sensors view (the address or the pod it was forwarded from).
    pub name: String,
    /// `HOST:PORT` or a full `http(s)://` URL.
    pub address: String,
    pub tls: Option<TlsOptions>,
    pub token: Option<String>,
}

impl SensorTarget {
    pub fn plain(address: &str) -> Self {
        SensorTarget {
            name: address.to_string(),
            address: address.to_string(),
            tls: None,
            token: None,
        }
    }

    fn url(&self) -> String {
        if self.address.contains("://") {
            self.address.clone()
        } else if self.tls.is_some() {
            format!("https://{}", self.address)
        } else {
            format!("http://{}", self.address)
        }
    }

    fn config_err(&self, what: impl Into<String>) -> SourceError {
        SourceError::Config {
            target: self.name.clone(),
            what: what.into(),
        }
    }
}

/// A connected client that adds the bearer token to every call.
#[derive(Clone)]
pub struct SensorClient {
    inner: SensorServiceClient<Channel>,
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
    name: String,
}

impl SensorClient {
    pub async fn connect(target: &SensorTarget) -> Result<Self, SourceError> {
        let mut endpoint = Endpoint::from_shared(target.url())
            .map_err(|e| target.config_err(format!("bad address {:?}: {e}", target.address)))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        if let Some(tls) = &target.tls {
            let mut cfg = ClientTlsConfig::new();
            if let Some(name) = &tls.server_name {
                cfg = cfg.domain_name(name.clone());
            }
            if let Some(ca) = &tls.ca {
                let pem = std::fs::read(ca)
                    .map_err(|e| target.config_err(format!("--tls-ca {}: {e}", ca.display())))?;
                cfg = cfg.ca_certificate(Certificate::from_pem(pem));
            }
            match (&tls.cert, &tls.key) {
                (Some(c), Some(k)) => {
                    let cert = std::fs::read(c).map_err(|e| {
                        target.config_err(format!("--tls-cert {}: {e}", c.display()))
                    })?;
                    let key = std::fs::read(k).map_err(|e| {
                        target.config_err(format!("--tls-key {}: {e}", k.display()))
                    })?;
                    cfg = cfg.identity(Identity::from_pem(cert, key));
                }
                (None, None) => {}
                _ => return Err(target.config_err("--tls-cert and --tls-key go together")),
            }
            endpoint = endpoint
                .tls_config(cfg)
                .map_err(|e| target.config_err(format!("TLS: {e}")))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| SourceError::Connect {
                target: target.name.clone(),
                source,
            })?;
        let token = match &target.token {
            Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| {
                target.config_err("--token has characters not allowed in a header")
            })?),
            None => None,
        };
        Ok(SensorClient {
            inner: SensorServiceClient::new(channel),
            token,
            name: target.name.clone(),
        })
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(t) = &self.token {
            req.metadata_mut().insert("authorization", t.clone());
        }
        req
    }

    fn rpc_err(&self, rpc: &'static str, s: tonic::Status) -> SourceError {
        SourceError::Rpc {
            target: self.name.clone(),
            rpc,
            status: sanitized(&format!("{:?}: {}", s.code(), s.message())),
        }
    }

    pub async fn version(&mut self) -> Result<GetVersionResponse, SourceError> {
        let req = self.request(GetVersionRequest {});
        self.inner
            .get_version(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| self.rpc_err("GetVersion", s))
    }

    pub async fn stats(&mut self) -> Result<GetStatsResponse, SourceError> {
        let req = self.request(GetStatsRequest {});
        self.inner
            .get_stats(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| self.rpc_err("GetStats", s))
    }

    pub async fn put_rules_file(
        &mut self,
        name: &str,
        content: &str,
    ) -> Result<PutRulesFileResponse, SourceError> {
        let req = self.request(PutRulesFileRequest {
            name: name.to_string(),
            content: content.to_string(),
        });
        self.inner
            .put_rules_file(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| self.rpc_err("PutRulesFile", s))
    }

    pub async fn subscribe(
        &mut self,
        req: SubscribeRequest,
    ) -> Result<tonic::Streaming<falco_proto::v1::SubscribeResponse>, SourceError> {
        let req = self.request(req);
        self.inner
            .subscribe(req)
            .await
            .map(|r| r.into_inner())
            .map_err(|s| self.rpc_err("Subscribe", s))
    }
}

/// Resume position carried across reconnects.
#[derive(Debug, Default)]
struct Cursor {
    /// Store key of the sensor instance (its sensor_id, else the target name).
    key: Option<String>,
    last_seq: u64,
}

enum SessionEnd {
    /// The server closed the stream (Detached or end of stream): reconnect now.
    Closed,
    /// The UI is gone: stop.
    Shutdown,
}

/// Runs one sensor source until the receiving side of `tx` is dropped.
/// `resume` maps sensor keys to the last seq already stored (from a previous run).
pub async fn run_sensor(
    target: SensorTarget,
    resume: HashMap<String, u64>,
    tx: mpsc::Sender<Event>,
) {
    let mut cursor = Cursor::default();
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if !send(&tx, &target, SensorUpdateKind::Connecting { attempt }).await {
            return;
        }
        match session(&target, &resume, &mut cursor, &tx, &mut backoff).await {
            Ok(SessionEnd::Shutdown) => return,
            Ok(SessionEnd::Closed) => tokio::time::sleep(FIRST_BACKOFF).await,
            Err(e) => {
                let retry_in_ms = backoff.as_millis() as u64;
                let update = SensorUpdateKind::Disconnected {
                    error: e.to_string(),
                    retry_in_ms,
                };
                if !send(&tx, &target, update).await {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn send(tx: &mpsc::Sender<Event>, target: &SensorTarget, kind: SensorUpdateKind) -> bool {
    tx.send(Event::App(AppEvent::Sensor(SensorUpdate {
        source: target.name.clone(),
        kind,
    })))
    .await
    .is_ok()
}

async fn session(
    target: &SensorTarget,
    resume: &HashMap<String, u64>,
    cursor: &mut Cursor,
    tx: &mpsc::Sender<Event>,
    backoff: &mut Duration,
) -> Result<SessionEnd, SourceError> {
    let mut client = SensorClient::connect(target).await?;
    let version = client.version().await?;
    let key = if version.sensor_id.is_empty() {
        target.name.clone()
    } else {
        sanitized(&version.sensor_id)
    };
    if cursor.key.as_deref() != Some(key.as_str()) {
        // A different sensor instance (first connect, or the sensor restarted):
        // its sequence numbers start over, so resume only from what we stored for it.
        cursor.last_seq = resume.get(&key).copied().unwrap_or(0);
        cursor.key = Some(key.clone());
    }
    let mut stream = client
        .subscribe(SubscribeRequest {
            since_seq: cursor.last_seq,
            from_oldest: cursor.last_seq == 0,
            ..Default::default()
        })
        .await?;
    *backoff = FIRST_BACKOFF;
    let connected = SensorUpdateKind::Connected {
        version: Box::new(version),
        resumed_from: cursor.last_seq,
    };
    if !send(tx, target, connected).await {
        return Ok(SessionEnd::Shutdown);
    }
    let mut stats_tick = tokio::time::interval(STATS_EVERY);
    let mut stats_client = client.clone();
    loop {
        let msg = tokio::select! {
            m = tokio::time::timeout(STALL_AFTER, stream.message()) => m,
            _ = stats_tick.tick() => {
                if let Ok(s) = stats_client.stats().await
                    && !send(tx, target, SensorUpdateKind::Stats(Box::new(s))).await
                {
                    return Ok(SessionEnd::Shutdown);
                }
                continue;
            }
        };
        let msg = match msg {
            Err(_) => {
                return Err(SourceError::Stalled {
                    target: target.name.clone(),
                });
            }
            Ok(Err(status)) => return Err(client.rpc_err("Subscribe", status)),
            Ok(Ok(None)) => return Ok(SessionEnd::Closed),
            Ok(Ok(Some(m))) => m,
        };
        let update = match msg.payload {
            Some(Payload::Alert(a)) => {
                if a.seq <= cursor.last_seq {
                    continue;
                }
                cursor.last_seq = a.seq;
                let rec = AlertRecord::from_proto(&key, &a);
                if tx
                    .send(Event::App(AppEvent::Alert(Box::new(rec))))
                    .await
                    .is_err()
                {
                    return Ok(SessionEnd::Shutdown);
                }
                continue;
            }
            Some(Payload::Gap(g)) => SensorUpdateKind::Gap {
                first: g.first_missing_seq,
                last: g.last_missing_seq,
                reason: sanitized(&g.reason),
            },
            Some(Payload::Detached(d)) => {
                let update = SensorUpdateKind::Detached {
                    reason: sanitized(&d.reason),
                };
                if !send(tx, target, update).await {
                    return Ok(SessionEnd::Shutdown);
                }
                return Ok(SessionEnd::Closed);
            }
            Some(Payload::Heartbeat(h)) => SensorUpdateKind::Heartbeat {
                time_ns: h.time_ns,
                last_seq: h.last_seq,
            },
            None => continue,
        };
        if !send(tx, target, update).await {
            return Ok(SessionEnd::Shutdown);
        }
    }
}
