//! The kernel contract as clang compiled it: every enum constant of
//! bpf/src/sensor.h, read back from the object's BTF through the skeleton's
//! generated `types`, equals the constant `crate::contract` generated from
//! the header text, and the shared structs have the sizes the Rust side
//! assumes. (Record header offsets: `loader.rs`'s layout test.)

use super::skel::types;
use crate::contract;
use std::mem::size_of;

fn check(name: &str, btf: u64, rust: u64) {
    assert_eq!(
        btf, rust,
        "{name}: BTF (clang) says {btf}, crate::contract says {rust}"
    );
}

#[test]
// Generated casts: u64 to u64 for the 64-bit constants.
#[allow(clippy::unnecessary_cast)]
fn every_contract_enum_constant_matches_the_btf() {
    include!(concat!(env!("OUT_DIR"), "/contract_btf_check.rs"));
}

#[test]
fn shared_struct_sizes_follow_the_contract() {
    assert_eq!(size_of::<types::sensor_hdr>(), crate::event::raw::HDR_SIZE);
    assert_eq!(
        size_of::<types::open_cache>(),
        (2 + contract::SENSOR_CACHE_WORDS) * 8
    );
    assert_eq!(size_of::<types::silent_fds>(), contract::SENSOR_SILENT_FDS);
    assert_eq!(
        size_of::<types::open_prefix>(),
        super::MAX_OPEN_PREFIX_LEN + 1
    );
    let h = types::sensor_hdr::default();
    assert_eq!(h.args.len(), contract::SENSOR_NARGS);
    assert_eq!(h.aux.len(), contract::SENSOR_NAUX);
    assert_eq!(h.var_len.len(), contract::SENSOR_NVAR);
    assert_eq!(h.comm.len(), contract::SENSOR_COMM_LEN);
}

/// Event ids index the interest map: the last one must fit.
#[test]
fn event_ids_fit_the_interest_map() {
    let last = contract::EVENT_TYPES.iter().map(|&(_, id)| id).max();
    assert!(last.is_some_and(|id| usize::from(id) < contract::SENSOR_MAX_ETYPE));
}
