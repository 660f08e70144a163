//! falco-sensor library: every stage of the sensor, used by the `falco-sensor`
//! binary, the integration tests and the benchmarks. See `docs/architecture.md`.

pub mod api;
pub mod bus;
pub mod capture;
pub mod cli;
pub mod config;
pub mod contract;
pub mod delivery;
pub mod event;
pub mod http_server;
pub mod interop;
pub mod metrics;
pub mod pipeline;
pub mod probe;
pub mod respond;
pub mod rules;
pub mod sinks;
pub mod state;
pub mod sys;
