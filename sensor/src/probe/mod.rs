//! Kernel probes: preflight checks, loading the CO-RE programs, and the
//! reader thread that drains the ring buffer into a bounded queue of
//! decoded events. See docs/probes.md.

#[cfg(all(test, target_os = "linux"))]
mod contract_tests;
#[cfg(target_os = "linux")]
mod loader;
#[cfg(target_os = "linux")]
mod per_syscall;
mod preflight;
mod queue;
#[cfg(target_os = "linux")]
mod reader;
#[cfg(target_os = "linux")]
mod skel;
pub mod syscalls;

use crate::contract;
pub use preflight::{BTF_PATH, KernelInfo, MIN_KERNEL, preflight};
pub use queue::{QueueReceiver, QueueSender};

/// Capacity of the kernel's open prefilter (see [`Probe::set_open_filter`]).
pub const MAX_OPEN_PREFIXES: usize = contract::SENSOR_MAX_PREFIXES;
/// Longest prefix the open prefilter accepts, in bytes.
pub const MAX_OPEN_PREFIX_LEN: usize = contract::SENSOR_PREFIX_LEN - 1;
/// Most basenames the open prefilter holds.
pub const MAX_OPEN_BASENAMES: usize = contract::SENSOR_MAX_BASENAMES;
/// Most exact parent directories the open prefilter holds.
pub const MAX_OPEN_DIRS: usize = contract::SENSOR_MAX_DIRS;
/// Most process names (comm) the open prefilter holds.
pub const MAX_OPEN_COMMS: usize = contract::SENSOR_MAX_COMMS;
/// Most substrings the open prefilter takes: each sets one bit of 65,536,
/// and every set bit lets more unrelated paths through.
pub const MAX_OPEN_SUBSTRINGS: usize = 256;
/// Shortest substring the kernel can look for: it tests 4-byte windows.
pub const MIN_OPEN_SUBSTRING_LEN: usize = 4;
/// The kernel keeps comm in 16 bytes, NUL included.
pub const COMM_LEN: usize = contract::SENSOR_COMM_LEN - 1;

/// Words of the 4-gram bitmap (65,536 bits).
pub const GRAM_WORDS: usize = contract::SENSOR_GRAM_BITS / 64;

/// What the kernel open prefilter lets through: an open/openat/openat2/creat
/// with an absolute path in normal form is sent only if the path starts
/// with one of `prefixes`, contains a 4-byte window of one of `substrings`
/// (see [`gram_of`]), lies directly in one of `directories`, has its last
/// component in `basenames`, or the thread's comm is in `comms`. Relative
/// paths, paths with `//`, `.` or `..` components, a component ending in
/// `..` or a trailing `/` always pass (userspace normalises them), and so do
/// opens of directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenFilter {
    /// Absolute path prefixes (byte-wise, `/etc/` or `/etc`).
    pub prefixes: Vec<String>,
    /// Exact last path components (`shadow`, `id_rsa`); no `/`.
    pub basenames: Vec<String>,
    /// Byte strings of at least [`MIN_OPEN_SUBSTRING_LEN`] bytes the path
    /// may contain (`/.ssh/`, `authorized_keys`).
    pub substrings: Vec<String>,
    /// Exact parent directories, absolute, without a trailing `/` except
    /// `/` itself (`/`, `/etc`).
    pub directories: Vec<String>,
    /// Process names as the kernel keeps them (at most [`COMM_LEN`] bytes).
    pub comms: Vec<String>,
    /// Also keep a close from userspace when the prefilter dropped the
    /// open that created its fd.
    pub close_filter: bool,
}

