//! The reader thread: owns the loaded skeleton, polls the ring buffer (each
//! poll drains every record available, a batch), decodes and `try_send`s
//! downstream. It never blocks on the consumer: a full channel is a counted
//! userspace drop.

use super::loader::{self, SharedMaps};
use super::per_syscall::{self, Attached, Plan};
use super::queue::{self, QueueReceiver, QueueSender};
use super::skel::SensorSkel;
use super::syscalls::{self, SyscallDesc};
use super::{AttachMode, Counters, ProbeConfig, ProbeError, ProbeStats, preflight};
use crate::event::clock::boot_to_wall_offset_ns;
use crate::event::decode::Decoder;
use crate::event::raw::{RawHeader, off};
use crate::event::{Event, EventType};
use libbpf_rs::OpenObject;
use libbpf_rs::RingBufferBuilder;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pause when the ring buffer is empty. The kernel never wakes the reader
/// (wakeups cost more than captures), so this bounds delivery latency; an
/// 4 MiB buffer holds tens of thousands of records, far more than arrive in
/// one interval at the rates the sensor targets.
const IDLE_PAUSE: Duration = Duration::from_millis(1);

/// Where the reader delivers records.
enum Sink {
    Events {
        decoder: Decoder,
        tx: QueueSender<Event>,
    },
    Raw {
        tx: QueueSender<Vec<u8>>,
    },
}

