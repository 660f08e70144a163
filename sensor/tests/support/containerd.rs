//! Real containerd for tests, driven through the real CRI API the way the
//! kubelet drives it.
//!
//! - [`Cri::get`] makes sure a containerd whose CRI answers is running (it
//!   starts Debian's `containerd` with a harness-written config when none
//!   is) and that the test images are imported.
//! - [`Pod::start`] / [`Container::start`] create a host-network pod
//!   sandbox and containers with kubelet-style metadata and labels;
//!   dropping them stops and removes them and the pod's cgroups.
//!
//! The API is synchronous (it runs its own tokio runtime), so it can be used
//! from plain `#[test]`s and from async tests alike.

use falco_proto::cri::v1 as cri;
use falco_proto::cri::v1::image_service_client::ImageServiceClient;
use falco_proto::cri::v1::runtime_service_client::RuntimeServiceClient;
use falco_sensor::state::cri::unix_channel;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub const SOCKET: &str = "/run/containerd/containerd.sock";
/// The test image: busybox-static plus a non-root user `app` (uid 1000).
pub const IMAGE: &str = "localhost/falco-test/busybox:1.0";
/// containerd's default sandbox image name; ours is the same busybox
/// sleeping forever.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.6";
const NAMESPACE: &str = "k8s.io";
const HARNESS_DIR: &str = "/run/falco-test-containerd";
/// Label on every harness pod, and the pid of the test process owning it.
const TEST_APP_LABEL: &str = "falco-test";
const OWNER_LABEL: &str = "falco-test.owner-pid";

/// Applets linked into the image's /bin.
const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "ls", "sleep", "id", "echo", "touch", "mv", "rm", "mkdir", "cp", "ps",
    "tty", "test", "true", "false", "wc", "grep", "env", "nc", "wget", "chmod", "ln", "whoami",
    "hostname", "head", "tail", "kill", "stat", "readlink",
];

/// A live CRI connection, shared by all tests of one binary.
pub struct Cri {
    rt: tokio::runtime::Runtime,
    channel: Channel,
}

static CRI: OnceLock<Cri> = OnceLock::new();

impl Cri {
    /// containerd is running with a working CRI and the test images are
    /// imported. Panics with the reason otherwise (tests fail loudly).
    pub fn get() -> &'static Cri {
        CRI.get_or_init(|| match Cri::init() {
            Ok(c) => c,
            Err(e) => panic!("containerd test harness: {e}"),
        })
    }

    fn init() -> Result<Cri, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        std::fs::create_dir_all(HARNESS_DIR).map_err(|e| format!("{HARNESS_DIR}: {e}"))?;
        // Several test binaries may run at once: one of them starts
        // containerd and imports images, the others wait.
        let _lock = FileLock::acquire(&Path::new(HARNESS_DIR).join("lock"))?;
        let channel = {
            let _guard = rt.enter();
            unix_channel(Path::new(SOCKET)).map_err(|e| e.to_string())?
        };
        let cri = Cri { rt, channel };
        if !cri.answers() {
            start_containerd()?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while !cri.answers() {
                if Instant::now() > deadline {
                    return Err(format!(
                        "containerd started but its CRI does not answer on {SOCKET} (log: {HARNESS_DIR}/containerd.log)"
                    ));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        cri.ensure_images()?;
        cri.remove_stale_pods();
        Ok(cri)
    }

    fn answers(&self) -> bool {
        let mut c = self.runtime();
        self.block(async move {
            tokio::time::timeout(
                Duration::from_secs(3),
                c.version(cri::VersionRequest {
                    version: "v1".into(),
                }),
            )
            .await
            .is_ok_and(|r| r.is_ok())
        })
    }

    pub fn runtime(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(self.channel.clone())
    }

    pub fn images(&self) -> ImageServiceClient<Channel> {
        ImageServiceClient::new(self.channel.clone())
    }

    /// Runs a future to completion on the harness runtime, also when the
    /// caller is itself inside a tokio runtime.
    pub fn block<F>(&self, fut: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| self.rt.block_on(fut))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
        } else {
            self.rt.block_on(fut)
        }
    }

    /// Pods of earlier test processes that died before their teardown ran.
    fn remove_stale_pods(&self) {
        let mut rt = self.runtime();
        let req = cri::ListPodSandboxRequest {
            filter: Some(cri::PodSandboxFilter {
                label_selector: HashMap::from([("app".to_string(), TEST_APP_LABEL.to_string())]),
                ..Default::default()
            }),
        };
        let Ok(list) = self.block(async move { rt.list_pod_sandbox(req).await }) else {
            return;
        };
        for sb in list.into_inner().items {
            let owner_alive = sb
                .labels
                .get(OWNER_LABEL)
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if owner_alive {
                continue;
            }
            let uid = sb.metadata.map(|m| m.uid).unwrap_or_default();
            teardown_pod(self, &sb.id, &uid);
        }
    }

    fn ensure_images(&self) -> Result<(), String> {
        let mut images = self.images();
        let listed = self
            .block(async move { images.list_images(cri::ListImagesRequest::default()).await })
            .map_err(|e| format!("CRI ListImages: {e}"))?
            .into_inner();
        let tags: Vec<&String> = listed.images.iter().flat_map(|i| &i.repo_tags).collect();
        if [IMAGE, PAUSE_IMAGE]
            .iter()
            .all(|want| tags.iter().any(|t| t.as_str() == *want))
        {
            return Ok(());
        }
        let archive = build_image_archive()?;
        run(Command::new("ctr").args([
            "--address",
            SOCKET,
            "-n",
            NAMESPACE,
            "image",
            "import",
            &archive.display().to_string(),
        ]))?;
        Ok(())
    }
}

