//! What the sensor knows about the node beyond a single event: threads and
//! processes, their open fds, containers and pods, users and groups.
//!
//! The state tracker applies every decoded event (fork, exec, exit, open,
//! close, connect...) before rules see it, so rule fields such as
//! `proc.pname`, `fd.name` or `container.name` read from here.

mod types;

pub use types::*;
