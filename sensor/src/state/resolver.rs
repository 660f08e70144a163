//! Asks the CRI runtime about containers from the synchronous pipeline
//! thread: a dedicated thread owns a small tokio runtime and the client; the
//! tracker waits for an answer at most the configured timeout. Answers that
//! arrive later are not lost: the tracker picks them up on its next event.

use super::cri::{CriClient, CriError};
use super::types::ContainerInfo;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// The resolver thread's own bound on one lookup, so a hung runtime cannot
/// queue lookups forever.
const LOOKUP_BUDGET: Duration = Duration::from_secs(5);

struct Request {
    id: String,
    reply: mpsc::Sender<Result<ContainerInfo, CriError>>,
}

/// Outcome of one synchronous lookup.
#[derive(Debug)]
pub enum Lookup {
    Found(Box<ContainerInfo>),
    Failed(CriError),
    TimedOut,
}

pub struct CriResolver {
    socket: PathBuf,
    tx: mpsc::Sender<Request>,
    late_rx: mpsc::Receiver<ContainerInfo>,
    timeout: Duration,
}

impl CriResolver {
    /// Starts the resolver thread for `socket`.
    pub fn start(socket: PathBuf, timeout: Duration) -> std::io::Result<CriResolver> {
        let (tx, rx) = mpsc::channel::<Request>();
        let (late_tx, late_rx) = mpsc::channel();
        let thread_socket = socket.clone();
        std::thread::Builder::new()
            .name("cri-resolver".into())
            .spawn(move || serve(thread_socket, rx, late_tx))?;
        Ok(CriResolver {
            socket,
            tx,
            late_rx,
            timeout,
        })
    }

    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// Looks a container up, waiting at most the configured timeout.
    pub fn lookup(&self, id: &str) -> Lookup {
        let (reply, rx) = mpsc::channel();
        if self
            .tx
            .send(Request {
                id: id.to_string(),
                reply,
            })
            .is_err()
        {
            return Lookup::TimedOut;
        }
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(info)) => Lookup::Found(Box::new(info)),
            Ok(Err(e)) => Lookup::Failed(e),
            Err(_) => Lookup::TimedOut,
        }
    }

    /// Answers that came in after their caller stopped waiting.
    pub fn late_results(&self) -> impl Iterator<Item = ContainerInfo> + '_ {
        self.late_rx.try_iter()
    }
}

fn serve(socket: PathBuf, rx: mpsc::Receiver<Request>, late_tx: mpsc::Sender<ContainerInfo>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(
                "CRI resolver: cannot build its runtime: {e}; containers stay unresolved"
            );
            return;
        }
    };
    let client = match rt.block_on(async { CriClient::connect(&socket) }) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("CRI resolver: {e}; containers stay unresolved");
            return;
        }
    };
    let mut runtime_name: Option<String> = None;
    for req in rx {
        let result = rt.block_on(async {
            if runtime_name.is_none()
                && let Ok(Ok(v)) = tokio::time::timeout(LOOKUP_BUDGET, client.version()).await
            {
                runtime_name = Some(v.runtime_name);
            }
            match tokio::time::timeout(LOOKUP_BUDGET, client.container_info(&req.id)).await {
                Ok(r) => r,
                Err(_) => Err(CriError::Connect {
                    socket: socket.display().to_string(),
                    message: format!("no answer within {LOOKUP_BUDGET:?}"),
                }),
            }
        });
        let result = result.map(|mut info| {
            if let Some(name) = &runtime_name {
                info.runtime = name.clone();
            }
            info
        });
        if let Err(mpsc::SendError(Ok(info))) = req.reply.send(result) {
            // The tracker gave up waiting; it collects this on its next event.
            let _ = late_tx.send(info);
        }
    }
}
