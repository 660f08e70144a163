//! S3 credentials without keys in the config: EC2 instance metadata (a local
//! IMDSv2 server speaking its documented paths) and EKS web identity (STS
//! AssumeRoleWithWebIdentity answered by moto, the same real S3/STS server
//! the objects go to). One test in its own binary: it sets environment
//! variables, which are process-wide.
#![allow(clippy::unwrap_used)]

mod delivery_support;
#[path = "delivery_support/pyservers.rs"]
mod pyservers;

use delivery_support::*;
use falco_proto::v1::Priority;
use falco_sensor::config::{Config, ForwardConfig};
use falco_sensor::http_server::{respond, serve};
use pyservers::{PyServer, free_port, run_python, script, venv};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

fn set_env(pairs: &[(&str, Option<&str>)]) {
    for (k, v) in pairs {
        // SAFETY: this binary has a single test; no other thread reads the
        // environment while it is changed (the sensor reads it at start).
        unsafe {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
    }
}

/// IMDSv2: token, role name, credentials; requests without the token are refused.
/// Its URL, and the sender that keeps it running.
async fn fake_imds(seen: Arc<Mutex<Vec<String>>>) -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let handler = move |req: hyper::Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let path = req.uri().path().to_string();
            seen.lock()
                .unwrap()
                .push(format!("{} {path}", req.method()));
            let token = req
                .headers()
                .get("x-aws-ec2-metadata-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let ok = |body: String| respond(hyper::StatusCode::OK, "text/plain", body);
            match (req.method().as_str(), path.as_str()) {
                ("PUT", "/latest/api/token") => ok("imds-session-token".into()),
                _ if token != "imds-session-token" => {
                    respond(hyper::StatusCode::UNAUTHORIZED, "text/plain", "")
                }
                ("GET", "/latest/meta-data/iam/security-credentials/") => {
                    ok("falco-node-role\n".into())
                }
                ("GET", "/latest/meta-data/iam/security-credentials/falco-node-role") => {
                    ok(serde_json::json!({
                        "Code": "Success",
                        "Type": "AWS-HMAC",
                        "AccessKeyId": "ASIAIMDSTEST",
                        "SecretAccessKey": "imds-secret",
                        "Token": "imds-credential-token",
                        "Expiration": "2099-01-01T00:00:00Z",
                    })
                    .to_string())
                }
                _ => respond(hyper::StatusCode::NOT_FOUND, "text/plain", ""),
            }
        }
    };
    tokio::spawn(serve(listener, handler, stop_rx));
    (format!("http://{addr}"), stop)
}

fn s3_config(endpoint: &str) -> Config {
    let mut cfg = test_config();
    let s3 = &mut cfg.outputs.s3;
    s3.enabled = true;
    s3.endpoint = endpoint.to_string();
    s3.bucket = "falco-alerts".into();
    s3.forward = ForwardConfig {
        batch_size: 1,
        batch_wait_ms: 10,
        backoff_initial_ms: 20,
        backoff_max_ms: 200,
        ..ForwardConfig::default()
    };
    cfg
}

/// The PUT request lines moto logged (werkzeug logs the query string).
fn puts(server: &PyServer) -> Vec<String> {
    server
        .log_text()
        .lines()
        .filter(|l| l.contains("\"PUT /falco-alerts/"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_metadata_then_web_identity_credentials_sign_the_uploads() {
    let Some(venv) = venv() else { return };
    let logs = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = PyServer::start(
        &venv,
        &[
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ],
        port,
        logs.path(),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    run_python(
        &venv,
        &[&script("s3_client.py"), "create", &endpoint, "falco-alerts"],
    );
    let unset = [
        ("AWS_ACCESS_KEY_ID", None),
        ("AWS_SECRET_ACCESS_KEY", None),
        ("AWS_SESSION_TOKEN", None),
        ("AWS_ROLE_ARN", None),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", None),
        ("AWS_EC2_METADATA_DISABLED", None),
    ];

    // 1. Nothing configured: instance metadata.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (imds, _imds_running) = fake_imds(seen.clone()).await;
    set_env(&unset);
    set_env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", Some(&imds))]);
    let h = start_delivery(&s3_config(&endpoint)).await;
    for i in 0..3 {
        h.publish(alert(
            "Shell in pod",
            Priority::Error,
            "prod",
            &format!("cmd {i}"),
        ));
    }
    let c = h.bus().counters().sink("s3");
    wait_until("3 objects via IMDS credentials", || {
        c.sent.load(Relaxed) == 3
    })
    .await;
    drop(h);
    let lines = puts(&server);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for l in &lines {
        assert!(l.contains("X-Amz-Credential=ASIAIMDSTEST/"), "{l}");
        assert!(
            l.contains("X-Amz-Security-Token=imds-credential-token"),
            "{l}"
        );
    }
    // Fetched once, then cached.
    let calls = seen.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/falco-node-role",
        ]
    );

    // 2. IRSA environment: web identity through STS (moto), before IMDS.
    let token_file = logs.path().join("token");
    std::fs::write(
        &token_file,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmYWxjbyJ9.c2ln\n",
    )
    .unwrap();
    set_env(&[
        (
            "AWS_ROLE_ARN",
            Some("arn:aws:iam::123456789012:role/falco-sensor"),
        ),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            Some(token_file.to_str().unwrap()),
        ),
        ("AWS_ENDPOINT_URL_STS", Some(&endpoint)),
    ]);
    let h = start_delivery(&s3_config(&endpoint)).await;
    h.publish(alert("Shell in pod", Priority::Error, "prod", "irsa"));
    let c = h.bus().counters().sink("s3");
    wait_until("1 object via web identity", || c.sent.load(Relaxed) == 1).await;
    let log = server.log_text();
    assert!(log.contains("\"POST / HTTP/1.1\" 200"), "STS call: {log}");
    let last = puts(&server).pop().unwrap();
    assert!(last.contains("X-Amz-Security-Token="), "{last}");
    assert!(!last.contains("ASIAIMDSTEST"), "{last}");
    assert_eq!(seen.lock().unwrap().len(), 3, "IMDS not asked again");
    set_env(&unset);
}
