//! `record` then `replay`: a detection captured on this machine is
//! reproduced off-line from the file alone (thread snapshot + raw records).
//! Privileged (eBPF): fails loudly without root unless SKIP_PRIVILEGED=1.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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
    let rec = Command::new(bin)
        .args(["record", "--duration", "4", "-r"])
        .arg(&rules)
        .arg("-o")
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start record");
    std::thread::sleep(Duration::from_millis(1500));
    // A uniquely named reader so the alert is ours.
    let reader = dir.path().join("rr-reader");
    std::fs::copy("/bin/cat", &reader).expect("copy cat");
    let st = Command::new(&reader)
        .arg("/etc/shadow")
        .stdout(Stdio::null())
        .status()
        .expect("run reader");
    assert!(st.success());
    let out = rec.wait_with_output().expect("record finished");
    assert!(
        out.status.success(),
        "record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

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
    // The parent comes from the recorded thread snapshot, not from this machine.
    assert_ne!(alert["output_fields"]["proc.pname"], "<NA>");
}
