//! The responder against processes in real containerd containers (privileged:
//! needs root, containerd, runc and busybox; set SKIP_PRIVILEGED=1 to skip).
//! Each test runs its own containerd on a socket in a temp dir.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use falco_proto::v1::{Alert, ContainerContext, Priority, ProcessContext, ResponseRecord};
use falco_sensor::respond::{
    ActionError, ContainerRuntime, KubeSource, Responder, ResponderDeps, ResponseConfig,
    SelfIdentity,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

fn skip() -> bool {
    if std::env::var("SKIP_PRIVILEGED").as_deref() == Ok("1") {
        eprintln!("SKIP_PRIVILEGED=1: skipping containerd test");
        return true;
    }
    // SAFETY: geteuid has no arguments and cannot fail.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "containerd tests need root (or SKIP_PRIVILEGED=1)"
    );
    for tool in ["containerd", "ctr", "runc", "busybox"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(found, "{tool} not installed (scripts/test.sh installs it)");
    }
    false
}

/// A private containerd with a busybox rootfs.
struct Containerd {
    dir: tempfile::TempDir,
    daemon: Child,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("rootfs/bin")).unwrap();
        let busybox = String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v busybox"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        std::fs::copy(busybox.trim(), d.join("rootfs/bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", d.join("rootfs/bin/sleep")).unwrap();
        std::fs::write(
            d.join("config.toml"),
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n[grpc]\n  address = \"{0}/c.sock\"\n\
                 [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable = true\n",
                d.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd { dir, daemon };
        for _ in 0..200 {
            if c.socket().exists() && c.ctr(&["version"]).is_ok() {
                return c;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "containerd did not start: {}",
            std::fs::read_to_string(c.dir.path().join("containerd.log")).unwrap_or_default()
        );
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("c.sock")
    }

    fn ctr(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["-n", "respond-test"])
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Starts `sleep 1000` in a new container; returns (full id, host pid).
    fn run_sleep(&self) -> (String, i64) {
        let id: String = (0..4).map(|_| format!("{:016x}", random_u64())).collect();
        let rootfs = self.dir.path().join("rootfs");
        self.ctr(&[
            "run",
            "--detach",
            "--rootfs",
            rootfs.to_str().unwrap(),
            &id,
            "/bin/sleep",
            "1000",
        ])
        .unwrap();
        let pid = self.task(&id).unwrap().0;
        (id, pid)
    }

    /// (pid, status) of the container's task.
    fn task(&self, id: &str) -> Option<(i64, String)> {
        let out = self.ctr(&["task", "ls"]).unwrap();
        out.lines().find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.first() == Some(&id)).then(|| (cols[1].parse().unwrap(), cols[2].to_string()))
        })
    }

    /// Waits (bounded) for the task to leave RUNNING; returns its last status.
    fn wait_stopped(&self, id: &str) -> String {
        for _ in 0..200 {
            let status = self.task(id).unwrap().1;
            if status != "RUNNING" {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        "RUNNING".into()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Ok(out) = self.ctr(&["task", "ls", "-q"]) {
            for id in out.lines() {
                let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", id]);
                let _ = self.ctr(&["task", "delete", "-f", id]);
                let _ = self.ctr(&["container", "delete", id]);
            }
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .unwrap();
    u64::from_le_bytes(buf)
}

/// Stops containers with `ctr task kill` (TERM, then KILL after the timeout):
/// stands in for the CRI client, which is wired in at integration.
struct CtrRuntime {
    socket: PathBuf,
}

impl ContainerRuntime for CtrRuntime {
    fn stop_container(&self, full_id: &str, timeout: Duration) -> Result<(), ActionError> {
        let ctr = |args: &[&str]| {
            Command::new("ctr")
                .arg("--address")
                .arg(&self.socket)
                .args(["-n", "respond-test", "task", "kill"])
                .args(args)
                .arg(full_id)
                .output()
                .map_err(|e| ActionError::Runtime(e.to_string()))
        };
        let term = ctr(&["-s", "SIGTERM"])?;
        if !term.status.success() {
            return Err(ActionError::Runtime(
                String::from_utf8_lossy(&term.stderr).into_owned(),
            ));
        }
        std::thread::sleep(timeout);
        // Already gone after SIGTERM is fine.
        let _ = ctr(&["-s", "SIGKILL"]);
        Ok(())
    }
}

fn responder(yaml: &str, socket: Option<&Path>) -> (Responder, mpsc::Receiver<ResponseRecord>) {
    let cfg: ResponseConfig = serde_yaml::from_str(yaml).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let deps = ResponderDeps {
        runtime: socket.map(|s| {
            Arc::new(CtrRuntime {
                socket: s.to_path_buf(),
            }) as Arc<dyn ContainerRuntime>
        }),
        kube: KubeSource::Disabled,
        identity: SelfIdentity::detect(),
        sink: Arc::new(move |r| {
            let _ = tx.lock().unwrap().send(r.record);
        }),
    };
    (Responder::start(cfg, deps).unwrap(), rx)
}

fn alert(seq: u64, id: &str, pid: i64) -> Alert {
    Alert {
        seq,
        time_ns: chrono::Utc::now().timestamp_nanos_opt().unwrap(),
        priority: Priority::Critical as i32,
        rule: "Drop and execute new binary in container".into(),
        process: Some(ProcessContext {
            pid,
            name: "sleep".into(),
            ..Default::default()
        }),
        container: Some(ContainerContext {
            id: id[..12].into(),
            full_id: id.into(),
            runtime: "containerd".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn ips_kills_the_process_in_a_container_once_under_a_storm() {
    if skip() {
        return;
    }
    let ctd = Containerd::start();
    let (id, pid) = ctd.run_sleep();
    let (r, rx) = responder(
        "mode: ips\npolicies: [{name: p, actions: [kill-process]}]",
        None,
    );
    let mut immediate = Vec::new();
    for seq in 1..=100 {
        immediate.extend(r.submit(&alert(seq, &id, pid)));
    }
    r.shutdown();
    let worker: Vec<ResponseRecord> = rx.try_iter().collect();
    assert_eq!(worker.len(), 1, "{worker:#?}");
    assert_eq!(worker[0].outcome, "taken", "{:?}", worker[0]);
    assert_eq!(immediate.len(), 99);
    assert!(immediate.iter().all(|r| r.detail.starts_with("cooldown: ")));
    assert_eq!(ctd.wait_stopped(&id), "STOPPED");
}

#[test]
fn ids_leaves_the_container_running() {
    if skip() {
        return;
    }
    let ctd = Containerd::start();
    let (id, pid) = ctd.run_sleep();
    let (r, rx) = responder(
        "mode: ids\npolicies: [{name: p, actions: [kill-process, stop-container]}]",
        Some(&ctd.socket()),
    );
    let records = r.submit(&alert(1, &id, pid));
    r.shutdown();
    assert_eq!(rx.try_iter().count(), 0);
    let outcomes: Vec<&str> = records.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, vec!["dry-run", "dry-run"]);
    assert_eq!(ctd.task(&id).unwrap(), (pid, "RUNNING".to_string()));
}

#[test]
fn ips_stops_the_container_through_the_runtime() {
    if skip() {
        return;
    }
    let ctd = Containerd::start();
    let (id, pid) = ctd.run_sleep();
    let (r, rx) = responder(
        "mode: ips\npolicies: [{name: p, actions: [stop-container]}]",
        Some(&ctd.socket()),
    );
    assert!(r.submit(&alert(1, &id, pid)).is_empty());
    r.shutdown();
    let worker: Vec<ResponseRecord> = rx.try_iter().collect();
    assert_eq!(worker.len(), 1);
    assert_eq!(worker[0].outcome, "taken", "{:?}", worker[0]);
    assert_eq!(ctd.wait_stopped(&id), "STOPPED");
}
