//! A bounded on-disk queue in front of one forwarder, so an outage longer
//! than the memory queue, or a sensor restart in the middle of one, loses
//! nothing that fits `max_bytes`.
//!
//! Layout in `<dir>/<sink>/`: append-only segment files `<start>.seg`, named
//! by the queue position (a byte offset that only grows) of their first
//! record, and `ack`, the position below which every record was delivered,
//! replaced atomically (write + rename) after each delivered batch. A record
//! is `len: u32 LE | crc32: u32 LE | protobuf Alert`. On open, the last
//! segment is scanned and cut at the first torn or corrupt record (a crash
//! in the middle of a write), segments wholly below the ack are deleted, and
//! reading resumes at the ack: records read but not yet acknowledged when the
//! sensor stopped are sent again (at-least-once).
//!
//! Records are written to the file (the page cache) as they arrive, so a
//! killed or crashed sensor loses nothing; `fdatasync` runs at most once a
//! second, so a power loss can lose up to that last second.

use crate::metrics::SinkCounters;
use falco_proto::v1::Alert;
use prost::Message;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const HEADER: u64 = 8;
/// Records larger than this are refused (an alert is a few KiB).
const MAX_RECORD: u32 = 16 << 20;
const SYNC_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum DiskBufferError {
    #[error("disk buffer {dir}: {what}: {source}")]
    Io {
        dir: PathBuf,
        what: String,
        source: std::io::Error,
    },
    #[error("disk buffer {dir} is in use by another process (one sensor per directory)")]
    Locked { dir: PathBuf },
}

pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    counters: Arc<SinkCounters>,
    state: Mutex<State>,
    /// Woken when records are appended or the intake closes.
    ready: Notify,
    /// Held for the queue's lifetime: an exclusive flock on `<dir>/lock`.
    _lock: File,
}

struct State {
    /// Start positions of the segment files, ascending; the last is written.
    segments: VecDeque<u64>,
    writer: File,
    /// Position after the last record.
    end: u64,
    /// Next record to hand out.
    read: u64,
    /// Everything below this was delivered.
    acked: u64,
    reader: Option<(u64, File)>,
    closed: bool,
    last_sync: Instant,
    dirty: bool,
}

/// Records handed to the forwarder: each with its position, and the
/// position after the last one (what to acknowledge once they are done).
pub struct ReadBatch {
    pub records: Vec<(u64, Arc<Alert>)>,
    pub end: u64,
}

