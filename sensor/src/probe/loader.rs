//! Opens, configures, loads and attaches the skeleton, and fills the maps
//! the kernel side reads (syscall table, handler prog array, interest).

use super::per_syscall::{self, Plan};
use super::skel::{OpenSensorSkel, SensorSkel, SensorSkelBuilder};
use super::syscalls::{Handler, SyscallDesc};
use super::{
    ActiveAttach, COMM_LEN, MAX_OPEN_BASENAMES, MAX_OPEN_COMMS, MAX_OPEN_DIRS, MAX_OPEN_PREFIX_LEN,
    MAX_OPEN_PREFIXES, MAX_OPEN_SUBSTRINGS, MIN_OPEN_SUBSTRING_LEN, OpenFilter, ProbeConfig,
    ProbeError, SET_WORDS, basename_hash, comm_hash, dir_hash, set_summary_bit,
};
use crate::event::EventType;
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{ErrorKind, MapCore, MapFlags, MapHandle, OpenObject};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// Size of the kernel's interest array (index 0 = capture everything).
const INTEREST_SLOTS: u32 = crate::contract::SENSOR_MAX_ETYPE as u32;

fn bpf_err(step: &'static str, e: libbpf_rs::Error) -> ProbeError {
    let detail = format!("{e:#}");
    if e.kind() == ErrorKind::PermissionDenied {
        ProbeError::PermissionDenied { step, detail }
    } else {
        ProbeError::Load { step, detail }
    }
}

/// Ring buffer sizes must be a power of two and a multiple of the page size.
fn ring_size(bytes: usize) -> Result<u32, ProbeError> {
    let size = bytes.max(4096).checked_next_power_of_two();
    size.and_then(|s| u32::try_from(s).ok())
        .ok_or(ProbeError::Load {
            step: "sizing the ring buffer",
            detail: format!("{bytes} bytes is too large (limit 2 GiB)"),
        })
}

/// Whether the memory controller is mounted as a cgroup v1 hierarchy (then
/// container cgroup paths come from it, not from the unified hierarchy).
fn cgroup_v1_memory() -> bool {
    std::fs::read_to_string("/proc/self/cgroup")
        .map(|s| {
            s.lines().any(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == "memory"))
            })
        })
        .unwrap_or(false)
}

fn configure(
    open: &mut OpenSensorSkel<'_>,
    cfg: &ProbeConfig,
    plan: Option<&Plan>,
) -> Result<(), ProbeError> {
    let ncpus = libbpf_rs::num_possible_cpus().map_err(|e| bpf_err("counting CPUs", e))?;
    open.maps
        .events
        .set_max_entries(ring_size(cfg.ring_buffer_bytes)?)
        .map_err(|e| bpf_err("sizing the ring buffer", e))?;
    open.maps
        .scratch
        .set_max_entries(u32::try_from(ncpus).unwrap_or(u32::MAX))
        .map_err(|e| bpf_err("sizing the scratch map", e))?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or(ProbeError::Load {
            step: "setting load-time options",
            detail: "the BPF object has no .rodata section".into(),
        })?;
    rodata.io_buffer_bytes = u32::try_from(cfg.io_buffer_bytes).unwrap_or(u32::MAX);
    rodata.cgroup_v1_memory = cgroup_v1_memory();
    // Handlers run only through the dispatcher's tail calls.
    open.progs.handle_args.set_autoattach(false);
    open.progs.handle_paths.set_autoattach(false);
    open.progs.handle_sock.set_autoattach(false);
    open.progs.handle_exec_fail.set_autoattach(false);
    open.progs.handle_pipe.set_autoattach(false);
    if plan.is_some() {
        // Per-syscall mode: the dispatcher and its handlers are not loaded.
        open.progs.sys_exit_dispatch.set_autoload(false);
        open.progs.handle_args.set_autoload(false);
        open.progs.handle_paths.set_autoload(false);
        open.progs.handle_sock.set_autoload(false);
        open.progs.handle_exec_fail.set_autoload(false);
        open.progs.handle_pipe.set_autoload(false);
    }
    for mut prog in open.open_object_mut().progs_mut() {
        if !per_syscall::is_ours(&prog.name().to_string_lossy()) {
            continue;
        }
        // Attached per syscall as the interest set changes, or not loaded.
        prog.set_autoattach(false);
        if plan.is_none() {
            prog.set_autoload(false);
        }
    }
    Ok(())
}

