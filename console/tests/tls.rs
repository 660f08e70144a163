//! TLS, mTLS and bearer tokens between the console and a sensor, with
//! certificates made by openssl for this test.
#![allow(clippy::unwrap_used)]

mod common;

use common::fake_sensor::{FakeSensor, Security};
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is required for this test (apt-get install openssl)");
    assert!(
        st.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn make_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
        ],
    );
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

fn stats(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_falco-console"))
        .arg("stats")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_and_token() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    let sensor = FakeSensor::new("secure");
    let server = sensor
        .serve_secure(
            "127.0.0.1:0".parse().unwrap(),
            Security {
                cert_pem: read("server.pem"),
                key_pem: read("server.key"),
                client_ca_pem: Some(read("ca.pem")),
                token: "s3cret".into(),
            },
        )
        .await;
    let addr = server.addr.to_string();
    let p = |f: &str| dir.path().join(f).display().to_string();
    let (ca, cert, key) = (p("ca.pem"), p("client.pem"), p("client.key"));
    let full: Vec<&str> = vec![
        "--sensor",
        &addr,
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--token",
        "s3cret",
    ];

    let out = tokio::task::spawn_blocking({
        let full: Vec<String> = full.iter().map(|s| s.to_string()).collect();
        move || stats(&full.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("version 0.1.0-fake"));

    // wrong token: the server refuses, the error says so
    let mut bad = full.clone();
    bad[9] = "wrong";
    let bad: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        stats(&bad.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unauthenticated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // no client certificate: the TLS handshake fails
    let no_cert: Vec<String> = ["--sensor", &addr, "--tls-ca", &ca, "--token", "s3cret"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        stats(&no_cert.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(!out.status.success());

    // plaintext to a TLS sensor fails too
    let plain: Vec<String> = ["--sensor", &addr, "--token", "s3cret"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        stats(&plain.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(!out.status.success());

    // half an identity is a usage error naming the options
    let out = stats(&["--sensor", &addr, "--tls-ca", &ca, "--tls-cert", &cert]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert and --tls-key go together"));
    server.stop().await;
}
