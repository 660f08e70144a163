//! Where alerts come from: sensors over gRPC (directly or port-forwarded by
//! Kubernetes discovery), a fleet over NATS JetStream, and Falco json_output files. Sources run as background
//! tasks and only send `Event`s; they never touch UI state.

pub mod file;
pub mod grpc;
pub mod kube;
pub mod nats;

pub use grpc::{SensorClient, SensorTarget, SourceError, TlsOptions};
