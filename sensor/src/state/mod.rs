//! What the sensor knows about the node beyond a single event: threads and
//! processes, their open fds, containers and pods, users and groups.
//!
//! The state tracker applies every decoded event (fork, exec, exit, open,
//! close, connect...) before rules see it, so rule fields such as
//! `proc.pname`, `fd.name` or `container.name` read from here.
//! See `docs/containers.md` for how containers are identified.

pub mod cgroup;
pub mod cri;
pub mod dns;
pub mod fdname;
pub mod image;
pub mod proc;
pub mod resolver;
mod snapshot;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub mod test_support;
mod tracker;
mod types;
pub mod users;

pub use snapshot::{EventSnapshot, SnapshotView};
pub use tracker::{
    FD_EVENT_TYPES, MetadataState, REQUIRED_EVENT_TYPES, StateConfig, StateError, StateStats,
    StateTracker,
};
pub use types::*;
