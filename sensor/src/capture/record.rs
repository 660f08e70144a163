//! The record file written by `falco-sensor record` and read by `replay`
//! and the benchmarks. Layout (all integers little-endian), documented in
//! docs/record-format.md:
//!
//! ```text
//! magic "FALCOREC" | version u16 | boot_to_wall_offset_ns i64
//! | hostname (u16 len + UTF-8) | kernel release (u16 len + UTF-8)
//! frames: kind u8 | len u32 | payload[len]
//! ```

use crate::state::users::UserTable;
use crate::state::{ContainerInfo, ThreadInfo};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// File magic.
pub const MAGIC: &[u8; 8] = b"FALCOREC";
/// Current format version.
pub const VERSION: u16 = 1;
/// Largest frame payload accepted when reading (guards against garbage lengths).
pub const MAX_FRAME: u32 = 16 * 1024 * 1024;

const KIND_RAW: u8 = 1;
const KIND_CONTAINER: u8 = 2;
const KIND_THREAD: u8 = 3;
const KIND_USERS: u8 = 4;

/// Errors reading or writing a record file; each names the file and, for
/// reads, the byte offset where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a falco-sensor record file (bad magic at offset 0)")]
    BadMagic { path: PathBuf },
    #[error("{path}: unsupported record format version {version} (this build reads {VERSION})")]
    BadVersion { path: PathBuf, version: u16 },
    #[error("{path}: file is truncated at byte offset {offset} (inside {what})")]
    Truncated {
        path: PathBuf,
        offset: u64,
        what: &'static str,
    },
    #[error("{path}: frame at byte offset {offset} has unknown kind {kind}")]
    UnknownFrame {
        path: PathBuf,
        offset: u64,
        kind: u8,
    },
    #[error("{path}: frame at byte offset {offset} claims {len} bytes (limit {MAX_FRAME})")]
    FrameTooLarge {
        path: PathBuf,
        offset: u64,
        len: u32,
    },
    #[error("{path}: frame at byte offset {offset}: bad JSON payload: {source}")]
    Json {
        path: PathBuf,
        offset: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {what} is too long for the header ({len} bytes, limit 65535)")]
    HeaderField {
        path: PathBuf,
        what: &'static str,
        len: usize,
    },
}

/// Facts about the capture that decoding needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Add to the kernel's boot-time stamps to get Unix ns.
    pub boot_to_wall_offset_ns: i64,
    pub hostname: String,
    pub kernel: String,
}

impl RecordHeader {
    /// The header for a capture on this machine, starting now.
    pub fn current() -> Self {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        RecordHeader {
            boot_to_wall_offset_ns: crate::event::clock::boot_to_wall_offset_ns(),
            hostname: read("/proc/sys/kernel/hostname"),
            kernel: read("/proc/sys/kernel/osrelease"),
        }
    }
}

/// One frame of a record file.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordItem {
    /// A kernel record, byte for byte as the ring buffer delivered it.
    Raw(Vec<u8>),
    /// Container metadata snapshot.
    Container(ContainerInfo),
    /// Thread-table snapshot entry.
    Thread(ThreadInfo),
    /// The users and groups of the host ("host") or of one container.
    Users(UserSnapshot),
}

/// The user and group table of one root filesystem, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserSnapshot {
    /// "host" or the short container id the table belongs to.
    pub container_id: String,
    pub table: UserTable,
}

/// Appends frames to a record file.
pub struct RecordWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl RecordWriter {
    /// Creates (truncates) `path` with the header of a capture starting now.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, RecordError> {
        Self::create_with_header(path, &RecordHeader::current())
    }

    /// Creates (truncates) `path` with the given header.
    pub fn create_with_header(
        path: impl AsRef<Path>,
        header: &RecordHeader,
    ) -> Result<Self, RecordError> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|source| RecordError::Io {
            path: path.clone(),
            source,
        })?;
        let mut w = RecordWriter {
            path,
            out: BufWriter::with_capacity(1 << 20, file),
        };
        let mut head = Vec::with_capacity(64);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&header.boot_to_wall_offset_ns.to_le_bytes());
        for (what, s) in [("hostname", &header.hostname), ("kernel", &header.kernel)] {
            let len = u16::try_from(s.len()).map_err(|_| RecordError::HeaderField {
                path: w.path.clone(),
                what,
                len: s.len(),
            })?;
            head.extend_from_slice(&len.to_le_bytes());
            head.extend_from_slice(s.as_bytes());
        }
        w.write_bytes(&head)?;
        Ok(w)
    }

    fn write_bytes(&mut self, b: &[u8]) -> Result<(), RecordError> {
        self.out.write_all(b).map_err(|source| RecordError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) -> Result<(), RecordError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l <= MAX_FRAME)
            .ok_or_else(|| RecordError::FrameTooLarge {
                path: self.path.clone(),
                offset: 0,
                len: u32::MAX,
            })?;
        let mut head = [0u8; 5];
        head[0] = kind;
        head[1..].copy_from_slice(&len.to_le_bytes());
        self.write_bytes(&head)?;
        self.write_bytes(payload)
    }

    /// Appends a raw kernel record.
    pub fn write_raw(&mut self, raw: &[u8]) -> Result<(), RecordError> {
        self.frame(KIND_RAW, raw)
    }

    /// Appends a container snapshot.
    pub fn write_container(&mut self, info: &ContainerInfo) -> Result<(), RecordError> {
        let json = serde_json::to_vec(info).map_err(|source| RecordError::Json {
            path: self.path.clone(),
            offset: 0,
            source,
        })?;
        self.frame(KIND_CONTAINER, &json)
    }

    /// Appends a thread snapshot.
    pub fn write_thread(&mut self, info: &ThreadInfo) -> Result<(), RecordError> {
        let json = serde_json::to_vec(info).map_err(|source| RecordError::Json {
            path: self.path.clone(),
            offset: 0,
            source,
        })?;
        self.frame(KIND_THREAD, &json)
    }

    /// Appends the user/group table of the host or of a container.
    pub fn write_users(&mut self, snapshot: &UserSnapshot) -> Result<(), RecordError> {
        let json = serde_json::to_vec(snapshot).map_err(|source| RecordError::Json {
            path: self.path.clone(),
            offset: 0,
            source,
        })?;
        self.frame(KIND_USERS, &json)
    }

    /// Flushes buffered frames to the file.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        self.out.flush().map_err(|source| RecordError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Reads a record file frame by frame.
