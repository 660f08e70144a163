//! The Alertmanager and syslog sinks against the real servers, started by
//! the test as our own processes on free loopback ports: Debian's
//! `prometheus-alertmanager` (two of them, as an HA pair) and `rsyslog`
//! (UDP, TCP and TLS inputs writing to a temp file). The binaries come from
//! TEST_PACKAGES in scripts/lib/common.sh; a missing binary fails the test
//! unless SKIP_PRIVILEGED=1.
#![allow(clippy::unwrap_used)]

mod delivery_support;

use delivery_support::*;
use falco_proto::v1::Priority;
use falco_sensor::config::{ForwardConfig, SyslogProtocol};
use falco_sensor::delivery::DeliveryHandle;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// The server binary, or None (skip) when it is missing and SKIP_PRIVILEGED=1.
fn server_binary(path: &str, package: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(PathBuf::from(path));
    }
    if std::env::var("SKIP_PRIVILEGED").as_deref() == Ok("1") {
        eprintln!("SKIP_PRIVILEGED=1: {path} missing, skipping");
        return None;
    }
    panic!("{path} is missing: install the Debian package {package} (scripts/test.sh does)");
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn fast_forward() -> ForwardConfig {
    ForwardConfig {
        batch_wait_ms: 20,
        backoff_initial_ms: 20,
        backoff_max_ms: 200,
        max_retries: 50,
        ..ForwardConfig::default()
    }
}

/// A plain HTTP/1.0 GET: (status, body).
async fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).await.ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

async fn start_alertmanager(bin: &Path, dir: &Path, name: &str) -> (Server, String) {
    start_alertmanager_on(bin, dir, name, free_port()).await
}

