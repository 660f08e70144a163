//! Hot reload with the real sensor: an edited rules file is picked up, a
//! SIGHUP reloads, and a broken file leaves the old rules running and is
//! reported as an alert. Privileged (eBPF): fails loudly without root unless
//! SKIP_PRIVILEGED=1.

mod support;

use falco_proto::v1::Alert;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::sensor::{Sensor, collect, runtime, summary};

fn rule(name: &str, binary: &str) -> String {
    format!(
        "- rule: {name}\n  desc: reload test\n  condition: evt.type in (execve, execveat) and evt.rawres = 0 and proc.name = {binary}\n  output: {name} ran %proc.name\n  priority: NOTICE\n"
    )
}

/// Copies /bin/true to a uniquely named binary and runs it.
fn run_named(dir: &Path, name: &str) {
    let bin = dir.join(name);
    if !bin.exists() {
        std::fs::copy("/bin/true", &bin).expect("copy true");
    }
    let st = Command::new(&bin)
        .stdout(Stdio::null())
        .status()
        .expect("run marker binary");
    assert!(st.success());
}

fn has(alerts: &[Alert], rule: &str) -> bool {
    alerts.iter().any(|a| a.rule == rule)
}

#[test]
fn edits_and_sighup_reload_and_a_broken_file_keeps_the_old_rules() {
    if !support::require_privileged("the hot-reload end-to-end test") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("reload.yaml");
    std::fs::write(&rules, rule("Reload first", "rlfirst")).expect("write rules");
    let mut sensor = Sensor::start(dir.path(), &["-r".into(), rules.display().to_string()]);
    let rt = runtime();
    let mut client = rt.block_on(sensor.connect());

    run_named(dir.path(), "rlfirst");
    let got = rt.block_on(collect(&mut client, Duration::from_secs(30), |a| {
        has(a, "Reload first")
    }));
    assert!(
        has(&got, "Reload first"),
        "first rule did not fire:\n{}",
        summary(&got)
    );

    // An edit of the watched file is picked up (checked every 2 s).
    std::fs::write(
        &rules,
        rule("Reload first", "rlfirst") + &rule("Reload second", "rlsecond"),
    )
    .expect("rewrite rules");
    let mut fired = Vec::new();
    for _ in 0..40 {
        run_named(dir.path(), "rlsecond");
        fired = rt.block_on(collect(&mut client, Duration::from_millis(500), |a| {
            has(a, "Reload second")
        }));
        if has(&fired, "Reload second") {
            break;
        }
    }
    assert!(
        has(&fired, "Reload second"),
        "edited rules never loaded:\n{}\n{}",
        summary(&fired),
        sensor.log_text()
    );

    // A broken file: the reload fails, is reported, and the old rules stay.
    std::fs::write(&rules, "- rule: Broken\n  condition: no.such.field = 1\n")
        .expect("break rules");
    sensor.signal(libc::SIGHUP);
    let failed = rt.block_on(collect(&mut client, Duration::from_secs(30), |a| {
        has(a, "Falco internal: rules reload failed")
    }));
    let report = failed
        .iter()
        .find(|a| a.rule == "Falco internal: rules reload failed")
        .unwrap_or_else(|| panic!("no reload-failed alert:\n{}", summary(&failed)));
    assert!(report.output.contains("reload.yaml"), "{}", report.output);
    let before = failed.iter().filter(|a| a.rule == "Reload second").count();
    let mut after = Vec::new();
    for _ in 0..20 {
        run_named(dir.path(), "rlsecond");
        after = rt.block_on(collect(&mut client, Duration::from_secs(1), |a| {
            a.iter().filter(|x| x.rule == "Reload second").count() > before
        }));
        if after.iter().filter(|a| a.rule == "Reload second").count() > before {
            break;
        }
    }
    assert!(
        after.iter().filter(|a| a.rule == "Reload second").count() > before,
        "the previous rules stopped running after a failed reload:\n{}",
        summary(&after)
    );
}