pub struct RecordReader {
    path: PathBuf,
    input: BufReader<File>,
    offset: u64,
    header: RecordHeader,
    done: bool,
}

impl RecordReader {
    /// Opens `path` and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RecordError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| RecordError::Io {
            path: path.clone(),
            source,
        })?;
        let mut r = RecordReader {
            path,
            input: BufReader::with_capacity(1 << 20, file),
            offset: 0,
            header: RecordHeader {
                boot_to_wall_offset_ns: 0,
                hostname: String::new(),
                kernel: String::new(),
            },
            done: false,
        };
        let mut magic = [0u8; 8];
        if r.read_exact(&mut magic, "file magic")? < magic.len() || &magic != MAGIC {
            return Err(RecordError::BadMagic { path: r.path });
        }
        let mut v = [0u8; 2];
        r.read_full(&mut v, "header version")?;
        let version = u16::from_le_bytes(v);
        if version != VERSION {
            return Err(RecordError::BadVersion {
                path: r.path,
                version,
            });
        }
        let mut o = [0u8; 8];
        r.read_full(&mut o, "header clock offset")?;
        r.header.boot_to_wall_offset_ns = i64::from_le_bytes(o);
        r.header.hostname = r.read_str("header hostname")?;
        r.header.kernel = r.read_str("header kernel")?;
        Ok(r)
    }

    /// The file's header.
    pub fn header(&self) -> &RecordHeader {
        &self.header
    }

    /// Reads up to buf.len() bytes; returns how many were read (short only at EOF).
    fn read_exact(&mut self, buf: &mut [u8], _what: &'static str) -> Result<usize, RecordError> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(RecordError::Io {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
        self.offset += got as u64;
        Ok(got)
    }

    fn read_full(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), RecordError> {
        if self.read_exact(buf, what)? < buf.len() {
            return Err(RecordError::Truncated {
                path: self.path.clone(),
                offset: self.offset,
                what,
            });
        }
        Ok(())
    }

    fn read_str(&mut self, what: &'static str) -> Result<String, RecordError> {
        let mut l = [0u8; 2];
        self.read_full(&mut l, what)?;
        let mut s = vec![0u8; usize::from(u16::from_le_bytes(l))];
        self.read_full(&mut s, what)?;
        Ok(String::from_utf8_lossy(&s).into_owned())
    }

    /// Reads the next frame's payload into `payload`; returns its kind and
    /// file offset, or `None` at the end of the file.
    fn read_frame(&mut self, payload: &mut Vec<u8>) -> Result<Option<(u8, u64)>, RecordError> {
        let frame_at = self.offset;
        let mut head = [0u8; 5];
        match self.read_exact(&mut head, "frame header")? {
            0 => return Ok(None),
            5 => {}
            _ => {
                return Err(RecordError::Truncated {
                    path: self.path.clone(),
                    offset: self.offset,
                    what: "frame header",
                });
            }
        }
        let kind = head[0];
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_FRAME {
            return Err(RecordError::FrameTooLarge {
                path: self.path.clone(),
                offset: frame_at,
                len,
            });
        }
        if !matches!(kind, KIND_RAW | KIND_CONTAINER | KIND_THREAD | KIND_USERS) {
            return Err(RecordError::UnknownFrame {
                path: self.path.clone(),
                offset: frame_at,
                kind,
            });
        }
        payload.clear();
        payload.resize(len as usize, 0);
        self.read_full(payload, "frame payload")?;
        Ok(Some((kind, frame_at)))
    }

    /// Parses a metadata frame (every kind but raw records).
    fn parse_item(
        &self,
        kind: u8,
        frame_at: u64,
        payload: &[u8],
    ) -> Result<RecordItem, RecordError> {
        let json_err = |source| RecordError::Json {
            path: self.path.clone(),
            offset: frame_at,
            source,
        };
        Ok(match kind {
            KIND_RAW => RecordItem::Raw(payload.to_vec()),
            KIND_CONTAINER => {
                RecordItem::Container(serde_json::from_slice(payload).map_err(json_err)?)
            }
            KIND_USERS => RecordItem::Users(serde_json::from_slice(payload).map_err(json_err)?),
            _ => RecordItem::Thread(serde_json::from_slice(payload).map_err(json_err)?),
        })
    }

    fn next_item(&mut self) -> Result<Option<RecordItem>, RecordError> {
        let mut payload = Vec::new();
        let Some((kind, frame_at)) = self.read_frame(&mut payload)? else {
            return Ok(None);
        };
        if kind == KIND_RAW {
            return Ok(Some(RecordItem::Raw(payload)));
        }
        self.parse_item(kind, frame_at, &payload).map(Some)
    }

    /// Like the iterator, but a raw record is read into `buf` and borrowed
    /// from it: replaying a file then allocates nothing per record.
    pub fn next_frame<'b>(
        &mut self,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<Frame<'b>>, RecordError> {
        if self.done {
            return Ok(None);
        }
        let read = self.read_frame(buf);
        let payload: &'b [u8] = buf;
        let frame = match read {
            Ok(Some((KIND_RAW, _))) => Ok(Some(Frame::Raw(payload))),
            Ok(Some((kind, frame_at))) => self
                .parse_item(kind, frame_at, payload)
                .map(|item| Some(Frame::Item(Box::new(item)))),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        if !matches!(frame, Ok(Some(_))) {
            self.done = true;
        }
        frame
    }
}

