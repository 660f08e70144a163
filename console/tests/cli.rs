//! The headless commands on a Falco json_output file.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn console(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_falco-console"))
        .args(args)
        .output()
        .unwrap()
}

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/falco_events.json")
        .display()
        .to_string()
}

#[test]
fn tail_file_filters_and_prints_falco_json() {
    let f = sample();
    let out = console(&["tail", "--file", &f, "--json", "--min-priority", "error"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rules: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        rules,
        [
            "Drop and execute new binary in container",
            "Write below etc"
        ]
    );

    let out = console(&[
        "tail",
        "--file",
        &f,
        "--pod",
        "default/web-1",
        "--grep",
        "BASH",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines()
            .all(|l| l.contains("Terminal shell in container [node-1 default/web-1 web]"))
    );

    // the hostile command line is escaped in plain output
    let out = console(&["tail", "--file", &f, "--grep", "pwned"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(r"sh -c echo \x1b]0;pwned\x07 \x1b[2J"),
        "{text}"
    );
    assert!(!text.trim_end().chars().any(|c| c.is_control()));
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"rule\":\"r\",\"priority\":\"Loud\",\"time\":\"2024-05-01T10:00:00Z\"}\n",
    )
    .unwrap();
    let out = console(&["tail", "--file", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json:1:") && err.contains("Loud"), "{err}");

    let out = console(&["open", dir.path().join("missing.json").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));

    let out = console(&["tail"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sensor"));

    let out = console(&["tail", "--file", &sample(), "--min-priority", "loud"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loud"));
}
