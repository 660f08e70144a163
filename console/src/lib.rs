//! falco-console: the terminal console for falco-sensor alerts.
//!
//! Data flows one way: `source` (gRPC, file, Kubernetes port-forward) sends
//! `event::Event`s; `app::App` applies them and persists through `store`;
//! `ui` draws `App`. `headless` prints the same alerts for scripts.

pub mod alert;
pub mod app;
pub mod event;
pub mod exception;
pub mod filter;
pub mod headless;
pub mod keys;
pub mod kube;
pub mod sanitize;
pub mod source;
pub mod stats;
pub mod store;
pub mod triage;
pub mod ui;
