//! Shared harness for the sensor's integration tests. A test file uses it
//! with `mod support;` and picks what it needs (unused parts are expected:
//! every test binary compiles this module on its own).
#![allow(dead_code)]

pub mod containerd;
pub mod sensor;

/// Whether privileged tests may be skipped (CI never sets it).
pub fn skip_privileged() -> bool {
    std::env::var("SKIP_PRIVILEGED").is_ok_and(|v| v == "1")
}

/// For a privileged test: `true` = go on; `false` = skip (SKIP_PRIVILEGED=1
/// and the precondition failed). Without SKIP_PRIVILEGED=1 a failed
/// precondition panics with its reason: the feature is missing.
pub fn require_privileged(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    if skip_privileged() {
        eprintln!("skipping {what}: needs root (SKIP_PRIVILEGED=1)");
        return false;
    }
    panic!("{what} needs root; run as root or set SKIP_PRIVILEGED=1 to skip");
}

/// The upstream Falco rulesets (test data beside the repository, never in it).
pub fn upstream_rules_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat/falco-rules")
}
