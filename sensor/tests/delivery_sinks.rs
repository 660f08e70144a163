//! Forwarders against local HTTP receivers speaking the real wire formats:
//! Loki push, Slack incoming webhook, generic webhook; outages, queue
//! bounds, aggregation and the file sink.
#![allow(clippy::unwrap_used)]

mod delivery_support;

use base64::Engine;
use delivery_support::*;
use falco_proto::v1::Priority;
use falco_sensor::config::{ForwardConfig, LineFormat};
use falco_sensor::delivery::Delivery;
use falco_sensor::metrics::SensorCounters;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;

fn fast_forward() -> ForwardConfig {
    ForwardConfig {
        batch_wait_ms: 20,
        backoff_initial_ms: 5,
        backoff_max_ms: 50,
        max_retries: 100_000,
        ..ForwardConfig::default()
    }
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn loki_push_has_streams_labels_and_json_lines() {
    let rx = Receiver::start("127.0.0.1:0").await;
    let mut cfg = test_config();
    cfg.outputs.loki.enabled = true;
    cfg.outputs.loki.url = rx.url();
    cfg.outputs.loki.tenant = "team-a".into();
    cfg.outputs.loki.basic_auth = Some(falco_sensor::config::BasicAuth {
        username: "u".into(),
        password: "p".into(),
    });
    cfg.outputs.loki.forward = fast_forward();
    let h = start_delivery(&cfg).await;
    h.publish(alert("Shell in pod", Priority::Critical, "prod", "bash -i"));
    h.publish(alert("Shell in pod", Priority::Critical, "prod", "sh"));
    h.publish(alert("Host write", Priority::Warning, "", "vi /etc/passwd"));
    let counters = h.bus().counters().sink("loki");
    wait_until("3 alerts sent to loki", || counters.sent.load(Relaxed) == 3).await;

    let reqs = rx.taken();
    let mut lines = Vec::new();
    for r in &reqs {
        assert_eq!(r.path, "/loki/api/v1/push");
        assert_eq!(r.headers["x-scope-orgid"], "team-a");
        let basic = base64::engine::general_purpose::STANDARD.encode("u:p");
        assert_eq!(r.headers["authorization"], format!("Basic {basic}"));
        assert_eq!(r.headers["content-type"], "application/json");
        for stream in json(&r.body)["streams"].as_array().unwrap() {
            let labels = stream["stream"].as_object().unwrap();
            assert_eq!(labels["job"], "falco");
            assert_eq!(labels["hostname"], "node-a");
            assert_eq!(labels["cluster"], "test-cluster");
            assert_eq!(labels["source"], "syscall");
            assert_eq!(labels["tags"], "mitre_execution,shell");
            for v in stream["values"].as_array().unwrap() {
                assert_eq!(v[0], "1714557600000000000");
                let line = json(v[1].as_str().unwrap().as_bytes());
                assert_eq!(line["rule"], labels["rule"]);
                assert_eq!(line["priority"], labels["priority"]);
                lines.push((labels.clone(), line));
            }
        }
    }
    assert_eq!(lines.len(), 3);
    let pod = lines
        .iter()
        .find(|(_, l)| l["output_fields"]["proc.cmdline"] == "sh")
        .unwrap();
    assert_eq!(pod.0["k8s_ns_name"], "prod");
    assert_eq!(pod.0["k8s_pod_name"], "web-1");
    assert_eq!(pod.1["time"], "2024-05-01T10:00:00.000000000Z");
    let host = lines
        .iter()
        .find(|(_, l)| l["rule"] == "Host write")
        .unwrap();
    assert!(
        !host.0.contains_key("k8s_ns_name"),
        "no empty/<NA> namespace label"
    );
    assert_eq!(host.1["output_fields"]["container.id"], "host");
}

#[tokio::test]
async fn slack_message_is_colored_and_escapes_event_data() {
    let rx = Receiver::start("127.0.0.1:0").await;
    let mut cfg = test_config();
    cfg.outputs.slack.enabled = true;
    cfg.outputs.slack.webhook_url = format!("{}/services/T0/B0/xyz", rx.url());
    cfg.outputs.slack.forward = ForwardConfig {
        min_priority: Priority::Warning,
        ..fast_forward()
    };
    let h = start_delivery(&cfg).await;
    let evil = "<!channel> <https://evil|click> *bold* <@U024BE7LH> @here & more";
    h.publish(alert("too quiet", Priority::Notice, "prod", "ignored"));
    let mut a = alert("Shell in pod", Priority::Critical, "prod", evil);
    a.output = format!("Shell spawned {evil}");
    h.publish(a);
    wait_until("one slack message", || rx.taken().len() == 1).await;
    let r = &rx.taken()[0];
    assert_eq!(r.path, "/services/T0/B0/xyz");
    let body = std::str::from_utf8(&r.body).unwrap();
    for raw in ["<!channel>", "<https://", "<@U024", "@here", "|click>"] {
        assert!(!body.contains(raw), "raw {raw:?} leaked into {body}");
    }
    let msg = json(&r.body);
    assert_eq!(msg["mrkdwn"], false);
    let att = &msg["attachments"][0];
    assert_eq!(att["color"], "#ff9000");
    assert_eq!(att["mrkdwn_in"], serde_json::json!([]));
    let text = att["text"].as_str().unwrap();
    assert!(
        text.starts_with("Shell spawned &lt;!channel&gt; &lt;https://evil|click&gt; *bold*"),
        "{text}"
    );
    assert!(text.contains("&amp; more"), "{text}");
    let fields = att["fields"].as_array().unwrap();
    let get = |t: &str| {
        fields
            .iter()
            .find(|f| f["title"] == t)
            .map(|f| f["value"].clone())
    };
    assert_eq!(get("rule").unwrap(), "Shell in pod");
    assert_eq!(get("k8s.ns.name").unwrap(), "prod");
    assert!(
        get("proc.cmdline")
            .unwrap()
            .as_str()
            .unwrap()
            .contains("&lt;!channel&gt;")
    );
    assert_eq!(get("cluster").unwrap(), "test-cluster");
}

#[tokio::test]
async fn webhook_posts_falco_json_with_custom_headers() {
    let rx = Receiver::start("127.0.0.1:0").await;
    let mut cfg = test_config();
    cfg.outputs.webhook.enabled = true;
    cfg.outputs.webhook.url = format!("{}/falco", rx.url());
    cfg.outputs
        .webhook
        .headers
        .insert("X-Api-Key".into(), "k-123".into());
    cfg.outputs.webhook.forward = fast_forward();
    let h = start_delivery(&cfg).await;
    let seq = h.publish(alert("Shell in pod", Priority::Error, "prod", "bash"));
    wait_until("webhook delivery", || rx.taken().len() == 1).await;
    let r = &rx.taken()[0];
    assert_eq!(r.path, "/falco");
    assert_eq!(r.headers["x-api-key"], "k-123");
    assert_eq!(r.headers["content-type"], "application/json");
    let v = json(&r.body);
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "hostname",
        "output",
        "priority",
        "rule",
        "source",
        "tags",
        "time",
        "output_fields",
    ] {
        assert!(keys.contains(k), "missing {k} in {v}");
    }
    assert_eq!(v["priority"], "Error");
    assert_eq!(v["seq"], seq);
    assert_eq!(v["cluster"], "test-cluster");
    assert_eq!(v["output_fields"]["k8s.pod.name"], "web-1");
}

