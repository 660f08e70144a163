//! Holding back the events of a container whose metadata is still being
//! looked up. A container's first seconds are when attacks happen (a
//! malicious entrypoint, an exec right after start) and also when the
//! runtime may not have answered yet. Rather than judge those events
//! without `container.*` and `k8s.*` (which both misses rules such as
//! "Launch Privileged Container" and sends alerts without pod names), the
//! detector keeps them, each with a snapshot of its process, until the
//! metadata arrives or a short bound passes, then evaluates them in order.

use crate::event::Event;
use crate::state::EventSnapshot;
use std::collections::VecDeque;
use std::time::Instant;

/// One held event.
pub struct HeldEvent {
    pub event: Event,
    pub snapshot: EventSnapshot,
    /// Full id of the container whose metadata it waits for.
    pub container: String,
    /// When it is evaluated whatever the metadata's state.
    pub deadline: Instant,
}

/// Counters of the metadata wait, for stats and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitStats {
    /// Events held back.
    pub held: u64,
    /// Held events evaluated once their container's metadata was known.
    pub released_resolved: u64,
    /// Held events evaluated at the deadline without metadata.
    pub released_timed_out: u64,
    /// Alerts sent without container metadata because the wait timed out.
    pub alerts_without_metadata: u64,
    /// Events not held because the queue was full (evaluated at once).
    pub overflow: u64,
}

/// The queue of held events, oldest first.
pub struct MetadataWait {
    held: VecDeque<HeldEvent>,
    capacity: usize,
    pub stats: WaitStats,
}

/// Why a held event left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The metadata is known (or waiting cannot bring it).
    Settled,
    /// The wait timed out.
    TimedOut,
}

impl MetadataWait {
    /// At most `capacity` events are held at once (memory bound).
    pub fn new(capacity: usize) -> MetadataWait {
        MetadataWait {
            held: VecDeque::new(),
            capacity,
            stats: WaitStats::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// The earliest deadline of a held event.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.held.iter().map(|h| h.deadline).min()
    }

    /// Holds `h`; gives it back when the queue is full.
    pub fn hold(&mut self, h: HeldEvent) -> Result<(), Box<HeldEvent>> {
        if self.held.len() >= self.capacity {
            self.stats.overflow += 1;
            return Err(Box::new(h));
        }
        self.stats.held += 1;
        self.held.push_back(h);
        Ok(())
    }

    /// Whether an event of `container` is already held: later events of the
    /// same container must queue behind it to keep their order.
    pub fn holds_container(&self, container: &str) -> bool {
        self.held.iter().any(|h| h.container == container)
    }

    /// The full ids of containers with held events (to retry their lookups).
    pub fn containers(&self) -> impl Iterator<Item = &str> {
        self.held.iter().map(|h| h.container.as_str())
    }

    /// Takes out, in order, every held event that may be evaluated now:
    /// `settled(container)` says whether a container's metadata is settled.
    pub fn take_ready(
        &mut self,
        now: Instant,
        mut settled: impl FnMut(&str) -> bool,
    ) -> Vec<(HeldEvent, Release)> {
        let mut ready = Vec::new();
        let mut kept = VecDeque::with_capacity(self.held.len());
        for h in self.held.drain(..) {
            if settled(&h.container) {
                self.stats.released_resolved += 1;
                ready.push((h, Release::Settled));
            } else if now >= h.deadline {
                self.stats.released_timed_out += 1;
                ready.push((h, Release::TimedOut));
            } else {
                kept.push_back(h);
            }
        }
        self.held = kept;
        ready
    }

    /// Takes out everything (shutdown, end of a replay).
    pub fn drain(&mut self) -> Vec<HeldEvent> {
        self.held.drain(..).collect()
    }
}