/// An exclusive flock on a file, released on drop.
struct FileLock(File);

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock, String> {
        let f = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the fd is open for the lifetime of `f`; flock has no other preconditions.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "flock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: the fd is still open.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{cmd:?}: cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stops every running containerd (running containers and their shims
/// survive) and waits until its socket is gone, so the next [`Cri::get`]
/// starts a fresh one: a test can then reproduce a node whose runtime
/// starts after the sensor, or comes back cold after a restart.
/// Must run before the test binary's first [`Cri::get`].
#[allow(dead_code)] // Not every test binary that includes the harness uses it.
pub fn stop_containerd() {
    std::fs::create_dir_all(HARNESS_DIR).expect("harness dir");
    let _lock = FileLock::acquire(&Path::new(HARNESS_DIR).join("lock")).expect("harness lock");
    assert!(
        CRI.get().is_none(),
        "stop_containerd must run before the first Cri::get of this test binary"
    );
    let pids = || -> Vec<i32> {
        Command::new("pgrep")
            .args(["-x", "containerd"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    for pid in pids() {
        // SAFETY: plain kill(2) on a pid pgrep just listed.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pids().is_empty() {
        assert!(
            Instant::now() < deadline,
            "containerd did not stop within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(SOCKET);
}

/// Starts Debian's containerd in the background with our config. It keeps
/// running after the tests (other test binaries and later runs reuse it).
fn start_containerd() -> Result<(), String> {
    let config = Path::new(HARNESS_DIR).join("config.toml");
    // This VM does not let root lower oom_score_adj; without
    // restrict_oom_score_adj runc fails RunPodSandbox.
    std::fs::write(
        &config,
        r#"version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    restrict_oom_score_adj = true
    sandbox_image = "registry.k8s.io/pause:3.6"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
"#,
    )
    .map_err(|e| format!("{}: {e}", config.display()))?;
    let log_path = Path::new(HARNESS_DIR).join("containerd.log");
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new("containerd");
    cmd.arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // Its own session, so it outlives the test process and its signals.
    // SAFETY: setsid is async-signal-safe and touches no Rust state.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start containerd (is the Debian package installed?): {e}"))?;
    Ok(())
}

fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let out = run(Command::new("sha256sum").arg(path))?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("sha256sum {}: no output", path.display()))
}

/// Writes a blob into the layout and returns its descriptor fields.
fn put_blob(blobs: &Path, src: &Path) -> Result<(String, u64), String> {
    let hex = sha256_file(src)?;
    let size = std::fs::metadata(src).map_err(|e| e.to_string())?.len();
    std::fs::copy(src, blobs.join(&hex)).map_err(|e| e.to_string())?;
    Ok((format!("sha256:{hex}"), size))
}

fn put_json(
    blobs: &Path,
    scratch: &Path,
    value: &serde_json::Value,
) -> Result<(String, u64), String> {
    let tmp = scratch.join("blob.json");
    std::fs::write(&tmp, serde_json::to_vec(value).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    put_blob(blobs, &tmp)
}

/// Builds an OCI image archive holding the busybox test image and the
/// sandbox image (same layer, different default command).
fn build_image_archive() -> Result<PathBuf, String> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        return Err("/bin/busybox missing: install Debian's busybox-static".into());
    }
    let work = Path::new(HARNESS_DIR).join("image");
    let _ = std::fs::remove_dir_all(&work);
    let rootfs = work.join("rootfs");
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    for d in [
        "bin", "etc", "tmp", "root", "home/app", "proc", "sys", "dev", "run",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(&blobs).map_err(|e| e.to_string())?;
    std::fs::copy(busybox, rootfs.join("bin/busybox")).map_err(|e| e.to_string())?;
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a))
            .map_err(|e| e.to_string())?;
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App User:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        rootfs.join("etc/shadow"),
        "root:*:19000:0:99999:7:::\napp:*:19000:0:99999:7:::\n",
    )
    .map_err(|e| e.to_string())?;
    let layer = work.join("layer.tar");
    run(Command::new("tar").args([
        "--numeric-owner",
        "--owner=0",
        "--group=0",
        "-C",
        &rootfs.display().to_string(),
        "-cf",
        &layer.display().to_string(),
        ".",
    ]))?;
    let (layer_digest, layer_size) = put_blob(&blobs, &layer)?;

    let mut manifests = Vec::new();
    for (name, cmd) in [
        (IMAGE, vec!["/bin/sh"]),
        (PAUSE_IMAGE, vec!["/bin/sleep", "2147483647"]),
    ] {
        let config = serde_json::json!({
            "architecture": oci_arch(),
            "os": "linux",
            "config": { "Cmd": cmd, "Env": ["PATH=/bin"], "WorkingDir": "/" },
            "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        });
        let (config_digest, config_size) = put_json(&blobs, &work, &config)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer_size,
            }],
        });
        let (m_digest, m_size) = put_json(&blobs, &work, &manifest)?;
        let tag = name.rsplit_once(':').map_or("latest", |(_, t)| t);
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m_digest,
            "size": m_size,
            "platform": { "architecture": oci_arch(), "os": "linux" },
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            },
        }));
    }
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": manifests });
    std::fs::write(layout.join("index.json"), index.to_string()).map_err(|e| e.to_string())?;
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(|e| e.to_string())?;
    let archive = work.join("images.tar");
    run(Command::new("tar").args([
        "-C",
        &layout.display().to_string(),
        "-cf",
        &archive.display().to_string(),
        ".",
    ]))?;
    Ok(archive)
}

