//! Byte layout of a kernel record (`struct sensor_hdr` in
//! `bpf/src/sensor.h` followed by its variable parts). Pure Rust so recorded
//! files decode on any OS; on Linux a test checks it against the skeleton's
//! generated types. See docs/record-format.md.

use crate::contract;

/// Size of `struct sensor_hdr`.
pub const HDR_SIZE: usize = 216;
/// Number of variable parts a record can carry.
pub const NVAR: usize = contract::SENSOR_NVAR;
/// Size of `struct sensor_tuple`.
pub const TUPLE_SIZE: usize = 48;

/// Field offsets inside `struct sensor_hdr`.
pub mod off {
    pub const TS_BOOT_NS: usize = 0;
    pub const RES: usize = 8;
    pub const CGROUP_ID: usize = 16;
    pub const CAP_EFFECTIVE: usize = 24;
    pub const CAP_PERMITTED: usize = 32;
    pub const CAP_INHERITABLE: usize = 40;
    pub const ARGS: usize = 48;
    pub const AUX: usize = 96;
    pub const TID: usize = 128;
    pub const PID: usize = 132;
    pub const PPID: usize = 136;
    pub const VTID: usize = 140;
    pub const VPID: usize = 144;
    pub const VSID: usize = 148;
    pub const VPGID: usize = 152;
    pub const UID: usize = 156;
    pub const GID: usize = 160;
    pub const LOGINUID: usize = 164;
    pub const TTY: usize = 168;
    pub const PIDNS_INO: usize = 172;
    pub const MNTNS_INO: usize = 176;
    pub const LEN: usize = 180;
    pub const ETYPE: usize = 184;
    pub const CPU: usize = 186;
    pub const VAR_LEN: usize = 188;
    pub const COMM: usize = 200;
}

/// Field offsets inside `struct sensor_tuple`.
pub mod tuple_off {
    pub const FAMILY: usize = 0;
    pub const SPORT: usize = 2;
    pub const DPORT: usize = 4;
    pub const PROTO: usize = 6;
    pub const SOCK_TYPE: usize = 8;
    pub const SADDR: usize = 16;
    pub const DADDR: usize = 32;
}

/// `aux[3]` bits of an exec record.
pub const EXE_MEMFD: u64 = contract::SENSOR_EXE_MEMFD;
pub const EXE_UPPER: u64 = contract::SENSOR_EXE_UPPER;

/// A bounds-checked view of one record's header.
#[derive(Clone, Copy)]
pub struct RawHeader<'a> {
    bytes: &'a [u8; HDR_SIZE],
}

impl<'a> RawHeader<'a> {
    /// `None` when `raw` is shorter than a header.
    pub fn new(raw: &'a [u8]) -> Option<Self> {
        let bytes = raw.get(..HDR_SIZE)?.try_into().ok()?;
        Some(RawHeader { bytes })
    }

    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[at..at + N]);
        out
    }
    pub fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.array(at))
    }
    pub fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.array(at))
    }
    pub fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.array(at))
    }
    pub fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.array(at))
    }
    pub fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.array(at))
    }
    /// Raw syscall argument `i` (0..6).
    pub fn arg(&self, i: usize) -> u64 {
        self.u64(off::ARGS + 8 * (i % contract::SENSOR_NARGS))
    }
    /// Per-type extra fact `i` (0..4).
    pub fn aux(&self, i: usize) -> u64 {
        self.u64(off::AUX + 8 * (i % contract::SENSOR_NAUX))
    }
    pub fn var_len(&self, i: usize) -> usize {
        usize::from(self.u16(off::VAR_LEN + 2 * (i % NVAR)))
    }
    pub fn comm(&self) -> &'a [u8] {
        let comm = &self.bytes[off::COMM..off::COMM + contract::SENSOR_COMM_LEN];
        let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
        &comm[..end]
    }
}
