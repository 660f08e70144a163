//! Response: turns alerts into actions (kill a process, stop a container,
//! delete / isolate / label a pod) under policies and guards, and records every
//! decision. See docs/response.md.
//!
//! The sensor calls [`Responder::submit`] for each alert (cheap, no I/O) and
//! [`Responder::run_manual`] for gRPC `RunAction`; actions run on the
//! responder's own worker thread.

/// The `response:` config section lives with the rest of the config (it is
/// validated when the config loads); kept reachable under its old path.
pub use crate::config::response as config;
pub mod error;
pub mod guard;
pub mod kube;
pub mod policy;
pub mod process;
pub mod record;
pub mod responder;
pub mod runtime;
pub mod target;

pub use config::{Action, Mode, ResponseConfig};
pub use error::ActionError;
pub use guard::SelfIdentity;
pub use kube::KubeSource;
pub use responder::{
    RecordSink, Responder, ResponderDeps, ResponderError, ResponderStats, ResponseReport,
};
pub use runtime::ContainerRuntime;