/// A random RFC 4122 v4 uuid from the kernel.
pub fn new_uid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| {
            let n = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!(
                "{:08x}-0000-4000-8000-{:012x}",
                std::process::id(),
                n & 0xffff_ffff_ffff
            )
        })
}

/// Appends a short random suffix, so concurrent tests never collide.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", &new_uid()[..8])
}

/// A running pod sandbox (host network, no CNI). Stopped and removed on drop.
pub struct Pod {
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub labels: HashMap<String, String>,
    config: cri::PodSandboxConfig,
}

impl Pod {
    /// Starts a pod sandbox like the kubelet does for a `hostNetwork` pod.
    pub fn start(name: &str, namespace: &str, uid: &str) -> Pod {
        let cri = Cri::get();
        let mut labels = HashMap::new();
        labels.insert("io.kubernetes.pod.name".to_string(), name.to_string());
        labels.insert(
            "io.kubernetes.pod.namespace".to_string(),
            namespace.to_string(),
        );
        labels.insert("io.kubernetes.pod.uid".to_string(), uid.to_string());
        labels.insert("app".to_string(), TEST_APP_LABEL.to_string());
        labels.insert(OWNER_LABEL.to_string(), std::process::id().to_string());
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.into(),
                uid: uid.into(),
                namespace: namespace.into(),
                attempt: 0,
            }),
            // Host-network pods keep the node's hostname: leave it empty.
            hostname: String::new(),
            log_directory: format!("/var/log/pods/{namespace}_{name}_{uid}"),
            labels: labels.clone(),
            annotations: HashMap::from([(
                "kubernetes.io/config.source".to_string(),
                "api".to_string(),
            )]),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: format!("/kubepods/besteffort/pod{uid}"),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        network: cri::NamespaceMode::Node as i32,
                        pid: cri::NamespaceMode::Container as i32,
                        ipc: cri::NamespaceMode::Pod as i32,
                        target_id: String::new(),
                    }),
                    // Needed for privileged containers in this pod.
                    privileged: true,
                    ..Default::default()
                }),
            }),
        };
        let mut rt = cri.runtime();
        let req = cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        };
        let id = cri
            .block(async move { rt.run_pod_sandbox(req).await })
            .unwrap_or_else(|e| {
                let hint = if e.message().contains("final child's PID") {
                    " (containerd needs restrict_oom_score_adj = true in its CRI plugin config on this machine)"
                } else {
                    ""
                };
                panic!("RunPodSandbox {namespace}/{name}: {e}{hint}")
            })
            .into_inner()
            .pod_sandbox_id;
        Pod {
            id,
            name: name.into(),
            namespace: namespace.into(),
            uid: uid.into(),
            labels,
            config,
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        teardown_pod(Cri::get(), &self.id, &self.uid);
    }
}

