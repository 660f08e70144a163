//! An Alert with every context filled survives encode/decode unchanged.

use falco_proto::v1::*;
use prost::Message;

fn full_alert() -> Alert {
    Alert {
        seq: 42,
        time_ns: 1_764_460_800_123_456_789,
        priority: Priority::Critical as i32,
        rule: "Terminal shell in container".into(),
        output: "A shell was spawned (user=root shell=sh)".into(),
        source: "syscall".into(),
        hostname: "node-1".into(),
        tags: vec!["container".into(), "mitre_execution".into(), "T1059".into()],
        process: Some(ProcessContext {
            pid: 4242,
            ppid: 4200,
            name: "sh".into(),
            exe: "/bin/sh".into(),
            exe_path: "/bin/busybox".into(),
            cmdline: "sh -i".into(),
            args: vec!["-i".into()],
            cwd: "/root".into(),
            uid: 0,
            user_name: "root".into(),
            loginuid: -1,
            tty: 34816,
            ancestors: vec![Ancestor {
                pid: 4200,
                name: "runc".into(),
                exe_path: "/usr/sbin/runc".into(),
                cmdline: "runc exec".into(),
            }],
            tid: 4242,
            gid: 0,
            group_name: "root".into(),
            exe_from_memfd: false,
            exe_upper_layer: true,
        }),
        container: Some(ContainerContext {
            id: "0123456789ab".into(),
            name: "web".into(),
            image_repository: "local/busybox".into(),
            image_tag: "1.36".into(),
            privileged: true,
            full_id: "0123456789ab".repeat(5) + "cdef",
            image: "local/busybox:1.36".into(),
            runtime: "containerd".into(),
        }),
        kubernetes: Some(KubernetesContext {
            namespace: "payments".into(),
            pod_name: "web-7d9c".into(),
            pod_uid: "6f1c2d9e-0000-4000-8000-000000000001".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
        }),
        file: Some(FileContext {
            path: "/etc/shadow".into(),
            flags: "O_RDONLY|O_CLOEXEC".into(),
            source_path: "/tmp/a".into(),
            target_path: "/tmp/b".into(),
        }),
        network: Some(NetworkContext {
            protocol: "tcp".into(),
            src_ip: "10.0.0.5".into(),
            src_port: 41000,
            dst_ip: "10.96.0.1".into(),
            dst_port: 443,
            unix_path: String::new(),
            family: "ipv4".into(),
        }),
        output_fields: [
            ("container.id".to_string(), "0123456789ab".to_string()),
            ("k8s.ns.name".to_string(), "payments".to_string()),
        ]
        .into(),
        event_type: "execve".into(),
        cluster: "prod-eu".into(),
        sensor_id: "s-1".into(),
        responses: vec![ResponseRecord {
            action: "kill-process".into(),
            outcome: "dry-run".into(),
            detail: "mode ids".into(),
            time_ns: 1,
            alert_seq: 42,
        }],
    }
}

#[test]
fn alert_with_every_context_round_trips() {
    let alert = full_alert();
    let bytes = alert.encode_to_vec();
    let decoded = Alert::decode(bytes.as_slice()).expect("decode");
    assert_eq!(decoded, alert);
    assert_eq!(decoded.priority(), Priority::Critical);

    let wrapped = SubscribeResponse {
        payload: Some(subscribe_response::Payload::Alert(alert.clone())),
    };
    let back = SubscribeResponse::decode(wrapped.encode_to_vec().as_slice()).expect("decode");
    assert_eq!(back, wrapped);
}

#[test]
fn unknown_priority_number_decodes_as_error_not_panic() {
    let mut alert = full_alert();
    alert.priority = 99;
    let decoded = Alert::decode(alert.encode_to_vec().as_slice()).expect("decode");
    assert!(Priority::try_from(decoded.priority).is_err());
}
