//! The responder's `stop-container` through the node's CRI runtime.

use crate::respond::{ActionError, ContainerRuntime};
use crate::state::cri::{CriClient, detect_socket};
use std::path::PathBuf;
use std::time::Duration;

/// Stops containers with CRI `StopContainer` on the detected (or configured) socket.
pub struct CriRuntime {
    sockets: Vec<PathBuf>,
}

impl CriRuntime {
    pub fn new(sockets: Vec<PathBuf>) -> Self {
        CriRuntime { sockets }
    }
}

impl ContainerRuntime for CriRuntime {
    fn stop_container(&self, full_id: &str, timeout: Duration) -> Result<(), ActionError> {
        let fail = |e: String| ActionError::Runtime(e);
        let socket = detect_socket(&self.sockets).map_err(|e| fail(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(format!("starting a runtime for the CRI call: {e}")))?;
        rt.block_on(async {
            let client = CriClient::connect(&socket).map_err(|e| fail(e.to_string()))?;
            let secs = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
            client
                .stop_container(full_id, secs)
                .await
                .map_err(|e| fail(e.to_string()))
        })
    }
}
