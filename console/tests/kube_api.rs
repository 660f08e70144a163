//! Pod drilldown, discovery and delete against a local HTTP server speaking the
//! Kubernetes API's JSON, reached through a kubeconfig written by the test.
#![allow(clippy::unwrap_used)]

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_console::app::{App, Overlay, PodTab, View};
use falco_console::event::{AppEvent, Event};
use falco_console::kube::{self, Kube};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    auth: Option<String>,
}

fn pod_json(ns: &str, name: &str, node: &str, phase: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": ns, "uid": "u-1",
            "labels": {"app": "web", "evil": "x\u{1b}[2Jy"},
            "annotations": {"team": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f", "uid": "rs-1"}]
        },
        "spec": {"nodeName": node, "containers": [
            {"name": "web", "image": "nginx:1.27"},
            {"name": "sidecar", "image": "envoy:1.30"}
        ]},
        "status": {
            "phase": phase, "podIP": "10.244.0.12", "startTime": "2024-05-01T09:00:00Z",
            "containerStatuses": [
                {"name": "web", "image": "nginx:1.27", "imageID": "", "ready": true, "restartCount": 2,
                 "state": {"running": {"startedAt": "2024-05-01T09:00:01Z"}}},
                {"name": "sidecar", "image": "envoy:1.30", "imageID": "", "ready": false, "restartCount": 5,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]
        }
    })
}

fn route(method: &str, target: &str) -> (u16, String, &'static str) {
    let path = target.split('?').next().unwrap_or_default();
    let j = |v: serde_json::Value| (200, v.to_string(), "application/json");
    match (method, path) {
        ("GET", "/api/v1/namespaces/default/pods/web-1") => {
            j(pod_json("default", "web-1", "node-1", "Running"))
        }
        ("DELETE", "/api/v1/namespaces/default/pods/web-1") => {
            j(pod_json("default", "web-1", "node-1", "Running"))
        }
        ("GET", "/api/v1/namespaces/default/events") => j(json!({
            "apiVersion": "v1", "kind": "EventList", "metadata": {},
            "items": [
                {"metadata": {"name": "e1", "namespace": "default"},
                 "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
                 "type": "Warning", "reason": "BackOff", "count": 3,
                 "message": "Back-off restarting failed container sidecar",
                 "lastTimestamp": "2024-05-01T10:00:00Z"},
                {"metadata": {"name": "e0", "namespace": "default"},
                 "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
                 "type": "Normal", "reason": "Started", "count": 1,
                 "message": "Started container web",
                 "lastTimestamp": "2024-05-01T09:00:01Z"}
            ]
        })),
        ("GET", "/api/v1/namespaces/default/pods/web-1/log") => (
            200,
            "GET / 200\nGET /admin 403 \u{1b}]0;pwned\u{7}\n".to_string(),
            "text/plain",
        ),
        ("GET", "/api/v1/namespaces/falco/pods") => j(json!({
            "apiVersion": "v1", "kind": "PodList", "metadata": {},
            "items": [
                pod_json("falco", "falco-sensor-a", "node-1", "Running"),
                pod_json("falco", "falco-sensor-b", "node-2", "Running"),
                pod_json("falco", "falco-sensor-c", "node-3", "Pending")
            ]
        })),
        _ => (
            404,
            json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                   "message": format!("{path} not found"), "reason": "NotFound", "code": 404})
            .to_string(),
            "application/json",
        ),
    }
}

