//! The alert bus: assigns each alert its sequence number, stamps the sensor's
//! identity, keeps the last N alerts for resume, and fans out to every sink
//! and gRPC subscriber through one bounded queue each. `publish` never waits:
//! a full queue costs a counted drop (sinks) or a detach (subscribers).

mod filter;

pub use filter::{AlertFilter, namespace_of};

use crate::metrics::{SensorCounters, SinkCounters};
use falco_proto::v1::{Alert, Gap, Priority, ResponseRecord};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Who this sensor is; stamped on every alert.
#[derive(Debug, Clone, Default)]
pub struct BusIdentity {
    pub hostname: String,
    pub cluster: String,
    pub sensor_id: String,
}

/// Cheap to clone handle on the one bus of a sensor.
#[derive(Clone)]
pub struct AlertBus {
    inner: Arc<Inner>,
}

struct Inner {
    identity: BusIdentity,
    counters: Arc<SensorCounters>,
    state: Mutex<State>,
}

struct State {
    next_seq: u64,
    ring: VecDeque<Arc<Alert>>,
    ring_capacity: usize,
    subscribers: Vec<SubscriberSlot>,
    sinks: Vec<SinkSlot>,
    next_subscriber_id: u64,
}

struct SubscriberSlot {
    id: u64,
    filter: AlertFilter,
    tx: mpsc::Sender<Arc<Alert>>,
    detach_reason: Arc<Mutex<Option<String>>>,
    queue_capacity: usize,
}

struct SinkSlot {
    min_priority: Priority,
    /// The sink's routing beyond the priority (None: every alert).
    admits: Option<SinkFilter>,
    tx: mpsc::Sender<Arc<Alert>>,
    counters: Arc<SinkCounters>,
}

/// A sink's own selection of alerts, checked before its queue, so alerts it
/// does not take never use its queue space or count as its drops.
pub type SinkFilter = Arc<dyn Fn(&Alert) -> bool + Send + Sync>;

/// Where a new subscription starts and what it wants.
#[derive(Debug, Clone, Default)]
pub struct SubscribeOptions {
    pub filter: AlertFilter,
    /// Replay held alerts with seq > since_seq first (0: live only unless `from_oldest`).
    pub since_seq: u64,
    pub from_oldest: bool,
    /// Live alerts queued for this subscriber before it is detached.
    pub queue_capacity: usize,
}

/// A registered subscriber: first `gap` (if any), then `replay`, then `recv()`.
/// Registration and the replay snapshot happen under one lock, so nothing
/// falls between the replayed and the live alerts, and nothing is repeated.
pub struct Subscription {
    pub gap: Option<Gap>,
    pub replay: Vec<Arc<Alert>>,
    rx: mpsc::Receiver<Arc<Alert>>,
    detach_reason: Arc<Mutex<Option<String>>>,
    id: u64,
    bus: Weak<Inner>,
}

