//! The Elasticsearch sink against a local server speaking the bulk API's wire
//! format and emulating dynamic mapping (delivery_support/es_server.rs; no
//! real Elasticsearch runs here): dated indices, the template that keeps
//! conflicting output_fields indexable, per-item retries and failures,
//! 429 + Retry-After, 413 splitting, data streams and auth.
#![allow(clippy::unwrap_used)]

mod delivery_support;
#[path = "delivery_support/es_server.rs"]
mod es_server;

use delivery_support::*;
use es_server::EsServer;
use falco_proto::v1::{Alert, Priority};
use falco_sensor::config::{BasicAuth, Config, ForwardConfig};
use falco_sensor::delivery::Delivery;
use falco_sensor::metrics::SensorCounters;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

fn es_config(url: &str) -> Config {
    let mut cfg = test_config();
    cfg.outputs.elasticsearch.enabled = true;
    cfg.outputs.elasticsearch.url = url.to_string();
    cfg.outputs.elasticsearch.forward = ForwardConfig {
        batch_size: 500,
        batch_wait_ms: 50,
        backoff_initial_ms: 5,
        backoff_max_ms: 50,
        max_retries: 100,
        ..ForwardConfig::default()
    };
    cfg
}

/// Alerts whose output_fields conflict under dynamic mapping: `container.image`
/// as a value and as an object, and a field that looks like a date once.
fn conflicting_alerts() -> Vec<Alert> {
    let mut out = Vec::new();
    let mut a = alert("Image A", Priority::Warning, "prod", "date");
    a.output_fields
        .insert("container.image".into(), "nginx:1.25".into());
    a.output_fields
        .insert("proc.args".into(), "2024-05-01".into());
    out.push(a);
    let mut b = alert("Image B", Priority::Warning, "prod", "ls -la");
    b.output_fields
        .insert("container.image.repository".into(), "nginx".into());
    b.output_fields.insert("proc.args".into(), "-la".into());
    out.push(b);
    let mut c = alert("Image C", Priority::Warning, "prod", "id");
    c.output_fields.insert("fd.num".into(), "3".into());
    c.output_fields
        .insert("container.image".into(), "redis".into());
    out.push(c);
    out
}

#[tokio::test]
async fn bulk_goes_to_dated_index_with_template_ids_and_api_key() {
    let es = EsServer::start().await;
    es.state.lock().unwrap().expect_auth = Some("ApiKey c2VjcmV0".into());
    let mut cfg = es_config(&es.url());
    cfg.outputs.elasticsearch.api_key = "c2VjcmV0".into();
    let h = start_delivery(&cfg).await;
    let mut late = alert("Shell in pod", Priority::Critical, "prod", "bash -i");
    // 2024-05-02T00:00:01Z: the next day's index.
    late.time_ns = 1_714_608_001_000_000_000;
    h.publish(alert("Shell in pod", Priority::Critical, "prod", "sh"));
    h.publish(late);
    let c = h.bus().counters().sink("elasticsearch");
    wait_until("2 alerts indexed", || c.sent.load(Relaxed) == 2).await;

    let s = es.state.lock().unwrap();
    let t = &s.templates["falco-sensor"];
    assert_eq!(t["index_patterns"][0], "falco-*");
    assert_eq!(
        t["template"]["mappings"]["properties"]["output_fields"]["type"],
        "flattened"
    );
    assert_eq!(t["template"]["mappings"]["date_detection"], false);
    let names: Vec<&String> = s.indices.keys().collect();
    assert_eq!(names, ["falco-2024.05.01", "falco-2024.05.02"]);
    let doc = &s.indices["falco-2024.05.01"].docs[0];
    assert_eq!(doc.source["rule"], "Shell in pod");
    assert_eq!(doc.source["priority"], "Critical");
    assert_eq!(doc.source["@timestamp"], "2024-05-01T10:00:00.000000000Z");
    assert_eq!(doc.source["output_fields"]["proc.cmdline"], "sh");
    assert_eq!(doc.source["cluster"], "test-cluster");
    assert!(doc.id.ends_with("-1") && doc.id.len() > 2, "{}", doc.id);
    // The template went in before the first bulk.
    let order: Vec<String> = s
        .seen
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        order[..3],
        ["GET /", "PUT /_index_template/falco-sensor", "POST /_bulk"]
    );
    assert!(s.seen.iter().all(|r| r.authorization == "ApiKey c2VjcmV0"));
}

