//! The numbers the kernel programs and userspace share: event type ids,
//! `syscall_desc` flags and socket modes, handler slots, map and buffer
//! sizes, hash multipliers. `bpf/src/sensor.h` is their only definition;
//! the build script generates these constants from it on every OS (so
//! recorded files decode anywhere), and on Linux a test compares them with
//! the enums clang recorded in the object's BTF, as libbpf-cargo emits them
//! into the skeleton's `types` module (`probe/contract_tests.rs`).

#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/contract.rs"));
