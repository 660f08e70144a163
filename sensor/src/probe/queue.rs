//! The bounded queue between the reader thread and the engine. Unlike
//! `std::sync::mpsc::sync_channel`, which allocates and touches every slot
//! up front (16,384 events ≈ 5.4 MiB of RSS on an idle node), its memory
//! follows its depth: slots come in small blocks that are freed once read.
//! One producer: the bound is checked and raised by the only sender, and
//! only lowered by the receiver, so the depth never exceeds the capacity.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvError, RecvTimeoutError, TryRecvError, TrySendError};
use std::time::Duration;

/// A queue holding at most `capacity` (at least 1) items.
pub fn bounded<T>(capacity: usize) -> (QueueSender<T>, QueueReceiver<T>) {
    let (tx, rx) = mpsc::channel();
    let depth = Arc::new(AtomicUsize::new(0));
    (
        QueueSender {
            tx,
            depth: Arc::clone(&depth),
            capacity: capacity.max(1),
        },
        QueueReceiver { rx, depth },
    )
}

/// The producing end; deliberately not `Clone` (see the module comment).
pub struct QueueSender<T> {
    tx: mpsc::Sender<T>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

impl<T> QueueSender<T> {
    /// Queues `item`, or hands it back when the queue is full or the
    /// receiver is gone. Never blocks.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        if self.depth.load(Ordering::Acquire) >= self.capacity {
            return Err(TrySendError::Full(item));
        }
        self.depth.fetch_add(1, Ordering::AcqRel);
        self.tx.send(item).map_err(|mpsc::SendError(item)| {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            TrySendError::Disconnected(item)
        })
    }
}

/// The consuming end.
pub struct QueueReceiver<T> {
    rx: mpsc::Receiver<T>,
    depth: Arc<AtomicUsize>,
}

impl<T> QueueReceiver<T> {
    pub fn recv(&self) -> Result<T, RecvError> {
        self.rx.recv().inspect(|_| self.taken())
    }

    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).inspect(|_| self.taken())
    }

    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv().inspect(|_| self.taken())
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.depth.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn taken(&self) {
        self.depth.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_hands_the_item_back_until_one_is_read() {
        let (tx, rx) = bounded(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.recv().unwrap(), 1);
        tx.try_send(4).unwrap();
        assert_eq!(rx.try_recv().unwrap(), 2);
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)).unwrap(), 4);
        assert!(rx.is_empty());
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    }

    #[test]
    fn zero_capacity_still_holds_one() {
        let (tx, rx) = bounded(0);
        tx.try_send('a').unwrap();
        assert!(matches!(tx.try_send('b'), Err(TrySendError::Full('b'))));
        assert_eq!(rx.recv().unwrap(), 'a');
    }

    #[test]
    fn gone_receiver_is_disconnected_not_full() {
        let (tx, rx) = bounded(4);
        drop(rx);
        assert!(matches!(tx.try_send(7), Err(TrySendError::Disconnected(7))));
        assert_eq!(tx.depth.load(Ordering::Acquire), 0);
    }

    #[test]
    fn gone_sender_ends_recv_after_the_queued_items() {
        let (tx, rx) = bounded(4);
        tx.try_send(1).unwrap();
        drop(tx);
        assert_eq!(rx.recv().unwrap(), 1);
        assert!(rx.recv().is_err());
        assert!(matches!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Disconnected)
        ));
    }
}