/// Fills the per-syscall handler table.
fn fill_per_syscall(skel: &SensorSkel<'_>) -> Result<(), ProbeError> {
    for (handler, name) in per_syscall::HANDLERS {
        let prog = skel
            .object()
            .progs()
            .find(|p| p.name() == name)
            .ok_or(ProbeError::Load {
                step: "filling the per-syscall handler table",
                detail: format!("program {name} is missing from the BPF object"),
            })?;
        skel.maps
            .kx_handlers
            .update(
                &u32::from(handler as u8).to_ne_bytes(),
                &prog.as_fd().as_raw_fd().to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| bpf_err("filling the per-syscall handler table", e))?;
    }
    Ok(())
}

fn fill_syscall_table(skel: &SensorSkel<'_>, table: &[SyscallDesc]) -> Result<(), ProbeError> {
    for desc in table {
        skel.maps
            .syscall_table
            .update(&desc.nr.to_ne_bytes(), &desc.to_bytes(), MapFlags::ANY)
            .map_err(|e| bpf_err("filling the syscall table", e))?;
    }
    Ok(())
}

fn fill_tables(skel: &SensorSkel<'_>, table: &[SyscallDesc]) -> Result<(), ProbeError> {
    fill_syscall_table(skel, table)?;
    let progs = [
        (Handler::Args, skel.progs.handle_args.as_fd().as_raw_fd()),
        (Handler::Paths, skel.progs.handle_paths.as_fd().as_raw_fd()),
        (Handler::Sock, skel.progs.handle_sock.as_fd().as_raw_fd()),
        (
            Handler::ExecFail,
            skel.progs.handle_exec_fail.as_fd().as_raw_fd(),
        ),
        (Handler::Pipe, skel.progs.handle_pipe.as_fd().as_raw_fd()),
    ];
    for (slot, fd) in progs {
        skel.maps
            .handlers
            .update(
                &u32::from(slot as u8).to_ne_bytes(),
                &fd.to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| bpf_err("filling the handler table", e))?;
    }
    Ok(())
}

/// Writes the interest set: 1 for each wanted type, 0 for the rest; slot 0
/// switches filtering off.
pub(super) fn write_interest(
    map: &MapHandle,
    interest: &[EventType],
    filter_enabled: bool,
) -> Result<(), ProbeError> {
    let mut wanted = [0u8; INTEREST_SLOTS as usize];
    for t in interest {
        if let Some(slot) = wanted.get_mut(usize::from(t.id())) {
            *slot = 1;
        }
    }
    wanted[0] = u8::from(!filter_enabled);
    // Enable new types before disabling old ones so a reload never has a
    // window where a type wanted both before and after is off.
    let order = (0..INTEREST_SLOTS)
        .filter(|&i| wanted[i as usize] == 1)
        .chain((0..INTEREST_SLOTS).filter(|&i| wanted[i as usize] == 0));
    for i in order {
        map.update(&i.to_ne_bytes(), &[wanted[i as usize]], MapFlags::ANY)
            .map_err(|e| bpf_err("updating the interest map", e))?;
    }
    Ok(())
}

/// Turns the capture of environments at exec on or off; takes effect on
/// the next exec, so it can follow a rules reload.
pub(super) fn write_capture_env(map: &MapHandle, on: bool) -> Result<(), ProbeError> {
    let mut value = [0u8; SETTINGS_SIZE];
    value[0..4].copy_from_slice(&u32::from(on).to_ne_bytes());
    map.update(&0u32.to_ne_bytes(), &value, MapFlags::ANY)
        .map_err(|e| bpf_err("updating the runtime settings", e))
}

/// Size of `struct runtime_settings`.
const SETTINGS_SIZE: usize = 4;

