//! `record` then `replay`: a detection captured on this machine is
//! reproduced off-line from the file alone (thread snapshot + raw records).
//! Privileged (eBPF): fails loudly without root unless SKIP_PRIVILEGED=1.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn a_recorded_detection_replays_with_the_same_alert() {
    if !support::require_privileged("record/replay") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("capture.rec");
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules/defaults/falco-sensor_rules.yaml");
    let bin = env!("CARGO_BIN_EXE_falco-sensor");
    let mut rec = Command::new(bin)
        .args(["record", "--duration", "4", "-r"])
        .arg(&rules)
        .arg("-o")
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start record");
    // Wait until the probes are attached (record says so on stderr).
    let stderr = rec.stderr.take().expect("record stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("recording") => break,
            Some(Ok(l)) => seen.push(l),
            _ => panic!("record ended before it started recording: {seen:?}"),
        }
    }
    // A uniquely named reader so the alert is ours.
    let reader = dir.path().join("rr-reader");
    std::fs::copy("/bin/cat", &reader).expect("copy cat");
    let st = Command::new(&reader)
        .arg("/etc/shadow")
        .stdout(Stdio::null())
        .status()
        .expect("run reader");
    assert!(st.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = rec.wait().expect("record finished");
    assert!(status.success(), "record failed: {rest:?}");

    let replay = Command::new(bin)
        .arg("replay")
        .arg(&file)
        .arg("--json")
        .arg("-r")
        .arg(&rules)
        .output()
        .expect("replay");
    assert!(
        replay.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let stdout = String::from_utf8_lossy(&replay.stdout);
    let alert = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|a| {
            a["rule"] == "Read sensitive file untrusted"
                && a["output_fields"]["proc.name"] == "rr-reader"
        })
        .unwrap_or_else(|| panic!("no replayed alert for rr-reader in:\n{stdout}"));
    assert_eq!(alert["output_fields"]["fd.name"], "/etc/shadow");
    assert_eq!(alert["output_fields"]["container.id"], "host");
    assert_eq!(alert["priority"], "Warning");
    // The user name comes from the recorded host user table.
    assert_eq!(alert["output_fields"]["user.name"], "root");
    // The parent comes from the recorded thread snapshot, not from this machine.
    assert_ne!(alert["output_fields"]["proc.pname"], "<NA>");
}
