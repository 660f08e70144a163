//! The console in a real terminal: tmux runs the binary, the test sends keys and
//! reads the screen with capture-pane. Covers `open FILE`, a live (in-process,
//! real gRPC) sensor, filter, detail, triage surviving a restart, and the
//! terminal being restored on quit.
#![allow(clippy::unwrap_used)]

mod common;

use common::fake_sensor::FakeSensor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A safety net against hanging; the screen normally updates within 100 ms.
const WAIT: Duration = Duration::from_secs(30);

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, cmd: &str) -> Tmux {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "tmux is required for this test (apt-get install tmux)");
        let socket = format!("falco-console-test-{name}-{}", std::process::id());
        let t = Tmux { socket };
        // Run through sh so that after the console exits we can see the normal
        // screen again (proof the alternate screen was left) and the exit code.
        let script = format!("{cmd}; echo EXITED $?; sleep 600");
        let st = t
            .cmd()
            .args([
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "30",
                "-s",
                "main",
                "sh",
                "-c",
                &script,
            ])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap();
        assert!(st.success());
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn keys(&self, keys: &[&str]) {
        let st = self
            .cmd()
            .args(["send-keys", "-t", "main"])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Types literal text (one key per character).
    fn type_text(&self, text: &str) {
        let st = self
            .cmd()
            .args(["send-keys", "-t", "main", "-l", text])
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "main"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |s| s.contains(what))
    }

    fn wait_until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < WAIT,
                "screen never showed {what:?}; it shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn console(store: &Path, args: &str) -> String {
    format!(
        "{} --utc --store {} --rules-out {} {args}",
        env!("CARGO_BIN_EXE_falco-console"),
        store.display(),
        store.with_extension("yaml").display()
    )
}

fn sample_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/falco_events.json")
}

fn row<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle:?} in:\n{screen}"))
}

#[test]
fn open_file_filter_detail_triage_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("console.db");
    let args = format!("open {}", sample_file().display());
    {
        let t = Tmux::start("open", &console(&store, &args));
        let s = t.wait_for("7/7 alerts, 7 new");
        // the escape sequences in the last alert's command are shown, not run
        assert!(s.contains(r"sh -c echo \x1b]0;"), "{s}");

        t.keys(&["/"]);
        t.type_text("shadow");
        t.keys(&["Enter"]);
        let s = t.wait_for("1/7 alerts");
        assert!(s.contains("cat /etc/shadow"));
        assert!(!s.contains("Write below etc"));

        t.keys(&["Enter"]);
        let s = t.wait_for("<detail>");
        assert!(s.contains("tags: T1555"), "{s}");
        assert!(s.contains("└─ bash (3993)"), "ancestry tree: {s}");
        assert!(s.contains("fd.name = /etc/shadow"), "{s}");
        t.keys(&["a"]);
        t.wait_for("state: ack");
        t.keys(&["Escape"]);
        t.wait_until("back to the list", |s| !s.contains("<detail>"));
        t.keys(&["Escape"]);
        let s = t.wait_for("7/7 alerts, 6 new");
        assert!(row(&s, "cat /etc/shadow").contains("ack"));

        t.keys(&["?"]);
        let s = t.wait_for("keys of <alerts>");
        assert!(s.contains("silence rule for a scope"), "{s}");
        t.keys(&["j"]);
        t.wait_until("help closed", |s| !s.contains("keys of <alerts>"));

        t.keys(&["q"]);
        let s = t.wait_for("EXITED 0");
        assert!(
            !s.contains("falco-console │"),
            "alternate screen left on quit:\n{s}"
        );
    }
    // triage survives a restart: same store, same file
    let t = Tmux::start("reopen", &console(&store, &args));
    let s = t.wait_for("7/7 alerts, 6 new");
    assert!(row(&s, "cat /etc/shadow").contains("ack"), "{s}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn live_sensor_alerts_views_and_ctrl_c() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sensor = FakeSensor::new("sensor-live");
    sensor.emit("Terminal shell in container");
    let server = rt.block_on(sensor.serve("127.0.0.1:0".parse().unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("console.db");
    let t = Tmux::start(
        "live",
        &console(&store, &format!("--sensor {}", server.addr)),
    );
    let s = t.wait_for("Terminal shell in container");
    assert!(s.contains("sources 1/1 up"), "{s}");
    sensor.emit("Read sensitive file untrusted");
    t.wait_for("Read sensitive file untrusted");

    t.keys(&[":"]);
    t.type_text("sensors");
    t.keys(&["Enter"]);
    let s = t.wait_for("<sensors>");
    let addr = server.addr.to_string();
    let r = s
        .lines()
        .find(|l| l.starts_with(&addr))
        .unwrap_or_else(|| panic!("no sensor row:\n{s}"));
    assert!(r.contains("connected"), "{s}");
    assert!(r.contains("88/90"), "rules from GetStats: {s}");

    t.keys(&[":"]);
    t.type_text("rules");
    t.keys(&["Enter"]);
    let s = t.wait_for("<rules>");
    assert!(row(&s, "Read sensitive file").contains("WARN"), "{s}");

    t.keys(&["C-c"]);
    let s = t.wait_for("EXITED");
    assert!(s.contains("EXITED 0"), "{s}");
    rt.block_on(server.stop());
}