/// Stops and removes a sandbox (and so its containers) and its cgroups.
fn teardown_pod(cri: &Cri, id: &str, uid: &str) {
    let (mut a, mut b) = (cri.runtime(), cri.runtime());
    let sandbox = id.to_string();
    let result = cri.block(async move {
        a.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: sandbox.clone(),
        })
        .await?;
        b.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: sandbox,
        })
        .await
    });
    if let Err(e) = result {
        eprintln!("pod {id} teardown: {e}");
    }
    if !uid.is_empty() {
        remove_pod_cgroups(uid);
    }
}

/// No kubelet cleans up after us: remove `kubepods/besteffort/pod<uid>`
/// (and anything left below it) in every mounted cgroup hierarchy.
fn remove_pod_cgroups(uid: &str) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = post.split(' ').next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let Some(mount_point) = pre.split(' ').nth(4) else {
            continue;
        };
        let dir = Path::new(mount_point)
            .join("kubepods/besteffort")
            .join(format!("pod{uid}"));
        remove_cgroup_tree(&dir);
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    // cgroup dirs are removed with rmdir even though they list files; a
    // cgroup that still has processes refuses, which we retry briefly.
    for _ in 0..50 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    eprintln!("cgroup {} could not be removed", dir.display());
}

/// A running container in a [`Pod`]. Stopped and removed on drop.
pub struct Container {
    pub id: String,
    pub name: String,
}

