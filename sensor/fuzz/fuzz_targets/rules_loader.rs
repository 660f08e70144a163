//! Fuzzes the rules loader end to end (YAML, items, conditions, compile):
//! any file must load or fail with a positioned error, never panic.
#![no_main]

use falco_sensor::rules::{LoadOptions, load_sources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = load_sources(&[("fuzz.yaml".into(), text.into())], &LoadOptions::default());
    }
});
