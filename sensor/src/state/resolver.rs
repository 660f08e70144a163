//! Container metadata lookups off the detection thread. The tracker only
//! ever *sends* a lookup and later *collects* answers: it never waits, so a
//! cold, busy or restarting runtime cannot stall detection. A dedicated
//! thread owns the runtime client (and its small tokio runtime) and answers
//! one lookup at a time.
//!
//! The runtime socket is found lazily, on each lookup until one answers, so
//! a sensor started before containerd (a node booting, containerd being
//! installed or restarted) picks the runtime up as soon as it appears.

use super::cri::{CriClient, CriError, detect_socket};
use super::types::ContainerInfo;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// Why a lookup gave no metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// No runtime socket exists (yet): nothing can answer.
    NoRuntime(String),
    /// The runtime did not answer within the lookup timeout.
    TimedOut(String),
    /// The runtime answered with an error (e.g. it does not know the id yet).
    Failed(String),
}

/// Where container metadata comes from. The CRI implementation is
/// [`CriSource`]; tests supply scripted ones.
pub trait MetadataSource: Send + 'static {
    /// Looks one container up by its full id.
    fn lookup(&mut self, full_id: &str) -> Result<ContainerInfo, LookupError>;
    /// The endpoint answering lookups, once known (for stats and logs).
    fn endpoint(&self) -> Option<String>;
}

/// One answer from the resolver thread.
#[derive(Debug)]
pub struct Answer {
    pub full_id: String,
    pub outcome: Result<Box<ContainerInfo>, LookupError>,
    pub endpoint: Option<String>,
}

/// The tracker's handle on the resolver thread.
pub struct Resolver {
    requests: mpsc::Sender<String>,
    answers: mpsc::Receiver<Answer>,
}

impl Resolver {
    /// Starts the resolver thread around `source`.
    pub fn start(mut source: impl MetadataSource) -> std::io::Result<Resolver> {
        let (requests, request_rx) = mpsc::channel::<String>();
        let (answer_tx, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name("cri-resolver".into())
            .spawn(move || {
                for full_id in request_rx {
                    let outcome = source.lookup(&full_id).map(Box::new);
                    let answer = Answer {
                        full_id,
                        outcome,
                        endpoint: source.endpoint(),
                    };
                    if answer_tx.send(answer).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Resolver { requests, answers })
    }

    /// Queues a lookup; false when the resolver thread is gone.
    pub fn request(&self, full_id: &str) -> bool {
        self.requests.send(full_id.to_string()).is_ok()
    }

    /// Answers ready now, without waiting.
    pub fn ready(&self) -> impl Iterator<Item = Answer> + '_ {
        self.answers.try_iter()
    }

    /// The next answer, waiting at most `timeout`.
    pub fn wait(&self, timeout: Duration) -> Option<Answer> {
        self.answers.recv_timeout(timeout).ok()
    }
}

/// Metadata from the node's CRI runtime (containerd, CRI-O, cri-dockerd).
pub struct CriSource {
    candidates: Vec<PathBuf>,
    timeout: Duration,
    rt: Option<tokio::runtime::Runtime>,
    client: Option<CriClient>,
    runtime_name: Option<String>,
}

impl CriSource {
    /// `candidates`: sockets to try in order (empty: the well-known paths);
    /// `timeout`: the bound on one lookup.
    pub fn new(candidates: Vec<PathBuf>, timeout: Duration) -> CriSource {
        CriSource {
            candidates,
            timeout,
            rt: None,
            client: None,
            runtime_name: None,
        }
    }

    /// Builds the runtime on first use.
    fn ensure_runtime(&mut self) -> Result<(), LookupError> {
        if self.rt.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| LookupError::Failed(format!("cannot start a runtime: {e}")))?;
            self.rt = Some(rt);
        }
        Ok(())
    }

    /// The client, dialling the first socket that exists.
    fn client(&mut self) -> Result<CriClient, LookupError> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let socket = detect_socket(&self.candidates).map_err(|e| match e {
            CriError::NoSocket { .. } => LookupError::NoRuntime(e.to_string()),
            other => LookupError::Failed(other.to_string()),
        })?;
        self.ensure_runtime()?;
        let Some(rt) = &self.rt else {
            return Err(LookupError::Failed("no runtime".into()));
        };
        let client = {
            let _guard = rt.enter();
            CriClient::connect(&socket).map_err(|e| LookupError::Failed(e.to_string()))?
        };
        tracing::info!(
            "container metadata from the CRI runtime at {}",
            socket.display()
        );
        self.client = Some(client.clone());
        Ok(client)
    }
}

impl MetadataSource for CriSource {
    fn lookup(&mut self, full_id: &str) -> Result<ContainerInfo, LookupError> {
        let client = self.client()?;
        let timeout = self.timeout;
        let want_name = self.runtime_name.is_none();
        let Some(rt) = &self.rt else {
            return Err(LookupError::Failed("no runtime".into()));
        };
        let (name, result) = rt.block_on(async {
            let name = if want_name {
                match tokio::time::timeout(timeout, client.version()).await {
                    Ok(Ok(v)) => Some(v.runtime_name),
                    _ => None,
                }
            } else {
                None
            };
            (
                name,
                tokio::time::timeout(timeout, client.container_info(full_id)).await,
            )
        });
        if name.is_some() {
            self.runtime_name = name;
        }
        match result {
            Ok(Ok(mut info)) => {
                if let Some(n) = &self.runtime_name {
                    info.runtime.clone_from(n);
                }
                Ok(info)
            }
            Ok(Err(e @ CriError::Connect { .. })) => {
                // The socket went away (runtime restarting): find it again next time.
                self.client = None;
                Err(LookupError::Failed(e.to_string()))
            }
            Ok(Err(e)) => Err(LookupError::Failed(e.to_string())),
            Err(_) => Err(LookupError::TimedOut(format!(
                "{}: no answer within {timeout:?}",
                client.socket().display()
            ))),
        }
    }

    fn endpoint(&self) -> Option<String> {
        self.client
            .as_ref()
            .map(|c| c.socket().display().to_string())
    }
}
