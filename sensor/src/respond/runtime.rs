//! The container runtime seen from the responder. The sensor wires this to its
//! CRI client; tests use a fake.

use super::error::ActionError;
use std::time::Duration;

/// Stops containers. Called from the responder's worker on a blocking thread,
/// so an implementation may block (e.g. `Handle::block_on` an async client).
pub trait ContainerRuntime: Send + Sync {
    /// Stops the container with this full (64 hex digit) id, giving it
    /// `timeout` between SIGTERM and SIGKILL (CRI StopContainer semantics).
    fn stop_container(&self, full_id: &str, timeout: Duration) -> Result<(), ActionError>;
}
