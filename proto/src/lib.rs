//! The stable gRPC contract between `falco-sensor` and `falco-console`.
//!
//! Generated from `proto/falco/v1/sensor.proto`; see that file for the meaning of
//! every field. Helpers here convert between the wire enum and Falco's priority names.

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("falco.sensor.v1");
}

/// The Kubernetes Container Runtime Interface (`runtime.v1`), trimmed to what
/// the sensor and its test harness call. Client stubs only.
pub mod cri {
    #[allow(clippy::all, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("runtime.v1");
    }
}

mod priority;

pub use priority::{PRIORITY_NAMES, ParsePriorityError};