impl OpenFilter {
    /// Whether the kernel sends an open of `path` (as the syscall got it)
    /// that did not open a directory, from a thread whose comm is in none
    /// of `comms`: the userspace mirror of the kernel's check, for tests and
    /// diagnostics.
    pub fn passes(&self, path: &str) -> bool {
        let b = path.as_bytes();
        if !path.starts_with('/') || b.len() >= PATH_MAX - 1 {
            return true;
        }
        if self.prefixes.iter().any(|p| b.starts_with(p.as_bytes())) {
            return true;
        }
        let mut comps = path[1..].split('/');
        let odd =
            comps.clone().any(|c| c.is_empty() || c == "." || c == "..") || path.contains("../");
        let last = comps.next_back().unwrap_or_default();
        if odd || self.basenames.iter().any(|n| n == last) {
            return true;
        }
        let bits = self.gram_bitmap();
        if b.windows(4).any(|w| gram_bit_set(&bits, gram_hash(w))) {
            return true;
        }
        let parent = &path[..=path.rfind('/').unwrap_or(0)];
        self.directories.iter().any(|d| dir_key(d) == parent)
    }

    /// [`OpenFilter::passes`] for a thread named `comm`.
    pub fn passes_for(&self, path: &str, comm: &str) -> bool {
        self.comms.iter().any(|c| c == comm) || self.passes(path)
    }

    /// The kernel's 4-gram bitmap: one bit per substring, for the window
    /// [`gram_of`] picks.
    pub fn gram_bitmap(&self) -> Vec<u64> {
        let mut bits = vec![0u64; GRAM_WORDS];
        for s in &self.substrings {
            if let Some(g) = gram_of(s.as_bytes()) {
                let h = gram_hash(&g);
                bits[(h >> 6) as usize % GRAM_WORDS] |= 1 << (h & 63);
            }
        }
        bits
    }
}

/// Words of each 4,096-bit set summary the kernel tests before a hash map
/// lookup (basenames, directories, comms).
pub const SET_WORDS: usize = contract::SENSOR_SET_BITS / 64;

/// Sets the summary bit of a 64-bit key hash: its top 12 bits.
pub fn set_summary_bit(bits: &mut [u64], h: u64) {
    let i = (h >> 52) as usize;
    if let Some(w) = bits.get_mut(i >> 6) {
        *w |= 1 << (i & 63);
    }
}

/// The kernel's hash of a comm: its 16 NUL-padded bytes as two native
/// words, each multiplied by an odd constant, xored.
pub fn comm_hash(comm: &str) -> u64 {
    let mut b = [0u8; COMM_LEN + 1];
    let n = comm.len().min(COMM_LEN);
    b[..n].copy_from_slice(&comm.as_bytes()[..n]);
    let lo = u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let hi = u64::from_ne_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    lo.wrapping_mul(contract::SENSOR_COMM_MULT_LO) ^ hi.wrapping_mul(contract::SENSOR_COMM_MULT_HI)
}

/// `/` stays `/`, `/etc` becomes `/etc/`: the bytes up to and including a
/// path's last `/` when its parent is `dir`.
pub fn dir_key(dir: &str) -> String {
    if dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    }
}

/// The 4-byte window of `s` the bitmap holds: any one is a correct
/// superset (a path containing `s` contains all of them); prefer one
/// without `/`, which is in every path, and among those the last (suffixes
/// such as `_keys` are rarer in paths than stems).
pub fn gram_of(s: &[u8]) -> Option<[u8; 4]> {
    let windows = || s.windows(4).filter_map(|w| <[u8; 4]>::try_from(w).ok());
    windows()
        .rfind(|w| !w.contains(&b'/'))
        .or_else(|| windows().next_back())
}

/// The kernel's 16-bit hash of a 4-byte window (first byte highest).
pub fn gram_hash(w: &[u8]) -> u32 {
    let v = w.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
    v.wrapping_mul(contract::SENSOR_GRAM_MULT) >> 16
}

fn gram_bit_set(bits: &[u64], h: u32) -> bool {
    bits.get((h >> 6) as usize)
        .is_some_and(|w| w & (1 << (h & 63)) != 0)
}

/// The kernel's path buffer, NUL included.
const PATH_MAX: usize = contract::SENSOR_PATH_MAX;

