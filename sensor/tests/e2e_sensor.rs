//! End to end with the real kernel and real containerd: the `falco-sensor`
//! binary runs with the default rules plus a test rule, actions on the host
//! and in a kubelet-style pod produce alerts, and a tonic client receives
//! them over gRPC with the typed contexts filled.
//!
//! Privileged: needs root (eBPF, containerd). Fails loudly otherwise unless
//! SKIP_PRIVILEGED=1.

mod support;

use falco_proto::v1::{Alert, GetStatsRequest};
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::containerd::{Container, IMAGE, Pod, new_uid, stop_containerd, unique};
use support::sensor::{Sensor, collect, runtime, summary};

const TEST_RULES: &str = r#"
- rule: E2E loopback connect
  desc: a TCP connect to the e2e listener port
  condition: evt.type = connect and evt.rawres >= 0 and fd.sport = E2E_PORT
  output: e2e connect %fd.name by %proc.name
  priority: INFO
  tags: [e2e]
"#;

fn start_sensor(dir: &Path, listener_port: u16) -> Sensor {
    let rules = dir.join("e2e_rules.yaml");
    std::fs::write(
        &rules,
        TEST_RULES.replace("E2E_PORT", &listener_port.to_string()),
    )
    .expect("write rules");
    let defaults =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules/defaults/falco-sensor_rules.yaml");
    Sensor::start(
        dir,
        &[
            "-r".into(),
            defaults.display().to_string(),
            "-r".into(),
            rules.display().to_string(),
        ],
    )
}

fn find<'a>(alerts: &'a [Alert], rule: &str, pred: impl Fn(&Alert) -> bool) -> Option<&'a Alert> {
    alerts.iter().find(|a| a.rule == rule && pred(a))
}

