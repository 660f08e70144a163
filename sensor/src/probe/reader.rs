//! The reader thread: owns the loaded skeleton, polls the ring buffer (each
//! poll drains every record available, a batch), decodes and `try_send`s
//! downstream. It never blocks on the consumer: a full channel is a counted
//! userspace drop.

use super::loader::{self, SharedMaps};
use super::queue::{self, QueueReceiver, QueueSender};
use super::syscalls::{self, SyscallDesc};
use super::{Counters, ProbeConfig, ProbeError, ProbeStats, preflight};
use crate::event::clock::boot_to_wall_offset_ns;
use crate::event::decode::Decoder;
use crate::event::raw::{RawHeader, off};
use crate::event::{Event, EventType};
use libbpf_rs::RingBufferBuilder;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
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

/// A running probe. Dropping it stops the reader and detaches the programs.
pub struct Probe {
    maps: SharedMaps,
    filter_enabled: bool,
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
        let thread = {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("probe-reader".into())
                .spawn(move || run(cfg, table, interest, sink, counters, stop, ready_tx))
                .map_err(|source| ProbeError::Io {
                    what: "starting the probe reader thread",
                    source,
                })?
        };
        match ready_rx.recv() {
            Ok(Ok(maps)) => Ok(Probe {
                maps,
                filter_enabled,
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
    pub fn set_interest(&self, interest: &[EventType]) -> Result<(), ProbeError> {
        loader::write_interest(&self.maps.interest, interest, self.filter_enabled)
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
        self.counters
            .snapshot(loader::kernel_drops(&self.maps.drops))
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

fn run(
    cfg: ProbeConfig,
    table: &'static [SyscallDesc],
    interest: Vec<EventType>,
    mut sink: Sink,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    ready: SyncSender<Result<SharedMaps, ProbeError>>,
) {
    let mut object = MaybeUninit::uninit();
    let (skel, maps) = match loader::load(&cfg, table, &interest, &mut object) {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
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
    drop(skel);
}