#[tokio::test]
async fn conflicting_output_fields_are_all_indexed_thanks_to_the_template() {
    // Control: without the template the server's dynamic mapping refuses
    // some of these, like Elasticsearch would.
    let es = EsServer::start().await;
    let mut cfg = es_config(&es.url());
    cfg.outputs.elasticsearch.install_template = false;
    let h = start_delivery(&cfg).await;
    for a in conflicting_alerts() {
        h.publish(a);
    }
    let c = h.bus().counters().sink("elasticsearch");
    wait_until("every alert judged", || {
        c.sent.load(Relaxed) + c.failed.load(Relaxed) == 3
    })
    .await;
    // `container.image` as a value and `container.image.repository` (which
    // makes it an object) cannot both be mapped dynamically.
    let refused = c.failed.load(Relaxed);
    assert!(refused >= 1, "dynamic mapping should refuse some");
    assert_eq!(
        es.state.lock().unwrap().item_errors["document_parsing_exception"],
        refused
    );
    drop(h);

    let es = EsServer::start().await;
    let h = start_delivery(&es_config(&es.url())).await;
    for a in conflicting_alerts() {
        h.publish(a);
    }
    let c = h.bus().counters().sink("elasticsearch");
    wait_until("3 alerts indexed", || c.sent.load(Relaxed) == 3).await;
    assert_eq!(c.failed.load(Relaxed), 0);
    let s = es.state.lock().unwrap();
    let docs = s.all_docs();
    assert_eq!(docs.len(), 3);
    assert!(s.item_errors.is_empty(), "{:?}", s.item_errors);
    let b = docs.iter().find(|d| d.source["rule"] == "Image B").unwrap();
    assert_eq!(
        b.source["output_fields"]["container.image.repository"],
        "nginx"
    );
}

#[tokio::test]
async fn item_429_is_resent_alone_and_permanent_item_errors_are_counted() {
    let es = EsServer::start().await;
    let cfg = es_config(&es.url());
    let h = start_delivery(&cfg).await;
    let sensor_id = h.bus().identity().sensor_id.clone();
    {
        let mut s = es.state.lock().unwrap();
        s.item_429_once.insert(format!("{sensor_id}-2"));
        s.item_429_once.insert(format!("{sensor_id}-4"));
        s.poison_rule = Some("Poison".into());
    }
    for i in 0..5 {
        let rule = if i == 2 { "Poison" } else { "Shell in pod" };
        h.publish(alert(rule, Priority::Error, "prod", &format!("cmd {i}")));
    }
    let c = h.bus().counters().sink("elasticsearch");
    wait_until("every alert judged", || {
        c.sent.load(Relaxed) + c.failed.load(Relaxed) == 5
    })
    .await;
    assert_eq!(c.sent.load(Relaxed), 4);
    assert_eq!(c.failed.load(Relaxed), 1);
    let s = es.state.lock().unwrap();
    let mut ids: Vec<String> = s.all_docs().iter().map(|d| d.id.clone()).collect();
    ids.sort();
    let want: Vec<String> = [1, 2, 4, 5]
        .iter()
        .map(|n| format!("{sensor_id}-{n}"))
        .collect();
    assert_eq!(ids, want, "each once, poison refused");
    let bulks: Vec<usize> = s
        .seen
        .iter()
        .filter(|r| r.path == "/_bulk")
        .map(|r| r.body_len)
        .collect();
    assert_eq!(bulks.len(), 2, "one bulk plus one re-send: {bulks:?}");
    assert!(
        bulks[1] < bulks[0] / 2,
        "only the 2 rejected items re-sent: {bulks:?}"
    );
}

#[tokio::test]
async fn whole_request_429_waits_for_retry_after() {
    let es = EsServer::start().await;
    es.state.lock().unwrap().whole_429.push_back(1);
    let mut cfg = es_config(&es.url());
    cfg.outputs.elasticsearch.forward.backoff_max_ms = 5_000;
    let h = start_delivery(&cfg).await;
    h.publish(alert("Shell in pod", Priority::Error, "prod", "sh"));
    let c = h.bus().counters().sink("elasticsearch");
    wait_until("indexed after the 429", || c.sent.load(Relaxed) == 1).await;
    let s = es.state.lock().unwrap();
    let bulks: Vec<_> = s.seen.iter().filter(|r| r.path == "/_bulk").collect();
    assert_eq!(bulks.len(), 2);
    assert_eq!(bulks[0].status, 429);
    let gap = bulks[1].at - bulks[0].at;
    assert!(gap >= Duration::from_millis(990), "waited only {gap:?}");
}

