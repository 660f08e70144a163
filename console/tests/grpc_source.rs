//! The gRPC source against a real in-process tonic server: replay, live alerts,
//! reconnect with resume after the server restarts, Gap reporting, and a sensor
//! restart (new sensor id) starting over. Plus the `stats` and `tail` commands.
#![allow(clippy::unwrap_used)]

mod common;

use common::fake_sensor::FakeSensor;
use falco_console::app::App;
use falco_console::event::{AppEvent, Event, SensorUpdateKind};
use falco_console::source::{SensorTarget, grpc};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Safety net so a broken source fails the test instead of hanging CI.
const WAIT: Duration = Duration::from_secs(60);

struct Probe {
    rx: mpsc::Receiver<Event>,
    app: App,
}

impl Probe {
    /// Next event from the source; every event is also applied to an App, as the UI would.
    async fn next(&mut self) -> Event {
        let ev = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("source went silent")
            .expect("source ended");
        let copy = match &ev {
            Event::App(AppEvent::Alert(a)) => Some(Event::App(AppEvent::Alert(a.clone()))),
            Event::App(AppEvent::Sensor(u)) => Some(Event::App(AppEvent::Sensor(u.clone()))),
            _ => None,
        };
        if let Some(Event::App(e)) = copy {
            self.app.on_app_event(e);
            self.app.flush();
        }
        ev
    }

    /// Alerts' (sensor key, seq) until `n` alerts arrived, skipping heartbeats/stats.
    async fn alerts(&mut self, n: usize) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while out.len() < n {
            if let Event::App(AppEvent::Alert(a)) = self.next().await {
                out.push((a.sensor.clone(), a.seq));
            }
        }
        out
    }

    async fn until(&mut self, pred: impl Fn(&SensorUpdateKind) -> bool) -> SensorUpdateKind {
        loop {
            match self.next().await {
                Event::App(AppEvent::Sensor(u)) if pred(&u.kind) => return u.kind,
                Event::App(AppEvent::Alert(a)) => panic!("unexpected alert #{}", a.seq),
                _ => {}
            }
        }
    }
}

