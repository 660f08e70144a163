//! The shared forwarding machinery end to end, against local receivers:
//! routing splits alerts between two sinks, the disk buffer carries an
//! outage longer than the memory queue across a sensor restart, and what
//! exceeds the disk bound is dropped and counted in /metrics.
#![allow(clippy::unwrap_used)]

mod delivery_support;

use delivery_support::*;
use falco_proto::v1::Priority;
use falco_sensor::config::{Config, ForwardConfig};
use falco_sensor::delivery::{Delivery, DeliveryHandle};
use falco_sensor::metrics::SensorCounters;
use serde_json::Value;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(cfg: &Config) -> DeliveryHandle {
    let mut cfg = cfg.clone();
    cfg.grpc.enabled = false;
    Delivery::start_in(&cfg, TestInfo::new(), SensorCounters::new())
        .await
        .unwrap()
}

fn fast_forward() -> ForwardConfig {
    ForwardConfig {
        batch_wait_ms: 20,
        backoff_initial_ms: 5,
        backoff_max_ms: 50,
        max_retries: 3,
        ..ForwardConfig::default()
    }
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

/// `proc.cmdline` of every alert a webhook receiver got, in arrival order.
fn webhook_cmdlines(rx: &Receiver) -> Vec<String> {
    rx.taken()
        .iter()
        .map(|r| {
            json(&r.body)["output_fields"]["proc.cmdline"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Rules of every line a Loki receiver got.
fn loki_rules(rx: &Receiver) -> Vec<String> {
    let mut out = Vec::new();
    for r in rx.taken() {
        for stream in json(&r.body)["streams"].as_array().unwrap() {
            for v in stream["values"].as_array().unwrap() {
                let line = json(v[1].as_str().unwrap().as_bytes());
                out.push(line["rule"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

async fn metrics_text(h: &DeliveryHandle) -> String {
    let addr = h.metrics_addr().unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    text
}

fn metric(text: &str, name: &str, sink: &str) -> u64 {
    let prefix = format!("falco_sensor_{name}{{sink=\"{sink}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn dead_port() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

#[tokio::test]
async fn two_sinks_get_disjoint_alerts_as_routed() {
    let paging = Receiver::start("127.0.0.1:0").await;
    let logs = Receiver::start("127.0.0.1:0").await;
    let cfg = Config::load(
        None,
        &[
            "outputs.stdout.enabled=false".into(),
            "grpc.listen=127.0.0.1:0".into(),
            "metrics.enabled=false".into(),
            "outputs.webhook.enabled=true".into(),
            format!("outputs.webhook.url={}/page", paging.url()),
            "outputs.webhook.forward.batch_wait_ms=10".into(),
            // T1059 alerts from prod-* namespaces page...
            "outputs.webhook.forward.routing.tags=T1059".into(),
            "outputs.webhook.forward.routing.namespaces=prod-*".into(),
            "outputs.loki.enabled=true".into(),
            format!("outputs.loki.url={}", logs.url()),
            "outputs.loki.forward.batch_wait_ms=10".into(),
            // ...everything else goes to the log store.
            "outputs.loki.forward.routing.exclude_tags=T1059".into(),
            "outputs.loki.forward.routing.exclude_rules=Noisy*".into(),
        ],
    )
    .unwrap();
    let h = start(&cfg).await;
    let with_tags = |rule: &str, ns: &str, tags: &[&str]| {
        let mut a = alert(rule, Priority::Warning, ns, rule);
        a.tags = tags.iter().map(|t| t.to_string()).collect();
        a
    };
    h.publish(with_tags("Shell prod", "prod-eu", &["T1059", "shell"]));
    h.publish(with_tags("Shell dev", "dev", &["T1059", "shell"]));
    h.publish(with_tags("Write etc", "prod-eu", &["filesystem"]));
    h.publish(with_tags("Noisy thing", "prod-eu", &["network"]));
    h.publish(with_tags("Host shell", "", &["T1059"]));
    let (page_c, log_c) = (
        h.bus().counters().sink("webhook"),
        h.bus().counters().sink("loki"),
    );
    wait_until("routed deliveries", || {
        page_c.sent.load(Relaxed) == 1 && log_c.sent.load(Relaxed) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(webhook_cmdlines(&paging), ["Shell prod"]);
    // "Shell dev" and "Host shell" carry T1059 but are not in prod-*: the
    // paging sink does not take them and the log sink excludes the tag.
    assert_eq!(loki_rules(&logs), ["Write etc"]);
    // Alerts a sink does not take never count as its drops.
    assert_eq!(
        page_c.dropped.load(Relaxed) + log_c.dropped.load(Relaxed),
        0
    );
}

fn buffered_webhook(url: &str, dir: &std::path::Path, max_bytes: u64) -> Config {
    let mut cfg = test_config();
    cfg.outputs.webhook.enabled = true;
    cfg.outputs.webhook.url = url.to_string();
    cfg.outputs.webhook.forward = ForwardConfig {
        // Far smaller than the outage: the disk carries it.
        queue_capacity: 4,
        batch_size: 1,
        ..fast_forward()
    };
    cfg.outputs.webhook.forward.disk_buffer.dir = Some(dir.to_path_buf());
    cfg.outputs.webhook.forward.disk_buffer.max_bytes = max_bytes;
    cfg
}

/// Publishes `n` alerts numbered from 0 in `proc.cmdline`, padded to about
/// `pad` bytes, letting the intake run between them.
async fn publish_numbered(h: &DeliveryHandle, n: usize, pad: usize) {
    for i in 0..n {
        let mut a = alert("Outage", Priority::Warning, "prod", &i.to_string());
        a.output = "x".repeat(pad);
        h.publish(a);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn stop(h: DeliveryHandle) {
    h.shutdown(Duration::from_millis(50));
    // Let the aborted forwarder tasks drop (and release the buffer's lock).
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_longer_than_the_queue_survives_a_restart_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let addr = dead_port().await;
    let url = format!("http://{addr}/");
    let cfg = buffered_webhook(&url, dir.path(), 16 << 20);

    let h = start(&cfg).await;
    publish_numbered(&h, 60, 100).await;
    let c = h.bus().counters().sink("webhook");
    wait_until("retries against the dead receiver", || {
        c.retried.load(Relaxed) >= 3
    })
    .await;
    assert_eq!(
        c.dropped.load(Relaxed),
        0,
        "the disk took what the queue could not"
    );
    assert_eq!(c.sent.load(Relaxed), 0);
    assert_eq!(
        c.failed.load(Relaxed),
        0,
        "buffered alerts are never given up on"
    );
    assert!(metric(&metrics_text(&h).await, "sink_buffer_bytes", "webhook") > 0);
    stop(h).await;

    // The sensor comes back, and so does the receiver.
    let rx = Receiver::start(&addr).await;
    let h = start(&cfg).await;
    let c = h.bus().counters().sink("webhook");
    wait_until("all 60 delivered after the restart", || {
        rx.taken().len() >= 60
    })
    .await;
    let expected: Vec<String> = (0..60).map(|i| i.to_string()).collect();
    assert_eq!(
        webhook_cmdlines(&rx),
        expected,
        "every alert, in order, once"
    );
    wait_until("buffer drained", || c.buffer_bytes.load(Relaxed) == 0).await;
    // New alerts after the restart follow the replayed ones.
    let mut a = alert("After", Priority::Warning, "prod", "after");
    a.output = "new".into();
    h.publish(a);
    wait_until("the new alert", || rx.taken().len() == 61).await;
    assert_eq!(webhook_cmdlines(&rx)[60], "after");
    stop(h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_disk_bound_drops_are_counted_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let addr = dead_port().await;
    let url = format!("http://{addr}/");
    // 64 KiB bound, ~1.1 KiB records: about 55 fit, the rest of 100 do not.
    let cfg = buffered_webhook(&url, dir.path(), 64 << 10);

    let h = start(&cfg).await;
    publish_numbered(&h, 100, 1000).await;
    let c = h.bus().counters().sink("webhook");
    wait_until("drops", || c.dropped.load(Relaxed) > 0).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = metrics_text(&h).await;
    let dropped = metric(&text, "alerts_dropped_total", "webhook");
    let buffer_dropped = metric(&text, "sink_buffer_dropped_total", "webhook");
    assert_eq!(
        dropped, buffer_dropped,
        "every drop was the disk bound's: {text}"
    );
    assert!((30..=60).contains(&dropped), "dropped {dropped}");
    assert!(metric(&text, "sink_buffer_bytes", "webhook") <= 64 << 10);
    stop(h).await;

    let rx = Receiver::start(&addr).await;
    let h = start(&cfg).await;
    let kept = 100 - dropped as usize;
    wait_until("the kept alerts", || rx.taken().len() >= kept).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The oldest alerts were kept, the newest dropped, order preserved.
    let expected: Vec<String> = (0..kept).map(|i| i.to_string()).collect();
    assert_eq!(webhook_cmdlines(&rx), expected);
    stop(h).await;
}

#[tokio::test]
async fn unusable_disk_buffer_fails_start_naming_the_key() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let cfg = buffered_webhook("http://127.0.0.1:9/", file.path(), 1 << 20);
    let mut cfg = cfg.clone();
    cfg.grpc.enabled = false;
    let err = Delivery::start_in(&cfg, TestInfo::new(), SensorCounters::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("outputs.webhook.forward.disk_buffer"), "{err}");
}
