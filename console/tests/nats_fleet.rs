//! `falco-console tail|stats --nats` against a real `nats-server` with
//! JetStream (Debian's `nats-server`, in TEST_PACKAGES), fed by the
//! sensor's own NATS sink code. A missing binary fails the test unless
//! SKIP_PRIVILEGED=1.
#![allow(clippy::unwrap_used)]

use falco_proto::v1::{Alert, Priority};
use falco_sensor::config::NatsConfig;
use falco_sensor::sinks::aggregate::Item;
use falco_sensor::sinks::forward::{Encoder, Transport};
use falco_sensor::sinks::http::PostOutcome;
use falco_sensor::sinks::nats::{NatsEncoder, NatsTransport};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const NATS_SERVER: &str = "/usr/sbin/nats-server";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    panic!("{NATS_SERVER} is missing: install the Debian package nats-server");
}

fn start_nats(bin: &Path, store: &Path) -> (Killed, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nats-server not up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Killed(child), format!("nats://127.0.0.1:{port}"))
}

fn sensor_alert(cluster: &str, host: &str, seq: u64, rule: &str) -> Alert {
    Alert {
        seq,
        sensor_id: format!("{host}-sensor-id"),
        cluster: cluster.into(),
        hostname: host.into(),
        rule: rule.into(),
        priority: Priority::Critical as i32,
        output: format!("{rule} by bash"),
        source: "syscall".into(),
        time_ns: 1_714_557_600_000_000_000,
        ..Default::default()
    }
}

/// Publishes with the sensor's sink (creating the stream).
async fn publish(url: &str, alerts: Vec<Alert>) {
    let cfg = NatsConfig {
        enabled: true,
        url: url.into(),
        ..NatsConfig::default()
    };
    let items: Vec<Item> = alerts
        .into_iter()
        .map(|a| Item::single(Arc::new(a)))
        .collect();
    let transport = NatsTransport::new(&cfg);
    for p in NatsEncoder::new(&cfg).unwrap().encode(&items) {
        assert!(matches!(
            transport.send(p.body).await,
            PostOutcome::Accepted
        ));
    }
}

/// Runs the console with `args`; its stdout lines arrive on the channel.
fn console(args: &[&str]) -> (Killed, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_falco-console"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    (Killed(child), rx)
}

/// Lines until `n` arrived, then whatever else comes within `quiet`.
fn lines(rx: &mpsc::Receiver<String>, n: usize, quiet: Duration) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => got.push(l),
            Err(_) => panic!("only {} of {n} lines: {got:?}", got.len()),
        }
    }
    while let Ok(l) = rx.recv_timeout(quiet) {
        got.push(l);
    }
    got
}

#[tokio::test]
async fn tail_since_returns_history_and_cluster_filters() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_nats, url) = start_nats(&bin, dir.path());
    publish(
        &url,
        vec![
            sensor_alert("eu", "n1", 1, "Shell in EU"),
            sensor_alert("us", "n2", 1, "Shell in US"),
            sensor_alert("eu", "n1", 2, "Write below etc"),
        ],
    )
    .await;

    // Before the console ever ran: --since returns them, in stream order.
    let (_c, rx) = console(&["tail", "--nats", &url, "--since", "1h"]);
    let got = lines(&rx, 3, Duration::from_millis(500));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].contains("Shell in EU") && got[0].contains("n1"),
        "{got:?}"
    );
    assert!(got[1].contains("Shell in US"), "{got:?}");

    let (_c, rx) = console(&[
        "tail",
        "--nats",
        &url,
        "--since",
        "1h",
        "--cluster",
        "eu",
        "--json",
    ]);
    let got = lines(&rx, 2, Duration::from_millis(800));
    assert_eq!(got.len(), 2, "{got:?}");
    for l in &got {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["hostname"], "n1", "{l}");
    }
    assert!(got[1].contains("Write below etc"), "{got:?}");
}