fn lock_state(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DiskQueue {
    /// Opens (or creates) `<dir>/<sink>` and recovers its state.
    pub fn open(
        dir: &Path,
        sink: &str,
        max_bytes: u64,
        counters: Arc<SinkCounters>,
    ) -> Result<DiskQueue, DiskBufferError> {
        let dir = dir.join(sink);
        let io = |what: String| {
            let dir = dir.clone();
            move |source| DiskBufferError::Io { dir, what, source }
        };
        std::fs::create_dir_all(&dir).map_err(io("create directory".into()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(io("open lock file".into()))?;
        // SAFETY: flock on a descriptor this function owns; no memory involved.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(DiskBufferError::Locked { dir });
        }
        let mut segments: Vec<u64> = std::fs::read_dir(&dir)
            .map_err(io("list".into()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse::<u64>().ok()
            })
            .collect();
        segments.sort_unstable();
        let acked = std::fs::read_to_string(dir.join("ack"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if segments.is_empty() {
            segments.push(acked.unwrap_or(0));
        }
        let last = segments[segments.len() - 1];
        let last_path = seg_path(&dir, last);
        let mut writer = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&last_path)
            .map_err(io(format!("open {}", last_path.display())))?;
        let valid = scan_valid(&mut writer).map_err(io(format!("scan {}", last_path.display())))?;
        let len = writer
            .metadata()
            .map_err(io(format!("stat {}", last_path.display())))?
            .len();
        if valid < len {
            tracing::warn!(
                "disk buffer {}: cutting a torn record at the end of {} ({} bytes)",
                dir.display(),
                last_path.display(),
                len - valid
            );
            writer
                .set_len(valid)
                .map_err(io(format!("truncate {}", last_path.display())))?;
        }
        writer
            .seek(SeekFrom::End(0))
            .map_err(io(format!("seek {}", last_path.display())))?;
        let end = last + valid;
        let first = segments[0];
        let acked = acked.unwrap_or(first).clamp(first, end);
        let segment_bytes = (max_bytes / 8).clamp(64 << 10, 64 << 20);
        let q = DiskQueue {
            dir,
            max_bytes,
            segment_bytes,
            counters,
            state: Mutex::new(State {
                segments: segments.into(),
                writer,
                end,
                read: acked,
                acked,
                reader: None,
                closed: false,
                last_sync: Instant::now(),
                dirty: false,
            }),
            ready: Notify::new(),
            _lock: lock,
        };
        {
            let mut st = lock_state(&q.state);
            q.remove_acked_segments(&mut st);
            q.counters.buffer_bytes.store(st.end - st.acked, Relaxed);
        }
        Ok(q)
    }

    /// Unacknowledged bytes on disk.
    pub fn pending_bytes(&self) -> u64 {
        let st = lock_state(&self.state);
        st.end - st.acked
    }

    /// Appends one alert; returns false (and counts the drop) when it does
    /// not fit the bound or cannot be written.
    pub fn push(&self, alert: &Alert) -> bool {
        let payload = alert.encode_to_vec();
        let Ok(len) = u32::try_from(payload.len()) else {
            return self.dropped();
        };
        if len > MAX_RECORD {
            return self.dropped();
        }
        let size = HEADER + u64::from(len);
        let mut st = lock_state(&self.state);
        if st.end - st.acked + size > self.max_bytes {
            drop(st);
            return self.dropped();
        }
        let last = st.segments.back().copied().unwrap_or(0);
        if st.end > last
            && st.end - last + size > self.segment_bytes
            && let Err(e) = self.roll(&mut st)
        {
            tracing::warn!(
                "disk buffer {}: cannot start a segment: {e}",
                self.dir.display()
            );
            drop(st);
            return self.dropped();
        }
        let mut rec = Vec::with_capacity(payload.len() + 8);
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&crc32(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        if let Err(e) = st.writer.write_all(&rec) {
            tracing::warn!("disk buffer {}: write failed: {e}", self.dir.display());
            // A partial record would be cut on the next open; cut it now.
            let keep = st.end - st.segments.back().copied().unwrap_or(0);
            let _ = st.writer.set_len(keep);
            let _ = st.writer.seek(SeekFrom::End(0));
            drop(st);
            return self.dropped();
        }
        st.end += size;
        st.dirty = true;
        self.counters.buffer_bytes.store(st.end - st.acked, Relaxed);
        drop(st);
        self.ready.notify_one();
        true
    }

    fn dropped(&self) -> bool {
        self.counters.buffer_dropped.fetch_add(1, Relaxed);
        self.counters.dropped.fetch_add(1, Relaxed);
        false
    }

    fn roll(&self, st: &mut State) -> std::io::Result<()> {
        st.writer.sync_data()?;
        let path = seg_path(&self.dir, st.end);
        st.writer = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        st.segments.push_back(st.end);
        st.dirty = false;
        st.last_sync = Instant::now();
        Ok(())
    }

    /// `fdatasync`s the segment being written if a second has passed since
    /// the last one (called by the intake after each burst).
    pub fn sync_if_due(&self) {
        let mut st = lock_state(&self.state);
        if st.dirty && st.last_sync.elapsed() >= SYNC_EVERY {
            if let Err(e) = st.writer.sync_data() {
                tracing::warn!("disk buffer {}: fdatasync: {e}", self.dir.display());
            }
            st.dirty = false;
            st.last_sync = Instant::now();
        }
    }

    /// No more records will be appended (the bus closed the sink queue).
    pub fn close(&self) {
        let mut st = lock_state(&self.state);
        if st.dirty {
            let _ = st.writer.sync_data();
            st.dirty = false;
        }
        st.closed = true;
        drop(st);
        self.ready.notify_one();
    }

    /// True once closed and every record was handed out.
    pub fn finished(&self) -> bool {
        let st = lock_state(&self.state);
        st.closed && st.read >= st.end
    }

    /// Waits until unread records exist, the queue is closed, or `until`.
    pub async fn wait(&self, until: Option<tokio::time::Instant>) {
        loop {
            {
                let st = lock_state(&self.state);
                if st.read < st.end || st.closed {
                    return;
                }
            }
            match until {
                Some(t) => {
                    if tokio::time::timeout_at(t, self.ready.notified())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                None => self.ready.notified().await,
            }
        }
    }

    /// Hands out up to `max` unread records in order. Unreadable records
    /// (corruption) are skipped with their segment's rest and counted.
    pub fn read(&self, max: usize) -> ReadBatch {
        let mut st = lock_state(&self.state);
        let mut records = Vec::new();
        while records.len() < max && st.read < st.end {
            let pos = st.read;
            match self.read_one(&mut st, pos) {
                Ok((alert, size)) => {
                    records.push((pos, Arc::new(alert)));
                    st.read = pos + size;
                }
                Err(e) => {
                    let next = segment_end(&st, pos);
                    tracing::warn!(
                        "disk buffer {}: unreadable record at {pos} ({e}); skipping {} bytes",
                        self.dir.display(),
                        next - pos
                    );
                    self.counters.buffer_dropped.fetch_add(1, Relaxed);
                    self.counters.dropped.fetch_add(1, Relaxed);
                    st.read = next;
                    st.reader = None;
                }
            }
        }
        ReadBatch {
            records,
            end: st.read,
        }
    }

    fn read_one(&self, st: &mut State, pos: u64) -> std::io::Result<(Alert, u64)> {
        let start = segment_of(st, pos);
        if st.reader.as_ref().map(|(s, _)| *s) != Some(start) {
            st.reader = Some((start, File::open(seg_path(&self.dir, start))?));
        }
        let Some((_, f)) = st.reader.as_mut() else {
            return Err(std::io::Error::other("no reader"));
        };
        f.seek(SeekFrom::Start(pos - start))?;
        let mut header = [0u8; 8];
        f.read_exact(&mut header)?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD {
            return Err(std::io::Error::other(format!("record length {len}")));
        }
        let mut payload = vec![0u8; len as usize];
        f.read_exact(&mut payload)?;
        if crc32(&payload) != crc {
            return Err(std::io::Error::other("checksum mismatch"));
        }
        let alert = Alert::decode(payload.as_slice()).map_err(std::io::Error::other)?;
        Ok((alert, HEADER + u64::from(len)))
    }

    /// Everything below `pos` was delivered (or given up on): persist that,
    /// delete segments wholly below it.
    pub fn ack(&self, pos: u64) {
        let mut st = lock_state(&self.state);
        if pos <= st.acked {
            return;
        }
        st.acked = pos.min(st.end);
        let tmp = self.dir.join("ack.tmp");
        let written = std::fs::write(&tmp, format!("{}\n", st.acked))
            .and_then(|()| std::fs::rename(&tmp, self.dir.join("ack")));
        if let Err(e) = written {
            tracing::warn!(
                "disk buffer {}: cannot persist ack: {e}",
                self.dir.display()
            );
        }
        self.remove_acked_segments(&mut st);
        self.counters.buffer_bytes.store(st.end - st.acked, Relaxed);
    }

    fn remove_acked_segments(&self, st: &mut State) {
        while st.segments.len() > 1 && st.segments[1] <= st.acked {
            if let Some(old) = st.segments.pop_front() {
                if st.reader.as_ref().is_some_and(|(s, _)| *s == old) {
                    st.reader = None;
                }
                if let Err(e) = std::fs::remove_file(seg_path(&self.dir, old)) {
                    tracing::warn!(
                        "disk buffer {}: cannot remove segment {old}: {e}",
                        self.dir.display()
                    );
                }
            }
        }
    }
}

fn seg_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}.seg"))
}

fn segment_of(st: &State, pos: u64) -> u64 {
    st.segments
        .iter()
        .rev()
        .find(|s| **s <= pos)
        .copied()
        .unwrap_or(0)
}

fn segment_end(st: &State, pos: u64) -> u64 {
    st.segments
        .iter()
        .find(|s| **s > pos)
        .copied()
        .unwrap_or(st.end)
}

/// Length of the valid record prefix of a segment file.
fn scan_valid(f: &mut File) -> std::io::Result<u64> {
    f.seek(SeekFrom::Start(0))?;
    let mut data = Vec::new();
    f.read_to_end(&mut data)?;
    let mut at = 0usize;
    while data.len() - at >= 8 {
        let len = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let crc = u32::from_le_bytes([data[at + 4], data[at + 5], data[at + 6], data[at + 7]]);
        let Ok(n) = usize::try_from(len) else { break };
        if len > MAX_RECORD || data.len() - at - 8 < n || crc32(&data[at + 8..at + 8 + n]) != crc {
            break;
        }
        at += 8 + n;
    }
    Ok(at as u64)
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), to tell a torn or
/// corrupted record from a whole one.
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    let mut crc = !0u32;
    for b in data {
        crc = table[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn alert(i: u64) -> Alert {
        Alert {
            seq: i,
            rule: format!("rule {i}"),
            output: "x".repeat(100),
            ..Default::default()
        }
    }

    fn counters() -> Arc<SinkCounters> {
        Arc::new(SinkCounters::default())
    }

    fn rules(b: &ReadBatch) -> Vec<String> {
        b.records.iter().map(|(_, a)| a.rule.clone()).collect()
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn survives_reopen_and_resends_unacked_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = counters();
        {
            let q = DiskQueue::open(dir.path(), "s", 1 << 20, c.clone()).unwrap();
            for i in 0..10 {
                assert!(q.push(&alert(i)));
            }
            let b = q.read(4);
            assert_eq!(rules(&b), ["rule 0", "rule 1", "rule 2", "rule 3"]);
            q.ack(b.end);
            // Read but not acknowledged: must come back after a restart.
            let _ = q.read(3);
        }
        let q = DiskQueue::open(dir.path(), "s", 1 << 20, c).unwrap();
        let b = q.read(100);
        let expected: Vec<String> = (4..10).map(|i| format!("rule {i}")).collect();
        assert_eq!(rules(&b), expected);
        q.ack(b.end);
        assert_eq!(q.pending_bytes(), 0);
    }

    #[test]
    fn bound_drops_newest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let c = counters();
        // Same-size records: seq 1..9 all encode in one varint byte.
        let size = HEADER + alert(1).encoded_len() as u64;
        let q = DiskQueue::open(dir.path(), "s", size * 5 + 3, c.clone()).unwrap();
        let accepted = (1..9).filter(|i| q.push(&alert(*i))).count();
        assert_eq!(accepted, 5);
        assert_eq!(c.buffer_dropped.load(Relaxed), 3);
        assert_eq!(c.dropped.load(Relaxed), 3);
        let b = q.read(100);
        assert_eq!(b.records.len(), 5);
        q.ack(b.end);
        // Room again once delivered.
        assert!(q.push(&alert(9)));
    }

    #[test]
    fn segments_roll_and_are_deleted_once_acked() {
        let dir = tempfile::tempdir().unwrap();
        let q = DiskQueue::open(dir.path(), "s", 1 << 20, counters()).unwrap();
        // Segments are max_bytes/8 (128 KiB here): 5,000 records of ~120 bytes span several.
        for i in 0..5000 {
            assert!(q.push(&alert(i)));
        }
        let segs = || {
            std::fs::read_dir(dir.path().join("s"))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "seg")
                })
                .count()
        };
        assert!(segs() > 2, "{}", segs());
        let mut n = 0;
        loop {
            let b = q.read(333);
            if b.records.is_empty() {
                break;
            }
            for (_, a) in &b.records {
                assert_eq!(a.seq, n);
                n += 1;
            }
            q.ack(b.end);
        }
        assert_eq!(n, 5000);
        assert_eq!(segs(), 1);
    }

    #[test]
    fn torn_tail_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = DiskQueue::open(dir.path(), "s", 1 << 20, counters()).unwrap();
            for i in 0..3 {
                q.push(&alert(i));
            }
        }
        let seg = seg_path(&dir.path().join("s"), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let q = DiskQueue::open(dir.path(), "s", 1 << 20, counters()).unwrap();
        assert_eq!(q.read(10).records.len(), 3);
        assert!(q.push(&alert(3)));
        assert_eq!(rules(&q.read(10)), ["rule 3"]);
    }

    #[test]
    fn second_open_of_the_same_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _q = DiskQueue::open(dir.path(), "s", 1 << 20, counters()).unwrap();
        let err = DiskQueue::open(dir.path(), "s", 1 << 20, counters())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("in use"), "{err}");
    }
}
