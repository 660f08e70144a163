//! falco-sensor library: every stage of the sensor, used by the `falco-sensor`
//! binary, the integration tests and the benchmarks. See `docs/architecture.md`.

pub mod api;
pub mod bus;
pub mod cli;
pub mod event;
pub mod probe;
pub mod respond;
pub mod rules;
pub mod sinks;
pub mod state;
pub mod config;
pub mod delivery;
pub mod interop;
pub mod metrics;
