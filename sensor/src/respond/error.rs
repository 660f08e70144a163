//! Why an action failed. The record's `detail` is this error's text, so each
//! variant names what was attempted and what came back.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The process to kill no longer exists.
    #[error("process {pid} is gone")]
    ProcessGone { pid: i64 },
    /// The pid now belongs to another process (pid reuse), or cannot be verified.
    #[error("process {pid} failed the identity check: {why}")]
    IdentityMismatch { pid: i64, why: String },
    /// A system call failed.
    #[error("{call} on process {pid}: {source}")]
    Os {
        call: &'static str,
        pid: i64,
        #[source]
        source: std::io::Error,
    },
    /// The container runtime refused or failed (text from its client).
    #[error("container runtime: {0}")]
    Runtime(String),
    /// The Kubernetes API answered with an error status.
    #[error("kubernetes API {what}: HTTP {code} {reason}: {message}")]
    KubeStatus {
        what: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// The Kubernetes API could not be reached or the reply not understood.
    #[error("kubernetes API {what}: {message}")]
    Kube { what: String, message: String },
    /// The action did not finish within `response.action_timeout_seconds`.
    #[error("timed out after {}s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The responder has no client for this action (e.g. no container runtime wired).
    #[error("{0}")]
    Unavailable(String),
}