/// A frame from [`RecordReader::next_frame`].
#[derive(Debug)]
pub enum Frame<'b> {
    /// A kernel record, borrowed from the caller's buffer.
    Raw(&'b [u8]),
    /// A metadata frame (never [`RecordItem::Raw`]); rare, so boxed.
    Item(Box<RecordItem>),
}

impl Iterator for RecordReader {
    type Item = Result<RecordItem, RecordError>;

    /// Yields frames in file order; after the first error, ends.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header() -> RecordHeader {
        RecordHeader {
            boot_to_wall_offset_ns: 1_700_000_000_000_000_000,
            hostname: "node-1".into(),
            kernel: "6.18.0".into(),
        }
    }

    #[test]
    fn round_trips_every_frame_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cap.rec");
        let container = ContainerInfo {
            id: "a".repeat(64),
            name: "web".into(),
            ..Default::default()
        };
        let thread = ThreadInfo {
            tid: 7,
            pid: 7,
            comm: "sh".into(),
            ..Default::default()
        };
        let mut table = UserTable::default();
        table.users.insert(
            1000,
            crate::state::users::UserEntry {
                name: "app".into(),
                home: "/home/app".into(),
                shell: "/bin/sh".into(),
            },
        );
        table.groups.insert(1000, "app".into());
        let users = UserSnapshot {
            container_id: "aaaaaaaaaaaa".into(),
            table,
        };
        let mut w = RecordWriter::create_with_header(&path, &header()).unwrap();
        w.write_raw(&[1, 2, 3]).unwrap();
        w.write_container(&container).unwrap();
        w.write_thread(&thread).unwrap();
        w.write_users(&users).unwrap();
        w.write_raw(&[]).unwrap();
        w.flush().unwrap();
        drop(w);

        let r = RecordReader::open(&path).unwrap();
        assert_eq!(r.header(), &header());
        let items: Vec<RecordItem> = r.map(|i| i.unwrap()).collect();
        assert_eq!(
            items,
            vec![
                RecordItem::Raw(vec![1, 2, 3]),
                RecordItem::Container(container),
                RecordItem::Thread(thread),
                RecordItem::Users(users),
                RecordItem::Raw(vec![]),
            ]
        );
    }

    #[test]
    fn truncation_is_reported_with_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cap.rec");
        let mut w = RecordWriter::create_with_header(&path, &header()).unwrap();
        w.write_raw(&[9; 100]).unwrap();
        w.flush().unwrap();
        drop(w);
        let full = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 10).unwrap();

        let mut r = RecordReader::open(&path).unwrap();
        let err = r.next().unwrap().unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, RecordError::Truncated { offset, .. } if offset == full - 10),
            "{msg}"
        );
        assert!(msg.contains(&format!("offset {}", full - 10)), "{msg}");
        assert!(r.next().is_none());
    }

    #[test]
    fn garbage_is_not_a_record_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk");
        std::fs::write(&path, b"hello world, not a record").unwrap();
        assert!(matches!(
            RecordReader::open(&path),
            Err(RecordError::BadMagic { .. })
        ));
    }

    #[test]
    fn unknown_frame_kinds_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cap.rec");
        let mut w = RecordWriter::create_with_header(&path, &header()).unwrap();
        w.frame(77, b"x").unwrap();
        w.flush().unwrap();
        drop(w);
        let err = RecordReader::open(&path)
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, RecordError::UnknownFrame { kind: 77, .. }),
            "{err}"
        );
    }
}