/// The kernel's key for an exact parent directory: FNV-1a 64 of each
/// component, folded in order with the same step (`/` has none).
pub fn dir_hash(dir: &str) -> u64 {
    dir.split('/')
        .filter(|c| !c.is_empty())
        .fold(FNV_OFFSET, |acc: u64, c| {
            (acc ^ basename_hash(c.as_bytes())).wrapping_mul(FNV_PRIME)
        })
}

/// FNV-1a 64 of a basename: the kernel's key for the basename set
/// (a collision only lets an extra open through).
pub fn basename_hash(name: &[u8]) -> u64 {
    name.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// FNV-1a 64 parameters (bpf/src/sensor.h).
const FNV_OFFSET: u64 = contract::SENSOR_FNV_OFFSET;
const FNV_PRIME: u64 = contract::SENSOR_FNV_PRIME;

#[cfg(not(target_os = "linux"))]
use crate::event::Event;
use crate::event::EventType;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Settings fixed at probe start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Ring buffer size; rounded up to a power of two of at least one page.
    pub ring_buffer_bytes: usize,
    /// Capacity of the queue to the consumer; a full queue drops (and counts).
    /// Memory follows the depth, not the capacity.
    pub channel_capacity: usize,
    /// Capture the environment at exec (`proc.env`) from the start; can be
    /// changed later with `Probe::set_capture_env`.
    pub capture_env: bool,
    /// Capture this many leading bytes of send/recv buffers (0: none).
    pub io_buffer_bytes: usize,
    /// false: every event type crosses the ring buffer, whatever the interest set.
    pub filter_enabled: bool,
    /// How syscall exits are captured (see [`AttachMode`]).
    pub attach: AttachMode,
}

/// How syscall exits are captured (config `probe.attach`, docs/probes.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachMode {
    /// The dispatcher for now: the per-syscall mode this sensor has (syscall
    /// tracepoints) costs watched syscalls more (docs/benchmarks.md); auto
    /// is meant to pick fexit-based per-syscall attach once there is one.
    #[default]
    Auto,
    /// One program on the exit tracepoint of each watched syscall; fails to
    /// start when the kernel has none (no tracefs, no syscall tracepoints).
    PerSyscall,
    /// One program on the raw `sys_exit` tracepoint, run by every syscall.
    Dispatcher,
}

/// The capture mode a running probe uses ([`AttachMode::Auto`] resolved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ActiveAttach {
    #[default]
    Dispatcher,
    PerSyscall,
}

impl ActiveAttach {
    pub fn name(self) -> &'static str {
        match self {
            ActiveAttach::Dispatcher => "dispatcher",
            ActiveAttach::PerSyscall => "per_syscall",
        }
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            ring_buffer_bytes: 4 * 1024 * 1024,
            channel_capacity: 16384,
            capture_env: false,
            io_buffer_bytes: 0,
            filter_enabled: true,
            attach: AttachMode::Auto,
        }
    }
}

/// Counters of a running probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// Records taken from the ring buffer.
    pub events_received: u64,
    /// Records the kernel could not reserve ring-buffer space for (all CPUs).
    pub kernel_drops: u64,
    /// Records dropped because the consumer's channel was full.
    pub userspace_drops: u64,
    /// Records that failed to decode.
    pub decode_errors: u64,
    /// Records received per event type (types never seen are absent).
    pub per_type: BTreeMap<EventType, u64>,
    /// How syscall exits are captured.
    pub attach: ActiveAttach,
    /// Per-syscall programs attached now (0 with the dispatcher).
    pub attached_syscalls: u64,
}

