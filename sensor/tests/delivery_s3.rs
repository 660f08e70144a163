//! The S3 sink against a real S3 server (moto, from PyPI, in a venv the test
//! creates): objects are listed and downloaded with an independent client
//! (boto3), gunzipped, and their JSON lines checked.
#![allow(clippy::unwrap_used)]

mod delivery_support;
#[path = "delivery_support/pyservers.rs"]
mod pyservers;

use delivery_support::*;
use falco_proto::v1::Priority;
use falco_sensor::config::{Config, ForwardConfig};
use pyservers::{PyServer, free_port, run_python, script, venv};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

fn moto(venv: &Path, port: u16, logs: &Path) -> PyServer {
    let port_s = port.to_string();
    PyServer::start(
        venv,
        &["-m", "moto.server", "-H", "127.0.0.1", "-p", &port_s],
        port,
        logs,
    )
}

fn s3_config(endpoint: &str) -> Config {
    let mut cfg = test_config();
    let s3 = &mut cfg.outputs.s3;
    s3.enabled = true;
    s3.endpoint = endpoint.to_string();
    s3.bucket = "falco-alerts".into();
    s3.prefix = "falco".into();
    s3.access_key_id = "AKIDTEST".into();
    s3.secret_access_key = "secret-test".into();
    s3.forward = ForwardConfig {
        batch_size: 3,
        // Long enough that a loaded machine still fills [1,2,3] and [4,5,6].
        batch_wait_ms: 1000,
        backoff_initial_ms: 20,
        backoff_max_ms: 200,
        max_retries: 1000,
        ..ForwardConfig::default()
    };
    cfg
}

/// Every object: key -> (content type, parsed JSON lines).
fn dump(venv: &Path, endpoint: &str) -> Vec<(String, String, Vec<Value>)> {
    let out = run_python(
        venv,
        &[&script("s3_client.py"), "dump", endpoint, "falco-alerts"],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let mut objects: Vec<(String, String, Vec<Value>)> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, o)| {
            let lines = o["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| serde_json::from_str(l.as_str().unwrap()).unwrap())
                .collect();
            (
                k.clone(),
                o["content_type"].as_str().unwrap().to_string(),
                lines,
            )
        })
        .collect();
    objects.sort_by_key(|o| o.2[0]["seq"].as_u64().unwrap());
    objects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_become_gzipped_json_lines_objects_in_a_real_s3() {
    let Some(venv) = venv() else { return };
    let logs = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = moto(&venv, port, logs.path());
    let endpoint = format!("http://127.0.0.1:{port}");
    run_python(
        &venv,
        &[&script("s3_client.py"), "create", &endpoint, "falco-alerts"],
    );

    let h = start_delivery(&s3_config(&endpoint)).await;
    let sensor_id = h.bus().identity().sensor_id.clone();
    for i in 0..7 {
        let mut a = alert("Shell in pod", Priority::Error, "prod", &format!("cmd {i}"));
        // The last one an hour later.
        if i == 6 {
            a.time_ns += 3_600_000_000_000;
        }
        h.publish(a);
    }
    let c = h.bus().counters().sink("s3");
    wait_until("7 alerts stored", || c.sent.load(Relaxed) == 7).await;
    let objects = dump(&venv, &endpoint);
    let keys: Vec<&str> = objects.iter().map(|o| o.0.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("falco/test-cluster/node-a/2024/05/01/10/{sensor_id}-1.jsonl.gz"),
            format!("falco/test-cluster/node-a/2024/05/01/10/{sensor_id}-4.jsonl.gz"),
            format!("falco/test-cluster/node-a/2024/05/01/11/{sensor_id}-7.jsonl.gz"),
        ],
        "server log: {}",
        server.log_text()
    );
    let seqs: Vec<Vec<u64>> = objects
        .iter()
        .map(|o| o.2.iter().map(|l| l["seq"].as_u64().unwrap()).collect())
        .collect();
    assert_eq!(seqs, [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    let first = &objects[0].2[0];
    assert_eq!(first["rule"], "Shell in pod");
    assert_eq!(first["output_fields"]["proc.cmdline"], "cmd 0");
    assert_eq!(first["time"], "2024-05-01T10:00:00.000000000Z");
    assert_eq!(objects[0].1, "application/gzip");
    assert_eq!(c.failed.load(Relaxed), 0);
}

/// Forwards `listen` to `to` once started: the receiver "coming back".
async fn tcp_proxy(listen: u16, to: u16) {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", listen))
        .await
        .unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_queued_while_s3_is_unreachable_are_stored_once_it_is_back() {
    let Some(venv) = venv() else { return };
    let logs = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = moto(&venv, port, logs.path());
    let direct = format!("http://127.0.0.1:{port}");
    run_python(
        &venv,
        &[&script("s3_client.py"), "create", &direct, "falco-alerts"],
    );
    // The sensor talks to a port nobody listens on yet.
    let front = free_port();
    let mut cfg = s3_config(&format!("http://127.0.0.1:{front}"));
    cfg.outputs.s3.forward.batch_size = 10;
    let h = start_delivery(&cfg).await;
    for i in 0..25 {
        h.publish(alert(
            "Shell in pod",
            Priority::Error,
            "prod",
            &format!("cmd {i}"),
        ));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let c = h.bus().counters().sink("s3");
    assert_eq!(c.sent.load(Relaxed), 0);
    tcp_proxy(front, port).await;
    wait_until("25 alerts stored", || c.sent.load(Relaxed) == 25).await;
    let objects = dump(&venv, &direct);
    let mut seqs: Vec<u64> = objects
        .iter()
        .flat_map(|o| o.2.iter().map(|l| l["seq"].as_u64().unwrap()))
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=25).collect::<Vec<_>>(),
        "each alert exactly once"
    );
    assert_eq!(c.dropped.load(Relaxed), 0);
    assert_eq!(c.failed.load(Relaxed), 0);
}

/// Throughput against moto (`... -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn throughput_to_moto() {
    let Some(venv) = venv() else { return };
    let logs = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = moto(&venv, port, logs.path());
    let endpoint = format!("http://127.0.0.1:{port}");
    run_python(
        &venv,
        &[&script("s3_client.py"), "create", &endpoint, "falco-alerts"],
    );
    let mut cfg = s3_config(&endpoint);
    cfg.outputs.s3.forward.batch_size = 1000;
    cfg.outputs.s3.forward.queue_capacity = 50_000;
    let h = start_delivery(&cfg).await;
    let n = 20_000u64;
    let t0 = std::time::Instant::now();
    for i in 0..n {
        h.publish(alert(
            "Shell in pod",
            Priority::Error,
            "prod",
            &format!("cmd {i}"),
        ));
    }
    let c = h.bus().counters().sink("s3");
    wait_until("all stored", || c.sent.load(Relaxed) == n).await;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "s3: {n} alerts in {secs:.2}s = {:.0} alerts/s",
        n as f64 / secs
    );
}
