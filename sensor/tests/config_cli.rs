//! The config is checked as a whole before anything starts: a bad
//! `response` policy stops `run` before any probe is loaded or port bound,
//! and `validate --config` reports it at `file:line:column`. Runs the real
//! binary; needs no privileges (nothing is loaded).

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BAD_POLICY: &str = "\
cluster: test
grpc:
  listen: 127.0.0.1:0
response:
  mode: ips
  policies:
    - name: kill-shells
      min_priority: Warning
      actions: []
";

fn sensor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_falco-sensor"))
}

#[test]
fn run_with_a_bad_response_policy_fails_before_loading_probes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sensor.yaml");
    std::fs::write(&cfg, BAD_POLICY).unwrap();
    let out = sensor()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "run succeeded: {stderr}");
    let want = format!(
        "{}:7:7: config key response.policies[0] (\"kill-shells\"): actions must name at least one action",
        cfg.display()
    );
    assert!(stderr.contains(&want), "stderr: {stderr}");
    // Said once, not repeated by the error chain.
    assert_eq!(stderr.matches("actions must name").count(), 1, "{stderr}");
    for text in [&stderr, &stdout] {
        assert!(
            !text.contains("probes attached"),
            "probes were loaded: {text}"
        );
        assert!(!text.contains("ready in"), "the sensor started: {text}");
    }
}

#[test]
fn validate_config_names_file_and_line_of_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sensor.yaml");
    std::fs::write(&cfg, BAD_POLICY).unwrap();
    let out = sensor()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "error: {}:7:7: config key response.policies[0]",
            cfg.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("FAILED"), "{stdout}");

    // The same file with the policy fixed validates, rules included (the
    // embedded default ruleset, as the config names no rules files).
    std::fs::write(
        &cfg,
        BAD_POLICY.replace("actions: []", "actions: [kill-process]"),
    )
    .unwrap();
    let out = sensor()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("Config {}: OK", cfg.display())),
        "{stdout}"
    );
    assert!(stdout.contains("Loaded "), "{stdout}");
}