impl Sink {
    fn accept(&mut self, data: &[u8], counters: &Counters) {
        counters.received.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = RawHeader::new(data)
            && let Some(c) = counters.per_type.get(usize::from(h.u16(off::ETYPE)))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let full = match self {
            Sink::Events { decoder, tx } => match decoder.decode(data) {
                Ok(ev) => matches!(tx.try_send(ev), Err(TrySendError::Full(_))),
                Err(_) => {
                    counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                    false
                }
            },
            Sink::Raw { tx } => matches!(tx.try_send(data.to_vec()), Err(TrySendError::Full(_))),
        };
        if full {
            counters.userspace_drops.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A request to the reader thread, which owns the skeleton.
enum Command {
    /// Probe the syscalls of these types (per-syscall mode).
    Interest(Vec<EventType>, SyncSender<Result<(), ProbeError>>),
}

/// A running probe. Dropping it stops the reader and detaches the programs.
pub struct Probe {
    maps: SharedMaps,
    filter_enabled: bool,
    commands: Sender<Command>,
    /// Per-syscall probes attached now.
    attached: Arc<AtomicU64>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Probe {
    /// Checks the system, loads and attaches the probes with `interest` as
    /// the kernel filter, and starts the reader thread.
    pub fn start(
        cfg: ProbeConfig,
        interest: &[EventType],
    ) -> Result<(Probe, QueueReceiver<Event>), ProbeError> {
        let (tx, rx) = queue::bounded(cfg.channel_capacity);
        let sink = Sink::Events {
            decoder: Decoder::new(boot_to_wall_offset_ns()),
            tx,
        };
        Ok((Self::spawn(cfg, interest, sink)?, rx))
    }

    /// Like [`Probe::start`] but delivers the raw kernel records (for
    /// `falco-sensor record`).
    pub fn start_raw(
        cfg: ProbeConfig,
        interest: &[EventType],
    ) -> Result<(Probe, QueueReceiver<Vec<u8>>), ProbeError> {
        let (tx, rx) = queue::bounded(cfg.channel_capacity);
        Ok((Self::spawn(cfg, interest, Sink::Raw { tx })?, rx))
    }

    fn spawn(cfg: ProbeConfig, interest: &[EventType], sink: Sink) -> Result<Probe, ProbeError> {
        preflight()?;
        let table =
            syscalls::native_table().ok_or(ProbeError::UnsupportedArch(std::env::consts::ARCH))?;
        let counters = Arc::new(Counters::new());
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = sync_channel(1);
        let filter_enabled = cfg.filter_enabled;
        let interest = interest.to_vec();
        let (commands, command_rx) = channel();
        let attached = Arc::new(AtomicU64::new(0));
        let thread = {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            let reader = Reader {
                counters,
                stop,
                commands: command_rx,
                attached: Arc::clone(&attached),
            };
            std::thread::Builder::new()
                .name("probe-reader".into())
                .spawn(move || run(cfg, table, interest, sink, reader, ready_tx))
                .map_err(|source| ProbeError::Io {
                    what: "starting the probe reader thread",
                    source,
                })?
        };
        match ready_rx.recv() {
            Ok(Ok(maps)) => Ok(Probe {
                maps,
                filter_enabled,
                commands,
                attached,
                counters,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(ProbeError::ReaderGone)
            }
        }
    }

    /// Replaces the kernel interest set (e.g. after a rule reload).
    /// With per-syscall attach, also attaches the programs of newly wanted
    /// syscalls and detaches the rest.
    pub fn set_interest(&self, interest: &[EventType]) -> Result<(), ProbeError> {
        loader::write_interest(&self.maps.interest, interest, self.filter_enabled)?;
        if self.maps.attach == super::ActiveAttach::PerSyscall {
            let (reply, answer) = sync_channel(1);
            self.commands
                .send(Command::Interest(interest.to_vec(), reply))
                .map_err(|_| ProbeError::ReaderGone)?;
            answer.recv().map_err(|_| ProbeError::ReaderGone)??;
        }
        Ok(())
    }

    /// Turns the capture of environments at exec (`proc.env`) on or off
    /// while the probe runs; execs from then on follow the new setting.
    pub fn set_capture_env(&self, on: bool) -> Result<(), ProbeError> {
        loader::write_capture_env(&self.maps.settings, on)
    }

    /// Sets the kernel open prefilter (see [`super::OpenFilter`]); `None`
    /// sends every open. At most [`super::MAX_OPEN_PREFIXES`] prefixes of
    /// at most [`super::MAX_OPEN_PREFIX_LEN`] bytes, and at most
    /// [`super::MAX_OPEN_BASENAMES`] basenames, [`super::MAX_OPEN_DIRS`]
    /// directories, [`super::MAX_OPEN_COMMS`] comms and
    /// [`super::MAX_OPEN_SUBSTRINGS`] substrings.
    pub fn set_open_filter(&self, filter: Option<&super::OpenFilter>) -> Result<(), ProbeError> {
        loader::write_open_filter(&self.maps, filter)
    }

    /// Current counters.
    pub fn stats(&self) -> ProbeStats {
        let mut stats = self
            .counters
            .snapshot(loader::kernel_drops(&self.maps.drops));
        stats.attach = self.maps.attach;
        stats.attached_syscalls = self.attached.load(Ordering::Relaxed);
        stats
    }

    /// Stops the reader thread and detaches the programs.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the reader thread shares with [`Probe`].
struct Reader {
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    commands: Receiver<Command>,
    attached: Arc<AtomicU64>,
}

/// Loads the probes and, in per-syscall mode, probes the syscalls of
/// `interest`.
fn load_and_attach<'obj>(
    cfg: &ProbeConfig,
    table: &[SyscallDesc],
    interest: &[EventType],
    plan: Option<Plan>,
    object: &'obj mut MaybeUninit<OpenObject>,
) -> Result<(SensorSkel<'obj>, SharedMaps, Option<Attached>), ProbeError> {
    let (skel, maps) = loader::load(cfg, table, interest, plan.as_ref(), object)?;
    let attached = match plan {
        Some(plan) => {
            let mut attached = Attached::new(plan);
            attached.apply(&skel.progs.kx_exit, interest, cfg.filter_enabled)?;
            Some(attached)
        }
        None => None,
    };
    Ok((skel, maps, attached))
}

fn run(
    cfg: ProbeConfig,
    table: &'static [SyscallDesc],
    interest: Vec<EventType>,
    mut sink: Sink,
    reader: Reader,
    ready: SyncSender<Result<SharedMaps, ProbeError>>,
) {
    let Reader {
        counters,
        stop,
        commands,
        attached: attached_count,
    } = reader;
    let plan = match cfg.attach {
        AttachMode::Dispatcher => None,
        AttachMode::PerSyscall => match per_syscall::plan(table) {
            Ok(p) => Some(p),
            Err(detail) => {
                let _ = ready.send(Err(ProbeError::Load {
                    step: "planning per-syscall attach (probe.attach: per_syscall)",
                    detail,
                }));
                return;
            }
        },
        // The per-syscall mode available here (syscall tracepoints) makes
        // unwatched syscalls cheaper but watched ones dearer than the
        // dispatcher (docs/benchmarks.md#attach-modes): opt-in only.
        AttachMode::Auto => None,
    };
    if let Some(p) = plan.as_ref().filter(|p| !p.missing.is_empty()) {
        let names: Vec<&str> = p.missing.iter().map(|t| t.name()).collect();
        tracing::warn!(
            "per-syscall attach: this kernel does not implement {} (no exit tracepoint); those calls can only fail with ENOSYS and are not captured",
            names.join(", ")
        );
    }
    let mut object = MaybeUninit::uninit();
    let loaded = load_and_attach(&cfg, table, &interest, plan, &mut object);
    let (skel, maps, mut attached) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if let Some(a) = &attached {
        attached_count.store(a.len() as u64, Ordering::Relaxed);
    }
    let mut builder = RingBufferBuilder::new();
    let cb_counters = Arc::clone(&counters);
    if let Err(e) = builder.add(&skel.maps.events, move |data: &[u8]| {
        sink.accept(data, &cb_counters);
        0
    }) {
        let _ = ready.send(Err(ProbeError::Load {
            step: "setting up the ring buffer",
            detail: format!("{e:#}"),
        }));
        return;
    }
    let ring = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(ProbeError::Load {
                step: "setting up the ring buffer",
                detail: format!("{e:#}"),
            }));
            return;
        }
    };
    if ready.send(Ok(maps)).is_err() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        while let Ok(Command::Interest(interest, reply)) = commands.try_recv() {
            let result = match attached.as_mut() {
                Some(a) => {
                    let r = a.apply(&skel.progs.kx_exit, &interest, cfg.filter_enabled);
                    attached_count.store(a.len() as u64, Ordering::Relaxed);
                    r
                }
                None => Ok(()),
            };
            let _ = reply.send(result);
        }
        // Drains every available record in one batch.
        let consumed = ring.consume_raw();
        if consumed < 0 && consumed != -libc::EINTR {
            tracing::error!(
                "probe ring buffer consume failed (errno {}), stopping the reader",
                -consumed
            );
            break;
        }
        if consumed <= 0 {
            std::thread::sleep(IDLE_PAUSE);
        }
    }
    drop(ring);
    drop(attached);
    drop(skel);
}
