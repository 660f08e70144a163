//! The SMTP sink against a real SMTP server (aiosmtpd, from PyPI, in a venv
//! the test creates) with AUTH and STARTTLS or implicit TLS, using the test
//! PKI: digests, subject and bodies, hostile event data that must stay inert
//! (no header injection, no markup), and an outage.
#![allow(clippy::unwrap_used)]

mod delivery_support;
#[path = "delivery_support/pyservers.rs"]
mod pyservers;

use delivery_support::*;
use falco_proto::v1::Priority;
use falco_sensor::config::{Config, ForwardConfig, SmtpTls};
use pyservers::{PyServer, free_port, script, venv};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

fn smtp_server(venv: &Path, port: u16, out: &Path, mode: &str, pki: &Pki) -> PyServer {
    let port_s = port.to_string();
    let out_s = out.display().to_string();
    let cert = pki.path("server.pem").display().to_string();
    let key = pki.path("server.key").display().to_string();
    PyServer::start(
        venv,
        &[
            &script("smtp_server.py"),
            &port_s,
            &out_s,
            mode,
            &cert,
            &key,
            "alerts",
            "s3cret",
        ],
        port,
        out,
    )
}

fn smtp_config(port: u16, tls: SmtpTls, pki: &Pki) -> Config {
    let mut cfg = test_config();
    let s = &mut cfg.outputs.smtp;
    s.enabled = true;
    s.host = "127.0.0.1".into();
    s.port = port;
    s.tls = tls;
    s.username = "alerts".into();
    s.password = "s3cret".into();
    s.from = "Falco Sensor <falco@example.com>".into();
    s.to = vec![
        "sec@example.com".into(),
        "Oncall <oncall@example.com>".into(),
    ];
    s.subject_prefix = "[test]".into();
    let mut forward = ForwardConfig {
        min_priority: Priority::Warning,
        backoff_initial_ms: 20,
        backoff_max_ms: 200,
        max_retries: 1000,
        ca_file: Some(pki.path("ca.pem")),
        ..ForwardConfig::default()
    };
    forward.aggregation.enabled = true;
    forward.aggregation.window_secs = 1;
    s.forward = forward;
    cfg
}