/// Why the probe could not start or be reconfigured. Every message says what
/// is missing and how to check it.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("eBPF probes need Linux; this build runs on {0}")]
    NotLinux(&'static str),
    #[error("eBPF probes are not built for the {0} architecture (supported: x86_64)")]
    UnsupportedArch(&'static str),
    #[error("cannot parse the kernel version from `{release}` (check with `uname -r`)")]
    KernelVersion { release: String },
    #[error(
        "kernel {release} is too old: the eBPF probes need Linux >= {}.{} (check with `uname -r`)",
        need.0, need.1
    )]
    KernelTooOld { release: String, need: (u32, u32) },
    #[error(
        "kernel BTF is missing: {path} does not exist; the probes need a kernel built with \
         CONFIG_DEBUG_INFO_BTF=y (check with `ls {path}`)"
    )]
    NoBtf { path: &'static str },
    #[error(
        "missing capability {missing} (effective set {cap_effective:#x}); run as root or grant \
         the capabilities (check with `grep Cap /proc/self/status` or `capsh --print`)"
    )]
    MissingCapabilities {
        missing: &'static str,
        cap_effective: u64,
    },
    #[error(
        "permission denied while {step}: {detail}; loading eBPF needs CAP_BPF and CAP_PERFMON \
         (or CAP_SYS_ADMIN) and must not be blocked by a security module or \
         kernel.unprivileged_bpf_disabled (check with `grep Cap /proc/self/status`)"
    )]
    PermissionDenied { step: &'static str, detail: String },
    #[error("eBPF probe failed while {step}: {detail}")]
    Load { step: &'static str, detail: String },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid kernel prefilter: {0}")]
    InvalidFilter(String),
    #[error("the probe reader thread has stopped")]
    ReaderGone,
}

/// Counters shared between the reader thread and `Probe::stats`.
#[derive(Debug)]
struct Counters {
    received: AtomicU64,
    userspace_drops: AtomicU64,
    decode_errors: AtomicU64,
    per_type: Vec<AtomicU64>,
}

impl Counters {
    fn new() -> Self {
        Counters {
            received: AtomicU64::new(0),
            userspace_drops: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            per_type: (0..=EventType::COUNT).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn snapshot(&self, kernel_drops: u64) -> ProbeStats {
        let per_type = EventType::ALL
            .iter()
            .filter_map(|t| {
                let n = self
                    .per_type
                    .get(usize::from(t.id()))?
                    .load(Ordering::Relaxed);
                (n > 0).then_some((*t, n))
            })
            .collect();
        ProbeStats {
            events_received: self.received.load(Ordering::Relaxed),
            kernel_drops,
            userspace_drops: self.userspace_drops.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            per_type,
            ..ProbeStats::default()
        }
    }
}

#[cfg(target_os = "linux")]
pub use reader::Probe;

/// Stand-in on systems without eBPF: starting always fails with a clear error.
#[cfg(not(target_os = "linux"))]
pub struct Probe {
    counters: Counters,
}

#[cfg(not(target_os = "linux"))]
impl Probe {
    pub fn start(
        _cfg: ProbeConfig,
        _interest: &[EventType],
    ) -> Result<(Probe, QueueReceiver<Event>), ProbeError> {
        Err(ProbeError::NotLinux(std::env::consts::OS))
    }
    pub fn start_raw(
        _cfg: ProbeConfig,
        _interest: &[EventType],
    ) -> Result<(Probe, QueueReceiver<Vec<u8>>), ProbeError> {
        Err(ProbeError::NotLinux(std::env::consts::OS))
    }
    pub fn set_interest(&self, _interest: &[EventType]) -> Result<(), ProbeError> {
        Err(ProbeError::NotLinux(std::env::consts::OS))
    }
    pub fn set_capture_env(&self, _on: bool) -> Result<(), ProbeError> {
        Err(ProbeError::NotLinux(std::env::consts::OS))
    }
    pub fn set_open_filter(&self, _filter: Option<&OpenFilter>) -> Result<(), ProbeError> {
        Err(ProbeError::NotLinux(std::env::consts::OS))
    }
    pub fn stats(&self) -> ProbeStats {
        self.counters.snapshot(0)
    }
    pub fn stop(self) {}
}
