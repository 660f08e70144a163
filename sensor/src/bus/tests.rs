use super::*;
use falco_proto::v1::KubernetesContext;

fn bus(capacity: usize) -> AlertBus {
    AlertBus::new(
        BusIdentity {
            hostname: "node-1".into(),
            cluster: "prod".into(),
            sensor_id: "s-1".into(),
        },
        capacity,
        SensorCounters::new(),
    )
}

fn alert(rule: &str, p: Priority, ns: &str) -> Alert {
    Alert {
        rule: rule.into(),
        priority: p as i32,
        kubernetes: (!ns.is_empty()).then(|| KubernetesContext {
            namespace: ns.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn seq_starts_at_one_and_identity_is_stamped() {
    let b = bus(10);
    assert_eq!(b.publish(alert("r", Priority::Notice, "")), 1);
    assert_eq!(b.publish(alert("r", Priority::Notice, "")), 2);
    let a = b.get(2).unwrap();
    assert_eq!(
        (
            a.hostname.as_str(),
            a.cluster.as_str(),
            a.sensor_id.as_str()
        ),
        ("node-1", "prod", "s-1")
    );
    assert_eq!(b.last_seq(), 2);
}

#[test]
fn resume_replays_without_gap_or_duplicate_then_reports_eviction() {
    let b = bus(5);
    for _ in 0..3 {
        b.publish(alert("r", Priority::Notice, ""));
    }
    let mut sub = b.subscribe(SubscribeOptions {
        since_seq: 1,
        queue_capacity: 10,
        ..Default::default()
    });
    assert!(sub.gap.is_none());
    let seqs: Vec<u64> = sub.replay.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, vec![2, 3]);
    b.publish(alert("r", Priority::Notice, ""));
    assert_eq!(sub.try_recv().unwrap().seq, 4);
    for _ in 0..10 {
        b.publish(alert("r", Priority::Notice, ""));
    }
    let late = b.subscribe(SubscribeOptions {
        since_seq: 2,
        queue_capacity: 10,
        ..Default::default()
    });
    let gap = late.gap.clone().unwrap();
    assert_eq!((gap.first_missing_seq, gap.last_missing_seq), (3, 9));
    assert_eq!(late.replay.first().unwrap().seq, 10);
}

#[test]
fn filters_apply_to_replay_and_live() {
    let b = bus(100);
    b.publish(alert("a", Priority::Debug, ""));
    b.publish(alert("a", Priority::Critical, "prod"));
    b.publish(alert("b", Priority::Critical, ""));
    let mut sub = b.subscribe(SubscribeOptions {
        filter: AlertFilter {
            min_priority: Priority::Warning,
            rules: ["a".to_string()].into(),
            namespaces: ["".to_string(), "prod".to_string()].into(),
        },
        from_oldest: true,
        queue_capacity: 10,
        ..Default::default()
    });
    assert_eq!(
        sub.replay.iter().map(|a| a.seq).collect::<Vec<_>>(),
        vec![2]
    );
    b.publish(alert("a", Priority::Error, "dev"));
    b.publish(alert("a", Priority::Error, ""));
    assert_eq!(sub.try_recv().unwrap().seq, 5);
    assert!(sub.try_recv().is_none());
}

#[test]
fn full_subscriber_is_detached_and_full_sink_counts_drops() {
    let b = bus(100);
    let counters = b.counters().sink("test");
    let _sink_rx = b.add_sink(Priority::Debug, 2, counters.clone());
    let mut sub = b.subscribe(SubscribeOptions {
        queue_capacity: 2,
        ..Default::default()
    });
    assert_eq!(b.counters().subscribers.load(Relaxed), 1);
    for _ in 0..5 {
        b.publish(alert("r", Priority::Notice, ""));
    }
    assert_eq!(counters.dropped.load(Relaxed), 3);
    assert!(sub.detach_reason().unwrap().contains("too slow"));
    assert_eq!(b.counters().subscribers.load(Relaxed), 0);
    assert_eq!(b.counters().subscribers_detached.load(Relaxed), 1);
    assert_eq!(sub.try_recv().unwrap().seq, 1);
    assert_eq!(sub.try_recv().unwrap().seq, 2);
    assert!(sub.try_recv().is_none());
}

#[test]
fn response_is_published_as_a_copy_carrying_records() {
    let b = bus(10);
    let seq = b.publish(alert("shell", Priority::Critical, "prod"));
    let rseq = b.publish_response(
        seq,
        vec![ResponseRecord {
            action: "kill-process".into(),
            outcome: "taken".into(),
            alert_seq: seq,
            ..Default::default()
        }],
    );
    let r = b.get(rseq).unwrap();
    assert_eq!(r.rule, "shell");
    assert_eq!(r.responses[0].alert_seq, seq);
}