/// A loopback port nobody listens on (connections are refused).
async fn dead_port() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

fn seqs(rx: &Receiver) -> Vec<u64> {
    rx.taken()
        .iter()
        .map(|r| json(&r.body)["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn receiver_down_then_back_gets_every_queued_alert_exactly_once() {
    let addr = dead_port().await;
    let mut cfg = test_config();
    cfg.outputs.webhook.enabled = true;
    cfg.outputs.webhook.url = format!("http://{addr}/");
    cfg.outputs.webhook.forward = ForwardConfig {
        queue_capacity: 50,
        ..fast_forward()
    };
    let h = start_delivery(&cfg).await;
    for i in 0..40 {
        h.publish(alert("r", Priority::Notice, "", &i.to_string()));
    }
    let counters = h.bus().counters().sink("webhook");
    // Let the forwarder fail against the dead port for a while.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(counters.sent.load(Relaxed), 0);
    let rx = Receiver::start(&addr).await;
    wait_until("40 deliveries", || counters.sent.load(Relaxed) == 40).await;
    let mut got = seqs(&rx);
    got.sort_unstable();
    assert_eq!(got, (1..=40).collect::<Vec<_>>(), "each alert exactly once");
    assert_eq!(counters.dropped.load(Relaxed), 0);
    assert_eq!(counters.failed.load(Relaxed), 0);
}

#[tokio::test]
async fn over_the_queue_bound_drops_are_counted() {
    let addr = dead_port().await;
    let mut cfg = test_config();
    cfg.outputs.webhook.enabled = true;
    cfg.outputs.webhook.url = format!("http://{addr}/");
    cfg.outputs.webhook.forward = ForwardConfig {
        queue_capacity: 10,
        batch_size: 1,
        ..fast_forward()
    };
    let h = start_delivery(&cfg).await;
    for i in 0..100 {
        h.publish(alert("r", Priority::Notice, "", &i.to_string()));
    }
    let counters = h.bus().counters().sink("webhook");
    let dropped = counters.dropped.load(Relaxed);
    // At most the queue plus the one batch in flight survive.
    assert!(dropped >= 100 - 10 - 1, "dropped {dropped}");
    let rx = Receiver::start(&addr).await;
    wait_until("survivors delivered", || {
        counters.sent.load(Relaxed) == 100 - dropped
    })
    .await;
    let got = seqs(&rx);
    let unique: BTreeSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "duplicates: {got:?}");
    assert_eq!(got.len() as u64, 100 - dropped);
    let stats_text = falco_sensor::metrics::render_prometheus(h.bus().counters());
    assert!(
        stats_text.contains(&format!(
            "falco_sensor_alerts_dropped_total{{sink=\"webhook\"}} {dropped}"
        )),
        "{stats_text}"
    );
}

#[tokio::test]
async fn identical_alerts_are_aggregated_but_the_file_sink_keeps_all() {
    let rx = Receiver::start("127.0.0.1:0").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let mut cfg = test_config();
    cfg.outputs.webhook.enabled = true;
    cfg.outputs.webhook.url = rx.url();
    cfg.outputs.webhook.forward = fast_forward();
    cfg.outputs.webhook.forward.aggregation.enabled = true;
    cfg.outputs.webhook.forward.aggregation.window_secs = 2;
    cfg.outputs.file.enabled = true;
    cfg.outputs.file.path = path.clone();
    cfg.outputs.file.format = LineFormat::Json;
    let h = start_delivery(&cfg).await;
    for i in 0..37 {
        let mut a = alert("Shell in pod", Priority::Critical, "prod", "bash -i");
        a.time_ns += i * 1_000_000_000;
        h.publish(a);
    }
    for _ in 0..3 {
        h.publish(alert(
            "Shell in pod",
            Priority::Critical,
            "prod",
            "sh -c id",
        ));
    }
    wait_until("two aggregated messages", || rx.taken().len() == 2).await;
    let msgs: Vec<Value> = rx.taken().iter().map(|r| json(&r.body)).collect();
    let big = msgs
        .iter()
        .find(|m| m["output_fields"]["proc.cmdline"] == "bash -i")
        .unwrap();
    assert_eq!(big["count"], 37);
    assert_eq!(big["first_time"], "2024-05-01T10:00:00.000000000Z");
    assert_eq!(big["last_time"], "2024-05-01T10:00:36.000000000Z");
    let small = msgs
        .iter()
        .find(|m| m["output_fields"]["proc.cmdline"] == "sh -c id")
        .unwrap();
    assert_eq!(small["count"], 3);
    let counters = h.bus().counters().sink("webhook");
    assert_eq!(counters.sent.load(Relaxed), 40);

    let file = h.bus().counters().sink("file");
    wait_until("file has every alert", || file.sent.load(Relaxed) == 40).await;
    h.shutdown(std::time::Duration::from_secs(5));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| json(l.as_bytes())).collect();
    assert_eq!(lines.len(), 40);
    assert_eq!(lines[39]["seq"], 40);
    assert_eq!(lines[0]["output_fields"]["proc.cmdline"], "bash -i");
}

