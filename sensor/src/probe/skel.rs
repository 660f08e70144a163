//! The libbpf-cargo generated skeleton for `bpf/src/sensor.bpf.c`.

#![allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    unsafe_op_in_unsafe_fn,
    dead_code,
    non_camel_case_types,
    missing_docs
)]

include!(concat!(env!("OUT_DIR"), "/sensor.skel.rs"));