/// Writes the open prefilter. `None` turns it off (every open is sent).
/// The switch is turned off while the tables change, so a reload can
/// briefly send more opens than wanted, never fewer.
pub(super) fn write_open_filter(
    maps: &SharedMaps,
    filter: Option<&OpenFilter>,
) -> Result<(), ProbeError> {
    if let Some(f) = filter {
        validate_open_filter(f)?;
    }
    let write_cfg = |cfg: Option<&CfgCounts>| {
        let mut value = [0u8; CFG_SIZE];
        if let Some(c) = cfg {
            value[0..4].copy_from_slice(&1u32.to_ne_bytes());
            value[4..8].copy_from_slice(&c.nbasenames.to_ne_bytes());
            for (i, word) in c.second_byte.iter().enumerate() {
                value[8 + 8 * i..16 + 8 * i].copy_from_slice(&word.to_ne_bytes());
            }
            value[40..44].copy_from_slice(&c.ngrams.to_ne_bytes());
            value[44..48].copy_from_slice(&c.ndirs.to_ne_bytes());
            value[48..52].copy_from_slice(&c.ncomms.to_ne_bytes());
            value[52..56].copy_from_slice(&u32::from(c.close_filter).to_ne_bytes());
            // A new value for every filter written: the kernel's per-CPU
            // cache of dropped paths is only valid for the filter it ran.
            let generation = FILTER_GENERATION.fetch_add(1, Ordering::Relaxed);
            value[56..64].copy_from_slice(&generation.to_ne_bytes());
        }
        maps.open_filter
            .update(&0u32.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| bpf_err("updating the open prefilter", e))
    };
    write_cfg(None)?;
    let Some(f) = filter else {
        return Ok(());
    };
    // Only gates the prefix walk: the other checks run whatever the
    // second byte.
    let mut second_byte = [0u64; 4];
    for p in &f.prefixes {
        // A bare "/" matches everything: every second byte is possible.
        match p.as_bytes().get(1) {
            Some(&c) => second_byte[usize::from(c >> 6)] |= 1 << (c & 63),
            None => second_byte = [u64::MAX; 4],
        }
    }
    for slot in 0..MAX_OPEN_PREFIXES {
        let mut value = [0u8; MAX_OPEN_PREFIX_LEN + 1];
        if let Some(p) = f.prefixes.get(slot) {
            value[0] = p.len() as u8;
            value[1..=p.len()].copy_from_slice(p.as_bytes());
        }
        maps.open_prefixes
            .update(&(slot as u32).to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| bpf_err("updating the open prefilter", e))?;
    }
    let basename_keys = f
        .basenames
        .iter()
        .map(|n| basename_hash(n.as_bytes()).to_ne_bytes().to_vec());
    replace_set(&maps.open_basenames, basename_keys, "the open basename set")?;
    let dir_keys = f
        .directories
        .iter()
        .map(|d| dir_hash(d).to_ne_bytes().to_vec());
    replace_set(&maps.open_dirs, dir_keys, "the open directory set")?;
    let comm_keys = f.comms.iter().map(|c| {
        let mut key = vec![0u8; COMM_LEN + 1];
        key[..c.len()].copy_from_slice(c.as_bytes());
        key
    });
    replace_set(&maps.open_comms, comm_keys, "the open comm set")?;
    let mut base_bits = [0u64; SET_WORDS];
    let mut dir_bits = [0u64; SET_WORDS];
    let mut comm_bits = [0u64; SET_WORDS];
    for n in &f.basenames {
        set_summary_bit(&mut base_bits, basename_hash(n.as_bytes()));
    }
    for d in &f.directories {
        set_summary_bit(&mut dir_bits, dir_hash(d));
    }
    for c in &f.comms {
        set_summary_bit(&mut comm_bits, comm_hash(c));
    }
    let grams: Vec<u8> = f
        .gram_bitmap()
        .iter()
        .chain(&base_bits)
        .chain(&dir_bits)
        .chain(&comm_bits)
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    maps.open_grams
        .update(&0u32.to_ne_bytes(), &grams, MapFlags::ANY)
        .map_err(|e| bpf_err("updating the open gram bitmap", e))?;
    write_cfg(Some(&CfgCounts {
        nbasenames: f.basenames.len() as u32,
        second_byte,
        ngrams: f.substrings.len() as u32,
        ndirs: f.directories.len() as u32,
        ncomms: f.comms.len() as u32,
        close_filter: f.close_filter,
    }))
}

