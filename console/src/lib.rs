//! falco-console: the terminal console for falco-sensor alerts.
//!
//! Data flows one way: `source` (gRPC, file, Kubernetes port-forward) sends
//! `event::Event`s; `app::State` applies them and records effects that
//! `app::Runner` performs (store, Kubernetes, sensors) and answers with
//! events; `components` are the views (keys as data, key handling) and `ui`
//! draws `State`. `headless` prints the same alerts for scripts.

pub mod alert;
pub mod app;
pub mod components;
pub mod event;
pub mod exception;
pub mod filter;
pub mod headless;
pub mod keys;
pub mod kube;
pub mod private_fs;
pub mod sanitize;
pub mod source;
pub mod stats;
pub mod store;
pub mod triage;
pub mod ui;
