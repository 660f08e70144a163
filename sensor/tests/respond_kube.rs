//! delete-pod, isolate-pod and label-pod against a local HTTP server on
//! 127.0.0.1 that answers like the Kubernetes API server: the requests the
//! real kube client sends are checked, and API errors (403, 404) and a server
//! that never answers come back as failed records with the status.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use bytes::Bytes;
use falco_proto::v1::{
    Alert, ContainerContext, KubernetesContext, Priority, ProcessContext, ResponseRecord,
};
use falco_sensor::respond::{
    KubeSource, Responder, ResponderDeps, ResponseConfig, ResponseReport, SelfIdentity,
};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, mpsc};

/// One request as the fake API server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    content_type: String,
    body: Value,
}

type Reply = Box<dyn Fn(&Seen) -> (u16, Value) + Send + Sync>;

/// A fake API server on its own thread and runtime.
struct FakeApi {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeApi {
    fn start(reply: Reply) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let reply = Arc::new(reply);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let seen = seen2.clone();
                    let reply = reply.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(
                            move |req: Request<hyper::body::Incoming>| {
                                let seen = seen.clone();
                                let reply = reply.clone();
                                async move {
                                    let method = req.method().to_string();
                                    let path = req.uri().to_string();
                                    let content_type = req
                                        .headers()
                                        .get("content-type")
                                        .map(|v| v.to_str().unwrap().to_string())
                                        .unwrap_or_default();
                                    let raw = req.into_body().collect().await?.to_bytes();
                                    let body = if raw.is_empty() {
                                        Value::Null
                                    } else {
                                        serde_json::from_slice(&raw).unwrap()
                                    };
                                    let s = Seen {
                                        method,
                                        path,
                                        content_type,
                                        body,
                                    };
                                    let (code, out) = reply(&s);
                                    seen.lock().unwrap().push(s);
                                    let resp = Response::builder()
                                        .status(StatusCode::from_u16(code).unwrap())
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(out.to_string())))
                                        .unwrap();
                                    Ok::<_, hyper::Error>(resp)
                                }
                            },
                        );
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        FakeApi { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn pod_json(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "uid": "uid-1", "resourceVersion": "7"}})
}

