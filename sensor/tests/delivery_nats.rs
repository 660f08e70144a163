//! The NATS JetStream sink against a real `nats-server` (Debian's
//! `nats-server` package, in TEST_PACKAGES), started by each test with
//! JetStream on in a temporary store directory on a free loopback port.
//! A missing binary fails the test unless SKIP_PRIVILEGED=1.
#![allow(clippy::unwrap_used)]

mod delivery_support;

use async_nats::jetstream;
use delivery_support::*;
use falco_proto::v1::{Alert, Priority};
use falco_sensor::config::{ForwardConfig, NatsConfig};
use falco_sensor::sinks::aggregate::Item;
use falco_sensor::sinks::forward::{Encoder, Transport};
use falco_sensor::sinks::http::PostOutcome;
use falco_sensor::sinks::nats::{NatsEncoder, NatsTransport, connect};
use prost::Message as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// Kills the server when dropped, however the test ends.
struct NatsServer {
    child: Child,
    port: u16,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NatsServer {
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

fn binary() -> Option<PathBuf> {
    if Path::new(NATS_SERVER).exists() {
        return Some(PathBuf::from(NATS_SERVER));
    }
    if std::env::var("SKIP_PRIVILEGED").as_deref() == Ok("1") {
        eprintln!("SKIP_PRIVILEGED=1: {NATS_SERVER} missing, skipping");
        return None;
    }
    panic!(
        "{NATS_SERVER} is missing: install the Debian package nats-server (scripts/test.sh does)"
    );
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts nats-server with JetStream storing in `store`, and waits until it
/// accepts connections.
async fn start_nats(bin: &Path, store: &Path, port: u16, extra: &[&str]) -> NatsServer {
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = NatsServer { child, port };
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(start.elapsed() < HANG_GUARD, "nats-server on {port} not up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

fn nats_config(url: &str) -> NatsConfig {
    NatsConfig {
        enabled: true,
        url: url.to_string(),
        forward: ForwardConfig {
            batch_wait_ms: 20,
            backoff_initial_ms: 20,
            backoff_max_ms: 300,
            max_retries: 1000,
            timeout_ms: 1000,
            ..ForwardConfig::default()
        },
        ..NatsConfig::default()
    }
}

/// Every message of the stream, in stream order: (subject, msg id, alert).
async fn stored(url: &str, stream: &str) -> Vec<(String, String, Alert)> {
    let client = async_nats::connect(url).await.unwrap();
    let js = jetstream::new(client);
    let mut s = js.get_stream(stream).await.unwrap();
    let info = s.info().await.unwrap().state.clone();
    let mut out = Vec::new();
    for seq in info.first_sequence..=info.last_sequence {
        if info.messages == 0 {
            break;
        }
        let m = s.get_raw_message(seq).await.unwrap();
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        out.push((m.subject.to_string(), id, Alert::decode(m.payload).unwrap()));
    }
    out
}

#[tokio::test]
async fn alerts_arrive_as_protobuf_on_sanitised_subjects_in_a_created_stream() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path(), free_port(), &[]).await;
    let mut cfg = test_config();
    cfg.cluster = "prod.eu west".into();
    cfg.outputs.nats = nats_config(&nats.url());
    let h = start_delivery(&cfg).await;
    h.publish(alert(
        "Terminal shell in container",
        Priority::Critical,
        "prod",
        "bash -i",
    ));
    h.publish(alert(
        "Write below etc",
        Priority::Notice,
        "",
        "vi /etc/shadow",
    ));
    let c = h.bus().counters().sink("nats");
    wait_until("both alerts acked", || c.sent.load(Relaxed) == 2).await;
    assert_eq!(c.failed.load(Relaxed), 0);

    let got = stored(&nats.url(), "FALCO_ALERTS").await;
    assert_eq!(got.len(), 2, "{got:?}");
    let (subject, id, a) = &got[0];
    assert_eq!(subject, "falco.alerts.prod_eu_west.node-a.critical");
    assert_eq!(id, &format!("{}.1", a.sensor_id));
    assert_eq!(a.rule, "Terminal shell in container");
    assert_eq!(a.seq, 1);
    assert_eq!(a.kubernetes.as_ref().unwrap().namespace, "prod");
    assert_eq!(got[1].0, "falco.alerts.prod_eu_west.node-a.notice");
    assert_eq!(got[1].2.seq, 2);
}

#[tokio::test]
async fn a_republished_alert_is_stored_once() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path(), free_port(), &[]).await;
    let mut cfg = nats_config(&nats.url());
    // The first send also connects and creates the stream on a server that
    // just started: on a loaded machine that can take over a second.
    cfg.forward.timeout_ms = 10_000;
    let enc = NatsEncoder::new(&cfg).unwrap();
    let transport = NatsTransport::new(&cfg);
    let mut a = alert(
        "Terminal shell in container",
        Priority::Warning,
        "prod",
        "sh",
    );
    a.seq = 41;
    a.sensor_id = "sensor-x".into();
    a.hostname = "node-a".into();
    let payload = enc.encode(&[Item::single(Arc::new(a))]).remove(0);
    for _ in 0..2 {
        assert!(matches!(
            transport.send(payload.body.clone()).await,
            PostOutcome::Accepted
        ));
    }
    let got = stored(&nats.url(), "FALCO_ALERTS").await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, "sensor-x.41");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted_keeps_every_alert_once_in_order() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut nats = Some(start_nats(&bin, dir.path(), port, &[]).await);
    let url = format!("nats://127.0.0.1:{port}");
    let mut cfg = test_config();
    cfg.outputs.nats = nats_config(&url);
    cfg.outputs.nats.forward.batch_size = 20;
    let h = start_delivery(&cfg).await;
    let c = h.bus().counters().sink("nats");

