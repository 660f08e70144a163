//! Client of the Kubernetes Container Runtime Interface (`runtime.v1`) over
//! the runtime's unix socket: container and pod metadata for the state
//! tracker, and StopContainer for the responder.

use super::image::split_image_ref;
use super::types::{ContainerInfo, ContainerMount, PodInfo};
use falco_proto::cri::v1 as cri;
use falco_proto::cri::v1::runtime_service_client::RuntimeServiceClient;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint, Uri};

/// Sockets tried, in order, when none is configured.
pub const DEFAULT_CRI_SOCKETS: &[&str] = &[
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/cri-dockerd.sock",
];

/// `container.name` of a pod's sandbox (infrastructure) container, the
/// name the kubelet has always given it.
pub const SANDBOX_CONTAINER_NAME: &str = "POD";

/// Kubelet's container labels.
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("no CRI socket found (tried {tried})")]
    NoSocket { tried: String },
    #[error("CRI socket {socket}: {message}")]
    Connect { socket: String, message: String },
    #[error("CRI {call} for {id} on {socket}: {status}")]
    Rpc {
        call: &'static str,
        id: String,
        socket: String,
        status: Box<tonic::Status>,
    },
    #[error("CRI {call} for {id} on {socket}: the runtime returned no {what}")]
    Missing {
        call: &'static str,
        id: String,
        socket: String,
        what: &'static str,
    },
}

/// What `Version` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeVersion {
    pub runtime_name: String,
    pub runtime_version: String,
    pub runtime_api_version: String,
}

/// A connection to one CRI runtime. Cheap to clone (the channel is shared).
#[derive(Debug, Clone)]
pub struct CriClient {
    socket: PathBuf,
    rt: RuntimeServiceClient<Channel>,
}