fn seqs(key: &str, r: std::ops::RangeInclusive<u64>) -> Vec<(String, u64)> {
    r.map(|s| (key.to_string(), s)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_resumes_and_reports_gaps() {
    let sensor = FakeSensor::new("sensor-a");
    for _ in 0..3 {
        sensor.emit("Terminal shell in container");
    }
    let server = sensor.serve("127.0.0.1:0".parse().unwrap()).await;
    let addr = server.addr;
    let (tx, rx) = mpsc::channel(1024);
    let target = SensorTarget::plain(&addr.to_string());
    let source = tokio::spawn(grpc::run_sensor(target, HashMap::new(), tx));
    let mut p = Probe {
        rx,
        app: App::new("test", 0),
    };

    // first connect replays everything held
    match p
        .until(|k| matches!(k, SensorUpdateKind::Connected { .. }))
        .await
    {
        SensorUpdateKind::Connected {
            resumed_from,
            version,
        } => {
            assert_eq!(resumed_from, 0);
            assert_eq!(version.sensor_id, "sensor-a");
        }
        _ => unreachable!(),
    }
    assert_eq!(p.alerts(3).await, seqs("sensor-a", 1..=3));
    sensor.emit("live");
    assert_eq!(p.alerts(1).await, seqs("sensor-a", 4..=4));

    // the server goes away; the sensor keeps producing meanwhile
    server.stop().await;
    sensor.emit("while down");
    sensor.emit("while down");
    p.until(|k| matches!(k, SensorUpdateKind::Disconnected { .. }))
        .await;
    let server = sensor.serve(addr).await;
    match p
        .until(|k| matches!(k, SensorUpdateKind::Connected { .. }))
        .await
    {
        SensorUpdateKind::Connected { resumed_from, .. } => assert_eq!(resumed_from, 4),
        _ => unreachable!(),
    }
    assert_eq!(
        p.alerts(2).await,
        seqs("sensor-a", 5..=6),
        "resumed without loss or duplicate"
    );
    {
        let s = sensor.state.lock().unwrap();
        let last = s.subscribes.last().unwrap();
        assert_eq!((last.since_seq, last.from_oldest), (4, false));
    }

    // down again, and this time the buffer rolls over: 7..=9 are lost
    server.stop().await;
    for _ in 0..5 {
        sensor.emit("rolled");
    }
    sensor.evict_below(10);
    let server = sensor.serve(addr).await;
    match p.until(|k| matches!(k, SensorUpdateKind::Gap { .. })).await {
        SensorUpdateKind::Gap {
            first,
            last,
            reason,
        } => {
            assert_eq!((first, last, reason.as_str()), (7, 9, "evicted"));
        }
        _ => unreachable!(),
    }
    assert_eq!(p.alerts(2).await, seqs("sensor-a", 10..=11));
    let s = &p.app.sensors[0];
    assert_eq!(
        s.gaps,
        vec!["gap: alerts #7..#9 lost (evicted)".to_string()]
    );
    assert!(
        p.app.message.as_deref().unwrap().contains("#7..#9"),
        "gap shown to the operator"
    );
    assert_eq!(p.app.entries.len(), 8);
    server.stop().await;

    // the sensor process restarts: new id, seqs start over, replay from oldest
    let restarted = FakeSensor::new("sensor-b");
    restarted.emit("after restart");
    let server = restarted.serve(addr).await;
    match p
        .until(|k| matches!(k, SensorUpdateKind::Connected { .. }))
        .await
    {
        SensorUpdateKind::Connected {
            resumed_from,
            version,
        } => {
            assert_eq!(resumed_from, 0);
            assert_eq!(version.sensor_id, "sensor-b");
        }
        _ => unreachable!(),
    }
    assert_eq!(p.alerts(1).await, seqs("sensor-b", 1..=1));
    assert_eq!(
        p.app.entries.len(),
        9,
        "same seq from a new sensor id is a new alert"
    );
    source.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_position_from_a_previous_run() {
    let sensor = FakeSensor::new("sensor-a");
    for _ in 0..5 {
        sensor.emit("r");
    }
    let server = sensor.serve("127.0.0.1:0".parse().unwrap()).await;
    let (tx, rx) = mpsc::channel(1024);
    let resume = HashMap::from([("sensor-a".to_string(), 3u64)]);
    let source = tokio::spawn(grpc::run_sensor(
        SensorTarget::plain(&server.addr.to_string()),
        resume,
        tx,
    ));
    let mut p = Probe {
        rx,
        app: App::new("test", 0),
    };
    assert_eq!(p.alerts(2).await, seqs("sensor-a", 4..=5));
    source.abort();
    server.stop().await;
}

fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_falco-console"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_command_prints_and_fails_when_unreachable() {
    let sensor = FakeSensor::new("sensor-a");
    sensor.emit("Terminal shell in container");
    let server = sensor.serve("127.0.0.1:0".parse().unwrap()).await;
    let addr = server.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        bin().args(["stats", "--sensor", &addr]).output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("version 0.1.0-fake"), "{text}");
    assert!(text.contains("rules 88/90 enabled"), "{text}");
    assert!(text.contains("7 kernel drops"), "{text}");
    server.stop().await;

    // nothing listens on a port we just released
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = bin()
        .args(["stats", "--sensor", &free.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&free.to_string()),
        "error names the sensor: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_streams_filtered_sanitized_lines() {
    let sensor = FakeSensor::new("sensor-a");
    sensor.emit("Quiet rule");
    sensor.emit("Evil\x1b]0;owned\x07 rule");
    sensor.emit("Other");
    let server = sensor.serve("127.0.0.1:0".parse().unwrap()).await;
    let addr = server.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut child = bin()
            .args(["tail", "--sensor", &addr, "--grep", "evil"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        line
    })
    .await
    .unwrap();
    assert!(out.contains("Evil\\x1b]0;owned\\x07 rule"), "{out:?}");
    assert!(!out.trim_end().chars().any(|c| c.is_control()), "{out:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafted_exception_is_applied_where_actions_are_allowed() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let sensor = FakeSensor::new("sensor-a");
    sensor.state.lock().unwrap().actions_enabled = true;
    sensor.emit("Terminal shell in container");
    let server = sensor.serve("127.0.0.1:0".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::channel(1024);
    let target = SensorTarget::plain(&server.addr.to_string());
    let mut app = App::new("test", 0);
    app.targets = vec![target.clone()];
    app.set_sender(tx.clone());
    app.exceptions_path = dir.path().join("tuning.yaml");
    let source = tokio::spawn(grpc::run_sensor(target, HashMap::new(), tx));
    async fn next(app: &mut App, rx: &mut mpsc::Receiver<Event>) {
        let ev = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        if let Event::App(e) = ev {
            app.on_app_event(e);
            app.flush();
            app.prepare();
        }
    }
    // wait until the alert and the sensor's version (actions_enabled) are known
    while app.entries.is_empty() || app.action_targets().is_empty() {
        next(&mut app, &mut rx).await;
    }
    app.on_key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE));
    app.on_key(KeyEvent::new(KeyCode::Char('A'), KeyModifiers::NONE));
    while !app
        .message
        .as_deref()
        .is_some_and(|m| m.contains("rules reloaded"))
    {
        next(&mut app, &mut rx).await;
    }
    let files = sensor.state.lock().unwrap().put_files.clone();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "console-tuning.yaml");
    assert!(
        files[0].content.contains("exceptions: append"),
        "{}",
        files[0].content
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tuning.yaml")).unwrap(),
        files[0].content,
        "the local file and what the sensor got are the same"
    );
    source.abort();
    server.stop().await;
}
