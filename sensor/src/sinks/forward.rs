//! The worker every HTTP forwarder runs: take alerts from its bus queue,
//! batch (or aggregate) them, encode, POST with retry and exponential
//! backoff, and count what was sent, failed or dropped.
//!
//! While a POST is being retried the worker does not read its queue, so the
//! queue is the buffer for a receiver that is down, and what does not fit is
//! counted as dropped by the bus.

use super::aggregate::{Aggregator, Item};
use super::http::{HttpClient, HttpTarget, PostOutcome};
use crate::config::ForwardConfig;
use crate::metrics::SinkCounters;
use bytes::Bytes;
use falco_proto::v1::Alert;
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

    /// Delivers one payload once; the forwarder retries on `Retry`. The default
    /// POSTs it to the forwarder's target. Sinks whose URL changes per request
    /// (S3), that read per-item answers (Elasticsearch) or that do not speak
    /// HTTP (SMTP) replace it.
    fn send(
        &self,
        client: &HttpClient,
        target: &HttpTarget,
        payload: &Payload,
    ) -> impl Future<Output = PostOutcome> + Send {
        client.post(target, payload.body.clone())
    }
}

pub struct Forwarder<E: Encoder> {
    pub name: String,
    pub encoder: E,
    pub client: HttpClient,
    pub target: HttpTarget,
    pub opts: ForwardConfig,
    pub counters: Arc<SinkCounters>,
}

impl<E: Encoder> Forwarder<E> {
    pub async fn run(self, mut rx: mpsc::Receiver<Arc<Alert>>) {
        let mut agg = self.opts.aggregation.enabled.then(|| {
            Aggregator::new(
                Duration::from_secs(self.opts.aggregation.window_secs.max(1)),
                self.opts.aggregation.key.clone(),
            )
        });
        let batch_size = self.opts.batch_size.max(1);
        let batch_wait = Duration::from_millis(self.opts.batch_wait_ms);
        loop {
            let mut batch: Vec<Arc<Alert>> = Vec::new();
            let deadline = agg.as_ref().and_then(Aggregator::next_deadline);
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
            if !closed && !batch.is_empty() && agg.is_none() {
                fill_batch(&mut rx, &mut batch, batch_size, batch_wait).await;
            }
            if !closed && agg.is_some() {
                // Everything already queued joins its window now.
                while let Ok(a) = rx.try_recv() {
                    batch.push(a);
                }
            }
            let items: Vec<Item> = match agg.as_mut() {
                Some(agg) => {
                    let now = Instant::now();
                    for a in batch {
                        agg.add(a, now);
                    }
                    if closed {
                        agg.drain()
                    } else {
                        agg.take_due(now)
                    }
                }
                None => batch.into_iter().map(Item::single).collect(),
            };
            for chunk in items.chunks(batch_size) {
                for payload in self.encoder.encode(chunk) {
                    self.deliver(payload).await;
                }
            }
            if closed {
                return;
            }
        }
    }

    async fn deliver(&self, payload: Payload) {
        let mut backoff = Duration::from_millis(self.opts.backoff_initial_ms.max(1));
        let max_backoff = Duration::from_millis(self.opts.backoff_max_ms.max(1));
        let mut attempt = 0u32;
        loop {
            match self
                .encoder
                .send(&self.client, &self.target, &payload)
                .await
            {
                PostOutcome::Accepted => {
                    self.counters.sent.fetch_add(payload.alerts, Relaxed);
                    return;
                }
                PostOutcome::Partial { sent, failed, why } => {
                    tracing::warn!(sink = %self.name, "receiver refused {failed} of {} alert(s): {why}", payload.alerts);
                    self.counters.sent.fetch_add(sent, Relaxed);
                    self.counters.failed.fetch_add(failed, Relaxed);
                    return;
                }
                PostOutcome::Refused(why) => {
                    tracing::warn!(sink = %self.name, "receiver refused {} alert(s): {why}", payload.alerts);
                    self.counters.failed.fetch_add(payload.alerts, Relaxed);
                    return;
                }
                PostOutcome::Retry(why) if attempt >= self.opts.max_retries => {
                    tracing::warn!(sink = %self.name, "giving up on {} alert(s) after {} attempt(s): {why}",
                        payload.alerts, attempt + 1);
                    self.counters.failed.fetch_add(payload.alerts, Relaxed);
                    return;
                }
                PostOutcome::Retry(why) => {
                    tracing::debug!(sink = %self.name, "attempt {} failed, retrying in {backoff:?}: {why}", attempt + 1);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(max_backoff);
                    attempt += 1;
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