#[tokio::test]
async fn too_large_bulks_are_split_and_a_single_oversized_doc_fails() {
    let es = EsServer::start().await;
    es.state.lock().unwrap().max_body = Some(4_000);
    let h = start_delivery(&es_config(&es.url())).await;
    for i in 0..20 {
        h.publish(alert(
            "Shell in pod",
            Priority::Error,
            "prod",
            &format!("cmd {i}"),
        ));
    }
    let huge = "x".repeat(5_000);
    h.publish(alert("Shell in pod", Priority::Error, "prod", &huge));
    let c = h.bus().counters().sink("elasticsearch");
    wait_until("every alert judged", || {
        c.sent.load(Relaxed) + c.failed.load(Relaxed) == 21
    })
    .await;
    assert_eq!(c.sent.load(Relaxed), 20);
    assert_eq!(c.failed.load(Relaxed), 1);
    let s = es.state.lock().unwrap();
    assert_eq!(s.all_docs().len(), 20);
    assert!(s.seen.iter().any(|r| r.status == 413));
    assert!(
        s.seen
            .iter()
            .filter(|r| r.status == 200 && r.path == "/_bulk")
            .all(|r| r.body_len <= 4_000)
    );
}

#[tokio::test]
async fn data_stream_uses_create_and_a_data_stream_template() {
    let es = EsServer::start().await;
    es.state.lock().unwrap().opensearch = true;
    let mut cfg = es_config(&es.url());
    cfg.outputs.elasticsearch.data_stream = true;
    cfg.outputs.elasticsearch.index = "logs-falco-default".into();
    cfg.outputs.elasticsearch.basic_auth = Some(BasicAuth {
        username: "elastic".into(),
        password: "pw".into(),
    });
    let h = start_delivery(&cfg).await;
    h.publish(alert("Shell in pod", Priority::Error, "prod", "sh"));
    let c = h.bus().counters().sink("elasticsearch");
    wait_until("indexed into the stream", || c.sent.load(Relaxed) == 1).await;
    let s = es.state.lock().unwrap();
    let t = &s.templates["falco-sensor"];
    assert_eq!(t["index_patterns"][0], "logs-falco-default");
    assert!(t["data_stream"].is_object());
    // OpenSearch answered GET /, so its flat type is used.
    assert_eq!(
        t["template"]["mappings"]["properties"]["output_fields"]["type"],
        "flat_object"
    );
    let idx = &s.indices["logs-falco-default"];
    assert!(idx.data_stream);
    assert_eq!(idx.docs.len(), 1);
    assert!(s.seen[0].authorization.starts_with("Basic "));
}

#[tokio::test]
async fn es_down_at_start_installs_template_then_delivers_every_alert() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let h = start_delivery(&es_config(&format!("http://{addr}"))).await;
    for i in 0..30 {
        h.publish(alert(
            "Shell in pod",
            Priority::Error,
            "prod",
            &format!("cmd {i}"),
        ));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = h.bus().counters().sink("elasticsearch");
    assert_eq!(c.sent.load(Relaxed), 0);
    // The same port comes up now.
    let es = loop {
        let s = EsServer::start_on(addr).await;
        if let Some(s) = s {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    wait_until("30 alerts indexed", || c.sent.load(Relaxed) == 30).await;
    let s = es.state.lock().unwrap();
    assert!(s.templates.contains_key("falco-sensor"));
    assert_eq!(s.all_docs().len(), 30);
    assert!(s.item_errors.is_empty());
}

#[tokio::test]
async fn bad_elasticsearch_config_fails_start_naming_the_key() {
    let mut cfg = es_config("http://127.0.0.1:1");
    cfg.outputs.elasticsearch.index = "Falco-%Y".into();
    let err = Delivery::start_in(&cfg, TestInfo::new(), SensorCounters::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("outputs.elasticsearch.index"), "{err}");
}

/// Throughput against the local server (`cargo test --release ... -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn throughput_to_the_local_server() {
    let es = EsServer::start().await;
    let mut cfg = es_config(&es.url());
    cfg.outputs.elasticsearch.forward.queue_capacity = 50_000;
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
    let c = h.bus().counters().sink("elasticsearch");
    wait_until("all indexed", || c.sent.load(Relaxed) == n).await;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "elasticsearch: {n} alerts in {secs:.2}s = {:.0} alerts/s",
        n as f64 / secs
    );
}