#[test]
fn host_and_container_actions_become_typed_alerts_over_grpc() {
    if !support::require_privileged("the sensor end-to-end test") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");

    // A process that exists before the sensor starts: it runs `cat` only
    // once we write a line to its stdin.
    let mut before = Command::new("/bin/sh")
        .args(["-c", "read line; /bin/cat /etc/shadow > /dev/null"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn pre-existing shell");
    let before_pid = i64::from(before.id());

    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    // The cold case of a fresh machine: the sensor starts with no container
    // runtime at all; containerd starts (cold) only when the pod is created,
    // and the container's first actions follow at once.
    stop_containerd();
    let mut sensor = start_sensor(dir.path(), port);
    let rt = runtime();
    let mut client = rt.block_on(sensor.connect());

    // Pod and container, played through the real CRI API.
    let ns = unique("e2e-ns");
    let pod_name = unique("e2e-pod");
    let pod = Pod::start(&pod_name, &ns, &new_uid());
    // A malicious entrypoint: the container's very first process reads
    // /etc/shadow, before the runtime may even have answered about it.
    let entry_name = unique("entry");
    let entry = Container::start(
        &pod,
        &entry_name,
        IMAGE,
        &["sh", "-c", "cat /etc/shadow > /dev/null; exec sleep 3600"],
        false,
    );
    let ctr_name = unique("web");
    let ctr = Container::start(&pod, &ctr_name, IMAGE, &["sleep", "3600"], false);

    // Host actions.
    if let Some(stdin) = before.stdin.as_mut() {
        writeln!(stdin, "go").expect("wake pre-existing shell");
    }
    let _ = before.wait();
    let status = Command::new("/bin/cat")
        .arg("/etc/shadow")
        .stdout(Stdio::null())
        .status()
        .expect("cat /etc/shadow on the host");
    assert!(status.success());
    let accept = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let _server_side = accept.join().expect("accept thread").expect("accept");
    drop(conn);

    // Container actions.
    let out = ctr.exec_sync(&["cat", "/etc/shadow"]);
    assert_eq!(out.exit_code, 0, "cat in container: {out:?}");
    let out = ctr.exec_sync(&["sh", "-c", "echo e2e > /etc/e2e-written"]);
    assert_eq!(out.exit_code, 0, "write in container: {out:?}");
    let out = ctr.exec_sync(&[
        "sh",
        "-c",
        "cp /bin/busybox /bin/e2e-a && mv /bin/e2e-a /bin/e2e-b",
    ]);
    assert_eq!(out.exit_code, 0, "rename in /bin: {out:?}");
    ctr.exec_tty_input(&["sh"], b"exit\n");

    let short_id = |a: &Alert| {
        a.container
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_default()
    };
    let ctr_id = ctr.id[..12].to_string();
    let entry_id = entry.id[..12].to_string();
    let in_pod = |a: &Alert| {
        a.kubernetes
            .as_ref()
            .is_some_and(|k| k.namespace == ns && k.pod_name == pod_name)
    };
    let alerts = rt.block_on(collect(&mut client, Duration::from_secs(60), |al| {
        find(al, "Read sensitive file untrusted", |a| {
            short_id(a) == "host" && a.process.as_ref().is_some_and(|p| p.ppid == before_pid)
        })
        .is_some()
            && find(al, "Read sensitive file untrusted", |a| {
                in_pod(a) && short_id(a) == ctr_id
            })
            .is_some()
            && find(al, "Read sensitive file untrusted", |a| {
                short_id(a) == entry_id
            })
            .is_some()
            && find(al, "Write below etc", |a| in_pod(a)).is_some()
            && find(al, "Modify binary dirs", |a| in_pod(a)).is_some()
            && find(al, "Terminal shell in container", |a| in_pod(a)).is_some()
            && find(al, "E2E loopback connect", |_| true).is_some()
    }));
    let all = summary(&alerts);

    // Host: the pre-existing shell's child, with ancestry.
    let host_read = find(&alerts, "Read sensitive file untrusted", |a| {
        short_id(a) == "host" && a.process.as_ref().is_some_and(|p| p.ppid == before_pid)
    })
    .unwrap_or_else(|| panic!("no host read alert from the pre-existing shell:\n{all}"));
    let p = host_read.process.as_ref().expect("process context");
    assert_eq!(p.name, "cat");
    assert_eq!(p.args, vec!["/etc/shadow".to_string()]);
    assert_eq!(p.ancestors.first().map(|a| a.name.as_str()), Some("sh"));
    let test_pid = i64::from(std::process::id());
    assert!(
        p.ancestors.iter().any(|a| a.pid == test_pid),
        "the test process is an ancestor: {:?}",
        p.ancestors
    );
    assert_eq!(
        host_read.file.as_ref().map(|f| f.path.as_str()),
        Some("/etc/shadow")
    );
    assert_eq!(host_read.output_fields["container.id"], "host");
    assert_eq!(host_read.output_fields["k8s.ns.name"], "<NA>");

    // The entrypoint's read carries the metadata although it happened in
    // the container's first moments with a cold runtime.
    let entry_read = find(&alerts, "Read sensitive file untrusted", |a| {
        short_id(a) == entry_id
    })
    .unwrap_or_else(|| panic!("no alert for the entrypoint's read:\n{all}"));
    assert_eq!(
        entry_read.output_fields["container.name"], entry_name,
        "{all}"
    );
    assert_eq!(entry_read.output_fields["k8s.ns.name"], ns, "{all}");
    assert_eq!(entry_read.output_fields["k8s.pod.name"], pod_name, "{all}");
    assert_eq!(
        entry_read.output_fields["container.image.repository"],
        "localhost/falco-test/busybox"
    );

    // Container: typed container and pod contexts, and the mandatory fields.
    let ctr_read = find(&alerts, "Read sensitive file untrusted", |a| {
        in_pod(a) && short_id(a) == ctr_id
    })
    .unwrap_or_else(|| panic!("no container read alert:\n{all}"));
    let c = ctr_read.container.as_ref().expect("container context");
    assert_eq!(c.name, ctr_name);
    assert_eq!(c.image_repository, "localhost/falco-test/busybox");
    assert_eq!(c.image_tag, "1.0");
    assert_eq!(c.id.len(), 12);
    assert_eq!(ctr_read.output_fields["container.id"], c.id);
    assert_eq!(ctr_read.output_fields["container.name"], ctr_name);
    assert_eq!(
        ctr_read.output_fields["container.image.repository"],
        "localhost/falco-test/busybox"
    );
    assert_eq!(ctr_read.output_fields["k8s.ns.name"], ns);
    assert_eq!(ctr_read.output_fields["k8s.pod.name"], pod_name);
    assert_eq!(
        ctr_read.process.as_ref().map(|p| p.name.as_str()),
        Some("cat")
    );

    let write = find(&alerts, "Write below etc", |a| in_pod(a))
        .unwrap_or_else(|| panic!("no write-below-etc alert:\n{all}"));
    assert_eq!(
        write.file.as_ref().map(|f| f.path.as_str()),
        Some("/etc/e2e-written")
    );

    let rename = find(&alerts, "Modify binary dirs", |a| in_pod(a))
        .unwrap_or_else(|| panic!("no modify-binary-dirs alert:\n{all}"));
    assert!(rename.output.contains("/bin/e2e"), "{}", rename.output);

    let shell = find(&alerts, "Terminal shell in container", |a| in_pod(a))
        .unwrap_or_else(|| panic!("no terminal shell alert:\n{all}"));
    let sp = shell.process.as_ref().expect("process");
    assert_eq!(sp.name, "sh");
    assert_ne!(sp.tty, 0, "the shell has a terminal");

    let net = find(&alerts, "E2E loopback connect", |_| true)
        .unwrap_or_else(|| panic!("no connect alert:\n{all}"));
    let n = net.network.as_ref().expect("network context");
    assert_eq!(n.protocol, "tcp");
    assert_eq!(n.dst_ip, "127.0.0.1");
    assert_eq!(n.dst_port, u32::from(port));
    assert_ne!(n.src_port, 0);

    // Stats reflect what happened.
    let stats = rt
        .block_on(client.get_stats(GetStatsRequest {}))
        .expect("stats")
        .into_inner();
    assert!(stats.events_seen > 0);
    assert!(stats.rules_enabled > 0);
    assert!(
        stats
            .rules
            .iter()
            .any(|r| r.rule == "Write below etc" && r.alerts >= 1)
    );
    drop(ctr);
    drop(entry);
    drop(pod);
}
