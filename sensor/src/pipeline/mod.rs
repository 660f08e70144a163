//! The detection pipeline that `falco-sensor run` and `replay` drive:
//! events → state → rules → alerts, plus rule sources, reloads and the
//! sensor's own alerts.

pub mod cri_runtime;
pub mod detector;
pub mod env_capture;
pub mod internal;
pub mod ip_names;
pub mod metadata_wait;
pub mod open_filter;
pub mod rules_source;
pub mod shared;

pub use detector::{Detector, interest};
pub use env_capture::EnvCapture;
pub use rules_source::RulesSource;
pub use shared::Shared;

/// An upstream ruleset (test data beside the repository, never in it).
#[cfg(test)]
pub(crate) fn upstream_rules(name: &str) -> (String, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/compat/falco-rules")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    (path.display().to_string(), text)
}
