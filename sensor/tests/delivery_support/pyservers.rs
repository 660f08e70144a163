//! Real servers from PyPI for the sink tests: moto (S3) and aiosmtpd (SMTP),
//! installed once into a venv under ~/.cache/falco-rs (or $XDG_CACHE_HOME)
//! and started as child processes on free loopback ports. A test that cannot
//! get its server fails, unless SKIP_PRIVILEGED=1, where it is skipped.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pinned so every run tests against the same servers.
const PACKAGES: &[&str] = &["moto[server]==5.2.6", "aiosmtpd==1.4.6"];
const VENV_NAME: &str = "sink-servers-venv-1";

static INSTALL: Mutex<()> = Mutex::new(());

fn skip_allowed(why: &str) -> bool {
    if std::env::var("SKIP_PRIVILEGED").as_deref() == Ok("1") {
        eprintln!("SKIP_PRIVILEGED=1: skipping: {why}");
        return true;
    }
    false
}

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("falco-rs")
}

/// The venv's directory, created on first use. `None`: skipped.
pub fn venv() -> Option<PathBuf> {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache_dir().join(VENV_NAME);
    if dir.join("ready").exists() {
        return Some(dir);
    }
    // Built beside the final place and renamed, so a concurrent test process
    // never sees a half-installed venv.
    std::fs::create_dir_all(cache_dir()).unwrap();
    let tmp = cache_dir().join(format!("{VENV_NAME}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let made = run(
        Command::new("python3").args(["-m", "venv"]).arg(&tmp),
        "python3 -m venv (Debian: apt-get install python3-venv)",
    )
    .and_then(|()| {
        run(
            Command::new(tmp.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(PACKAGES),
            "pip install (is PyPI reachable?)",
        )
    })
    .and_then(|()| {
        std::fs::write(tmp.join("ready"), PACKAGES.join("\n")).map_err(|e| e.to_string())
    });
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&tmp);
        if skip_allowed(&e) {
            return None;
        }
        panic!("cannot install the test servers {PACKAGES:?}: {e}");
    }
    // A moved venv keeps working through `bin/python` (entry-point scripts
    // would name the old path, so everything is started with `python -m`).
    // If another process won the race, its venv is used.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Some(dir)
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server child process, killed on drop.
pub struct PyServer {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PyServer {
    /// Runs `python <args>` from the venv and waits until `port` accepts.
    pub fn start(venv: &Path, args: &[&str], port: u16, log_dir: &Path) -> PyServer {
        let log = log_dir.join(format!("server-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(venv.join("bin/python"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python {args:?}: {e}"));
        let mut server = PyServer { child, port, log };
        let start = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "python {args:?} exited ({status}) before listening: {}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "python {args:?} not listening on {port} after 60s: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs a python script from the venv to completion; its stdout.
pub fn run_python(venv: &Path, args: &[&str]) -> String {
    let out = Command::new(venv.join("bin/python"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python {args:?}: {e}"));
    assert!(
        out.status.success(),
        "python {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Where the helper scripts live (sensor/tests/servers).
pub fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/servers")
        .join(name)
        .display()
        .to_string()
}