/// The first existing socket among `candidates` (or the defaults when empty).
pub fn detect_socket(candidates: &[PathBuf]) -> Result<PathBuf, CriError> {
    let defaults: Vec<PathBuf> = DEFAULT_CRI_SOCKETS.iter().map(PathBuf::from).collect();
    let list = if candidates.is_empty() {
        &defaults
    } else {
        candidates
    };
    list.iter()
        .find(|p| is_socket(p))
        .cloned()
        .ok_or_else(|| CriError::NoSocket {
            tried: list
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// A gRPC channel over a unix socket. The URI is a placeholder: the
/// connector ignores it and dials the socket.
pub fn unix_channel(socket: &Path) -> Result<Channel, CriError> {
    let path = socket.to_path_buf();
    let endpoint = Endpoint::try_from("http://cri.invalid").map_err(|e| CriError::Connect {
        socket: socket.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(
        endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        })),
    )
}

impl CriClient {
    /// Connects lazily: the socket is dialled on the first call, so this only
    /// fails on an unusable path. Must be called inside a tokio runtime.
    pub fn connect(socket: &Path) -> Result<CriClient, CriError> {
        Ok(CriClient {
            socket: socket.to_path_buf(),
            rt: RuntimeServiceClient::new(unix_channel(socket)?),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The raw generated client, for callers that need other RPCs (the test
    /// harness plays the kubelet with it).
    pub fn raw(&self) -> RuntimeServiceClient<Channel> {
        self.rt.clone()
    }

    fn rpc_err(&self, call: &'static str, id: &str, status: tonic::Status) -> CriError {
        CriError::Rpc {
            call,
            id: id.to_string(),
            socket: self.socket.display().to_string(),
            status: Box::new(status),
        }
    }

    pub async fn version(&self) -> Result<RuntimeVersion, CriError> {
        let resp = self
            .rt
            .clone()
            .version(cri::VersionRequest {
                version: "v1".into(),
            })
            .await
            .map_err(|s| self.rpc_err("Version", "-", s))?
            .into_inner();
        Ok(RuntimeVersion {
            runtime_name: resp.runtime_name,
            runtime_version: resp.runtime_version,
            runtime_api_version: resp.runtime_api_version,
        })
    }

    /// Stops a container, killing it after `timeout_s` seconds of grace.
    pub async fn stop_container(&self, id: &str, timeout_s: i64) -> Result<(), CriError> {
        self.rt
            .clone()
            .stop_container(cri::StopContainerRequest {
                container_id: id.to_string(),
                timeout: timeout_s,
            })
            .await
            .map_err(|s| self.rpc_err("StopContainer", id, s))?;
        Ok(())
    }

    /// Full metadata of a container (by full id) and its pod.
    pub async fn container_info(&self, id: &str) -> Result<ContainerInfo, CriError> {
        let mut rt = self.rt.clone();
        let resp = match rt
            .container_status(cri::ContainerStatusRequest {
                container_id: id.to_string(),
                verbose: true,
            })
            .await
        {
            Ok(r) => r.into_inner(),
            // The pod's sandbox ("pause") process has a container cgroup of
            // its own, but the runtime knows it as a sandbox.
            Err(s) if s.code() == tonic::Code::NotFound => {
                return self
                    .sandbox_info(id)
                    .await
                    .map_err(|_| self.rpc_err("ContainerStatus", id, s));
            }
            Err(s) => return Err(self.rpc_err("ContainerStatus", id, s)),
        };
        let status = resp.status.ok_or_else(|| CriError::Missing {
            call: "ContainerStatus",
            id: id.to_string(),
            socket: self.socket.display().to_string(),
            what: "status",
        })?;
        let verbose = VerboseInfo::parse(&resp.info);

        // ContainerStatus does not name the sandbox; the verbose info does on
        // containerd and CRI-O, ListContainers does everywhere.
        let sandbox_id = match verbose.sandbox_id.clone() {
            Some(s) => s,
            None => rt
                .list_containers(cri::ListContainersRequest {
                    filter: Some(cri::ContainerFilter {
                        id: status.id.clone(),
                        ..Default::default()
                    }),
                })
                .await
                .map_err(|s| self.rpc_err("ListContainers", id, s))?
                .into_inner()
                .containers
                .into_iter()
                .find(|c| c.id == status.id)
                .map(|c| c.pod_sandbox_id)
                .unwrap_or_default(),
        };
        let sandbox = if sandbox_id.is_empty() {
            None
        } else {
            // A sandbox that vanished meanwhile leaves the labels as the only source.
            rt.pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: sandbox_id.clone(),
                verbose: false,
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().status)
        };
        Ok(build_info(&status, &verbose, &sandbox_id, sandbox.as_ref()))
    }
}

impl CriClient {
    /// A pod sandbox described as a container named [`SANDBOX_CONTAINER_NAME`].
    async fn sandbox_info(&self, id: &str) -> Result<ContainerInfo, CriError> {
        let resp = self
            .rt
            .clone()
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.to_string(),
                verbose: true,
            })
            .await
            .map_err(|s| self.rpc_err("PodSandboxStatus", id, s))?
            .into_inner();
        let status = resp.status.ok_or_else(|| CriError::Missing {
            call: "PodSandboxStatus",
            id: id.to_string(),
            socket: self.socket.display().to_string(),
            what: "status",
        })?;
        let image = resp
            .info
            .get("info")
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| v.get("image").and_then(|i| i.as_str()).map(str::to_string))
            .unwrap_or_default();
        let parts = split_image_ref(&image);
        Ok(ContainerInfo {
            id: status.id.get(..12).unwrap_or(&status.id).to_string(),
            full_id: status.id.clone(),
            name: SANDBOX_CONTAINER_NAME.to_string(),
            image_repository: parts.repository,
            image_tag: parts.tag,
            image_digest: parts.digest,
            image,
            privileged: false,
            mounts: Vec::new(),
            start_ns: u64::try_from(status.created_at).unwrap_or(0),
            runtime: String::new(),
            pod: pod_info(&HashMap::new(), &status.id, Some(&status)),
            resolved: true,
        })
    }
}

/// Facts from the verbose `info` map (JSON in the "info" key).
#[derive(Debug, Default, Clone)]
struct VerboseInfo {
    sandbox_id: Option<String>,
    privileged: Option<bool>,
    image: Option<String>,
}

impl VerboseInfo {
    fn parse(info: &HashMap<String, String>) -> VerboseInfo {
        let Some(json) = info
            .get("info")
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        else {
            return VerboseInfo::default();
        };
        let str_at = |ptr: &str| {
            json.pointer(ptr)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        // containerd keeps the create request under "config", CRI-O reports
        // "privileged" at the top level.
        let privileged = json
            .pointer("/config/linux/security_context/privileged")
            .and_then(|v| v.as_bool())
            .or_else(|| json.get("privileged").and_then(|v| v.as_bool()));
        VerboseInfo {
            sandbox_id: str_at("/sandboxID").or_else(|| str_at("/sandboxId")),
            privileged,
            image: str_at("/config/image/image"),
        }
    }
}

fn build_info(
    status: &cri::ContainerStatus,
    verbose: &VerboseInfo,
    sandbox_id: &str,
    sandbox: Option<&cri::PodSandboxStatus>,
) -> ContainerInfo {
    let labels = &status.labels;
    let name = labels
        .get(LABEL_CONTAINER_NAME)
        .cloned()
        .or_else(|| status.metadata.as_ref().map(|m| m.name.clone()))
        .unwrap_or_default();

    // The status's image may be the resolved image id; prefer a named reference.
    let status_image = status
        .image
        .as_ref()
        .map(|i| i.image.clone())
        .unwrap_or_default();
    let image = if status_image.is_empty() || status_image.starts_with("sha256:") {
        verbose.image.clone().unwrap_or(status_image)
    } else {
        status_image
    };
    let parts = split_image_ref(&image);
    let digest = if !parts.digest.is_empty() {
        parts.digest.clone()
    } else if let Some((_, d)) = status.image_ref.split_once('@') {
        d.to_string()
    } else if status.image_ref.starts_with("sha256:") {
        status.image_ref.clone()
    } else {
        String::new()
    };

    let mounts = status
        .mounts
        .iter()
        .map(|m| ContainerMount {
            source: m.host_path.clone(),
            dest: m.container_path.clone(),
            mode: if m.readonly { "ro".into() } else { "rw".into() },
            read_write: !m.readonly,
            propagation: match cri::MountPropagation::try_from(m.propagation) {
                Ok(cri::MountPropagation::PropagationHostToContainer) => "rslave".into(),
                Ok(cri::MountPropagation::PropagationBidirectional) => "rshared".into(),
                _ => "rprivate".into(),
            },
        })
        .collect();

    ContainerInfo {
        id: status.id.get(..12).unwrap_or(&status.id).to_string(),
        full_id: status.id.clone(),
        name,
        image,
        image_repository: parts.repository,
        image_tag: parts.tag,
        image_digest: digest,
        privileged: verbose.privileged.unwrap_or(false),
        mounts,
        start_ns: u64::try_from(status.created_at).unwrap_or(0),
        runtime: String::new(),
        pod: pod_info(labels, sandbox_id, sandbox),
        resolved: true,
    }
}

/// Pod identity from the sandbox status, falling back to the kubelet's
/// container labels; `None` for containers no kubelet created.
fn pod_info(
    labels: &HashMap<String, String>,
    sandbox_id: &str,
    sandbox: Option<&cri::PodSandboxStatus>,
) -> Option<PodInfo> {
    let meta = sandbox.and_then(|s| s.metadata.as_ref());
    let pick = |from_meta: Option<&String>, label: &str| {
        from_meta
            .filter(|s| !s.is_empty())
            .or_else(|| labels.get(label))
            .cloned()
            .unwrap_or_default()
    };
    let pod = PodInfo {
        name: pick(meta.map(|m| &m.name), LABEL_POD_NAME),
        namespace: pick(meta.map(|m| &m.namespace), LABEL_POD_NAMESPACE),
        uid: pick(meta.map(|m| &m.uid), LABEL_POD_UID),
        labels: sandbox
            .map(|s| {
                s.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        sandbox_id: sandbox_id.to_string(),
    };
    (!pod.name.is_empty() || !pod.uid.is_empty()).then_some(pod)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn status(image: &str, image_ref: &str, labels: &[(&str, &str)]) -> cri::ContainerStatus {
        cri::ContainerStatus {
            id: "a".repeat(64),
            metadata: Some(cri::ContainerMetadata {
                name: "meta-name".into(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            image_ref: image_ref.into(),
            created_at: 1_700_000_000_000_000_000,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            mounts: vec![cri::Mount {
                container_path: "/data".into(),
                host_path: "/srv/data".into(),
                readonly: true,
                propagation: cri::MountPropagation::PropagationBidirectional as i32,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn info_from_status_labels_and_verbose_json() {
        let mut info_map = HashMap::new();
        info_map.insert(
            "info".to_string(),
            r#"{"sandboxID":"sb1","config":{"image":{"image":"reg.example:5000/team/app:2.1"},"linux":{"security_context":{"privileged":true}}}}"#
                .to_string(),
        );
        let verbose = VerboseInfo::parse(&info_map);
        assert_eq!(verbose.sandbox_id.as_deref(), Some("sb1"));
        let st = status(
            "sha256:0123",
            "reg.example:5000/team/app@sha256:feed",
            &[
                (LABEL_CONTAINER_NAME, "app"),
                (LABEL_POD_NAME, "web-1"),
                (LABEL_POD_NAMESPACE, "prod"),
                (LABEL_POD_UID, "u-1"),
            ],
        );
        let info = build_info(&st, &verbose, "sb1", None);
        assert_eq!(info.name, "app");
        assert_eq!(info.id, "a".repeat(12));
        assert_eq!(info.image, "reg.example:5000/team/app:2.1");
        assert_eq!(info.image_repository, "reg.example:5000/team/app");
        assert_eq!(info.image_tag, "2.1");
        assert_eq!(info.image_digest, "sha256:feed");
        assert!(info.privileged);
        assert_eq!(info.mounts[0].dest, "/data");
        assert!(!info.mounts[0].read_write);
        assert_eq!(info.mounts[0].propagation, "rshared");
        let pod = info.pod.unwrap();
        assert_eq!(
            (pod.name.as_str(), pod.namespace.as_str(), pod.uid.as_str()),
            ("web-1", "prod", "u-1")
        );
        assert_eq!(pod.sandbox_id, "sb1");
    }

    #[test]
    fn sandbox_metadata_wins_and_plain_containers_have_no_pod() {
        let sandbox = cri::PodSandboxStatus {
            metadata: Some(cri::PodSandboxMetadata {
                name: "real".into(),
                uid: "uid-9".into(),
                namespace: "ns".into(),
                attempt: 0,
            }),
            labels: [("app".to_string(), "x".to_string())].into_iter().collect(),
            ..Default::default()
        };
        let st = status("busybox", "", &[(LABEL_POD_NAME, "stale")]);
        let info = build_info(&st, &VerboseInfo::default(), "sb", Some(&sandbox));
        assert_eq!(info.name, "meta-name");
        assert_eq!(info.image_repository, "busybox");
        assert_eq!(info.image_tag, "");
        assert!(!info.privileged);
        let pod = info.pod.unwrap();
        assert_eq!(pod.name, "real");
        assert_eq!(pod.labels.get("app").map(String::as_str), Some("x"));

        let bare = build_info(
            &status("busybox", "", &[]),
            &VerboseInfo::default(),
            "",
            None,
        );
        assert!(bare.pod.is_none());
    }

    #[test]
    fn detect_reports_what_was_tried() {
        let err = detect_socket(&[PathBuf::from("/nonexistent/a.sock")]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/a.sock"), "{err}");
    }
}
