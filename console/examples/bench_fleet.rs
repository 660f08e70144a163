//! Fleet benchmark: N simulated sensors (each the sensor's own NATS sink:
//! encoder + transport, own connection, own sensor id) publish R alerts/s
//! each into one nats-server with JetStream; the console's NATS source reads
//! the stream into a console store. Prints sustained stored alerts/s, loss,
//! latency publish -> stored (p50/p99), nats-server CPU and this process's
//! RSS and CPU.
//!
//!   cargo run --example bench_fleet -- [SENSORS] [RATE] [SECONDS]
//!   (defaults 200 50 20; needs /usr/sbin/nats-server)
#![allow(clippy::unwrap_used)]

use falco_console::event::{AppEvent, Event};
use falco_console::source::nats::{NatsOptions, Start, run_events};
use falco_console::store::Store;
use falco_proto::v1::{Alert, Priority};
use falco_sensor::config::{ForwardConfig, NatsConfig};
use falco_sensor::sinks::aggregate::Item;
use falco_sensor::sinks::forward::{Encoder, Transport};
use falco_sensor::sinks::http::PostOutcome;
use falco_sensor::sinks::nats::{NatsEncoder, NatsTransport};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap()
}

/// utime + stime of a process, seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let sensors = args.first().copied().unwrap_or(200);
    let rate = args.get(1).copied().unwrap_or(50);
    let secs = args.get(2).copied().unwrap_or(20);

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("/usr/sbin/nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("nats://127.0.0.1:{port}");
    let cfg = NatsConfig {
        enabled: true,
        url: url.clone(),
        forward: ForwardConfig {
            timeout_ms: 5000,
            ..ForwardConfig::default()
        },
        ..NatsConfig::default()
    };
    // Create the stream before the consumer starts.
    falco_sensor::sinks::nats::connect(&cfg).await.unwrap();

    let mut store = Store::open(&dir.path().join("console.db"), 2_000_000).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(10_000);
    let mut opts = NatsOptions::new(&url);
    opts.start = Start::All;
    tokio::spawn(run_events(opts, tx));

    let failed = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let total = sensors * rate * secs;
    let start = Instant::now();
    let server_cpu0 = cpu_secs(server.id());
    let self_cpu0 = cpu_secs(std::process::id());
    for s in 0..sensors {
        let (cfg, failed, published) = (cfg.clone(), failed.clone(), published.clone());
        tokio::spawn(async move {
            let enc = NatsEncoder::new(&cfg).unwrap();
            let transport = NatsTransport::new(&cfg);
            // Ten rounds a second, each a batch of rate/10 alerts (the
            // worker's batching), spread over the first round.
            let per_round = (rate / 10).max(1);
            tokio::time::sleep(Duration::from_millis(s * 100 / sensors.max(1))).await;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut seq = 0u64;
            for _ in 0..secs * 10 {
                tick.tick().await;
                let items: Vec<Item> = (0..per_round)
                    .map(|_| {
                        seq += 1;
                        Item::single(Arc::new(Alert {
                            seq,
                            sensor_id: format!("sensor-{s:04}"),
                            cluster: format!("c{}", s % 4),
                            hostname: format!("node-{s:04}"),
                            rule: "Terminal shell in container".into(),
                            priority: Priority::Notice as i32,
                            output: "A shell was spawned in a container".into(),
                            source: "syscall".into(),
                            time_ns: now_ns(),
                            ..Default::default()
                        }))
                    })
                    .collect();
                for p in enc.encode(&items) {
                    let n = p.alerts;
                    match transport.send(p.body).await {
                        PostOutcome::Accepted => published.fetch_add(n, Relaxed),
                        _ => failed.fetch_add(n, Relaxed),
                    };
                }
            }
        });
    }

    let no_store = std::env::var_os("BENCH_NO_STORE").is_some();
    let mut latencies: Vec<i64> = Vec::with_capacity(total as usize);
    let mut stored = 0u64;
    let mut batch = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(secs + 30);
    while stored < total && Instant::now() < give_up {
        match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            Ok(Some(Event::App(AppEvent::Alert(a)))) => {
                batch.push(*a);
                while batch.len() < 1000 {
                    match rx.try_recv() {
                        Ok(Event::App(AppEvent::Alert(a))) => batch.push(*a),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => {}
        }
        if batch.is_empty() {
            continue;
        }
        // BENCH_NO_STORE=1 measures the NATS read alone.
        stored += if no_store {
            batch.len() as u64
        } else {
            store.insert(&mut batch).unwrap() as u64
        };
        let t = now_ns();
        latencies.extend(batch.iter().map(|a| t - a.time_ns));
        batch.clear();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu = cpu_secs(server.id()) - server_cpu0;
    let self_cpu = cpu_secs(std::process::id()) - self_cpu0;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |ns| *ns as f64 / 1e6)
    };
    println!(
        "fleet: {sensors} sensors x {rate} alerts/s for {secs} s = {total} alerts (offered {} alerts/s)",
        sensors * rate
    );
    println!(
        "  published {} (failed {}), stored {stored} in {elapsed:.1} s = {:.0} alerts/s sustained, lost {}",
        published.load(Relaxed),
        failed.load(Relaxed),
        stored as f64 / elapsed,
        total.saturating_sub(stored)
    );
    println!(
        "  latency publish -> console store: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  CPU: nats-server {:.0}% of a core, bench process (200 sinks + console source + store) {:.0}%; RSS of the bench process {:.0} MiB",
        100.0 * server_cpu / elapsed,
        100.0 * self_cpu / elapsed,
        rss_mib()
    );
    let _ = server.kill();
    let _ = server.wait();
}