async fn start_alertmanager_on(bin: &Path, dir: &Path, name: &str, port: u16) -> (Server, String) {
    let addr = format!("127.0.0.1:{port}");
    let conf = dir.join(format!("{name}.yml"));
    std::fs::write(
        &conf,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", conf.display()))
        .arg(format!("--storage.path={}", dir.join(name).display()))
        .arg(format!("--web.listen-address={addr}"))
        // Standalone: no gossip cluster (each instance is asserted on its own).
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let start = std::time::Instant::now();
    loop {
        if let Some((200, _)) = http_get(&addr, "/-/ready").await {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "alertmanager on {addr} not ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (server, addr)
}

async fn am_alerts(addr: &str) -> Vec<Value> {
    match http_get(addr, "/api/v2/alerts").await {
        Some((200, body)) => serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_ha_pair_gets_labelled_alerts_that_resolve() {
    let Some(bin) = server_binary(ALERTMANAGER, "prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_am1, a1) = start_alertmanager(&bin, dir.path(), "am1").await;
    let (_am2, a2) = start_alertmanager(&bin, dir.path(), "am2").await;
    let dead = format!("127.0.0.1:{}", free_port());

    let mut cfg = test_config();
    cfg.outputs.alertmanager.enabled = true;
    // One member of the HA set is down: delivery still succeeds.
    cfg.outputs.alertmanager.urls = vec![
        format!("http://{a1}"),
        format!("http://{dead}"),
        format!("http://{a2}/"),
    ];
    cfg.outputs.alertmanager.resolve_timeout_secs = 600;
    cfg.outputs.alertmanager.forward = fast_forward();
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
    let c = h.bus().counters().sink("alertmanager");
    wait_until("batch accepted", || c.sent.load(Relaxed) == 2).await;
    assert_eq!(c.failed.load(Relaxed), 0);

    for addr in [&a1, &a2] {
        let alerts = am_alerts(addr).await;
        assert_eq!(alerts.len(), 2, "{addr}: {alerts:?}");
        let shell = alerts
            .iter()
            .find(|a| a["labels"]["alertname"] == "Terminal shell in container")
            .unwrap_or_else(|| panic!("{addr}: {alerts:?}"));
        let l = &shell["labels"];
        assert_eq!(l["priority"], "Critical");
        assert_eq!(l["severity"], "critical");
        assert_eq!(l["namespace"], "prod");
        assert_eq!(l["pod"], "web-1");
        assert_eq!(l["cluster"], "test-cluster");
        assert_eq!(l["hostname"], "node-a");
        assert_eq!(
            shell["annotations"]["description"],
            "Terminal shell in container by bash -i"
        );
        assert_eq!(shell["status"]["state"], "active");
        // endsAt = now + resolve timeout: the alert resolves by itself.
        let ends: chrono::DateTime<chrono::Utc> =
            shell["endsAt"].as_str().unwrap().parse().unwrap();
        let left = (ends - chrono::Utc::now()).num_seconds();
        assert!((500..=600).contains(&left), "endsAt in {left}s");
        let host = alerts
            .iter()
            .find(|a| a["labels"]["alertname"] == "Write below etc")
            .unwrap();
        assert!(host["labels"].get("namespace").is_none(), "{host}");
    }

    // The same alert again is the same Alertmanager alert (deduplicated by labels).
    h.publish(alert(
        "Terminal shell in container",
        Priority::Critical,
        "prod",
        "bash -i",
    ));
    wait_until("third alert accepted", || c.sent.load(Relaxed) == 3).await;
    assert_eq!(am_alerts(&a1).await.len(), 2);
}

/// An rsyslog with UDP, TCP and TLS inputs, writing every message, one
/// line each, as `severity|hostname|app|msgid|structured data|msg`.
struct Rsyslog {
    _server: Server,
    out: PathBuf,
    udp: u16,
    tcp: u16,
    tls: u16,
}

async fn start_rsyslog(bin: &Path, dir: &Path, pki: &Pki) -> Rsyslog {
    start_rsyslog_on(bin, dir, pki, [free_port(), free_port(), free_port()]).await
}

async fn start_rsyslog_on(bin: &Path, dir: &Path, pki: &Pki, ports: [u16; 3]) -> Rsyslog {
    let [udp, tcp, tls] = ports;
    let out = dir.join("out.log");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}"
  defaultNetstreamDriverCAFile="{ca}"
  defaultNetstreamDriverCertFile="{cert}"
  defaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imtcp" maxSessions="50")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imtcp" address="127.0.0.1" port="{tls}"
  streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="line" type="string"
  string="%syslogseverity%|%hostname%|%app-name%|%msgid%|%structured-data%|%msg%\n")
*.* action(type="omfile" file="{out}" template="line")
"#,
            work = dir.display(),
            ca = pki.path("ca.pem").display(),
            cert = pki.path("server.pem").display(),
            key = pki.path("server.key").display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server(child);
    let start = std::time::Instant::now();
    for port in [tcp, tls] {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rsyslogd did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Rsyslog {
        _server: server,
        out,
        udp,
        tcp,
        tls,
    }
}

fn lines_with(path: &Path, needle: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_receives_rfc5424_over_udp_tcp_and_tls_without_record_splitting() {
    let Some(bin) = server_binary(RSYSLOGD, "rsyslog") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let rs = start_rsyslog(&bin, dir.path(), &pki).await;

    for (protocol, port) in [
        (SyslogProtocol::Udp, rs.udp),
        (SyslogProtocol::Tcp, rs.tcp),
        (SyslogProtocol::Tls, rs.tls),
    ] {
        let tag = format!("{protocol:?}").to_lowercase();
        let mut cfg = test_config();
        cfg.outputs.syslog.enabled = true;
        cfg.outputs.syslog.protocol = protocol;
        // TLS checks the certificate's name; the others go to the literal address.
        let host = if protocol == SyslogProtocol::Tls {
            "localhost"
        } else {
            "127.0.0.1"
        };
        cfg.outputs.syslog.address = format!("{host}:{port}");
        cfg.outputs.syslog.app_name = format!("falco-{tag}");
        cfg.outputs.syslog.forward = fast_forward();
        cfg.outputs.syslog.forward.ca_file = Some(pki.path("ca.pem"));
        let h = start_delivery(&cfg).await;
        // A file name with CRLF and a forged syslog record in it.
        let evil = "/tmp/x\r\n<11>1 2024-01-01T00:00:00Z forged falco - - - FORGED";
        let mut a = alert("Write below etc", Priority::Error, "prod", "vi");
        a.output = format!("File below /etc opened (file={evil})");
        a.output_fields.insert("fd.name".into(), evil.into());
        h.publish(a);
        h.publish(alert("Terminal shell", Priority::Notice, "prod", "bash -i"));
        let c = h.bus().counters().sink("syslog");
        wait_until(&format!("{tag}: 2 sent"), || c.sent.load(Relaxed) == 2).await;
        let app = format!("|falco-{tag}|");
        wait_until(&format!("{tag}: 2 lines in rsyslog's file"), || {
            lines_with(&rs.out, &app).len() >= 2
        })
        .await;
        let lines = lines_with(&rs.out, &app);
        assert_eq!(lines.len(), 2, "{tag}: {lines:#?}");
        let write = &lines[0];
        assert!(
            write.starts_with("3|node-a|"),
            "{tag}: severity err: {write}"
        );
        assert!(
            write.contains("|alert|[falco@32473 rule=\"Write below etc\""),
            "{write}"
        );
        assert!(write.contains("k8s.ns.name=\"prod\""), "{write}");
        // The CRLF arrived as visible text, never as a record break or as
        // raw control characters (rsyslog would show those as #015#012).
        assert!(write.contains("file=/tmp/x\\r\\n<11>1 2024"), "{write}");
        assert!(
            !write.contains("#015") && !write.contains("#012"),
            "{write}"
        );
        let all = std::fs::read_to_string(&rs.out).unwrap();
        assert!(
            !all.lines()
                .any(|l| l.starts_with("<11>") || l.contains("|forged|")),
            "a forged record: {all}"
        );
        assert!(
            lines[1].starts_with("5|node-a|"),
            "{tag}: notice: {}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("Terminal shell by bash -i"),
            "{}",
            lines[1]
        );
        h.shutdown(Duration::from_secs(1));
    }
}

async fn stop(h: DeliveryHandle) {
    h.shutdown(Duration::from_millis(50));
    // Let the aborted forwarder tasks drop (and release the buffer's lock).
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn buffered(fwd: &mut ForwardConfig, dir: &Path) {
    *fwd = ForwardConfig {
        queue_capacity: 4,
        batch_size: 5,
        ..fast_forward()
    };
    fwd.disk_buffer.dir = Some(dir.to_path_buf());
}

/// Publishes `n` alerts numbered in `proc.cmdline`, letting the intake run.
async fn publish_numbered(h: &DeliveryHandle, n: usize) {
    for i in 0..n {
        h.publish(alert("Outage", Priority::Warning, "prod", &format!("n{i}")));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_outage_across_a_sensor_restart_loses_nothing_in_order() {
    let Some(bin) = server_binary(RSYSLOGD, "rsyslog") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let buffer = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let ports = [free_port(), free_port(), free_port()];
    let mut cfg = test_config();
    cfg.outputs.syslog.enabled = true;
    cfg.outputs.syslog.protocol = SyslogProtocol::Tcp;
    cfg.outputs.syslog.address = format!("127.0.0.1:{}", ports[1]);
    cfg.outputs.syslog.app_name = "falco-outage".into();
    buffered(&mut cfg.outputs.syslog.forward, buffer.path());

    // rsyslog is down: 40 alerts, ten times the memory queue.
    let h = start_delivery(&cfg).await;
    publish_numbered(&h, 40).await;
    let c = h.bus().counters().sink("syslog");
    wait_until("retries", || c.retried.load(Relaxed) >= 2).await;
    assert_eq!((c.sent.load(Relaxed), c.dropped.load(Relaxed)), (0, 0));
    stop(h).await;

    let rs = start_rsyslog_on(&bin, dir.path(), &pki, ports).await;
    let h = start_delivery(&cfg).await;
    wait_until("40 lines", || {
        lines_with(&rs.out, "|falco-outage|").len() >= 40
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got: Vec<String> = lines_with(&rs.out, "|falco-outage|")
        .iter()
        .map(|l| l.rsplit(" by ").next().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
    assert_eq!(got, expected, "every alert once, in order");
    stop(h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_outage_across_a_sensor_restart_loses_nothing() {
    let Some(bin) = server_binary(ALERTMANAGER, "prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let buffer = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = test_config();
    cfg.outputs.alertmanager.enabled = true;
    cfg.outputs.alertmanager.urls = vec![format!("http://127.0.0.1:{port}")];
    buffered(&mut cfg.outputs.alertmanager.forward, buffer.path());

    let h = start_delivery(&cfg).await;
    // One namespace each: 30 distinct Alertmanager alerts.
    for i in 0..30 {
        h.publish(alert("Outage", Priority::Warning, &format!("ns{i}"), "x"));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let c = h.bus().counters().sink("alertmanager");
    wait_until("retries", || c.retried.load(Relaxed) >= 2).await;
    assert_eq!((c.sent.load(Relaxed), c.dropped.load(Relaxed)), (0, 0));
    stop(h).await;

    let (_am, addr) = start_alertmanager_on(&bin, dir.path(), "am", port).await;
    let h = start_delivery(&cfg).await;
    let c = h.bus().counters().sink("alertmanager");
    wait_until("30 sent", || c.sent.load(Relaxed) == 30).await;
    let mut got: Vec<String> = am_alerts(&addr)
        .await
        .iter()
        .map(|a| a["labels"]["namespace"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut expected: Vec<String> = (0..30).map(|i| format!("ns{i}")).collect();
    expected.sort();
    assert_eq!(got, expected);
    stop(h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_tcp_reconnects_when_rsyslog_restarts_without_losing_a_message() {
    let Some(bin) = server_binary(RSYSLOGD, "rsyslog") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let ports = [free_port(), free_port(), free_port()];
    let mut cfg = test_config();
    cfg.outputs.syslog.enabled = true;
    cfg.outputs.syslog.protocol = SyslogProtocol::Tcp;
    cfg.outputs.syslog.address = format!("127.0.0.1:{}", ports[1]);
    cfg.outputs.syslog.app_name = "falco-restart".into();
    cfg.outputs.syslog.forward = fast_forward();
    let h = start_delivery(&cfg).await;
    let c = h.bus().counters().sink("syslog");
    let rs = start_rsyslog_on(&bin, dir.path(), &pki, ports).await;
    for i in 0..5 {
        h.publish(alert(
            "Restart",
            Priority::Warning,
            "prod",
            &format!("n{i}"),
        ));
    }
    wait_until("5 lines", || {
        lines_with(&rs.out, "|falco-restart|").len() >= 5
    })
    .await;
    // rsyslog restarts; the sensor's connection is now closed by the peer.
    drop(rs);
    let rs = start_rsyslog_on(&bin, dir.path(), &pki, ports).await;
    for i in 5..10 {
        h.publish(alert(
            "Restart",
            Priority::Warning,
            "prod",
            &format!("n{i}"),
        ));
    }
    wait_until("10 sent", || c.sent.load(Relaxed) == 10).await;
    wait_until("10 lines", || {
        lines_with(&rs.out, "|falco-restart|").len() >= 10
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got: Vec<String> = lines_with(&rs.out, "|falco-restart|")
        .iter()
        .map(|l| l.rsplit(" by ").next().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    assert_eq!(got, expected);
    stop(h).await;
}
