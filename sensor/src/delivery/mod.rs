//! Everything after a rule matched, started in one call: the alert bus, the
//! gRPC API, the metrics endpoint, the Falco interop receiver and every
//! configured sink. The pipeline keeps a `DeliveryHandle` and calls
//! `publish` (sync, never blocks) for each alert.

use crate::api::{self, ApiError, SensorInfo};
use crate::bus::{AlertBus, BusIdentity};
use crate::config::Config;
use crate::metrics::SensorCounters;
use crate::sinks::{self, SinkError};
use falco_proto::v1::{Alert, ResponseRecord};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{key} {addr:?}: cannot listen: {source}")]
    Bind {
        key: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the delivery runtime: {0}")]
    Runtime(std::io::Error),
}

pub struct Delivery;

/// The running delivery side. Dropping it without `shutdown` also stops it,
/// but without flushing the forwarders.
pub struct DeliveryHandle {
    bus: AlertBus,
    grpc_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    interop_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Delivery {
    /// Starts delivery on its own two-thread tokio runtime. Call from plain
    /// (non-async) code such as the detection thread's setup.
    pub fn start(
        cfg: &Config,
        info: Arc<dyn SensorInfo>,
        counters: Arc<SensorCounters>,
    ) -> Result<DeliveryHandle, DeliveryError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("delivery")
            .enable_all()
            .build()
            .map_err(DeliveryError::Runtime)?;
        let mut handle = rt.block_on(Self::start_in(cfg, info, counters))?;
        handle.runtime = Some(rt);
        Ok(handle)
    }

    /// Starts delivery on the current tokio runtime (tests, async callers).
    pub async fn start_in(
        cfg: &Config,
        info: Arc<dyn SensorInfo>,
        counters: Arc<SensorCounters>,
    ) -> Result<DeliveryHandle, DeliveryError> {
        let identity = BusIdentity {
            hostname: if cfg.hostname.is_empty() {
                local_hostname()
            } else {
                cfg.hostname.clone()
            },
            cluster: cfg.cluster.clone(),
            sensor_id: new_sensor_id(),
        };
        let bus = AlertBus::new(identity, cfg.grpc.resume_buffer, counters.clone());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();

        // Bind everything before spawning anything, so a bad address fails start.
        let grpc_listener = if cfg.grpc.enabled {
            Some(api::bind(&cfg.grpc).await?)
        } else {
            None
        };
        let metrics_listener = if cfg.metrics.enabled {
            Some(bind("metrics.listen", &cfg.metrics.listen).await?)
        } else {
            None
        };
        let interop_listener = if cfg.interop.falco_http.enabled {
            Some(bind("interop.falco_http.listen", &cfg.interop.falco_http.listen).await?)
        } else {
            None
        };
        let api_server = if cfg.grpc.enabled {
            Some(api::ApiServer::new(&cfg.grpc)?)
        } else {
            None
        };
        let running = sinks::start_all(&cfg.outputs, &bus)?;
        tasks.extend(running.tasks);
        let nats = &cfg.outputs.nats;
        if nats.enabled && nats.status_interval_secs > 0 {
            tasks.push(tokio::spawn(sinks::nats_status::run(
                nats.clone(),
                bus.clone(),
                info.clone(),
                shutdown_rx.clone(),
            )));
        }

        let local = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
        let (grpc_addr, metrics_addr, interop_addr) = (
            local(&grpc_listener),
            local(&metrics_listener),
            local(&interop_listener),
        );
        if let (Some(listener), Some(server)) = (grpc_listener, api_server) {
            let bus = bus.clone();
            let info = info.clone();
            let mut rx = shutdown_rx.clone();
            tasks.push(tokio::spawn(async move {
                let stop = async move {
                    let _ = rx.wait_for(|v| *v).await;
                };
                if let Err(e) = server.serve(listener, bus, info, stop).await {
                    tracing::error!("gRPC API stopped: {e}");
                }
            }));
        }
        if let Some(listener) = metrics_listener {
            let info = info.clone();
            let health: crate::metrics::server::HealthFn = Arc::new(move || {
                let h = info.version().health;
                if h.is_empty() { "ok".to_string() } else { h }
            });
            tasks.push(tokio::spawn(crate::metrics::server::serve(
                listener,
                counters.clone(),
                health,
                shutdown_rx.clone(),
            )));
        }
        if let Some(listener) = interop_listener {
            let icfg = cfg.interop.falco_http.clone();
            let bus = bus.clone();
            let rx = shutdown_rx.clone();
            tasks.push(tokio::spawn(async move {
                crate::interop::serve(listener, &icfg, bus, rx).await;
            }));
        }
        Ok(DeliveryHandle {
            bus,
            grpc_addr,
            metrics_addr,
            interop_addr,
            shutdown,
            tasks,
            threads: running.threads,
            runtime: None,
        })
    }
}

impl DeliveryHandle {
    /// Publishes one alert; returns its seq. Never blocks on any consumer.
    pub fn publish(&self, alert: Alert) -> u64 {
        self.bus.publish(alert)
    }

    /// Publishes the audit of a response about alert `about_seq`.
    pub fn publish_response(&self, about_seq: u64, records: Vec<ResponseRecord>) -> u64 {
        self.bus.publish_response(about_seq, records)
    }

    pub fn bus(&self) -> &AlertBus {
        &self.bus
    }

    /// Actual bound addresses (useful with port 0).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn interop_addr(&self) -> Option<SocketAddr> {
        self.interop_addr
    }

    /// Stops servers, lets forwarders flush what is queued (bounded by
    /// `grace`, after which they are stopped), and stops the runtime when
    /// `start` created one.
    pub fn shutdown(mut self, grace: Duration) {
        let _ = self.shutdown.send(true);
        self.bus.close_sinks();
        let mut tasks = std::mem::take(&mut self.tasks);
        let wait = async move {
            let _ = tokio::time::timeout(grace, async {
                for t in &mut tasks {
                    let _ = t.await;
                }
            })
            .await;
            // A forwarder still retrying after the grace period is stopped
            // (its disk buffer, if any, keeps what it had not delivered).
            for t in &tasks {
                t.abort();
            }
        };
        match self.runtime.take() {
            Some(rt) => {
                rt.block_on(wait);
                rt.shutdown_timeout(Duration::from_millis(100));
            }
            None => {
                tokio::spawn(wait);
            }
        }
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

impl Drop for DeliveryHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn bind(key: &'static str, addr: &str) -> Result<TcpListener, DeliveryError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DeliveryError::Bind {
            key,
            addr: addr.to_string(),
            source,
        })
}

fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Random per-process id, so clients can tell a restarted sensor (whose seq
/// restarted at 1) from the one they were reading.
fn new_sensor_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| {
            let ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
            format!("{:x}-{:x}", std::process::id(), ns)
        })
}
