//! gRPC delivery over real tonic on 127.0.0.1: filters, resume without gap or
//! duplicate, gap markers, slow subscribers, TLS/mTLS/token, actions, Falco
//! interop and the metrics endpoint.
#![allow(clippy::unwrap_used)]

mod delivery_support;

use delivery_support::*;
use falco_proto::v1::sensor_service_client::SensorServiceClient;
use falco_proto::v1::subscribe_response::Payload;
use falco_proto::v1::*;
use falco_sensor::config::Config;
use falco_sensor::delivery::{Delivery, DeliveryHandle};
use falco_sensor::metrics::SensorCounters;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Streaming};

async fn start(cfg: &Config) -> DeliveryHandle {
    Delivery::start_in(cfg, TestInfo::new(), SensorCounters::new())
        .await
        .unwrap()
}

async fn client(h: &DeliveryHandle) -> SensorServiceClient<Channel> {
    let url = format!("http://{}", h.grpc_addr().unwrap());
    SensorServiceClient::connect(url).await.unwrap()
}

async fn next(stream: &mut Streaming<SubscribeResponse>) -> Option<Payload> {
    loop {
        let msg = tokio::time::timeout(HANG_GUARD, stream.message())
            .await
            .expect("stream stalled")
            .unwrap()?;
        match msg.payload {
            Some(Payload::Heartbeat(_)) => continue,
            other => return other,
        }
    }
}

async fn next_alert(stream: &mut Streaming<SubscribeResponse>) -> Alert {
    match next(stream).await {
        Some(Payload::Alert(a)) => a,
        other => panic!("expected an alert, got {other:?}"),
    }
}

