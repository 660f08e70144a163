//! The worker every forwarder runs: take alerts from its bus queue (or from
//! its disk buffer), batch (or aggregate) them, encode, send with retry and
//! exponential backoff, and count what was sent, failed, retried or dropped.
//!
//! Without a disk buffer, the worker does not read its queue while a send is
//! being retried, so the memory queue is the buffer for a receiver that is
//! down, and what does not fit is counted as dropped by the bus. With one
//! (`forward.disk_buffer.dir`), an intake task moves every alert from the
//! queue to disk as it arrives, the worker reads the disk in order and
//! acknowledges a batch once it is delivered (or refused), and a retryable
//! failure is retried until the receiver is back: giving up would defeat
//! the buffer. See docs/outputs.md for the at-least-once contract.

use super::aggregate::{Aggregator, Item};
use super::disk_buffer::DiskQueue;
use super::http::{HttpClient, HttpTarget, PostOutcome};
use crate::config::ForwardConfig;
use crate::metrics::SinkCounters;
use bytes::Bytes;
use falco_proto::v1::Alert;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

/// One request body and how many alerts it carries.
pub struct Payload {
    pub body: Bytes,
    pub alerts: u64,
}

/// The sink-specific part: how a batch becomes request bodies.
pub trait Encoder: Send + Sync + 'static {
    fn encode(&self, batch: &[Item]) -> Vec<Payload>;
}

/// How a payload leaves the sensor: an HTTP POST, several (Alertmanager
/// HA), a syslog socket... Each call is one attempt; the worker retries.
pub trait Transport: Send + Sync + 'static {
    fn send(&self, body: Bytes) -> impl Future<Output = PostOutcome> + Send;
}

/// POST to one HTTP endpoint.
pub struct HttpPost {
    pub client: HttpClient,
    pub target: HttpTarget,
}

impl Transport for HttpPost {
    async fn send(&self, body: Bytes) -> PostOutcome {
        self.client.post(&self.target, body).await
    }
}

/// An HTTP forwarder (Loki, Slack, webhook...): a `SinkWorker` posting to
/// one URL. Routing, disk buffer, aggregation and metrics all come from
/// `opts` through the worker.
pub struct Forwarder<E: Encoder> {
    pub name: String,
    pub encoder: E,
    pub client: HttpClient,
    pub target: HttpTarget,
    pub opts: ForwardConfig,
    pub counters: Arc<SinkCounters>,
}

impl<E: Encoder> Forwarder<E> {
    pub async fn run(self, rx: mpsc::Receiver<Arc<Alert>>) {
        let disk = match open_disk_buffer(&self.name, &self.opts, &self.counters) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(sink = %self.name, "{e}; continuing with the memory queue only");
                None
            }
        };
        SinkWorker {
            name: self.name,
            encoder: self.encoder,
            transport: HttpPost {
                client: self.client,
                target: self.target,
            },
            opts: self.opts,
            counters: self.counters,
            disk,
        }
        .run(rx)
        .await
    }
}

/// Opens the sink's disk buffer when `opts.disk_buffer.dir` is set.
pub fn open_disk_buffer(
    name: &str,
    opts: &ForwardConfig,
    counters: &Arc<SinkCounters>,
) -> Result<Option<Arc<DiskQueue>>, super::disk_buffer::DiskBufferError> {
    match &opts.disk_buffer.dir {
        None => Ok(None),
        Some(dir) => Ok(Some(Arc::new(DiskQueue::open(
            dir,
            name,
            opts.disk_buffer.max_bytes,
            counters.clone(),
        )?))),
    }
}

/// The shared forwarding loop, generic over the encoder and the transport.
pub struct SinkWorker<E: Encoder, T: Transport> {
    pub name: String,
    pub encoder: E,
    pub transport: T,
    pub opts: ForwardConfig,
    pub counters: Arc<SinkCounters>,
    pub disk: Option<Arc<DiskQueue>>,
}

/// Where the worker takes alerts from.
enum Source {
    Memory(mpsc::Receiver<Arc<Alert>>),
    Disk(Arc<DiskQueue>),
}

/// One round's alerts, each with its origin (disk position, 0 in memory),
/// and for the disk the position to acknowledge once they are done.
struct Taken {
    alerts: Vec<(u64, Arc<Alert>)>,
    read_end: Option<u64>,
    closed: bool,
}

impl<E: Encoder, T: Transport> SinkWorker<E, T> {
    pub async fn run(self, rx: mpsc::Receiver<Arc<Alert>>) {
        let mut source = match &self.disk {
            Some(q) => {
                tokio::spawn(intake(q.clone(), rx));
                Source::Disk(q.clone())
            }
            None => Source::Memory(rx),
        };
        let mut agg = self.opts.aggregation.enabled.then(|| {
            Aggregator::new(
                Duration::from_secs(self.opts.aggregation.window_secs.max(1)),
                self.opts.aggregation.key.clone(),
            )
        });
        let batch_size = self.opts.batch_size.max(1);
        let batch_wait = Duration::from_millis(self.opts.batch_wait_ms);
        loop {
            let deadline = agg.as_ref().and_then(Aggregator::next_deadline);
            let taken = source
                .take(batch_size, batch_wait, deadline, agg.is_some())
                .await;
            if let Source::Memory(rx) = &source {
                self.counters.queued.store(rx.len() as u64, Relaxed);
            }
            let items: Vec<Item> = match agg.as_mut() {
                Some(agg) => {
                    let now = Instant::now();
                    for (origin, a) in taken.alerts {
                        agg.add_from(a, now, origin);
                    }
                    if taken.closed {
                        agg.drain()
                    } else {
                        agg.take_due(now)
                    }
                }
                None => taken
                    .alerts
                    .into_iter()
                    .map(|(_, a)| Item::single(a))
                    .collect(),
            };
            for chunk in items.chunks(batch_size) {
                for payload in self.encoder.encode(chunk) {
                    self.deliver(payload).await;
                }
            }
            if let (Source::Disk(q), Some(end)) = (&source, taken.read_end) {
                // Not past the first alert of a window still open: a restart
                // must send it again rather than lose it.
                let held = agg.as_ref().and_then(Aggregator::oldest_origin);
                q.ack(held.map_or(end, |h| h.min(end)));
            }
            if taken.closed {
                return;
            }
        }
    }