fn mails(dir: &Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_is_one_digest_over_starttls_with_auth_and_hostile_data_stays_inert() {
    let Some(venv) = venv() else { return };
    let pki = Pki::new();
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = smtp_server(&venv, port, out.path(), "starttls", &pki);
    let h = start_delivery(&smtp_config(port, SmtpTls::Starttls, &pki)).await;
    for i in 0..20 {
        let mut a = alert("Shell in pod", Priority::Critical, "prod", "bash -i");
        a.time_ns += i * 1_000_000_000;
        h.publish(a);
    }
    let mut evil = alert(
        "Write below etc\r\nBcc: victim@evil.example",
        Priority::Error,
        "prod",
        "<script>alert(1)</script> *bold* @everyone",
    );
    evil.output_fields.insert(
        "fd.name".into(),
        "/etc/x\r\nBcc: victim@evil.example\r\n\r\n<img src=x>".into(),
    );
    evil.output = "File below /etc opened: <a href=\"http://evil\">click</a>".into();
    h.publish(evil);
    h.publish(alert("too quiet", Priority::Notice, "prod", "ls"));
    let c = h.bus().counters().sink("smtp");
    wait_until("21 alerts mailed", || c.sent.load(Relaxed) == 21).await;
    let got = mails(out.path());
    assert!(
        !got.is_empty() && got.len() <= 2,
        "a digest, not 21 mails: {} ({})",
        got.len(),
        server.log_text()
    );
    for m in &got {
        assert_eq!(m["tls"], true);
        assert_eq!(m["authenticated"], true);
        assert_eq!(m["mail_from"], "falco@example.com");
        assert_eq!(
            m["rcpt_tos"],
            serde_json::json!(["sec@example.com", "oncall@example.com"]),
            "no extra recipient"
        );
        let names: Vec<String> = m["raw_header_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_ascii_lowercase())
            .collect();
        assert!(!names.contains(&"bcc".to_string()), "{names:?}");
        let subject = m["subject"].as_str().unwrap();
        assert!(subject.starts_with("[test] "), "{subject}");
        assert!(!subject.contains('\r') && !subject.contains('\n'));
    }
    let all_text: String = got.iter().map(|m| m["text"].as_str().unwrap()).collect();
    let all_html: String = got.iter().map(|m| m["html"].as_str().unwrap()).collect();
    let storm = got
        .iter()
        .find(|m| m["text"].as_str().unwrap().contains("Shell in pod"))
        .unwrap();
    assert!(
        storm["text"].as_str().unwrap().contains("(×20 in 19s"),
        "{}",
        storm["text"]
    );
    assert!(
        storm["subject"]
            .as_str()
            .unwrap()
            .contains("Critical: Shell in pod")
    );
    // The hostile file name is one escaped line in text, escaped in HTML.
    assert!(
        all_text.contains("fd.name: /etc/x\\x0d\\x0aBcc: victim@evil.example\\x0d\\x0a"),
        "{all_text}"
    );
    assert!(!all_html.contains("<script>") && !all_html.contains("<img"));
    assert!(!all_html.contains("<a href"));
    assert!(all_html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!all_text.contains("too quiet") && !all_html.contains("too quiet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_delivers_and_an_untrusted_certificate_does_not() {
    let Some(venv) = venv() else { return };
    let pki = Pki::new();
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = smtp_server(&venv, port, out.path(), "tls", &pki);

    // Without the private CA the certificate is refused: nothing is sent.
    let mut cfg = smtp_config(port, SmtpTls::Tls, &pki);
    cfg.outputs.smtp.forward.ca_file = None;
    cfg.outputs.smtp.forward.max_retries = 0;
    cfg.outputs.smtp.forward.timeout_ms = 3_000;
    cfg.outputs.smtp.forward.aggregation.enabled = false;
    let h = start_delivery(&cfg).await;
    h.publish(alert(
        "Shell in pod",
        Priority::Critical,
        "prod",
        "untrusted",
    ));
    let c = h.bus().counters().sink("smtp");
    wait_until("the untrusted delivery to be judged", || {
        c.failed.load(Relaxed) + c.sent.load(Relaxed) == 1
    })
    .await;
    assert_eq!(
        c.failed.load(Relaxed),
        1,
        "delivered despite an untrusted certificate"
    );
    assert!(mails(out.path()).is_empty());
    drop(h);

    let mut cfg = smtp_config(port, SmtpTls::Tls, &pki);
    cfg.outputs.smtp.forward.aggregation.enabled = false;
    let h = start_delivery(&cfg).await;
    h.publish(alert("Shell in pod", Priority::Critical, "prod", "trusted"));
    let c = h.bus().counters().sink("smtp");
    wait_until("one mail over TLS", || c.sent.load(Relaxed) == 1).await;
    let got = mails(out.path());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["tls"], true);
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .contains("proc.cmdline: trusted")
    );
    assert_eq!(got[0]["subject"], "[test] Critical: Shell in pod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_queued_while_the_server_is_down_leave_once_it_is_back() {
    let Some(venv) = venv() else { return };
    let pki = Pki::new();
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = smtp_config(port, SmtpTls::Starttls, &pki);
    cfg.outputs.smtp.forward.aggregation.enabled = false;
    cfg.outputs.smtp.forward.batch_size = 5;
    cfg.outputs.smtp.forward.batch_wait_ms = 50;
    let h = start_delivery(&cfg).await;
    for i in 0..12 {
        h.publish(alert(
            "Shell in pod",
            Priority::Critical,
            "prod",
            &format!("cmd {i}"),
        ));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let c = h.bus().counters().sink("smtp");
    assert_eq!(c.sent.load(Relaxed), 0);
    let _server = smtp_server(&venv, port, out.path(), "starttls", &pki);
    wait_until("12 alerts mailed", || c.sent.load(Relaxed) == 12).await;
    let text: String = mails(out.path())
        .iter()
        .map(|m| m["text"].as_str().unwrap().replace("\r\n", "\n"))
        .collect();
    for i in 0..12 {
        assert_eq!(
            text.matches(&format!("proc.cmdline: cmd {i}\n")).count(),
            1,
            "cmd {i} exactly once in {text}"
        );
    }
    assert_eq!(c.failed.load(Relaxed), 0);
}