/// Output of [`Container::exec_sync`].
#[derive(Debug)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Container {
    /// Creates and starts a container with the kubelet's labels.
    pub fn start(pod: &Pod, name: &str, image: &str, cmd: &[&str], privileged: bool) -> Container {
        Container::start_with_mounts(pod, name, image, cmd, privileged, &[])
    }

    /// [`Container::start`] with host paths bind-mounted read-only, as
    /// (host path, container path) pairs.
    pub fn start_with_mounts(
        pod: &Pod,
        name: &str,
        image: &str,
        cmd: &[&str],
        privileged: bool,
        mounts: &[(&str, &str)],
    ) -> Container {
        let cri = Cri::get();
        let mut labels = HashMap::new();
        labels.insert("io.kubernetes.container.name".to_string(), name.to_string());
        labels.insert("io.kubernetes.pod.name".to_string(), pod.name.clone());
        labels.insert(
            "io.kubernetes.pod.namespace".to_string(),
            pod.namespace.clone(),
        );
        labels.insert("io.kubernetes.pod.uid".to_string(), pod.uid.clone());
        let config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            command: cmd.iter().map(|s| s.to_string()).collect(),
            labels,
            annotations: HashMap::from([(
                "io.kubernetes.container.restartCount".to_string(),
                "0".to_string(),
            )]),
            log_path: format!("{name}/0.log"),
            mounts: mounts
                .iter()
                .map(|(host, ctr)| cri::Mount {
                    host_path: (*host).to_string(),
                    container_path: (*ctr).to_string(),
                    readonly: true,
                    ..Default::default()
                })
                .collect(),
            linux: Some(cri::LinuxContainerConfig {
                security_context: Some(cri::LinuxContainerSecurityContext {
                    privileged,
                    namespace_options: Some(cri::NamespaceOption {
                        network: cri::NamespaceMode::Node as i32,
                        pid: cri::NamespaceMode::Container as i32,
                        ipc: cri::NamespaceMode::Pod as i32,
                        target_id: String::new(),
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let (mut a, mut b) = (cri.runtime(), cri.runtime());
        let req = cri::CreateContainerRequest {
            pod_sandbox_id: pod.id.clone(),
            config: Some(config),
            sandbox_config: Some(pod.config.clone()),
        };
        let id = cri
            .block(async move {
                let id = a.create_container(req).await?.into_inner().container_id;
                b.start_container(cri::StartContainerRequest {
                    container_id: id.clone(),
                })
                .await?;
                Ok::<_, tonic::Status>(id)
            })
            .unwrap_or_else(|e| panic!("create/start container {name} in pod {}: {e}", pod.name));
        Container {
            id,
            name: name.into(),
        }
    }

    /// The container's main process, host pid (from the verbose status).
    pub fn pid(&self) -> i64 {
        let info = self.status_info();
        info.get("pid")
            .and_then(|v| v.as_i64())
            .unwrap_or_else(|| panic!("container {}: no pid in verbose status", self.id))
    }

    /// Verbose ContainerStatus `info` JSON.
    pub fn status_info(&self) -> serde_json::Value {
        let cri = Cri::get();
        let mut rt = cri.runtime();
        let id = self.id.clone();
        let resp = cri
            .block(async move {
                rt.container_status(cri::ContainerStatusRequest {
                    container_id: id,
                    verbose: true,
                })
                .await
            })
            .unwrap_or_else(|e| panic!("ContainerStatus {}: {e}", self.id))
            .into_inner();
        resp.info
            .get("info")
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// The container's state (running, exited...).
    pub fn state(&self) -> cri::ContainerState {
        let cri = Cri::get();
        let mut rt = cri.runtime();
        let id = self.id.clone();
        let st = cri
            .block(async move {
                rt.container_status(cri::ContainerStatusRequest {
                    container_id: id,
                    verbose: false,
                })
                .await
            })
            .unwrap_or_else(|e| panic!("ContainerStatus {}: {e}", self.id))
            .into_inner()
            .status
            .map_or(cri::ContainerState::ContainerUnknown as i32, |s| s.state);
        cri::ContainerState::try_from(st).unwrap_or(cri::ContainerState::ContainerUnknown)
    }

    /// Runs a command in the container and waits for it (CRI ExecSync).
    pub fn exec_sync(&self, cmd: &[&str]) -> ExecOutput {
        let cri = Cri::get();
        let mut rt = cri.runtime();
        let req = cri::ExecSyncRequest {
            container_id: self.id.clone(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: 60,
        };
        let r = cri
            .block(async move { rt.exec_sync(req).await })
            .unwrap_or_else(|e| panic!("ExecSync {cmd:?} in {}: {e}", self.name))
            .into_inner();
        ExecOutput {
            exit_code: r.exit_code,
            stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
        }
    }

    /// Runs a command in a TTY (CRI Exec with tty=true), streaming over the
    /// returned URL with the `v4.channel.k8s.io` websocket protocol like
    /// `kubectl exec -it` (stdin attached, nothing sent). Returns the terminal output and the exit status
    /// message (empty on success).
    pub fn exec_tty(&self, cmd: &[&str]) -> (String, String) {
        self.exec_tty_input(cmd, b"")
    }

    /// Like [`Container::exec_tty`], typing `input` into the terminal first
    /// (e.g. `b"id; exit\n"` into an interactive `sh`).
    pub fn exec_tty_input(&self, cmd: &[&str], input: &[u8]) -> (String, String) {
        let cri = Cri::get();
        let mut rt = cri.runtime();
        let req = cri::ExecRequest {
            container_id: self.id.clone(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            tty: true,
            // As `kubectl exec -it`: containerd 1.6 loses a TTY exec's
            // output when stdin is not attached ("file already closed").
            stdin: true,
            stdout: true,
            // With a TTY stdout and stderr are one stream; CRI demands false.
            stderr: false,
        };
        let url = cri
            .block(async move { rt.exec(req).await })
            .unwrap_or_else(|e| panic!("Exec {cmd:?} in {}: {e}", self.name))
            .into_inner()
            .url;
        cri.block(stream_exec(url, input.to_vec()))
            .unwrap_or_else(|e| panic!("exec stream {cmd:?} in {}: {e}", self.name))
    }

    /// Stops the container through the CRI (as the responder does).
    pub fn stop(&self, timeout_s: i64) {
        let cri = Cri::get();
        let mut rt = cri.runtime();
        let id = self.id.clone();
        cri.block(async move {
            rt.stop_container(cri::StopContainerRequest {
                container_id: id,
                timeout: timeout_s,
            })
            .await
        })
        .unwrap_or_else(|e| panic!("StopContainer {}: {e}", self.name));
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let cri = Cri::get();
        let (mut a, mut b) = (cri.runtime(), cri.runtime());
        let id = self.id.clone();
        let result = cri.block(async move {
            a.stop_container(cri::StopContainerRequest {
                container_id: id.clone(),
                timeout: 0,
            })
            .await?;
            b.remove_container(cri::RemoveContainerRequest { container_id: id })
                .await
        });
        if let Err(e) = result {
            eprintln!("container {} teardown: {e}", self.id);
        }
    }
}

/// Reads an exec stream: channel 1 is the terminal, channel 3 the final
/// status (a Kubernetes `Status` JSON object).
async fn stream_exec(url: String, input: Vec<u8>) -> Result<(String, String), String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let ws_url = url
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("{ws_url}: {e}"))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("v4.channel.k8s.io"),
    );
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .map_err(|_| format!("{ws_url}: connect timed out"))?
    .map_err(|e| format!("{ws_url}: {e}"))?;
    if !input.is_empty() {
        let mut frame = Vec::with_capacity(input.len() + 1);
        frame.push(0u8); // channel 0: stdin
        frame.extend_from_slice(&input);
        ws.send(Message::Binary(frame.into()))
            .await
            .map_err(|e| format!("{ws_url}: sending input: {e}"))?;
    }
    let mut out = Vec::new();
    let mut status = String::new();
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(60), ws.next())
        .await
        .map_err(|_| "no data for 60 s".to_string())?
    {
        let msg = msg.map_err(|e| e.to_string())?;
        let data = match msg {
            Message::Binary(b) => b.to_vec(),
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&channel, payload)) = data.split_first() else {
            continue;
        };
        match channel {
            1 | 2 => out.extend_from_slice(payload),
            3 => {
                let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                if v.get("status").and_then(|s| s.as_str()) != Some("Success") {
                    status = String::from_utf8_lossy(payload).into_owned();
                }
            }
            _ => {}
        }
    }
    Ok((String::from_utf8_lossy(&out).into_owned(), status))
}
