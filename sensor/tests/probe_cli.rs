//! The `falco-sensor record` command end to end: unprivileged start fails
//! with a clear message, and a privileged capture reads back and decodes.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use falco_sensor::capture::record::{RecordItem, RecordReader};
use falco_sensor::event::decode::Decoder;
use falco_sensor::event::{EventKind, EventType};
use falco_sensor::probe::preflight;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_falco-sensor");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn skip_privileged() -> bool {
    std::env::var("SKIP_PRIVILEGED").as_deref() == Ok("1")
}

#[test]
fn unprivileged_record_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.rec");
    let output = if is_root() {
        // A copy the nobody user can reach and execute (tempdirs are private).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let bin = dir.path().join("falco-sensor");
        std::fs::copy(BIN, &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(&bin)
            .args(["record", "-o"])
            .arg(&out)
            .output()
            .expect("setpriv runs (util-linux)")
    } else {
        Command::new(BIN)
            .args(["record", "-o"])
            .arg(&out)
            .output()
            .unwrap()
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "unprivileged record must fail: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("missing capability CAP_BPF and CAP_PERFMON"),
        "{stderr}"
    );
    assert!(stderr.contains("grep Cap /proc/self/status"), "{stderr}");
    assert!(
        !out.exists(),
        "no output file is created when the probe cannot start"
    );
}

#[test]
fn record_captures_events_that_decode() {
    if let Err(e) = preflight() {
        if skip_privileged() {
            eprintln!("SKIP_PRIVILEGED=1: skipping ({e})");
            return;
        }
        panic!("eBPF probes unavailable (set SKIP_PRIVILEGED=1 to skip): {e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cap.rec");
    let mut recorder = Command::new(BIN)
        .args(["record", "--duration", "3", "-o"])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The recorder gives no readiness signal; keep producing marker execs
    // until it exits so some land after the probes attach.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        Command::new("/bin/true")
            .arg("falco-record-marker")
            .status()
            .unwrap();
        if let Some(status) = recorder.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "record --duration 3 did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(recorder.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("recorded "), "{stderr}");

    let reader = RecordReader::open(&out).unwrap();
    let header = reader.header().clone();
    assert_eq!(
        header.kernel,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim()
    );
    let mut decoder = Decoder::new(header.boot_to_wall_offset_ns);
    let mut types = std::collections::BTreeSet::new();
    let mut markers = 0;
    let mut raws = 0;
    for item in reader {
        let RecordItem::Raw(raw) = item.unwrap() else {
            continue;
        };
        raws += 1;
        let ev = decoder
            .decode(&raw)
            .unwrap_or_else(|e| panic!("frame {raws}: {e}"));
        types.insert(ev.etype);
        if let EventKind::Exec { argv, .. } = &ev.kind
            && argv.iter().any(|a| a == "falco-record-marker")
        {
            markers += 1;
        }
    }
    assert!(
        markers > 0,
        "no marker exec among {raws} records ({types:?})"
    );
    assert!(types.contains(&EventType::Procexit), "{types:?}");
    assert!(types.len() >= 3, "record captures every type: {types:?}");
}