/// Size of `struct open_filter_cfg`.
const CFG_SIZE: usize = 64;

/// Source of `open_filter_cfg.generation`; starts at 1 because a zeroed
/// cache entry has generation 0.
static FILTER_GENERATION: AtomicU64 = AtomicU64::new(1);

/// The `struct open_filter_cfg` fields of an active filter.
struct CfgCounts {
    nbasenames: u32,
    second_byte: [u64; 4],
    ngrams: u32,
    ndirs: u32,
    ncomms: u32,
    close_filter: bool,
}

/// Makes the keys of a set-like hash map exactly `keys`.
fn replace_set(
    map: &MapHandle,
    keys: impl Iterator<Item = Vec<u8>>,
    what: &'static str,
) -> Result<(), ProbeError> {
    let stale: Vec<Vec<u8>> = map.keys().collect();
    for key in stale {
        // A key that vanished meanwhile is fine: the set is being replaced.
        let _ = map.delete(&key);
    }
    for key in keys {
        map.update(&key, &[1u8], MapFlags::ANY)
            .map_err(|e| bpf_err(what, e))?;
    }
    Ok(())
}

/// The limits of the kernel tables, checked before anything is written.
pub(super) fn validate_open_filter(f: &OpenFilter) -> Result<(), ProbeError> {
    if f.prefixes.len() > MAX_OPEN_PREFIXES {
        return Err(ProbeError::InvalidFilter(format!(
            "{} open prefixes given, the kernel filter holds {MAX_OPEN_PREFIXES}",
            f.prefixes.len()
        )));
    }
    if let Some(p) = f
        .prefixes
        .iter()
        .find(|p| p.is_empty() || p.len() > MAX_OPEN_PREFIX_LEN || !p.starts_with('/'))
    {
        return Err(ProbeError::InvalidFilter(format!(
            "open prefix `{p}` must be an absolute path of 1 to {MAX_OPEN_PREFIX_LEN} bytes"
        )));
    }
    if f.basenames.len() > MAX_OPEN_BASENAMES {
        return Err(ProbeError::InvalidFilter(format!(
            "{} open basenames given, the kernel filter holds {MAX_OPEN_BASENAMES}",
            f.basenames.len()
        )));
    }
    if let Some(b) = f
        .basenames
        .iter()
        .find(|b| b.is_empty() || b.contains('/') || b.as_str() == "." || b.as_str() == "..")
    {
        return Err(ProbeError::InvalidFilter(format!(
            "open basename `{b}` must be a non-empty path component without `/`"
        )));
    }
    if f.directories.len() > MAX_OPEN_DIRS {
        return Err(ProbeError::InvalidFilter(format!(
            "{} open directories given, the kernel filter holds {MAX_OPEN_DIRS}",
            f.directories.len()
        )));
    }
    if let Some(d) = f.directories.iter().find(|d| !d.starts_with('/')) {
        return Err(ProbeError::InvalidFilter(format!(
            "open directory `{d}` must be an absolute path"
        )));
    }
    if f.comms.len() > MAX_OPEN_COMMS {
        return Err(ProbeError::InvalidFilter(format!(
            "{} process names given, the kernel filter holds {MAX_OPEN_COMMS}",
            f.comms.len()
        )));
    }
    if let Some(c) = f.comms.iter().find(|c| c.is_empty() || c.len() > COMM_LEN) {
        return Err(ProbeError::InvalidFilter(format!(
            "process name `{c}` must be 1 to {COMM_LEN} bytes (the kernel's comm)"
        )));
    }
    if f.substrings.len() > MAX_OPEN_SUBSTRINGS {
        return Err(ProbeError::InvalidFilter(format!(
            "{} open substrings given, the kernel filter takes {MAX_OPEN_SUBSTRINGS}",
            f.substrings.len()
        )));
    }
    if let Some(s) = f
        .substrings
        .iter()
        .find(|s| s.len() < MIN_OPEN_SUBSTRING_LEN)
    {
        return Err(ProbeError::InvalidFilter(format!(
            "open substring `{s}` is shorter than the kernel's {MIN_OPEN_SUBSTRING_LEN}-byte window"
        )));
    }
    Ok(())
}