#[tokio::test]
async fn tail_without_since_shows_new_alerts_only() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_nats, url) = start_nats(&bin, dir.path());
    publish(&url, vec![sensor_alert("eu", "n1", 1, "Old alert")]).await;
    let (_c, rx) = console(&["tail", "--nats", &url]);
    // Give the consumer time to start, then publish a live alert.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    publish(&url, vec![sensor_alert("eu", "n1", 2, "Live alert")]).await;
    let got = lines(&rx, 1, Duration::from_millis(500));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("Live alert"), "{got:?}");
}

#[tokio::test]
async fn stats_lists_the_stream_and_reporting_sensors() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_nats, url) = start_nats(&bin, dir.path());
    publish(&url, vec![sensor_alert("eu", "n1", 1, "Shell in EU")]).await;
    let client = async_nats::connect(url.as_str()).await.unwrap();
    let beat = tokio::spawn(async move {
        loop {
            let status = serde_json::json!({
                "sensor_id": "n1-sensor-id", "hostname": "n1", "cluster": "eu",
                "version": "0.1.0", "health": "ok", "rules_loaded": 80,
                "rules_enabled": 70, "events_per_sec": 1234.5, "last_seq": 1,
            });
            let _ = client
                .publish("falco.status.eu.n1", status.to_string().into())
                .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_falco-console"))
                .args(["stats", "--nats", &url])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    beat.abort();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("stream FALCO_ALERTS: 1 alerts"), "{text}");
    assert!(text.contains("1 sensors reporting"), "{text}");
    assert!(
        text.contains("eu/n1") && text.contains("rules 70/80"),
        "{text}"
    );
}

/// Reads `n` alerts from the source into the store; returns how many were new.
async fn read_into_store(
    opts: falco_console::source::nats::NatsOptions,
    store: &mut falco_console::store::Store,
    n: usize,
) -> usize {
    use falco_console::event::{AppEvent, Event};
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(falco_console::source::nats::run_events(opts, tx));
    let mut recs = Vec::new();
    while recs.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(Event::App(AppEvent::Alert(a)))) => recs.push(*a),
            Ok(Some(_)) => {}
            other => panic!(
                "source ended or stalled after {} alerts: {other:?}",
                recs.len()
            ),
        }
    }
    // Anything else the source delivers shortly after (the re-read overlap).
    while let Ok(Some(Event::App(AppEvent::Alert(a)))) =
        tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
    {
        recs.push(*a);
    }
    task.abort();
    store.insert(&mut recs).unwrap()
}

#[tokio::test]
async fn a_restarted_console_resumes_from_its_store_without_duplicates() {
    use falco_console::source::nats::{NatsOptions, Start, resume_start};
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_nats, url) = start_nats(&bin, dir.path());
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    let at = |mut a: Alert, t: i64| {
        a.time_ns = t;
        a
    };
    publish(
        &url,
        vec![
            at(sensor_alert("eu", "n1", 1, "First"), now - 1_000_000_000),
            at(sensor_alert("eu", "n1", 2, "Second"), now),
        ],
    )
    .await;
    let mut store =
        falco_console::store::Store::open(&dir.path().join("console.db"), 1000).unwrap();
    let mut opts = NatsOptions::new(&url);
    assert_eq!(resume_start(&store, &opts).unwrap(), Start::All);
    opts.start = Start::All;
    assert_eq!(read_into_store(opts.clone(), &mut store, 2).await, 2);

    // "Restart": the resume point comes from the store, a minute before the
    // latest stored alert; a new alert arrives while the console was away.
    let start = resume_start(&store, &opts).unwrap();
    assert_eq!(start, Start::Since(now - 60_000_000_000));
    publish(
        &url,
        vec![at(sensor_alert("eu", "n1", 3, "Third"), now + 1)],
    )
    .await;
    opts.start = start;
    assert_eq!(
        read_into_store(opts, &mut store, 1).await,
        1,
        "only the new alert is new"
    );
    let key = "nats:eu/n1@n1-senso";
    for seq in 1..=3 {
        assert!(store.contains(key, seq).unwrap(), "seq {seq}");
    }
    assert_eq!(store.load().unwrap().len(), 3);
}
