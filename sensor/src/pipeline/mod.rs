//! The detection pipeline that `falco-sensor run` and `replay` drive:
//! events → state → rules → alerts, plus rule sources, reloads and the
//! sensor's own alerts.

pub mod cri_runtime;
pub mod detector;
pub mod internal;
pub mod metadata_wait;
pub mod open_filter;
pub mod rules_source;
pub mod shared;

pub use detector::{Detector, interest};
pub use rules_source::RulesSource;
pub use shared::Shared;