    async fn deliver(&self, payload: Payload) {
        let mut backoff = Duration::from_millis(self.opts.backoff_initial_ms.max(1));
        let max_backoff = Duration::from_millis(self.opts.backoff_max_ms.max(1));
        // With a disk buffer, the buffer is the bound, not the retry count.
        let keep_trying = self.disk.is_some();
        let mut attempt = 0u32;
        loop {
            match self.transport.send(payload.body.clone()).await {
                PostOutcome::Accepted => {
                    self.counters.sent.fetch_add(payload.alerts, Relaxed);
                    return;
                }
                PostOutcome::Refused(why) => {
                    tracing::warn!(sink = %self.name, "receiver refused {} alert(s): {why}", payload.alerts);
                    self.counters.failed.fetch_add(payload.alerts, Relaxed);
                    return;
                }
                PostOutcome::Retry(why) if !keep_trying && attempt >= self.opts.max_retries => {
                    tracing::warn!(sink = %self.name, "giving up on {} alert(s) after {} attempt(s): {why}",
                        payload.alerts, attempt + 1);
                    self.counters.failed.fetch_add(payload.alerts, Relaxed);
                    return;
                }
                PostOutcome::Retry(why) => {
                    tracing::debug!(sink = %self.name, "attempt {} failed, retrying in {backoff:?}: {why}", attempt + 1);
                    self.counters.retried.fetch_add(1, Relaxed);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(max_backoff);
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
}

/// Moves alerts from the bus queue to the disk buffer as they arrive, so
/// the memory queue never fills while the receiver is down.
async fn intake(q: Arc<DiskQueue>, mut rx: mpsc::Receiver<Arc<Alert>>) {
    while let Some(a) = rx.recv().await {
        q.push(&a);
        while let Ok(a) = rx.try_recv() {
            q.push(&a);
        }
        q.sync_if_due();
    }
    q.close();
}

impl Source {
    /// Waits for the next alerts: at least one (then up to `size`, waiting
    /// up to `wait` for the batch to fill unless aggregating), or until the
    /// aggregation `deadline`, or the end of the input.
    async fn take(
        &mut self,
        size: usize,
        wait: Duration,
        deadline: Option<Instant>,
        aggregating: bool,
    ) -> Taken {
        match self {
            Source::Memory(rx) => {
                let mut batch = Vec::new();
                let closed = match deadline {
                    Some(d) => tokio::select! {
                        a = rx.recv() => match a { Some(a) => { batch.push(a); false } None => true },
                        _ = tokio::time::sleep_until(d) => false,
                    },
                    None => match rx.recv().await {
                        Some(a) => {
                            batch.push(a);
                            false
                        }
                        None => true,
                    },
                };
                if !closed && !batch.is_empty() {
                    if aggregating {
                        // Everything already queued joins its window now.
                        while let Ok(a) = rx.try_recv() {
                            batch.push(a);
                        }
                    } else {
                        fill_batch(rx, &mut batch, size, wait).await;
                    }
                }
                Taken {
                    alerts: batch.into_iter().map(|a| (0, a)).collect(),
                    read_end: None,
                    closed,
                }
            }
            Source::Disk(q) => {
                q.wait(deadline).await;
                let max = if aggregating { usize::MAX } else { size };
                let mut got = q.read(max);
                if !aggregating && !got.records.is_empty() && got.records.len() < size {
                    let until = Instant::now() + wait;
                    while got.records.len() < size && Instant::now() < until && !q.finished() {
                        q.wait(Some(until)).await;
                        let more = q.read(size - got.records.len());
                        if more.records.is_empty() {
                            break;
                        }
                        got.records.extend(more.records);
                        got.end = more.end;
                    }
                }
                let closed = got.records.is_empty() && q.finished();
                Taken {
                    alerts: got.records,
                    read_end: Some(got.end),
                    closed,
                }
            }
        }
    }
}

/// Takes what is queued, waiting up to `wait` for the batch to fill.
async fn fill_batch(
    rx: &mut mpsc::Receiver<Arc<Alert>>,
    batch: &mut Vec<Arc<Alert>>,
    size: usize,
    wait: Duration,
) {
    let until = Instant::now() + wait;
    while batch.len() < size {
        match rx.try_recv() {
            Ok(a) => batch.push(a),
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(a)) => batch.push(a),
                    Ok(None) | Err(_) => return,
                }
            }
        }
    }
}
