//! Responder behaviour end to end (policy → guards → worker → records), with a
//! real child process for kill-process and a fake container runtime for
//! stop-container (the real CRI client is wired in at integration).

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use falco_proto::v1::{
    Alert, ContainerContext, KubernetesContext, Priority, ProcessContext, ResponseRecord,
};
use falco_sensor::respond::{
    ActionError, ContainerRuntime, KubeSource, Responder, ResponderDeps, ResponseConfig,
    ResponseReport, SelfIdentity,
};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Records every stop request; optionally blocks each one until released.
#[derive(Default)]
struct FakeRuntime {
    stopped: Mutex<Vec<(String, Duration)>>,
    gate: Option<Mutex<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl ContainerRuntime for FakeRuntime {
    fn stop_container(&self, full_id: &str, timeout: Duration) -> Result<(), ActionError> {
        if let Some(gate) = &self.gate {
            let gate = gate.lock().unwrap();
            gate.0.send(()).unwrap();
            gate.1.recv().unwrap();
        }
        if full_id.starts_with("dead") {
            return Err(ActionError::Runtime(format!(
                "container {full_id} not found"
            )));
        }
        self.stopped
            .lock()
            .unwrap()
            .push((full_id.to_string(), timeout));
        Ok(())
    }
}

struct Harness {
    responder: Responder,
    reports: mpsc::Receiver<ResponseReport>,
}

impl Harness {
    fn start(yaml: &str, runtime: Option<Arc<FakeRuntime>>) -> Harness {
        Self::start_as(yaml, runtime, SelfIdentity::detect())
    }

    fn start_as(yaml: &str, runtime: Option<Arc<FakeRuntime>>, identity: SelfIdentity) -> Harness {
        let cfg: ResponseConfig = serde_yaml::from_str(yaml).unwrap();
        let (tx, reports) = mpsc::channel();
        let tx = Mutex::new(tx);
        let deps = ResponderDeps {
            runtime: runtime.map(|r| r as Arc<dyn ContainerRuntime>),
            kube: KubeSource::Disabled,
            identity,
            sink: Arc::new(move |r| {
                let _ = tx.lock().unwrap().send(r);
            }),
        };
        Harness {
            responder: Responder::start(cfg, deps).unwrap(),
            reports,
        }
    }