// A poisoned bus lock means a panic happened while the ring was being
// updated; the data is still consistent enough to keep delivering.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AlertBus {
    /// A bus holding the last `resume_capacity` alerts (at least 1).
    pub fn new(
        identity: BusIdentity,
        resume_capacity: usize,
        counters: Arc<SensorCounters>,
    ) -> AlertBus {
        let ring_capacity = resume_capacity.max(1);
        AlertBus {
            inner: Arc::new(Inner {
                identity,
                counters,
                state: Mutex::new(State {
                    next_seq: 1,
                    ring: VecDeque::with_capacity(ring_capacity.min(65_536)),
                    ring_capacity,
                    subscribers: Vec::new(),
                    sinks: Vec::new(),
                    next_subscriber_id: 1,
                }),
            }),
        }
    }

    pub fn identity(&self) -> &BusIdentity {
        &self.inner.identity
    }

    pub fn counters(&self) -> &Arc<SensorCounters> {
        &self.inner.counters
    }

    /// Assigns the next seq, stamps identity (hostname and cluster only when
    /// the alert has none, so forwarded alerts keep their origin), stores and
    /// fans out. Never blocks on a consumer. Returns the seq.
    pub fn publish(&self, mut alert: Alert) -> u64 {
        let id = &self.inner.identity;
        if alert.hostname.is_empty() {
            alert.hostname.clone_from(&id.hostname);
        }
        if alert.cluster.is_empty() {
            alert.cluster.clone_from(&id.cluster);
        }
        alert.sensor_id.clone_from(&id.sensor_id);
        let priority = alert.priority();
        self.inner.counters.record_alert(&alert.rule, priority);

        let mut st = lock(&self.inner.state);
        let seq = st.next_seq;
        st.next_seq += 1;
        alert.seq = seq;
        let alert = Arc::new(alert);
        if st.ring.len() >= st.ring_capacity {
            st.ring.pop_front();
        }
        st.ring.push_back(alert.clone());
        self.inner.counters.last_seq.store(seq, Relaxed);

        for sink in &st.sinks {
            if !priority.at_least(sink.min_priority)
                || sink.admits.as_ref().is_some_and(|f| !f(&alert))
            {
                continue;
            }
            if sink.tx.try_send(alert.clone()).is_err() {
                sink.counters.dropped.fetch_add(1, Relaxed);
            }
        }
        let before = st.subscribers.len();
        let mut detached = 0u64;
        st.subscribers.retain(|sub| {
            if !sub.filter.admits(&alert) {
                return true;
            }
            match sub.tx.try_send(alert.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    detached += 1;
                    *lock(&sub.detach_reason) = Some(format!(
                        "subscriber too slow: queue of {} alerts full",
                        sub.queue_capacity
                    ));
                    false
                }
                // The stream is gone; its Subscription is being dropped.
                Err(TrySendError::Closed(_)) => false,
            }
        });
        if detached > 0 {
            self.inner
                .counters
                .subscribers_detached
                .fetch_add(detached, Relaxed);
        }
        let removed = before - st.subscribers.len();
        if removed > 0 {
            self.inner
                .counters
                .subscribers
                .fetch_sub(removed as u64, Relaxed);
        }
        seq
    }

    /// Publishes the audit of a response as a new alert: a copy of the alert
    /// it is about (when still held) carrying `records`, so every sink and
    /// subscriber sees what was done. Returns the new alert's seq.
    pub fn publish_response(&self, about_seq: u64, records: Vec<ResponseRecord>) -> u64 {
        let mut alert = match self.get(about_seq) {
            Some(a) => Alert::clone(&a),
            None => Alert {
                rule: "response".to_string(),
                source: "response".to_string(),
                priority: Priority::Notice as i32,
                output: format!("response about alert {about_seq}"),
                ..Alert::default()
            },
        };
        alert.time_ns = records
            .iter()
            .map(|r| r.time_ns)
            .max()
            .unwrap_or(alert.time_ns);
        alert.responses = records;
        self.publish(alert)
    }

    /// The held alert with this seq, if it was not evicted yet.
    pub fn get(&self, seq: u64) -> Option<Arc<Alert>> {
        let st = lock(&self.inner.state);
        let first = st.ring.front()?.seq;
        let idx = usize::try_from(seq.checked_sub(first)?).ok()?;
        st.ring.get(idx).cloned()
    }

    /// Highest seq assigned so far (0 before the first alert).
    pub fn last_seq(&self) -> u64 {
        lock(&self.inner.state).next_seq - 1
    }

    /// Registers a sink queue of `capacity` alerts at least `min_priority`
    /// severe; alerts that do not fit are counted in `counters.dropped`.
    pub fn add_sink(
        &self,
        min_priority: Priority,
        capacity: usize,
        counters: Arc<SinkCounters>,
    ) -> mpsc::Receiver<Arc<Alert>> {
        self.add_filtered_sink(min_priority, None, capacity, counters)
    }

    /// `add_sink` with the sink's routing: only alerts `admits` accepts
    /// (and at least `min_priority`) are queued.
    pub fn add_filtered_sink(
        &self,
        min_priority: Priority,
        admits: Option<SinkFilter>,
        capacity: usize,
        counters: Arc<SinkCounters>,
    ) -> mpsc::Receiver<Arc<Alert>> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        lock(&self.inner.state).sinks.push(SinkSlot {
            min_priority,
            admits,
            tx,
            counters,
        });
        rx
    }

    /// Drops every sink queue's sender so the sinks drain what is queued and
    /// end (shutdown). Later alerts reach subscribers only.
    pub fn close_sinks(&self) {
        lock(&self.inner.state).sinks.clear();
    }

    /// Registers a subscriber and snapshots its replay under the same lock.
    pub fn subscribe(&self, opts: SubscribeOptions) -> Subscription {
        let capacity = opts.queue_capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let detach_reason = Arc::new(Mutex::new(None));
        let mut st = lock(&self.inner.state);
        let last = st.next_seq - 1;
        let oldest = st.ring.front().map_or(st.next_seq, |a| a.seq);
        let mut gap = None;
        let replay_from = if opts.since_seq > last {
            // The client saw more than this sensor ever assigned: a restart.
            gap = Some(Gap {
                first_missing_seq: 0,
                last_missing_seq: 0,
                reason: format!(
                    "sensor-restarted: since_seq {} is beyond the last seq {last}",
                    opts.since_seq
                ),
            });
            oldest
        } else if opts.since_seq > 0 {
            if opts.since_seq + 1 < oldest {
                gap = Some(Gap {
                    first_missing_seq: opts.since_seq + 1,
                    last_missing_seq: oldest - 1,
                    reason: "evicted".to_string(),
                });
            }
            opts.since_seq + 1
        } else if opts.from_oldest {
            oldest
        } else {
            st.next_seq
        };
        let replay = st
            .ring
            .iter()
            .filter(|a| a.seq >= replay_from && opts.filter.admits(a))
            .cloned()
            .collect();
        let id = st.next_subscriber_id;
        st.next_subscriber_id += 1;
        st.subscribers.push(SubscriberSlot {
            id,
            filter: opts.filter,
            tx,
            detach_reason: detach_reason.clone(),
            queue_capacity: capacity,
        });
        self.inner.counters.subscribers.fetch_add(1, Relaxed);
        Subscription {
            gap,
            replay,
            rx,
            detach_reason,
            id,
            bus: Arc::downgrade(&self.inner),
        }
    }
}

impl Subscription {
    /// Next live alert; `None` once the bus detached this subscriber (see
    /// `detach_reason`) and the queued alerts are drained.
    pub async fn recv(&mut self) -> Option<Arc<Alert>> {
        self.rx.recv().await
    }

    /// Non-waiting variant of `recv`.
    pub fn try_recv(&mut self) -> Option<Arc<Alert>> {
        self.rx.try_recv().ok()
    }

    /// Why the bus detached this subscriber, if it did.
    pub fn detach_reason(&self) -> Option<String> {
        lock(&self.detach_reason).clone()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(inner) = self.bus.upgrade() else {
            return;
        };
        let mut st = lock(&inner.state);
        let before = st.subscribers.len();
        st.subscribers.retain(|s| s.id != self.id);
        if st.subscribers.len() < before {
            inner.counters.subscribers.fetch_sub(1, Relaxed);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