/// Runs one alert through an ips responder pointed at `url` and returns the worker's records.
fn respond(url: &str, extra_cfg: &str, actions: &str) -> Vec<ResponseRecord> {
    let cfg: ResponseConfig = serde_yaml::from_str(&format!(
        "mode: ips\naction_timeout_seconds: 1\n{extra_cfg}\npolicies: [{{name: p, actions: [{actions}]}}]"
    ))
    .unwrap();
    let (tx, rx) = mpsc::channel::<ResponseReport>();
    let tx = Mutex::new(tx);
    let deps = ResponderDeps {
        runtime: None,
        kube: KubeSource::Config(Box::new(kube::Config::new(url.parse().unwrap()))),
        identity: SelfIdentity::detect(),
        sink: Arc::new(move |r| {
            let _ = tx.lock().unwrap().send(r);
        }),
    };
    let responder = Responder::start(cfg, deps).unwrap();
    let alert = Alert {
        seq: 42,
        priority: Priority::Critical as i32,
        rule: "Terminal shell in container".into(),
        process: Some(ProcessContext {
            pid: 999_999_999,
            name: "bash".into(),
            ..Default::default()
        }),
        container: Some(ContainerContext {
            id: "0123456789ab".into(),
            full_id: format!("0123456789ab{}", "0".repeat(52)),
            ..Default::default()
        }),
        kubernetes: Some(KubernetesContext {
            namespace: "prod".into(),
            pod_name: "web-1".into(),
            pod_uid: "uid-1".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(responder.submit(&alert).is_empty(), "queued, no guard hit");
    responder.shutdown();
    rx.try_iter().map(|r| r.record).collect()
}

fn url(api: &FakeApi) -> String {
    format!("http://{}", api.addr)
}

#[test]
fn delete_pod_sends_delete_with_grace_period_and_uid_precondition() {
    let api = FakeApi::start(Box::new(|_| (200, pod_json("prod", "web-1"))));
    let records = respond(
        &url(&api),
        "delete_pod: {grace_period_seconds: 5}",
        "delete-pod",
    );
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "taken", "{:?}", records[0]);
    assert!(
        records[0]
            .detail
            .contains("deleted pod prod/web-1 (grace period 5s)")
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "DELETE");
    assert_eq!(
        seen[0].path.split('?').next().unwrap(),
        "/api/v1/namespaces/prod/pods/web-1"
    );
    assert_eq!(seen[0].body["gracePeriodSeconds"], 5);
    assert_eq!(seen[0].body["preconditions"]["uid"], "uid-1");
}

#[test]
fn label_pod_sends_a_merge_patch() {
    let api = FakeApi::start(Box::new(|_| (200, pod_json("prod", "web-1"))));
    let records = respond(
        &url(&api),
        "label_pod: {labels: {security.example.com/review: pending, quarantine: \"yes\"}}",
        "label-pod",
    );
    assert_eq!(records[0].outcome, "taken", "{:?}", records[0]);
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(
        seen[0].path.split('?').next().unwrap(),
        "/api/v1/namespaces/prod/pods/web-1"
    );
    assert_eq!(seen[0].content_type, "application/merge-patch+json");
    assert_eq!(
        seen[0].body,
        json!({"metadata": {"labels": {"security.example.com/review": "pending", "quarantine": "yes"}}})
    );
}

#[test]
fn isolate_pod_creates_a_deny_all_policy_then_labels_the_pod() {
    let api = FakeApi::start(Box::new(|s| match s.method.as_str() {
        "POST" => (201, s.body.clone()),
        _ => (200, pod_json("prod", "web-1")),
    }));
    let records = respond(&url(&api), "", "isolate-pod");
    assert_eq!(records[0].outcome, "taken", "{:?}", records[0]);
    assert!(
        records[0]
            .detail
            .contains("created deny-all networkpolicy falco-sensor-isolate")
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].path.split('?').next().unwrap(),
        "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies"
    );
    let np = &seen[0].body;
    assert_eq!(np["kind"], "NetworkPolicy");
    assert_eq!(np["metadata"]["name"], "falco-sensor-isolate");
    assert_eq!(
        np["spec"]["podSelector"],
        json!({"matchLabels": {"falco-sensor.io/isolated": "true"}})
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(np["spec"].get("ingress").is_none() && np["spec"].get("egress").is_none());
    assert_eq!(seen[1].method, "PATCH");
    assert_eq!(seen[1].content_type, "application/merge-patch+json");
    assert_eq!(
        seen[1].body,
        json!({"metadata": {"labels": {"falco-sensor.io/isolated": "true"}}})
    );
}

#[test]
fn isolate_pod_replaces_an_existing_policy() {
    let api = FakeApi::start(Box::new(|s| match s.method.as_str() {
        "POST" => (
            409,
            status(
                409,
                "AlreadyExists",
                "networkpolicies \"falco-sensor-isolate\" already exists",
            ),
        ),
        "PUT" => (200, s.body.clone()),
        _ => (200, pod_json("prod", "web-1")),
    }));
    let records = respond(&url(&api), "", "isolate-pod");
    assert_eq!(records[0].outcome, "taken", "{:?}", records[0]);
    assert!(
        records[0]
            .detail
            .contains("replaced deny-all networkpolicy")
    );
    let seen = api.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, vec!["POST", "PUT", "PATCH"]);
    assert_eq!(
        seen[1].path.split('?').next().unwrap(),
        "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/falco-sensor-isolate"
    );
    // Unconditional update (no resourceVersion): RBAC needs `update`, not `get`.
    assert!(seen[1].body["metadata"].get("resourceVersion").is_none());
    assert_eq!(
        seen[1].body["spec"]["policyTypes"],
        json!(["Ingress", "Egress"])
    );
}

#[test]
fn forbidden_is_reported_with_the_status() {
    let api = FakeApi::start(Box::new(|_| {
        (
            403,
            status(
                403,
                "Forbidden",
                "pods \"web-1\" is forbidden: User \"system:serviceaccount:falco-sensor:falco-sensor\" cannot delete resource \"pods\"",
            ),
        )
    }));
    let records = respond(&url(&api), "", "delete-pod, label-pod, isolate-pod");
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(r.outcome, "failed", "{r:?}");
        assert!(r.detail.contains("HTTP 403 Forbidden"), "{}", r.detail);
        assert!(r.detail.contains("cannot delete resource"), "{}", r.detail);
    }
    assert!(
        records[0]
            .detail
            .starts_with("kubernetes API delete pod prod/web-1")
    );
    assert!(
        records[2]
            .detail
            .starts_with("kubernetes API create networkpolicy prod/falco-sensor-isolate")
    );
}

#[test]
fn not_found_is_reported_with_the_status() {
    let api = FakeApi::start(Box::new(|_| {
        (404, status(404, "NotFound", "pods \"web-1\" not found"))
    }));
    let records = respond(&url(&api), "", "delete-pod, label-pod");
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.outcome, "failed", "{r:?}");
        assert!(
            r.detail
                .contains("HTTP 404 NotFound: pods \"web-1\" not found"),
            "{}",
            r.detail
        );
    }
}

#[test]
fn a_server_that_never_answers_times_out() {
    // Accepts connections and reads nothing back: the request hangs.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let records = respond(&format!("http://{addr}"), "", "delete-pod");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "failed");
    assert!(
        records[0].detail.starts_with("timed out after 1s"),
        "{}",
        records[0].detail
    );
}

#[test]
fn an_unreachable_api_is_reported() {
    // Bind then drop: nothing listens on this port any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let records = respond(&format!("http://{addr}"), "", "label-pod");
    assert_eq!(records[0].outcome, "failed");
    assert!(
        records[0]
            .detail
            .starts_with("kubernetes API label pod prod/web-1: "),
        "{}",
        records[0].detail
    );
}
