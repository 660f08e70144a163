//! End to end on a fleet: the real sensor (eBPF) with `outputs.nats` on
//! publishes to a real nats-server (JetStream), and the alert read back from
//! the stream carries its typed process context; when the console binary is
//! built (`cargo test --workspace`), `falco-console tail --nats` shows it.
//! Privileged (eBPF): fails loudly without root unless SKIP_PRIVILEGED=1.
#![allow(clippy::unwrap_used)]

mod support;

use async_nats::jetstream;
use falco_proto::v1::Alert;
use prost::Message as _;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::sensor::{Sensor, free_port, runtime};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sensor_alert_reaches_jetstream_and_the_console() {
    if !support::require_privileged("the NATS end-to-end test") {
        return;
    }
    let bin = std::path::Path::new("/usr/sbin/nats-server");
    assert!(bin.exists(), "install the Debian package nats-server");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _nats = Killed(
        Command::new(bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path().join("js"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("nats://127.0.0.1:{port}");
    let rules = dir.path().join("nats.yaml");
    std::fs::write(
        &rules,
        "- rule: Fleet marker ran\n  desc: e2e\n  condition: evt.type in (execve, execveat) and evt.rawres = 0 and proc.name = fleetmark\n  output: fleet marker ran %proc.cmdline\n  priority: WARNING\n",
    )
    .unwrap();
    let mut sensor = Sensor::start(
        dir.path(),
        &[
            "-r".into(),
            rules.display().to_string(),
            "-o".into(),
            "cluster=e2e-fleet".into(),
            "-o".into(),
            "outputs.nats.enabled=true".into(),
            "-o".into(),
            format!("outputs.nats.url={url}"),
            "-o".into(),
            "outputs.nats.forward.batch_wait_ms=20".into(),
        ],
    );
    let rt = runtime();
    rt.block_on(sensor.connect());
    let marker = dir.path().join("fleetmark");
    std::fs::copy("/bin/true", &marker).unwrap();
    Command::new(&marker).arg("--fleet").status().unwrap();

    let alert = rt.block_on(async {
        let js = jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                Instant::now() < deadline,
                "no alert in the stream:\n{}",
                sensor.log_text()
            );
            if let Ok(s) = js.get_stream("FALCO_ALERTS").await {
                for seq in 1..=s.cached_info().state.last_sequence {
                    let m = s.get_raw_message(seq).await.unwrap();
                    let a = Alert::decode(m.payload).unwrap();
                    if a.rule == "Fleet marker ran" {
                        assert!(
                            m.subject.starts_with("falco.alerts.e2e-fleet."),
                            "{}",
                            m.subject
                        );
                        assert!(m.subject.ends_with(".warning"), "{}", m.subject);
                        return a;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let p = alert.process.as_ref().expect("typed process context");
    assert_eq!(p.name, "fleetmark");
    assert!(p.cmdline.contains("--fleet"), "{}", p.cmdline);
    assert_eq!(alert.cluster, "e2e-fleet");
    assert!(!alert.sensor_id.is_empty());

    // The console, when built alongside (same target directory).
    let console = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("falco-console"))
        .filter(|p| p.exists());
    let Some(console) = console else {
        eprintln!("falco-console not built: skipping the console half");
        return;
    };
    let mut tail = Killed(
        Command::new(console)
            .args([
                "tail",
                "--nats",
                &url,
                "--since",
                "1h",
                "--cluster",
                "e2e-fleet",
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = tail.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let l = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("console tail showed no marker alert");
        if l.contains("Fleet marker ran") {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            assert_eq!(v["hostname"], alert.hostname, "{l}");
            assert!(v["output"].as_str().unwrap().contains("--fleet"), "{l}");
            break;
        }
    }
}