    /// Drains the worker and returns what it reported.
    fn finish(self) -> Vec<ResponseRecord> {
        self.responder.shutdown();
        self.reports.try_iter().map(|r| r.record).collect()
    }
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap()
}

fn pod_alert(seq: u64, ns: &str, pod: &str) -> Alert {
    let full_id = format!("{:0>64}", format!("{seq:x}"));
    Alert {
        seq,
        time_ns: now_ns(),
        priority: Priority::Critical as i32,
        rule: "Terminal shell in container".into(),
        tags: vec!["container".into(), "shell".into()],
        process: Some(ProcessContext {
            pid: 999_999_999,
            name: "bash".into(),
            ..Default::default()
        }),
        container: Some(ContainerContext {
            id: full_id[..12].to_string(),
            full_id,
            ..Default::default()
        }),
        kubernetes: Some(KubernetesContext {
            namespace: ns.into(),
            pod_name: pod.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn host_alert(seq: u64, pid: i64, name: &str) -> Alert {
    Alert {
        seq,
        time_ns: now_ns(),
        priority: Priority::Critical as i32,
        rule: "Suspicious host process".into(),
        process: Some(ProcessContext {
            pid,
            name: name.into(),
            ..Default::default()
        }),
        container: Some(ContainerContext {
            id: "host".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn outcomes(records: &[ResponseRecord]) -> Vec<(&str, &str)> {
    records
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.as_str()))
        .collect()
}

fn count(records: &[ResponseRecord], outcome: &str, detail_prefix: &str) -> usize {
    records
        .iter()
        .filter(|r| r.outcome == outcome && r.detail.starts_with(detail_prefix))
        .count()
}

const STOP_POLICY: &str = "policies: [{name: stop, actions: [stop-container]}]\n";

#[test]
fn alert_storm_on_one_pod_acts_once() {
    let rt = Arc::new(FakeRuntime::default());
    let h = Harness::start(
        &format!("mode: ips\nrate_limit: {{burst: 1000, per_minute: 0}}\n{STOP_POLICY}"),
        Some(rt.clone()),
    );
    let mut immediate = Vec::new();
    for seq in 1..=1000 {
        let mut a = pod_alert(seq, "prod", "web-1");
        // Same pod, same container for every alert.
        a.container = pod_alert(1, "prod", "web-1").container;
        immediate.extend(h.responder.submit(&a));
    }
    let worker = h.finish();
    assert_eq!(immediate.len(), 999);
    assert_eq!(count(&immediate, "skipped", "cooldown: "), 999);
    assert!(
        immediate
            .iter()
            .all(|r| r.detail.contains("pod:prod/web-1"))
    );
    assert_eq!(outcomes(&worker), vec![("stop-container", "taken")]);
    assert_eq!(worker[0].alert_seq, 1);
    assert_eq!(rt.stopped.lock().unwrap().len(), 1);
}

#[test]
fn alert_storm_over_many_pods_is_capped_by_the_rate_limit() {
    let rt = Arc::new(FakeRuntime::default());
    let h = Harness::start(
        &format!("mode: ips\nrate_limit: {{burst: 5, per_minute: 0}}\n{STOP_POLICY}"),
        Some(rt.clone()),
    );
    let mut immediate = Vec::new();
    for seq in 1..=1000 {
        immediate.extend(
            h.responder
                .submit(&pod_alert(seq, "prod", &format!("web-{seq}"))),
        );
    }
    let stats = h.responder.stats();
    let worker = h.finish();
    assert_eq!(count(&immediate, "skipped", "rate-limit: "), 995);
    assert_eq!(immediate.len(), 995);
    assert_eq!(count(&worker, "taken", "stopped container"), 5);
    assert_eq!(rt.stopped.lock().unwrap().len(), 5);
    assert_eq!(stats.skipped, 995);
}

#[test]
fn ids_mode_records_dry_run_and_does_nothing() {
    let rt = Arc::new(FakeRuntime::default());
    let h = Harness::start(
        "policies: [{name: p, actions: [stop-container, delete-pod, isolate-pod, label-pod]}]",
        Some(rt.clone()),
    );
    let records = h.responder.submit(&pod_alert(7, "prod", "web-1"));
    // The cooldown holds in ids mode too, so the dry run shows what ips would do.
    let again = h.responder.submit(&pod_alert(8, "prod", "web-1"));
    let worker = h.finish();
    assert_eq!(
        outcomes(&records),
        vec![
            ("stop-container", "dry-run"),
            ("delete-pod", "dry-run"),
            ("isolate-pod", "dry-run"),
            ("label-pod", "dry-run"),
        ]
    );
    assert!(
        records[1]
            .detail
            .contains("would delete pod prod/web-1 (grace period 0s)")
    );
    assert!(records[3].detail.contains("falco-sensor.io/review=true"));
    assert!(records.iter().all(|r| r.alert_seq == 7));
    assert_eq!(count(&again, "skipped", "cooldown: "), 4);
    assert!(worker.is_empty());
    assert!(rt.stopped.lock().unwrap().is_empty());
}

#[test]
fn protected_namespaces_are_never_touched() {
    let rt = Arc::new(FakeRuntime::default());
    let identity = SelfIdentity {
        namespace: Some("falco-sensor".into()),
        ..SelfIdentity::detect()
    };
    let h = Harness::start_as(
        &format!("mode: ips\nprotected_namespaces: [kube-system, payments]\n{STOP_POLICY}"),
        Some(rt.clone()),
        identity,
    );
    let mut records = Vec::new();
    for (seq, ns) in [(1, "kube-system"), (2, "payments"), (3, "falco-sensor")] {
        records.extend(h.responder.submit(&pod_alert(seq, ns, "p")));
    }
    let worker = h.finish();
    assert_eq!(count(&records, "skipped", "protected-namespace: "), 3);
    assert!(records[2].detail.contains("namespace falco-sensor"));
    assert!(worker.is_empty());
    assert!(rt.stopped.lock().unwrap().is_empty());
}

#[test]
fn the_sensor_never_acts_on_itself() {
    let own_container = "f".repeat(64);
    let identity = SelfIdentity {
        container_ids: vec![own_container.clone()],
        pod: Some(("monitoring".into(), "sensor-abc".into())),
        ..SelfIdentity::detect()
    };
    let rt = Arc::new(FakeRuntime::default());
    let h = Harness::start_as(
        "mode: ips\nallow_host: true\nrate_limit: {burst: 100}\npolicies: [{name: p, actions: [kill-process, stop-container]}]",
        Some(rt.clone()),
        identity,
    );
    let me = std::process::id() as i64;
    let parent = std::os::unix::process::parent_id() as i64;
    let mut records = h.responder.submit(&host_alert(1, me, "respond_responder"));
    records.extend(h.responder.submit(&host_alert(2, parent, "cargo")));
    let mut in_own_container = pod_alert(3, "other", "x");
    in_own_container.container.as_mut().unwrap().full_id = own_container;
    records.extend(h.responder.submit(&in_own_container));
    records.extend(
        h.responder
            .submit(&pod_alert(4, "monitoring", "sensor-abc")),
    );
    let worker = h.finish();
    assert_eq!(count(&records, "skipped", "self: "), 8, "{records:#?}");
    assert!(worker.is_empty());
    assert!(rt.stopped.lock().unwrap().is_empty());
}

#[test]
fn host_processes_need_explicit_permission() {
    let mut child = spawn_sleep();
    let h = Harness::start(
        "mode: ips\npolicies: [{name: p, actions: [kill-process]}]",
        None,
    );
    let records = h
        .responder
        .submit(&host_alert(1, child.id() as i64, "sleep"));
    let worker = h.finish();
    assert_eq!(outcomes(&records), vec![("kill-process", "skipped")]);
    assert!(
        records[0].detail.starts_with("host: "),
        "{}",
        records[0].detail
    );
    assert!(worker.is_empty());
    assert!(
        child.try_wait().unwrap().is_none(),
        "process must still run"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

fn spawn_sleep() -> Child {
    Command::new("sleep").arg("1000").spawn().unwrap()
}

const KILL_HOST: &str = "allow_host: true\npolicies: [{name: p, actions: [kill-process]}]\n";

#[test]
fn ips_kill_process_sends_sigkill() {
    let mut child = spawn_sleep();
    let h = Harness::start(&format!("mode: ips\n{KILL_HOST}"), None);
    let immediate = h
        .responder
        .submit(&host_alert(5, child.id() as i64, "sleep"));
    let worker = h.finish();
    assert!(immediate.is_empty(), "{immediate:?}");
    assert_eq!(outcomes(&worker), vec![("kill-process", "taken")]);
    assert!(
        worker[0]
            .detail
            .contains(&format!("SIGKILL to process {}", child.id()))
    );
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[test]
fn ids_kill_process_leaves_the_process_alone() {
    let mut child = spawn_sleep();
    let h = Harness::start(&format!("mode: ids\n{KILL_HOST}"), None);
    let records = h
        .responder
        .submit(&host_alert(5, child.id() as i64, "sleep"));
    let worker = h.finish();
    assert_eq!(outcomes(&records), vec![("kill-process", "dry-run")]);
    assert!(records[0].detail.contains("would send SIGKILL"));
    assert!(worker.is_empty());
    assert!(
        child.try_wait().unwrap().is_none(),
        "process must still run"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn kill_process_refuses_a_reused_pid() {
    let mut child = spawn_sleep();
    let h = Harness::start(&format!("mode: ips\n{KILL_HOST}"), None);
    // The alert names another program: the pid now belongs to someone else.
    h.responder
        .submit(&host_alert(1, child.id() as i64, "nginx"));
    // The alert's event happened before this process started.
    let mut old = host_alert(2, child.id() as i64, "sleep");
    old.time_ns -= 3_600_000_000_000;
    let h2 = Harness::start(&format!("mode: ips\n{KILL_HOST}"), None);
    h2.responder.submit(&old);
    let mut worker = h.finish();
    worker.extend(h2.finish());
    assert_eq!(
        count(
            &worker,
            "failed",
            &format!("process {} failed the identity check", child.id())
        ),
        2,
        "{worker:#?}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "process must still run"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn stop_container_goes_through_the_runtime_and_failures_are_recorded() {
    let rt = Arc::new(FakeRuntime::default());
    let h = Harness::start(
        &format!("mode: ips\nstop_container: {{timeout_seconds: 7}}\n{STOP_POLICY}"),
        Some(rt.clone()),
    );
    let ok = pod_alert(1, "prod", "a");
    let full_id = ok.container.as_ref().unwrap().full_id.clone();
    h.responder.submit(&ok);
    let mut dead = pod_alert(2, "prod", "b");
    dead.container.as_mut().unwrap().full_id = format!("dead{}", "0".repeat(60));
    h.responder.submit(&dead);
    let worker = h.finish();
    assert_eq!(
        outcomes(&worker),
        vec![("stop-container", "taken"), ("stop-container", "failed")]
    );
    assert!(
        worker[1].detail.contains("not found"),
        "{}",
        worker[1].detail
    );
    assert_eq!(
        *rt.stopped.lock().unwrap(),
        vec![(full_id, Duration::from_secs(7))]
    );
}

#[test]
fn missing_clients_fail_with_a_clear_record() {
    let h = Harness::start(
        "mode: ips\npolicies: [{name: p, actions: [stop-container, delete-pod]}]",
        None,
    );
    h.responder.submit(&pod_alert(1, "prod", "a"));
    let worker = h.finish();
    assert_eq!(
        outcomes(&worker),
        vec![("stop-container", "failed"), ("delete-pod", "failed")]
    );
    assert!(worker[0].detail.contains("no container runtime"));
    assert!(worker[1].detail.contains("no Kubernetes API"));
}

#[test]
fn a_full_queue_skips_and_counts() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let rt = Arc::new(FakeRuntime {
        gate: Some(Mutex::new((entered_tx, release_rx))),
        ..Default::default()
    });
    let h = Harness::start(
        &format!("mode: ips\nqueue_capacity: 1\nrate_limit: {{burst: 100}}\n{STOP_POLICY}"),
        Some(rt.clone()),
    );
    assert!(h.responder.submit(&pod_alert(1, "prod", "a")).is_empty());
    entered_rx.recv().unwrap(); // the worker is busy with pod a
    assert!(h.responder.submit(&pod_alert(2, "prod", "b")).is_empty()); // queued
    let full = h.responder.submit(&pod_alert(3, "prod", "c"));
    assert_eq!(count(&full, "skipped", "queue-full: "), 1, "{full:?}");
    assert_eq!(h.responder.stats().queue_full, 1);
    // Not acted on, so no cooldown: a later alert for pod c may still be handled.
    release_tx.send(()).unwrap();
    entered_rx.recv().unwrap();
    release_tx.send(()).unwrap();
    let worker = h.finish();
    assert_eq!(count(&worker, "taken", ""), 2);
    assert_eq!(rt.stopped.lock().unwrap().len(), 2);
}

#[test]
fn forwarded_falco_alerts_only_get_pod_actions() {
    let rt = Arc::new(FakeRuntime::default());
    let h = Harness::start(
        "policies: [{name: p, actions: [kill-process, stop-container, label-pod]}]",
        Some(rt.clone()),
    );
    let mut a = pod_alert(1, "prod", "a");
    a.source = "falco".into();
    let records = h.responder.submit(&a);
    h.finish();
    assert_eq!(
        outcomes(&records),
        vec![
            ("kill-process", "skipped"),
            ("stop-container", "skipped"),
            ("label-pod", "dry-run"),
        ]
    );
    assert!(records[0].detail.contains("another node"));
}

#[test]
fn alerts_without_a_matching_policy_get_no_record() {
    let h = Harness::start(&format!("mode: ips\n{STOP_POLICY}"), None);
    let mut a = pod_alert(1, "prod", "a");
    a.priority = Priority::Warning as i32;
    assert!(h.responder.submit(&a).is_empty());
    assert!(h.finish().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_actions() {
    let rt = Arc::new(FakeRuntime::default());
    let disabled = Harness::start("mode: ips", Some(rt.clone()));
    let rec = disabled
        .responder
        .run_manual(&pod_alert(1, "prod", "a"), "stop-container", "bob")
        .await;
    assert_eq!(
        (rec.outcome.as_str(), rec.action.as_str()),
        ("skipped", "stop-container")
    );
    assert!(rec.detail.starts_with("manual-disabled: "));

    // ids mode and no policy: an operator's explicit request still runs.
    let h = Harness::start("mode: ids\nallow_manual: true", Some(rt.clone()));
    let alert = pod_alert(9, "prod", "a");
    let rec = h
        .responder
        .run_manual(&alert, "stop-container", "bob: shell in prod")
        .await;
    assert_eq!(rec.outcome, "taken", "{rec:?}");
    assert_eq!(rec.alert_seq, 9);
    assert!(rec.detail.contains("manual (reason: bob: shell in prod)"));
    let rec = h.responder.run_manual(&alert, "reboot", "x").await;
    assert_eq!(rec.outcome, "failed");
    assert!(rec.detail.contains("unknown action \"reboot\""));
    let rec = h
        .responder
        .run_manual(&pod_alert(10, "kube-system", "dns"), "stop-container", "x")
        .await;
    assert!(rec.detail.starts_with("protected-namespace: "));
    // The cooldown does not apply to manual requests.
    let rec = h
        .responder
        .run_manual(&alert, "stop-container", "again")
        .await;
    assert_eq!(rec.outcome, "taken");
    let sunk = tokio::task::spawn_blocking(move || h.finish())
        .await
        .unwrap();
    assert_eq!(sunk.len(), 2, "manual records also reach the sink");
    disabled.finish();
    assert_eq!(rt.stopped.lock().unwrap().len(), 2);
}

/// The `response:` sections shipped in docs/deploy and the example in
/// docs/response.md must load with the real config type.
#[test]
fn shipped_response_configs_load() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let from_configmap = |rel: &str| {
        let text = std::fs::read_to_string(repo.join(rel)).unwrap();
        let cm: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let config = cm["data"]["config.yaml"].as_str().unwrap();
        let config: serde_yaml::Value = serde_yaml::from_str(config).unwrap();
        ResponseConfig::from_yaml_value(&config["response"])
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    let ids = from_configmap("docs/deploy/base/configmap.yaml");
    let ips = from_configmap("docs/deploy/overlays/ips/config-ips.yaml");
    assert_eq!(ids.mode, falco_sensor::respond::Mode::Ids);
    assert_eq!(ips.mode, falco_sensor::respond::Mode::Ips);
    assert!(ids.protected_namespaces.iter().any(|n| n == "falco-sensor"));
    assert!(!ids.policies.is_empty());

    let doc = std::fs::read_to_string(repo.join("docs/response.md")).unwrap();
    let example = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let example: serde_yaml::Value = serde_yaml::from_str(example).unwrap();
    let cfg = ResponseConfig::from_yaml_value(&example["response"]).unwrap();
    assert_eq!(cfg.policies.len(), 2);
}