    // NATS_OUTAGE_SECS=30 reproduces the 30 s outage (default 3).
    let outage: u64 = std::env::var("NATS_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // 100 alerts/s: 1 s before the kill, the outage, 2 s after the restart.
    let total: u64 = (outage + 3) * 100;
    let mut published = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let started = std::time::Instant::now();
    while published < total {
        tick.tick().await;
        h.publish(alert("Write below etc", Priority::Notice, "", "vi"));
        published += 1;
        let t = started.elapsed();
        if nats.is_some() && published == 100 {
            drop(nats.take()); // killed while alerts keep coming
        }
        if nats.is_none() && t > Duration::from_secs(1 + outage) {
            nats = Some(start_nats(&bin, dir.path(), port, &[]).await);
        }
    }
    if nats.is_none() {
        nats = Some(start_nats(&bin, dir.path(), port, &[]).await);
    }
    wait_until("every alert acked", || c.sent.load(Relaxed) == total).await;
    assert_eq!(c.failed.load(Relaxed), 0);
    assert!(c.retried.load(Relaxed) > 0, "the outage was not noticed");

    let got = stored(&url, "FALCO_ALERTS").await;
    let seqs: Vec<u64> = got.iter().map(|(_, _, a)| a.seq).collect();
    let want: Vec<u64> = (1..=total).collect();
    assert_eq!(seqs, want, "every alert once, in order");
    drop(nats);
}

#[tokio::test]
async fn wrong_credentials_and_a_missing_stream_name_the_server() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(
        &bin,
        dir.path(),
        free_port(),
        &["--user", "falco", "--pass", "right"],
    )
    .await;
    let mut cfg = nats_config(&nats.url());
    cfg.user = Some("falco".into());
    cfg.password = Some("wrong".into());
    let err = connect(&cfg).await.unwrap_err().to_string();
    assert!(err.contains(&nats.url()), "{err}");
    assert!(err.to_lowercase().contains("authorization"), "{err}");

    cfg.password = Some("right".into());
    cfg.create_stream = false;
    let err = connect(&cfg).await.unwrap_err().to_string();
    assert!(
        err.contains(&nats.url()) && err.contains("FALCO_ALERTS") && err.contains("create_stream"),
        "{err}"
    );
    cfg.create_stream = true;
    connect(&cfg).await.unwrap();
}

#[tokio::test]
async fn status_is_published_and_responses_have_their_own_subject() {
    use futures_util::StreamExt;
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path(), free_port(), &[]).await;
    let watcher = async_nats::connect(nats.url()).await.unwrap();
    let mut status = watcher.subscribe("falco.status.>").await.unwrap();
    watcher.flush().await.unwrap();

    let mut cfg = test_config();
    cfg.outputs.nats = nats_config(&nats.url());
    cfg.outputs.nats.status_interval_secs = 1;
    let h = start_delivery(&cfg).await;
    let seq = h.publish(alert(
        "Terminal shell in container",
        Priority::Critical,
        "prod",
        "sh",
    ));
    h.publish_response(
        seq,
        vec![falco_proto::v1::ResponseRecord {
            action: "kill".into(),
            outcome: "dry-run".into(),
            alert_seq: seq,
            time_ns: 5,
            ..Default::default()
        }],
    );
    let c = h.bus().counters().sink("nats");
    wait_until("alert and response acked", || c.sent.load(Relaxed) == 2).await;
    let got = stored(&nats.url(), "FALCO_ALERTS").await;
    assert_eq!(got[0].0, "falco.alerts.test-cluster.node-a.critical");
    assert_eq!(got[1].0, "falco.alerts.test-cluster.node-a.response");
    assert_eq!(got[1].2.responses[0].action, "kill");
    assert_eq!(got[1].2.responses[0].alert_seq, seq);

    // The first status may predate the alerts; wait for one that saw them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, status.next())
            .await
            .expect("no status with last_seq 2 within 10 s")
            .unwrap();
        assert_eq!(m.subject.as_str(), "falco.status.test-cluster.node-a");
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["hostname"], "node-a");
        assert_eq!(v["cluster"], "test-cluster");
        assert_eq!(v["rules_loaded"], 3);
        assert!(
            v["sensor_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{v}"
        );
        assert!(v["version"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        if v["last_seq"] == 2 {
            break;
        }
    }
}

#[tokio::test]
async fn token_authentication() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path(), free_port(), &["--auth", "s3cret"]).await;
    let mut cfg = nats_config(&nats.url());
    cfg.token = Some("wrong".into());
    let err = connect(&cfg).await.unwrap_err().to_string();
    assert!(err.contains(&nats.url()), "{err}");
    cfg.token = Some("s3cret".into());
    connect(&cfg).await.unwrap();
}