/// Handles to the maps other threads touch while the reader owns the skeleton.
pub(super) struct SharedMaps {
    pub interest: MapHandle,
    pub drops: MapHandle,
    pub open_filter: MapHandle,
    pub open_prefixes: MapHandle,
    pub open_basenames: MapHandle,
    pub open_dirs: MapHandle,
    pub open_comms: MapHandle,
    pub open_grams: MapHandle,
    pub settings: MapHandle,
    pub attach: ActiveAttach,
}

/// Loads and attaches everything; the skeleton borrows `object`.
/// With `plan`, syscall exits are captured by the per-syscall program (the
/// caller attaches it), else by the dispatcher.
pub(super) fn load<'obj>(
    cfg: &ProbeConfig,
    table: &[SyscallDesc],
    interest: &[EventType],
    plan: Option<&Plan>,
    object: &'obj mut MaybeUninit<OpenObject>,
) -> Result<(SensorSkel<'obj>, SharedMaps), ProbeError> {
    let mut open = SensorSkelBuilder::default()
        .open(object)
        .map_err(|e| bpf_err("opening the BPF object", e))?;
    configure(&mut open, cfg, plan)?;
    let mut skel = open
        .load()
        .map_err(|e| bpf_err("loading the BPF programs (verifier)", e))?;
    if plan.is_some() {
        fill_syscall_table(&skel, table)?;
        fill_per_syscall(&skel)?;
    } else {
        fill_tables(&skel, table)?;
    }
    let shared = SharedMaps {
        interest: MapHandle::try_from(&skel.maps.interest)
            .map_err(|e| bpf_err("duplicating the interest map fd", e))?,
        drops: MapHandle::try_from(&skel.maps.drops)
            .map_err(|e| bpf_err("duplicating the drop counter fd", e))?,
        open_filter: MapHandle::try_from(&skel.maps.open_filter)
            .map_err(|e| bpf_err("duplicating the open filter fd", e))?,
        open_prefixes: MapHandle::try_from(&skel.maps.open_prefixes)
            .map_err(|e| bpf_err("duplicating the open prefix fd", e))?,
        open_basenames: MapHandle::try_from(&skel.maps.open_basenames)
            .map_err(|e| bpf_err("duplicating the open basename fd", e))?,
        open_dirs: MapHandle::try_from(&skel.maps.open_dirs)
            .map_err(|e| bpf_err("duplicating the open directory fd", e))?,
        open_comms: MapHandle::try_from(&skel.maps.open_comms)
            .map_err(|e| bpf_err("duplicating the open comm fd", e))?,
        open_grams: MapHandle::try_from(&skel.maps.open_grams)
            .map_err(|e| bpf_err("duplicating the open gram fd", e))?,
        settings: MapHandle::try_from(&skel.maps.settings)
            .map_err(|e| bpf_err("duplicating the runtime settings fd", e))?,
        attach: if plan.is_some() {
            ActiveAttach::PerSyscall
        } else {
            ActiveAttach::Dispatcher
        },
    };
    write_interest(&shared.interest, interest, cfg.filter_enabled)?;
    write_capture_env(&shared.settings, cfg.capture_env)?;
    skel.attach()
        .map_err(|e| bpf_err("attaching the programs to tracepoints", e))?;
    Ok((skel, shared))
}