#[tokio::test]
async fn subscribe_applies_server_side_filters() {
    let h = start(&test_config()).await;
    let mut c = client(&h).await;
    let mut s = c
        .subscribe(SubscribeRequest {
            min_priority: Priority::Warning as i32,
            rules: vec!["A".into(), "end".into()],
            namespaces: vec!["".into(), "prod".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let cases = [
        ("A", Priority::Critical, "prod", true),
        ("A", Priority::Notice, "prod", false),
        ("B", Priority::Critical, "prod", false),
        ("A", Priority::Error, "dev", false),
        ("A", Priority::Warning, "", true),
        ("A", Priority::Emergency, "prod", true),
    ];
    let mut expected = Vec::new();
    for (rule, p, ns, wanted) in cases {
        let seq = h.publish(alert(rule, p, ns, "sh"));
        if wanted {
            expected.push(seq);
        }
    }
    let end = h.publish(alert("end", Priority::Critical, "", "sh"));
    expected.push(end);
    let mut got = Vec::new();
    while got.last() != Some(&end) {
        let a = next_alert(&mut s).await;
        assert_eq!(a.hostname, "node-a");
        assert_eq!(a.cluster, "test-cluster");
        got.push(a.seq);
    }
    assert_eq!(got, expected);
}

#[tokio::test]
async fn resubscribe_with_since_seq_has_no_gap_and_no_duplicate() {
    let h = start(&test_config()).await;
    {
        let mut c = client(&h).await;
        let mut s = c
            .subscribe(SubscribeRequest::default())
            .await
            .unwrap()
            .into_inner();
        for i in 0..10 {
            h.publish(alert("r", Priority::Notice, "prod", &format!("cmd {i}")));
        }
        for want in 1..=4 {
            assert_eq!(next_alert(&mut s).await.seq, want);
        }
        // The client dies mid-stream: stream and channel dropped here.
    }
    for i in 10..15 {
        h.publish(alert("r", Priority::Notice, "prod", &format!("cmd {i}")));
    }
    let mut c = client(&h).await;
    let mut s = c
        .subscribe(SubscribeRequest {
            since_seq: 4,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    for _ in 5..=15 {
        let a = next_alert(&mut s).await;
        got.push(a.seq);
    }
    let live = h.publish(alert("r", Priority::Notice, "prod", "live"));
    got.push(next_alert(&mut s).await.seq);
    assert_eq!(got, (5..=live).collect::<Vec<_>>());
}

#[tokio::test]
async fn resume_after_ring_rolled_over_starts_with_gap_marker() {
    let mut cfg = test_config();
    cfg.grpc.resume_buffer = 5;
    let h = start(&cfg).await;
    for _ in 0..20 {
        h.publish(alert("r", Priority::Notice, "", "sh"));
    }
    let mut c = client(&h).await;
    let mut s = c
        .subscribe(SubscribeRequest {
            since_seq: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    match next(&mut s).await {
        Some(Payload::Gap(g)) => {
            assert_eq!((g.first_missing_seq, g.last_missing_seq), (4, 15));
            assert_eq!(g.reason, "evicted");
        }
        other => panic!("expected a gap marker, got {other:?}"),
    }
    for want in 16..=20 {
        assert_eq!(next_alert(&mut s).await.seq, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_is_detached_and_blocks_nobody() {
    let mut cfg = test_config();
    cfg.grpc.subscriber_queue = 4096;
    let h = Arc::new(start(&cfg).await);
    let mut c = client(&h).await;
    // Subscribed, then never polled until the end.
    let mut stuck = c
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();

    // Unpaced burst with the stuck client attached: publish must not wait.
    let publisher = {
        let h = h.clone();
        std::thread::spawn(move || {
            for i in 0..100_000u64 {
                h.publish(alert("burst", Priority::Notice, "", &i.to_string()));
            }
        })
    };
    tokio::task::spawn_blocking(move || publisher.join().unwrap())
        .await
        .unwrap();
    let stats = c
        .get_stats(GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.last_seq, 100_000);
    assert_eq!(
        stats.subscribers, 0,
        "the stuck subscriber must have been detached"
    );

    // A second stuck client, and a reading client; the publisher only paces
    // itself on the reader, never on the stuck one.
    let mut c2 = client(&h).await;
    let _stuck2 = c2
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut c3 = client(&h).await;
    let mut good = c3
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let received = received.clone();
        tokio::spawn(async move {
            let mut expect = 100_001;
            while expect <= 120_000 {
                let a = next_alert(&mut good).await;
                assert_eq!(a.seq, expect, "gap or duplicate on the reading client");
                expect += 1;
                received.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let publisher = {
        let h = h.clone();
        let received = received.clone();
        std::thread::spawn(move || {
            for i in 0..20_000u64 {
                h.publish(alert("paced", Priority::Notice, "", &i.to_string()));
                while i + 1 > received.load(Ordering::SeqCst) + 2000 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        })
    };
    tokio::task::spawn_blocking(move || publisher.join().unwrap())
        .await
        .unwrap();
    reader.await.unwrap();

    // The first stuck client got what fit, in order, then was cut off.
    let mut last = 0;
    let mut detached = None;
    while let Some(p) = next(&mut stuck).await {
        match p {
            Payload::Alert(a) => {
                assert_eq!(a.seq, last + 1);
                last = a.seq;
            }
            Payload::Detached(d) => detached = Some(d),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(last < 100_000, "stuck client was not detached (got {last})");
    if let Some(d) = detached {
        assert!(d.reason.contains("too slow"), "{}", d.reason);
        assert_eq!(d.last_sent_seq, last);
    }
}

#[tokio::test]
async fn unary_calls_answer_from_counters_and_sensor_info() {
    let h = start(&test_config()).await;
    h.publish(alert("r1", Priority::Critical, "", "sh"));
    h.publish(alert("r1", Priority::Critical, "", "sh"));
    let mut c = client(&h).await;
    let stats = c
        .get_stats(GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stats.rules_loaded, stats.last_seq), (3, 2));
    assert_eq!(stats.rules[0].rule, "r1");
    assert_eq!(stats.rules[0].alerts, 2);
    let v = c
        .get_version(GetVersionRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (v.api_version.as_str(), v.cluster.as_str()),
        ("v1", "test-cluster")
    );
    assert!(!v.sensor_id.is_empty());
    assert!(!v.actions_enabled);
    let rules = c
        .list_rules(ListRulesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rules.rules.len(), 1);
    let err = c
        .run_action(RunActionRequest {
            alert_seq: 1,
            action: "kill-process".into(),
            reason: "test".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .put_rules_file(PutRulesFileRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn allow_actions_without_authentication_is_still_refused() {
    let mut cfg = test_config();
    cfg.grpc.allow_actions = true;
    let h = start(&cfg).await;
    let mut c = client(&h).await;
    let err = c.run_action(RunActionRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("authenticated"), "{}", err.message());
}

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

#[tokio::test]
async fn bearer_token_is_required_and_authorizes_actions() {
    let mut cfg = test_config();
    cfg.grpc.token = "s3cret-token".into();
    cfg.grpc.allow_actions = true;
    let h = start(&cfg).await;
    let mut c = client(&h).await;
    let err = c
        .get_version(GetVersionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = c
        .get_version(with_token(GetVersionRequest::default(), "s3cret-tokeN"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = c
        .subscribe(with_token(SubscribeRequest::default(), "nope"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let v = c
        .get_version(with_token(GetVersionRequest::default(), "s3cret-token"))
        .await
        .unwrap()
        .into_inner();
    assert!(v.actions_enabled);

    let mut s = c
        .subscribe(with_token(SubscribeRequest::default(), "s3cret-token"))
        .await
        .unwrap()
        .into_inner();
    let seq = h.publish(alert("shell", Priority::Critical, "prod", "sh"));
    assert_eq!(next_alert(&mut s).await.seq, seq);
    let rec = c
        .run_action(with_token(
            RunActionRequest {
                alert_seq: seq,
                action: "kill-process".into(),
                reason: "operator".into(),
            },
            "s3cret-token",
        ))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!((rec.action.as_str(), rec.alert_seq), ("kill-process", seq));
    let put = c
        .put_rules_file(with_token(
            PutRulesFileRequest {
                name: "console-tuning.yaml".into(),
                content: "- rule: x".into(),
            },
            "s3cret-token",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(put.applied);
    // The audit travels on the bus like any alert.
    let audit = next_alert(&mut s).await;
    assert_eq!(audit.rule, "shell");
    assert_eq!(audit.responses[0].action, "kill-process");
    assert_eq!(audit.responses[0].alert_seq, seq);
}

async fn tls_client(
    h: &DeliveryHandle,
    ca: &str,
    identity: Option<(&str, &str)>,
) -> Result<SensorServiceClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let ch = Channel::from_shared(format!("https://{}", h.grpc_addr().unwrap()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(SensorServiceClient::new(ch))
}

#[tokio::test]
async fn tls_server_accepts_tls_clients_and_refuses_plaintext() {
    let pki = Pki::new();
    let mut cfg = test_config();
    cfg.grpc.tls.cert = Some(pki.path("server.pem"));
    cfg.grpc.tls.key = Some(pki.path("server.key"));
    let h = start(&cfg).await;
    let mut c = tls_client(&h, &pki.ca_pem, None).await.unwrap();
    let v = c
        .get_version(GetVersionRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.health, "ok");
    let plain = SensorServiceClient::connect(format!("http://{}", h.grpc_addr().unwrap())).await;
    let refused = match plain {
        Err(_) => true,
        Ok(mut p) => p.get_version(GetVersionRequest::default()).await.is_err(),
    };
    assert!(
        refused,
        "a plaintext client must not get through a TLS listener"
    );
    // A client that does not trust the server's CA refuses it.
    let other = Pki::new();
    let untrusted = match tls_client(&h, &other.ca_pem, None).await {
        Err(_) => true,
        Ok(mut c) => c.get_version(GetVersionRequest::default()).await.is_err(),
    };
    assert!(untrusted);
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_configured_ca() {
    let pki = Pki::new();
    let mut cfg = test_config();
    cfg.grpc.tls.cert = Some(pki.path("server.pem"));
    cfg.grpc.tls.key = Some(pki.path("server.key"));
    cfg.grpc.tls.client_ca = Some(pki.path("ca.pem"));
    cfg.grpc.allow_actions = true;
    let h = start(&cfg).await;

    let mut ok = tls_client(&h, &pki.ca_pem, Some((&pki.client_cert, &pki.client_key)))
        .await
        .unwrap();
    let v = ok
        .get_version(GetVersionRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(v.actions_enabled);
    let seq = h.publish(alert("shell", Priority::Critical, "", "sh"));
    let rec = ok
        .run_action(RunActionRequest {
            alert_seq: seq,
            action: "stop-container".into(),
            reason: "mtls".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rec.record.unwrap().outcome, "dry-run");

    for identity in [
        None,
        Some((pki.rogue_cert.as_str(), pki.rogue_key.as_str())),
    ] {
        let refused = match tls_client(&h, &pki.ca_pem, identity).await {
            Err(_) => true,
            Ok(mut c) => c.get_version(GetVersionRequest::default()).await.is_err(),
        };
        assert!(
            refused,
            "client with identity {:?} got through mTLS",
            identity.is_some()
        );
    }
}

#[tokio::test]
async fn falco_http_output_json_comes_out_of_subscribe() {
    let mut cfg = test_config();
    cfg.interop.falco_http.enabled = true;
    let h = start(&cfg).await;
    let mut c = client(&h).await;
    let mut s = c
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let body = r#"{"hostname":"falco-node","output":"10:00:00.1: Notice A shell was spawned","priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","shell"],"time":"2024-05-01T10:00:00.123456789Z","output_fields":{"container.id":"4f0c1a2b3c4d","container.name":"web","k8s.ns.name":"shop","k8s.pod.name":"web-7","proc.cmdline":"bash -il","proc.pid":4242,"user.name":"root","evt.type":"execve"}}"#;
    let url = format!("http://{}/", h.interop_addr().unwrap());
    let resp = post(&url, body).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let bad = post(&url, r#"{"rule":"x","priority":"loud"}"#).await;
    assert!(
        bad.starts_with("HTTP/1.1 400") && bad.contains("priority"),
        "{bad}"
    );

    let a = next_alert(&mut s).await;
    assert_eq!(a.source, "falco");
    assert_eq!(a.hostname, "falco-node");
    assert_eq!(a.cluster, "test-cluster");
    assert_eq!(a.rule, "Terminal shell in container");
    assert_eq!(a.priority(), Priority::Notice);
    assert_eq!(a.process.as_ref().unwrap().pid, 4242);
    assert_eq!(a.container.as_ref().unwrap().name, "web");
    assert_eq!(a.kubernetes.as_ref().unwrap().namespace, "shop");
    assert_eq!(a.time_ns % 1_000_000_000, 123_456_789);
}

/// Raw HTTP/1.1 POST over TCP; returns the whole response text.
async fn post(url: &str, body: &str) -> String {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw(addr, &req).await
}

async fn raw(addr: &str, req: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(HANG_GUARD, sock.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn metrics_endpoint_serves_prometheus_text_and_health() {
    let counters = SensorCounters::new();
    let h = Delivery::start_in(&test_config(), TestInfo::new(), counters.clone())
        .await
        .unwrap();
    counters.event_seen(falco_sensor::event::EventType::Openat);
    h.publish(alert("r", Priority::Error, "", "sh"));
    let addr = h.metrics_addr().unwrap().to_string();
    let m = raw(
        &addr,
        &format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    assert!(
        m.contains("falco_sensor_events_total{type=\"openat\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("falco_sensor_rule_matches_total{rule=\"r\",priority=\"Error\"} 1"),
        "{m}"
    );
    let hz = raw(
        &addr,
        &format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(
        hz.starts_with("HTTP/1.1 200") && hz.ends_with("ok\n"),
        "{hz}"
    );
}

#[tokio::test]
async fn idle_stream_carries_heartbeats_with_last_seq() {
    let mut cfg = test_config();
    cfg.grpc.heartbeat_interval_secs = 1;
    let h = start(&cfg).await;
    h.publish(alert("r", Priority::Notice, "", "sh"));
    let mut c = client(&h).await;
    let mut s = c
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let msg = tokio::time::timeout(HANG_GUARD, s.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match msg.payload {
        Some(Payload::Heartbeat(hb)) => {
            assert_eq!(hb.last_seq, 1);
            assert!(hb.time_ns > 0);
        }
        other => panic!("expected a heartbeat, got {other:?}"),
    }
}