#[tokio::test]
async fn bad_sink_config_fails_start_naming_the_key() {
    let mut cfg = test_config();
    cfg.outputs.webhook.enabled = true;
    cfg.outputs.webhook.url = "http://127.0.0.1:1/".into();
    cfg.outputs
        .webhook
        .headers
        .insert("Bad Header".into(), "x".into());
    let err = Delivery::start_in(&cfg, TestInfo::new(), SensorCounters::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("outputs.webhook.headers.Bad Header"), "{err}");
}

/// An HTTPS receiver with the test PKI's server certificate (127.0.0.1 SAN).
async fn https_receiver(pki: &Pki) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.path("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.path("server.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let sink = got.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let sink = sink.clone();
            tokio::spawn(async move {
                // Handshake failures are the rejected-client case; nothing to record.
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let sink = sink.clone();
                        async move {
                            use http_body_util::BodyExt;
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            sink.lock().unwrap().push(json(&body));
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::new()),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, got)
}

#[tokio::test]
async fn https_forwarders_verify_certificates_by_default() {
    let pki = Pki::new();
    let (url, got) = https_receiver(&pki).await;
    let webhook = |verify: bool, ca: Option<std::path::PathBuf>| {
        let mut cfg = test_config();
        cfg.outputs.webhook.enabled = true;
        cfg.outputs.webhook.url = url.clone();
        cfg.outputs.webhook.forward = ForwardConfig {
            max_retries: 0,
            tls_verify: verify,
            ca_file: ca,
            ..fast_forward()
        };
        cfg
    };

    // Default: the private CA is not trusted, so nothing is delivered.
    let h = start_delivery(&webhook(true, None)).await;
    h.publish(alert("r", Priority::Error, "", "untrusted"));
    let c = h.bus().counters().sink("webhook");
    wait_until("the untrusted delivery to fail", || {
        c.failed.load(Relaxed) == 1
    })
    .await;
    assert_eq!(c.sent.load(Relaxed), 0);
    drop(h);

    // Trusting the CA through ca_file delivers.
    let h = start_delivery(&webhook(true, Some(pki.path("ca.pem")))).await;
    h.publish(alert("r", Priority::Error, "", "trusted"));
    let c = h.bus().counters().sink("webhook");
    wait_until("the trusted delivery", || c.sent.load(Relaxed) == 1).await;
    drop(h);

    // Explicitly turning verification off also delivers.
    let h = start_delivery(&webhook(false, None)).await;
    h.publish(alert("r", Priority::Error, "", "unverified"));
    let c = h.bus().counters().sink("webhook");
    wait_until("the unverified delivery", || c.sent.load(Relaxed) == 1).await;

    let cmds: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .map(|v| {
            v["output_fields"]["proc.cmdline"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(cmds, vec!["trusted", "unverified"]);
}

#[test]
fn standalone_start_writes_text_lines_and_flushes_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.log");
    let mut cfg = test_config();
    cfg.grpc.enabled = false;
    cfg.outputs.file.enabled = true;
    cfg.outputs.file.path = path.clone();
    cfg.outputs.file.format = LineFormat::Text;
    cfg.outputs.file.min_priority = Priority::Warning;
    let h = Delivery::start(&cfg, TestInfo::new(), SensorCounters::new()).unwrap();
    assert_eq!(h.publish(alert("quiet", Priority::Notice, "", "ls")), 1);
    assert_eq!(h.publish(alert("loud", Priority::Critical, "", "nc -l")), 2);
    h.shutdown(std::time::Duration::from_secs(5));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    // HH:MM:SS.nnnnnnnnn: Priority Output
    let (time, rest) = lines[0].split_once(": ").unwrap();
    assert_eq!(time.len(), 18, "{time}");
    assert_eq!(&time[2..3], ":");
    assert_eq!(&time[8..9], ".");
    assert!(time[9..].chars().all(|c| c.is_ascii_digit()));
    assert_eq!(rest, "Critical loud by nc -l cluster=test-cluster");
}

#[tokio::test]
async fn unreadable_tls_files_fail_start_naming_the_key() {
    let mut cfg = test_config();
    cfg.metrics.enabled = false;
    cfg.grpc.tls.cert = Some("/nonexistent/server.pem".into());
    cfg.grpc.tls.key = Some("/nonexistent/server.key".into());
    let err = Delivery::start_in(&cfg, TestInfo::new(), SensorCounters::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("grpc.tls.cert") && err.contains("/nonexistent/server.pem"),
        "{err}"
    );
}
