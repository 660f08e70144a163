//! Fuzzes the Falco condition parser: any input must parse or fail with an
//! error, never panic or overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        let _ = falco_sensor::rules::parse::parse_condition(src);
    }
});
