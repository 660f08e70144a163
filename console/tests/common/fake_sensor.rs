//! A real tonic server implementing SensorService on 127.0.0.1, with a resume
//! buffer the test controls, so the console's gRPC source is tested over the wire.
#![allow(dead_code, clippy::unwrap_used)]

use falco_proto::v1::sensor_service_server::{SensorService, SensorServiceServer};
use falco_proto::v1::subscribe_response::Payload;
use falco_proto::v1::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

#[derive(Default)]
pub struct State {
    pub sensor_id: String,
    /// Alerts the sensor still holds (its resume buffer), in seq order.
    pub held: Vec<Alert>,
    /// Highest seq ever assigned (held or evicted).
    pub last_seq: u64,
    pub subscribes: Vec<SubscribeRequest>,
    pub put_files: Vec<PutRulesFileRequest>,
    pub actions_enabled: bool,
}

#[derive(Clone)]
pub struct FakeSensor {
    pub state: Arc<Mutex<State>>,
    live: broadcast::Sender<Alert>,
    /// Bumped to end every open stream (a dropped connection).
    kill: watch::Sender<u64>,
}

pub fn alert(seq: u64, rule: &str) -> Alert {
    Alert {
        seq,
        time_ns: 1_714_559_400_000_000_000 + seq as i64,
        priority: Priority::Warning as i32,
        rule: rule.into(),
        output: format!("{rule} #{seq}"),
        hostname: "node-1".into(),
        source: "syscall".into(),
        kubernetes: Some(KubernetesContext {
            namespace: "default".into(),
            pod_name: "web-1".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl FakeSensor {
    pub fn new(sensor_id: &str) -> Self {
        FakeSensor {
            state: Arc::new(Mutex::new(State {
                sensor_id: sensor_id.into(),
                ..Default::default()
            })),
            live: broadcast::channel(1024).0,
            kill: watch::channel(0).0,
        }
    }

    /// Assigns the next seq, keeps it in the buffer and streams it to subscribers.
    pub fn emit(&self, rule: &str) -> u64 {
        self.emit_with(rule, |_| {})
    }

    /// An alert from now, of process `proc` in an nginx container (noise).
    pub fn emit_now(&self, rule: &str, proc: &str) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        self.emit_with(rule, |a| {
            a.time_ns = now;
            a.process = Some(ProcessContext {
                name: proc.into(),
                cmdline: format!("{proc} -i"),
                ..Default::default()
            });
            a.container = Some(ContainerContext {
                id: "3f2a9c1b7d40".into(),
                image_repository: "docker.io/library/nginx".into(),
                ..Default::default()
            });
        })
    }

    fn emit_with(&self, rule: &str, edit: impl FnOnce(&mut Alert)) -> u64 {
        let a = {
            let mut s = self.state.lock().unwrap();
            s.last_seq += 1;
            let mut a = alert(s.last_seq, rule);
            edit(&mut a);
            s.held.push(a.clone());
            a
        };
        let _ = self.live.send(a.clone());
        a.seq
    }

    /// Drops held alerts below `seq` (as if the ring buffer rolled over).
    pub fn evict_below(&self, seq: u64) {
        self.state.lock().unwrap().held.retain(|a| a.seq >= seq);
    }

    pub fn drop_streams(&self) {
        self.kill.send_modify(|g| *g += 1);
    }

    /// Serves on `addr` (127.0.0.1:0 for a fresh port) until the handle is stopped.
    pub async fn serve(&self, addr: SocketAddr) -> Server {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let svc = SensorServiceServer::new(self.clone());
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        Server {
            addr,
            task,
            sensor: self.clone(),
        }
    }
}

/// TLS material and the bearer token a secured fake sensor requires.
pub struct Security {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// When set, client certificates signed by this CA are required (mTLS).
    pub client_ca_pem: Option<Vec<u8>>,
    pub token: String,
}

impl FakeSensor {
    /// Like `serve`, over TLS (mTLS when a client CA is given) and requiring
    /// `authorization: Bearer <token>` on every call.
    pub async fn serve_secure(&self, addr: SocketAddr, sec: Security) -> Server {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let expected = format!("Bearer {}", sec.token);
        let svc =
            SensorServiceServer::with_interceptor(self.clone(), move |req: Request<()>| match req
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
            {
                Some(v) if v == expected => Ok(req),
                _ => Err(Status::unauthenticated("bad or missing token")),
            });
        let mut tls =
            ServerTlsConfig::new().identity(Identity::from_pem(sec.cert_pem, sec.key_pem));
        if let Some(ca) = sec.client_ca_pem {
            tls = tls.client_ca_root(Certificate::from_pem(ca));
        }
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .tls_config(tls)
                .unwrap()
                .add_service(svc)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await;
        });
        Server {
            addr,
            task,
            sensor: self.clone(),
        }
    }
}

pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    sensor: FakeSensor,
}

