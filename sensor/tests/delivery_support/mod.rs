//! Shared helpers for the delivery integration tests: a SensorInfo for
//! tests, config with ephemeral ports, alert builders, a capturing HTTP
//! receiver speaking plain HTTP/1 on 127.0.0.1, and a test PKI.
#![allow(dead_code, clippy::unwrap_used)]

use bytes::Bytes;
use falco_proto::v1::*;
use falco_sensor::api::SensorInfo;
use falco_sensor::config::Config;
use falco_sensor::http_server::{respond, serve};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Starts the delivery stack for `cfg` with gRPC and metrics off (the
/// sinks and the bus only).
pub async fn start_delivery(cfg: &Config) -> falco_sensor::delivery::DeliveryHandle {
    let mut cfg = cfg.clone();
    cfg.grpc.enabled = false;
    cfg.metrics.enabled = false;
    falco_sensor::delivery::Delivery::start_in(
        &cfg,
        TestInfo::new(),
        falco_sensor::metrics::SensorCounters::new(),
    )
    .await
    .unwrap()
}

/// Upper bound on any wait, so a broken build fails instead of hanging.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

pub struct TestInfo {
    pub actions: Mutex<Vec<RunActionRequest>>,
}

impl TestInfo {
    pub fn new() -> Arc<TestInfo> {
        Arc::new(TestInfo {
            actions: Mutex::new(Vec::new()),
        })
    }
}

impl SensorInfo for TestInfo {
    fn fill_stats(&self, stats: &mut GetStatsResponse) {
        stats.rules_loaded = 3;
        stats.rules_enabled = 2;
    }
    fn rules(&self) -> Vec<RuleInfo> {
        vec![RuleInfo {
            name: "Terminal shell in container".into(),
            priority: Priority::Notice as i32,
            enabled: true,
            ..Default::default()
        }]
    }
    fn version(&self) -> GetVersionResponse {
        GetVersionResponse {
            health: "ok".into(),
            kernel: "test".into(),
            ..Default::default()
        }
    }
    fn run_action(&self, req: RunActionRequest) -> Result<ResponseRecord, tonic::Status> {
        let rec = ResponseRecord {
            action: req.action.clone(),
            outcome: "dry-run".into(),
            detail: req.reason.clone(),
            time_ns: 1,
            alert_seq: req.alert_seq,
        };
        self.actions.lock().unwrap().push(req);
        Ok(rec)
    }
    fn put_rules_file(&self, req: PutRulesFileRequest) -> PutRulesFileResponse {
        PutRulesFileResponse {
            applied: req.content.contains("rule"),
            ..Default::default()
        }
    }
}

/// Defaults with every listener on an ephemeral loopback port and stdout off.
pub fn test_config() -> Config {
    let mut cfg = Config {
        hostname: "node-a".into(),
        cluster: "test-cluster".into(),
        ..Config::default()
    };
    cfg.grpc.listen = "127.0.0.1:0".into();
    cfg.metrics.listen = "127.0.0.1:0".into();
    cfg.interop.falco_http.listen = "127.0.0.1:0".into();
    cfg.outputs.stdout.enabled = false;
    cfg
}

pub fn alert(rule: &str, p: Priority, ns: &str, cmdline: &str) -> Alert {
    let mut fields: HashMap<String, String> = HashMap::new();
    fields.insert("proc.cmdline".into(), cmdline.into());
    fields.insert(
        "container.id".into(),
        if ns.is_empty() {
            "host".into()
        } else {
            "0123456789ab".into()
        },
    );
    fields.insert("container.name".into(), "<NA>".into());
    fields.insert("container.image.repository".into(), "<NA>".into());
    fields.insert(
        "k8s.ns.name".into(),
        if ns.is_empty() {
            "<NA>".into()
        } else {
            ns.into()
        },
    );
    fields.insert(
        "k8s.pod.name".into(),
        if ns.is_empty() {
            "<NA>".into()
        } else {
            "web-1".into()
        },
    );
    Alert {
        time_ns: 1_714_557_600_000_000_000,
        priority: p as i32,
        rule: rule.into(),
        output: format!("{rule} by {cmdline}"),
        source: "syscall".into(),
        tags: vec!["shell".into(), "mitre_execution".into()],
        kubernetes: (!ns.is_empty()).then(|| KubernetesContext {
            namespace: ns.into(),
            pod_name: "web-1".into(),
            ..Default::default()
        }),
        output_fields: fields,
        event_type: "execve".into(),
        ..Default::default()
    }
}

/// One captured HTTP request.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
}

/// A local HTTP receiver that records every request and answers `status`.
pub struct Receiver {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Captured>>>,
    pub status: Arc<AtomicU16>,
    stop: watch::Sender<bool>,
}

impl Receiver {
    pub async fn start(addr: &str) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (stop, stop_rx) = watch::channel(false);
        let (r, s) = (requests.clone(), status.clone());
        let handler = move |req: hyper::Request<hyper::body::Incoming>| {
            let (r, s) = (r.clone(), s.clone());
            async move {
                let path = req.uri().path().to_string();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let code = s.load(Ordering::SeqCst);
                if code == 200 {
                    r.lock().unwrap().push(Captured {
                        path,
                        headers,
                        body,
                    });
                }
                respond(hyper::StatusCode::from_u16(code).unwrap(), "text/plain", "")
            }
        };
        tokio::spawn(serve(listener, handler, stop_rx));
        Receiver {
            addr,
            requests,
            status,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn taken(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// Polls `cond` until it holds; panics (naming `what`) after HANG_GUARD.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < HANG_GUARD, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A CA, a server cert for localhost/127.0.0.1, a client cert from the same
/// CA, and a client cert from an unrelated CA; all PEM files in a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    pub client_cert: String,
    pub client_key: String,
    pub rogue_cert: String,
    pub rogue_key: String,
}

impl Pki {
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let ca_params = {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p
        };
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: Vec<String>, issuer: &rcgen::Issuer<'_, KeyPair>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, issuer)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()], &ca);
        let (client_cert, client_key) = leaf(vec!["console".into()], &ca);
        let rogue_ca_params = {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p
        };
        let rogue_ca =
            CertifiedIssuer::self_signed(rogue_ca_params, KeyPair::generate().unwrap()).unwrap();
        let (rogue_cert, rogue_key) = leaf(vec!["console".into()], &rogue_ca);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), &server_cert).unwrap();
        std::fs::write(dir.path().join("server.key"), &server_key).unwrap();
        Pki {
            dir,
            ca_pem: ca.pem(),
            client_cert,
            client_key,
            rogue_cert,
            rogue_key,
        }
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}
