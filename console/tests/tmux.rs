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
    /// `None` only when tmux is missing and SKIP_PRIVILEGED=1 (scripts/test.sh
    /// then does not install the test packages); otherwise a missing tmux fails.
    fn start(name: &str, cmd: &str) -> Option<Tmux> {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok && std::env::var("SKIP_PRIVILEGED").as_deref() == Ok("1") {
            eprintln!("SKIPPED: tmux not installed and SKIP_PRIVILEGED=1");
            return None;
        }
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
        Some(t)
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

    /// Sends a signal to the console: the child of the pane's shell.
    fn signal_console(&self, sig: &str) {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "main", "#{pane_pid}"])
            .output()
            .unwrap();
        let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
        let child = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!child.is_empty(), "console process not found under {shell}");
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &child])
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

    /// Waits until every text is on screen at once (a frame can be captured half drawn).
    fn wait_all(&self, texts: &[&str]) -> String {
        self.wait_until(&texts.join(" + "), |s| texts.iter().all(|t| s.contains(t)))
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
        let Some(t) = Tmux::start("open", &console(&store, &args)) else {
            return;
        };
        t.wait_for("7/7 alerts, 7 new");
        // the escape sequences in the last alert's command are shown, not run
        t.wait_for(r"sh -c echo \x1b");

        t.keys(&["/"]);
        t.type_text("shadow");
        t.keys(&["Enter"]);
        let s = t.wait_all(&["1/7 alerts", "cat /etc/shadow"]);
        assert!(!s.contains("Write below etc"));

        t.keys(&["Enter"]);
        // tags, the ancestry tree and the fields
        t.wait_all(&[
            "<detail>",
            "tags: T1555",
            "└─ bash (3993)",
            "fd.name = /etc/shadow",
        ]);
        t.keys(&["a"]);
        t.wait_for("state: ack");
        t.keys(&["Escape"]);
        t.wait_until("back to the list", |s| !s.contains("<detail>"));
        t.keys(&["Escape"]);
        let s = t.wait_until("list with the ack", |s| {
            s.contains("7/7 alerts, 6 new")
                && s.lines()
                    .any(|l| l.contains("cat /etc/shadow") && l.contains("ack"))
        });
        assert!(row(&s, "cat /etc/shadow").contains("ack"));

        t.keys(&["?"]);
        t.wait_all(&["keys of <alerts>", "silence rule for a scope"]);
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
    let t = Tmux::start("reopen", &console(&store, &args)).unwrap();
    t.wait_until("restored triage", |s| {
        s.contains("7/7 alerts, 6 new")
            && s.lines()
                .any(|l| l.contains("cat /etc/shadow") && l.contains("ack"))
    });
    // SIGTERM also restores the terminal
    t.signal_console("TERM");
    let s = t.wait_for("EXITED 0");
    assert!(!s.contains("falco-console │"), "{s}");
}

#[test]
fn live_sensor_alerts_views_and_ctrl_c() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sensor = FakeSensor::new("sensor-live");
    sensor.emit("Terminal shell in container");
    let server = rt.block_on(sensor.serve("127.0.0.1:0".parse().unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("console.db");
    let Some(t) = Tmux::start(
        "live",
        &console(&store, &format!("--sensor {}", server.addr)),
    ) else {
        return;
    };
    t.wait_for("Terminal shell in container");
    t.wait_for("sources 1/1 up");
    sensor.emit("Read sensitive file untrusted");
    t.wait_for("Read sensitive file untrusted");

    t.keys(&[":"]);
    t.type_text("sensors");
    t.keys(&["Enter"]);
    // state from GetVersion, rules from GetStats
    let addr = server.addr.to_string();
    t.wait_until("sensor row connected with 88/90 rules", |s| {
        s.contains("<sensors>")
            && s.lines()
                .any(|l| l.starts_with(&addr) && l.contains("connected") && l.contains("88/90"))
    });

    t.keys(&[":"]);
    t.type_text("rules");
    t.keys(&["Enter"]);
    t.wait_until("rules view with the rule", |s| {
        s.contains("<rules>")
            && s.lines()
                .any(|l| l.contains("Read sensitive file") && l.contains("WARN"))
    });

    t.keys(&["C-c"]);
    t.wait_for("EXITED 0");
    rt.block_on(server.stop());
}

#[test]
fn noise_view_drafts_and_applies_an_exception() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sensor = FakeSensor::new("sensor-noisy");
    sensor.state.lock().unwrap().actions_enabled = true;
    for _ in 0..5 {
        sensor.emit_now("Terminal shell in container", "bash");
    }
    sensor.emit_now("Read sensitive file untrusted", "cat");
    let server = rt.block_on(sensor.serve("127.0.0.1:0".parse().unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("console.db");
    let Some(t) = Tmux::start(
        "noise",
        &console(&store, &format!("--sensor {}", server.addr)),
    ) else {
        return;
    };
    t.wait_for("6/6 alerts");
    t.keys(&[":"]);
    t.type_text("noise");
    t.keys(&["Enter"]);
    let s = t.wait_until("the shell group on top", |s| {
        s.contains("<noise>")
            && s.lines().any(|l| {
                l.contains("Terminal shell in container")
                    && l.contains("83.3%")
                    && l.contains("bash")
            })
    });
    assert!(
        row(&s, "Terminal shell in container").starts_with('5'),
        "{s}"
    );
    t.keys(&["x"]);
    t.wait_all(&[
        "Draft exception (x)",
        "proc.name = bash",
        "in the store: would silence 5 alert(s)",
    ]);
    t.keys(&["A"]);
    t.wait_for("rules reloaded");
    let files = sensor.state.lock().unwrap().put_files.clone();
    assert_eq!(files.len(), 1);
    let y = &files[0].content;
    assert!(y.contains("- rule: \"Terminal shell in container\""), "{y}");
    assert!(
        y.contains("fields: [proc.name, container.image.repository]"),
        "{y}"
    );
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    rt.block_on(server.stop());
}

#[test]
fn pager_gets_the_alert_as_json_and_the_console_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("console.db");
    let out = dir.path().join("paged.json");
    // a "pager" that saves what it gets and, like less, waits for a key on the tty
    let cmd = format!(
        "PAGER='cat > {}; read x < /dev/tty' {}",
        out.display(),
        console(&store, &format!("open {}", sample_file().display()))
    );
    let Some(t) = Tmux::start("pager", &cmd) else {
        return;
    };
    t.wait_for("7/7 alerts, 7 new");
    t.keys(&["v"]);
    t.wait_until("the pager ran", |_| {
        std::fs::read_to_string(&out).is_ok_and(|s| s.contains("\"rule\""))
    });
    let paged = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(&paged).unwrap();
    assert!(v["rule"].is_string(), "{paged}");
    assert!(!paged.contains('\u{1b}'), "escapes are escaped: {paged:?}");
    // the key meant for the pager reaches it, not the console
    t.keys(&["q", "Enter"]);
    let s = t.wait_for("7/7 alerts, 7 new");
    assert!(
        !s.contains("EXITED"),
        "the console read the pager's q:\n{s}"
    );
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}
