//! Rule inputs the sensor derives from the rules, with the real sensor:
//! environment capture switched on by a rules reload that brings the
//! upstream `proc.env` rules (which then fire on their upstream examples),
//! and `fd.sip.name` answered from the names the rules compare it with,
//! resolved through the system resolver (`localhost` from /etc/hosts).
//! Privileged (eBPF): fails loudly without root unless SKIP_PRIVILEGED=1.

mod support;

use falco_proto::v1::Alert;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::sensor::{Sensor, collect, runtime, summary};

const PROXY_RULE: &str = "Program run with disallowed http proxy env";
const TUNABLES_RULE: &str = "Potential Local Privilege Escalation via Environment Variables Misuse";

/// Runs a copy of /bin/true named `name` with one extra variable.
fn run_with_env(dir: &Path, name: &str, var: &str, value: &str) {
    let bin = dir.join(name);
    if !bin.exists() {
        std::fs::copy("/bin/true", &bin).expect("copy true");
    }
    let st = Command::new(&bin)
        .env(var, value)
        .stdout(Stdio::null())
        .status()
        .expect("run marker binary");
    assert!(st.success());
}

fn find<'a>(alerts: &'a [Alert], rule: &str, marker: &str) -> Option<&'a Alert> {
    alerts
        .iter()
        .find(|a| a.rule == rule && a.output.contains(marker))
}

#[test]
fn a_reload_that_brings_proc_env_rules_turns_environment_capture_on() {
    if !support::require_privileged("the environment capture end-to-end test") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).expect("rules dir");
    // Loaded after the upstream files (name order) once they are added.
    std::fs::write(
        rules_dir.join("zz-marker.yaml"),
        "- rule: Env marker\n  desc: start-up check\n  condition: evt.type in (execve, execveat) and proc.name = envmarker\n  output: marker %proc.name\n  priority: NOTICE\n",
    )
    .expect("write rules");
    let mut sensor = Sensor::start(
        dir.path(),
        &[
            "-r".into(),
            rules_dir.display().to_string(),
            "-o".into(),
            "rules.rule_matching=all".into(),
        ],
    );
    let rt = runtime();
    let mut client = rt.block_on(sensor.connect());
    run_with_env(dir.path(), "envmarker", "ENV_MARKER", "first");
    let got = rt.block_on(collect(&mut client, Duration::from_secs(30), |a| {
        a.iter().any(|a| a.rule == "Env marker")
    }));
    assert!(
        got.iter().any(|a| a.rule == "Env marker"),
        "the marker rule did not fire:\n{}\n{}",
        summary(&got),
        sensor.log_text()
    );
    // No rule reads proc.env: the kernel does not copy environments.
    wait_for_log(
        &sensor,
        "environment capture off: no enabled rule reads proc.env",
    );

    // A reload that brings the upstream rulesets turns it on, and their env
    // rules fire on their examples: curl with HTTP_PROXY set, any exec with
    // GLIBC_TUNABLES.
    let upstream = support::upstream_rules_dir();
    for (i, f) in ["falco_rules.yaml", "falco-incubating_rules.yaml"]
        .iter()
        .enumerate()
    {
        std::fs::copy(upstream.join(f), rules_dir.join(format!("{i:02}-{f}")))
            .unwrap_or_else(|e| panic!("copying {f} from {}: {e}", upstream.display()));
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut proxy, mut tunables) = (None, None);
    while Instant::now() < deadline && (proxy.is_none() || tunables.is_none()) {
        run_with_env(dir.path(), "curl", "HTTP_PROXY", "http://1.2.3.4:8080");
        run_with_env(
            dir.path(),
            "tunables",
            "GLIBC_TUNABLES",
            "glibc.malloc.mxfast=0",
        );
        let got = rt.block_on(collect(&mut client, Duration::from_millis(500), |a| {
            find(a, PROXY_RULE, "HTTP_PROXY=http://1.2.3.4:8080").is_some()
                && find(a, TUNABLES_RULE, "GLIBC_TUNABLES=glibc.malloc.mxfast=0").is_some()
        }));
        proxy = proxy.or_else(|| find(&got, PROXY_RULE, "HTTP_PROXY=").cloned());
        tunables = tunables.or_else(|| find(&got, TUNABLES_RULE, "GLIBC_TUNABLES=").cloned());
    }
    let log = sensor.log_text();
    let proxy = proxy.unwrap_or_else(|| panic!("{PROXY_RULE} did not fire:\n{log}"));
    assert!(proxy.output.contains("process=curl"), "{}", proxy.output);
    let tunables = tunables.unwrap_or_else(|| panic!("{TUNABLES_RULE} did not fire:\n{log}"));
    assert!(
        tunables.output.contains("process=tunables"),
        "{}",
        tunables.output
    );
    assert!(
        log.contains("environment capture on: rules read proc.env"),
        "{log}"
    );
}

#[test]
fn forcing_capture_off_warns_with_the_rules_that_need_it() {
    if !support::require_privileged("the environment capture end-to-end test") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("env.yaml");
    std::fs::write(
        &rules,
        "- rule: Needs env\n  desc: d\n  condition: evt.type in (execve, execveat) and proc.env contains ENV_OFF_MARKER\n  output: o\n  priority: NOTICE\n",
    )
    .expect("write rules");
    let mut sensor = Sensor::start(
        dir.path(),
        &[
            "-r".into(),
            rules.display().to_string(),
            "-o".into(),
            "probe.capture_env=false".into(),
        ],
    );
    let rt = runtime();
    let _client = rt.block_on(sensor.connect());
    let log = sensor.log_text();
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("probe.capture_env is false"))
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(warning.contains("Needs env"), "{warning}");
}

#[test]
fn fd_sip_name_matches_the_address_a_rule_name_resolves_to() {
    if !support::require_privileged("the fd.sip.name end-to-end test") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let rules = dir.path().join("names.yaml");
    std::fs::write(
        &rules,
        format!(
            "- list: local_names\n  items: [localhost]\n\
             - rule: Connect to a local name\n  desc: d\n  condition: evt.type = connect and fd.sip.name in (local_names) and fd.sport = {port}\n  output: to %fd.sip.name (%fd.sip:%fd.sport)\n  priority: NOTICE\n"
        ),
    )
    .expect("write rules");
    let mut sensor = Sensor::start(dir.path(), &["-r".into(), rules.display().to_string()]);
    let rt = runtime();
    let mut client = rt.block_on(sensor.connect());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        let conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _ = listener.accept();
        drop(conn);
        got = rt.block_on(collect(&mut client, Duration::from_millis(500), |a| {
            a.iter().any(|a| a.rule == "Connect to a local name")
        }));
        if !got.is_empty() {
            break;
        }
    }
    let alert = got
        .iter()
        .find(|a| a.rule == "Connect to a local name")
        .unwrap_or_else(|| {
            panic!(
                "no alert for a connect to 127.0.0.1 (localhost):\n{}\n{}",
                summary(&got),
                sensor.log_text()
            )
        });
    assert_eq!(
        alert.output,
        format!("to localhost (127.0.0.1:{port})"),
        "{}",
        alert.output
    );
}

/// Waits until the sensor's log has `needle` (a reload is noticed within
/// 2 s of a file change).
fn wait_for_log(sensor: &Sensor, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sensor.log_text().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "log never said {needle:?}:\n{}",
            sensor.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
