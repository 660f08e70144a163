//! One task per Subscribe stream: gap marker, replay, then live alerts and
//! heartbeats. A client that stops reading fills its bus queue, the bus
//! detaches it, and this task tells it why and ends.

use crate::bus::{AlertBus, Subscription};
use falco_proto::v1::subscribe_response::Payload;
use falco_proto::v1::{Alert, Detached, Heartbeat, SubscribeResponse};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// Messages buffered between this task and the HTTP/2 stream. Small: the
/// real per-subscriber queue is the bus's, which detaches when full.
const STREAM_BUFFER: usize = 64;

type Tx = mpsc::Sender<Result<SubscribeResponse, Status>>;

pub fn spawn_stream(
    sub: Subscription,
    bus: AlertBus,
    heartbeat: Duration,
    since_seq: u64,
) -> ReceiverStream<Result<SubscribeResponse, Status>> {
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(run(sub, bus, tx, heartbeat, since_seq));
    ReceiverStream::new(rx)
}

fn msg(p: Payload) -> Result<SubscribeResponse, Status> {
    Ok(SubscribeResponse { payload: Some(p) })
}

fn alert_msg(a: &Arc<Alert>) -> Result<SubscribeResponse, Status> {
    msg(Payload::Alert(Alert::clone(a)))
}

enum Sent {
    Ok,
    /// Client gone, or detached by the bus while we waited on it.
    Stop,
}

/// Waits for room on the stream, but gives up once the bus detached us:
/// a client that never reads must not pin this task forever.
async fn send(
    tx: &Tx,
    sub: &Subscription,
    item: Result<SubscribeResponse, Status>,
    check: Duration,
) -> Sent {
    loop {
        tokio::select! {
            permit = tx.reserve() => {
                return match permit {
                    Ok(p) => { p.send(item); Sent::Ok }
                    Err(_) => Sent::Stop,
                };
            }
            _ = tokio::time::sleep(check) => {
                if sub.detach_reason().is_some() {
                    return Sent::Stop;
                }
            }
        }
    }
}

async fn run(mut sub: Subscription, bus: AlertBus, tx: Tx, heartbeat: Duration, since_seq: u64) {
    let mut last_sent = since_seq;
    if let Some(gap) = sub.gap.take()
        && let Sent::Stop = send(&tx, &sub, msg(Payload::Gap(gap)), heartbeat).await
    {
        return;
    }
    let replay = std::mem::take(&mut sub.replay);
    for a in &replay {
        match send(&tx, &sub, alert_msg(a), heartbeat).await {
            Sent::Ok => last_sent = a.seq,
            Sent::Stop => return detach(&tx, &sub, last_sent),
        }
    }
    drop(replay);
    let mut ticks = tokio::time::interval(heartbeat);
    ticks.tick().await;
    loop {
        tokio::select! {
            next = sub.recv() => match next {
                Some(a) => match send(&tx, &sub, alert_msg(&a), heartbeat).await {
                    Sent::Ok => last_sent = a.seq,
                    Sent::Stop => return detach(&tx, &sub, last_sent),
                },
                None => return detach(&tx, &sub, last_sent),
            },
            _ = ticks.tick() => {
                let hb = Heartbeat {
                    time_ns: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
                    last_seq: bus.last_seq(),
                };
                // A heartbeat that does not fit is simply skipped.
                let _ = tx.try_send(msg(Payload::Heartbeat(hb)));
            }
            _ = tx.closed() => return,
        }
    }
}

/// Best effort: the client may be too slow to ever read it.
fn detach(tx: &Tx, sub: &Subscription, last_sent_seq: u64) {
    if let Some(reason) = sub.detach_reason() {
        let _ = tx.try_send(msg(Payload::Detached(Detached {
            reason,
            last_sent_seq,
        })));
    }
}