/// One request per connection (`Connection: close`), enough for kube's client.
async fn serve(listener: TcpListener, seen: Arc<Mutex<Vec<Seen>>>) {
    while let Ok((mut sock, _)) = listener.accept().await {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap_or_default().split(' ');
            let method = first.next().unwrap_or_default().to_string();
            let target = first.next().unwrap_or_default().to_string();
            let mut len = 0usize;
            let mut auth = None;
            for l in lines {
                if let Some((k, v)) = l.split_once(':') {
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => len = v.trim().parse().unwrap_or(0),
                        "authorization" => auth = Some(v.trim().to_string()),
                        _ => {}
                    }
                }
            }
            while buf.len() < head_end + len {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let (status, body, ctype) = route(&method, &target);
            seen.lock().unwrap().push(Seen {
                method,
                target,
                auth,
            });
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

async fn fake_cluster() -> (Kube, Arc<Mutex<Vec<Seen>>>, tempfile::TempDir) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(listener, seen.clone()));
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: fake-ctx\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake-ctx\nusers:\n- name: fake\n  user:\n    token: test-token\n"
        ),
    )
    .unwrap();
    let kube = Kube::connect(Some(&kc), None).await.unwrap();
    (kube, seen, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_details_events_and_logs() {
    let (kube, seen, _dir) = fake_cluster().await;
    assert_eq!(kube.context, "fake-ctx");
    assert_eq!(kube.namespace, "default");
    let d = kube::load_pod(&kube, "default", "web-1", Some("web"))
        .await
        .unwrap();
    assert_eq!(d.phase, "Running");
    assert_eq!(d.node, "node-1");
    assert_eq!(d.owners, vec!["ReplicaSet/web-7d9f".to_string()]);
    assert_eq!(d.containers.len(), 2);
    assert_eq!(d.containers[0].restarts, 2);
    assert_eq!(d.containers[1].state, "Waiting: CrashLoopBackOff");
    assert!(!d.containers[1].ready);
    assert!(
        d.labels.contains(&("evil".into(), "x\\x1b[2Jy".into())),
        "labels sanitized"
    );
    assert_eq!(d.events.len(), 2);
    assert_eq!(d.events[0].reason, "BackOff", "newest event first");
    assert_eq!(d.log_container, "web");
    assert_eq!(
        d.logs,
        vec![
            "GET / 200".to_string(),
            "GET /admin 403 \\x1b]0;pwned\\x07".into()
        ]
    );
    assert!(d.partial_errors.is_empty(), "{:?}", d.partial_errors);

    let seen = seen.lock().unwrap().clone();
    let log = seen.iter().find(|s| s.target.contains("/log")).unwrap();
    assert!(log.target.contains("container=web"), "{}", log.target);
    assert!(log.target.contains("tailLines=100"), "{}", log.target);
    let ev = seen.iter().find(|s| s.target.contains("/events")).unwrap();
    assert!(
        ev.target
            .contains("fieldSelector=involvedObject.name%3Dweb-1"),
        "{}",
        ev.target
    );
    assert!(
        seen.iter()
            .all(|s| s.auth.as_deref() == Some("Bearer test-token"))
    );

    let err = kube::load_pod(&kube, "default", "missing", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("default/missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_running_sensor_pods() {
    let (kube, seen, _dir) = fake_cluster().await;
    let pods = kube::discover_sensors(&kube, "falco", "app.kubernetes.io/name=falco-sensor")
        .await
        .unwrap();
    let names: Vec<(&str, &str)> = pods
        .iter()
        .map(|p| (p.name.as_str(), p.node.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("falco-sensor-a", "node-1"), ("falco-sensor-b", "node-2")]
    );
    let list = seen.lock().unwrap().last().unwrap().clone();
    assert!(
        list.target
            .contains("labelSelector=app.kubernetes.io%2Fname%3Dfalco-sensor"),
        "{}",
        list.target
    );
}

async fn next(rx: &mut mpsc::Receiver<Event>) -> Event {
    // a safety net against hanging, not a timing assertion
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drilldown_and_confirmed_delete_from_the_ui() {
    let (kube, seen, _dir) = fake_cluster().await;
    let (tx, mut rx) = mpsc::channel(16);
    let mut app = common::app();
    app.set_kube(Some(kube));
    app.set_sender(tx);
    let key = |app: &mut App, k: KeyEvent| {
        app.on_key(k);
        app.prepare();
    };
    key(
        &mut app,
        KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE),
    );
    assert_eq!(app.view(), View::Pod);
    assert_eq!(app.pod.as_ref().unwrap().tab, PodTab::Describe);
    match next(&mut rx).await {
        Event::App(e @ AppEvent::Pod(_)) => app.on_app_event(e),
        other => panic!("expected the pod, got {other:?}"),
    }
    let pod = app.pod.as_ref().unwrap();
    assert_eq!(pod.details.as_ref().unwrap().node, "node-1");
    assert_eq!(pod.alerts.len(), 4, "every alert of the pod from the store");

    key(
        &mut app,
        KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
    );
    assert!(matches!(app.overlay, Overlay::ConfirmDelete { .. }));
    assert!(
        !seen.lock().unwrap().iter().any(|s| s.method == "DELETE"),
        "nothing deleted before confirming"
    );
    key(
        &mut app,
        KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE),
    );
    match next(&mut rx).await {
        Event::App(e @ AppEvent::PodDeleted(_)) => app.on_app_event(e),
        other => panic!("expected the delete result, got {other:?}"),
    }
    assert_eq!(app.message.as_deref(), Some("pod default/web-1 deleted"));
    let deletes: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == "DELETE")
        .cloned()
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].target.split('?').next(),
        Some("/api/v1/namespaces/default/pods/web-1")
    );
}