impl Server {
    /// Stops accepting and ends every open stream: a restart or a dropped link.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        self.sensor.drop_streams();
    }
}

#[tonic::async_trait]
impl SensorService for FakeSensor {
    type SubscribeStream = ReceiverStream<Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let req = request.into_inner();
        // Register for live alerts before reading the buffer so nothing falls between.
        let mut live = self.live.subscribe();
        let mut kill = self.kill.subscribe();
        let (replay, last_seq, gap) = {
            let mut s = self.state.lock().unwrap();
            s.subscribes.push(req.clone());
            let first_held = s.held.first().map(|a| a.seq).unwrap_or(s.last_seq + 1);
            let gap = (req.since_seq > 0 && req.since_seq + 1 < first_held)
                .then(|| (req.since_seq + 1, first_held - 1));
            let replay: Vec<Alert> = s
                .held
                .iter()
                .filter(|a| {
                    if req.since_seq > 0 {
                        a.seq > req.since_seq
                    } else {
                        req.from_oldest
                    }
                })
                .cloned()
                .collect();
            (replay, s.last_seq, gap)
        };
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            let msg = |p| Ok(SubscribeResponse { payload: Some(p) });
            if let Some((first, last)) = gap {
                let g = Gap {
                    first_missing_seq: first,
                    last_missing_seq: last,
                    reason: "evicted".into(),
                };
                if tx.send(msg(Payload::Gap(g))).await.is_err() {
                    return;
                }
            }
            let mut sent = 0;
            for a in replay {
                sent = a.seq;
                if tx.send(msg(Payload::Alert(a))).await.is_err() {
                    return;
                }
            }
            let hb = Heartbeat {
                time_ns: 1_714_559_400_000_000_000,
                last_seq,
            };
            if tx.send(msg(Payload::Heartbeat(hb))).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    // a dropped link must not deliver anything emitted after the drop
                    biased;
                    _ = kill.changed() => return,
                    a = live.recv() => match a {
                        Ok(a) if a.seq > sent => {
                            sent = a.seq;
                            if tx.send(msg(Payload::Alert(a))).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    },
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_stats(
        &self,
        _: Request<GetStatsRequest>,
    ) -> Result<Response<GetStatsResponse>, Status> {
        let s = self.state.lock().unwrap();
        Ok(Response::new(GetStatsResponse {
            uptime_seconds: 42,
            rules_loaded: 90,
            rules_enabled: 88,
            events_seen: 123_456,
            kernel_drops: 7,
            last_seq: s.last_seq,
            rules: vec![RuleStats {
                rule: "Terminal shell in container".into(),
                priority: Priority::Notice as i32,
                alerts: s.last_seq,
            }],
            ..Default::default()
        }))
    }

    async fn list_rules(
        &self,
        _: Request<ListRulesRequest>,
    ) -> Result<Response<ListRulesResponse>, Status> {
        Ok(Response::new(ListRulesResponse::default()))
    }

    async fn get_version(
        &self,
        _: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        let s = self.state.lock().unwrap();
        Ok(Response::new(GetVersionResponse {
            version: "0.1.0-fake".into(),
            api_version: "v1".into(),
            hostname: "node-1".into(),
            kernel: "6.18.0".into(),
            health: "ok".into(),
            sensor_id: s.sensor_id.clone(),
            cluster: String::new(),
            actions_enabled: s.actions_enabled,
        }))
    }

    async fn run_action(
        &self,
        _: Request<RunActionRequest>,
    ) -> Result<Response<RunActionResponse>, Status> {
        Err(Status::permission_denied("actions disabled"))
    }

    async fn put_rules_file(
        &self,
        request: Request<PutRulesFileRequest>,
    ) -> Result<Response<PutRulesFileResponse>, Status> {
        let req = request.into_inner();
        self.state.lock().unwrap().put_files.push(req);
        Ok(Response::new(PutRulesFileResponse {
            applied: true,
            ..Default::default()
        }))
    }
}