/// Sum of the per-CPU ring-buffer reservation failures.
pub(super) fn kernel_drops(drops: &MapHandle) -> u64 {
    match drops.lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY) {
        Ok(Some(per_cpu)) => per_cpu
            .iter()
            .filter_map(|v| v.get(..8)?.try_into().ok().map(u64::from_ne_bytes))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes_round_up_to_powers_of_two() {
        assert_eq!(ring_size(0).unwrap(), 4096);
        assert_eq!(ring_size(5000).unwrap(), 8192);
        assert_eq!(ring_size(8 << 20).unwrap(), 8 << 20);
        assert!(ring_size(usize::MAX).is_err());
    }

    #[test]
    fn skeleton_types_match_the_decoder_layout() {
        use crate::event::raw::{self, off};
        use std::mem::{offset_of, size_of};
        type H = super::super::skel::types::sensor_hdr;
        assert_eq!(size_of::<H>(), raw::HDR_SIZE);
        assert_eq!(offset_of!(H, ts_boot_ns), off::TS_BOOT_NS);
        assert_eq!(offset_of!(H, res), off::RES);
        assert_eq!(offset_of!(H, cgroup_id), off::CGROUP_ID);
        assert_eq!(offset_of!(H, cap_effective), off::CAP_EFFECTIVE);
        assert_eq!(offset_of!(H, cap_permitted), off::CAP_PERMITTED);
        assert_eq!(offset_of!(H, cap_inheritable), off::CAP_INHERITABLE);
        assert_eq!(offset_of!(H, args), off::ARGS);
        assert_eq!(offset_of!(H, aux), off::AUX);
        assert_eq!(offset_of!(H, tid), off::TID);
        assert_eq!(offset_of!(H, pid), off::PID);
        assert_eq!(offset_of!(H, ppid), off::PPID);
        assert_eq!(offset_of!(H, vtid), off::VTID);
        assert_eq!(offset_of!(H, vpid), off::VPID);
        assert_eq!(offset_of!(H, vsid), off::VSID);
        assert_eq!(offset_of!(H, vpgid), off::VPGID);
        assert_eq!(offset_of!(H, uid), off::UID);
        assert_eq!(offset_of!(H, gid), off::GID);
        assert_eq!(offset_of!(H, loginuid), off::LOGINUID);
        assert_eq!(offset_of!(H, tty), off::TTY);
        assert_eq!(offset_of!(H, pidns_ino), off::PIDNS_INO);
        assert_eq!(offset_of!(H, mntns_ino), off::MNTNS_INO);
        assert_eq!(offset_of!(H, len), off::LEN);
        assert_eq!(offset_of!(H, etype), off::ETYPE);
        assert_eq!(offset_of!(H, cpu), off::CPU);
        assert_eq!(offset_of!(H, var_len), off::VAR_LEN);
        assert_eq!(offset_of!(H, comm), off::COMM);
        let h = H::default();
        assert_eq!(h.var_len.len(), raw::NVAR);
        type D = super::super::skel::types::syscall_desc;
        assert_eq!(size_of::<D>(), super::super::syscalls::DESC_SIZE);
        assert_eq!(offset_of!(D, flags), 7);
        assert_eq!(offset_of!(D, sock_mode), 8);
        assert_eq!(offset_of!(D, exec_argv_arg), 9);
        type F = super::super::skel::types::open_filter_cfg;
        assert_eq!(size_of::<F>(), CFG_SIZE);
        assert_eq!(offset_of!(F, nbasenames), 4);
        assert_eq!(offset_of!(F, second_byte), 8);
        assert_eq!(offset_of!(F, ngrams), 40);
        assert_eq!(offset_of!(F, ndirs), 44);
        assert_eq!(offset_of!(F, ncomms), 48);
        assert_eq!(offset_of!(F, close_filter), 52);
        assert_eq!(offset_of!(F, generation), 56);
        type G = super::super::skel::types::open_grams;
        assert_eq!(
            size_of::<G>(),
            (super::super::GRAM_WORDS + 3 * SET_WORDS) * 8
        );
        type S = super::super::skel::types::runtime_settings;
        assert_eq!(size_of::<S>(), SETTINGS_SIZE);
        assert_eq!(offset_of!(S, capture_env), 0);
        type P = super::super::skel::types::open_prefix;
        assert_eq!(size_of::<P>(), MAX_OPEN_PREFIX_LEN + 1);
    }
}
