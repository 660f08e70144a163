//! Kernel record bytes → typed [`Event`]. Every malformed or truncated
//! record is a [`DecodeError`]; nothing here panics on input.

use super::raw::{self, RawHeader, off, tuple_off};
use super::types::{
    Event, EventKind, EventType, ExeFileInfo, L4Proto, SockAddr, SockTuple, TaskContext,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "record of {len} bytes is shorter than the {} byte header",
        raw::HDR_SIZE
    )]
    TooShort { len: usize },
    #[error("record header says {declared} bytes but {actual} bytes were given")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("record has unknown event type id {0}")]
    UnknownType(u16),
    #[error(
        "variable parts of the record need {needed} bytes but only {available} follow the header"
    )]
    VarOverflow { needed: usize, available: usize },
    #[error(
        "{etype} record: socket tuple part has {len} bytes, expected {}",
        raw::TUPLE_SIZE
    )]
    BadTuple { etype: &'static str, len: usize },
}

use super::abi::{
    AF_INET, AF_INET6, AF_UNIX, AT_FDCWD, CLONE_VFORK, CLONE_VM, O_CREAT_WRONLY_TRUNC, SIGCHLD,
    SOCK_RAW,
};

/// Turns raw records into events, numbering them and converting boot-time
/// timestamps to Unix time.
#[derive(Debug, Clone)]
pub struct Decoder {
    boot_to_wall_offset_ns: i64,
    next_num: u64,
}

/// The variable parts of one record, split by the header's lengths.
struct Parts<'a> {
    parts: [&'a [u8]; raw::NVAR],
}

impl<'a> Parts<'a> {
    fn split(hdr: &RawHeader<'_>, mut rest: &'a [u8]) -> Result<Self, DecodeError> {
        let mut parts: [&'a [u8]; raw::NVAR] = [&[]; raw::NVAR];
        let needed: usize = (0..raw::NVAR).map(|i| hdr.var_len(i)).sum();
        if needed > rest.len() {
            return Err(DecodeError::VarOverflow {
                needed,
                available: rest.len(),
            });
        }
        for (i, part) in parts.iter_mut().enumerate() {
            let (head, tail) = rest.split_at(hdr.var_len(i));
            *part = head;
            rest = tail;
        }
        Ok(Parts { parts })
    }
    fn bytes(&self, i: usize) -> &'a [u8] {
        self.parts[i % raw::NVAR]
    }
    fn string(&self, i: usize) -> String {
        lossy(self.bytes(i))
    }
}

fn lossy(b: &[u8]) -> String {
    let mut s = String::new();
    set_lossy(&mut s, b);
    s
}

/// Splits a NUL-separated list (argv, environ) into strings.
fn nul_list(b: &[u8]) -> Vec<String> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&c| c == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Absolute paths resolve to themselves; relative ones are left for the
/// state tracker, which knows the cwd and the dirfd's path.
fn resolved(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        String::new()
    }
}

fn sockaddr(b: &[u8]) -> Option<SockAddr> {
    let family = u16::from_le_bytes(b.get(..2)?.try_into().ok()?);
    let port = || b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    Some(match family {
        AF_INET => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            SockAddr::Inet {
                ip: IpAddr::V4(Ipv4Addr::from(a)),
                port: port()?,
            }
        }
        AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            SockAddr::Inet {
                ip: IpAddr::V6(Ipv6Addr::from(a)),
                port: port()?,
            }
        }
        AF_UNIX => {
            let path = b.get(2..).unwrap_or_default();
            match path.split_first() {
                Some((0, name)) if !name.is_empty() => SockAddr::Unix {
                    path: format!("@{}", lossy(name)),
                },
                _ => SockAddr::Unix { path: lossy(path) },
            }
        }
        other => SockAddr::Other { family: other },
    })
}

fn tuple(etype: EventType, b: &[u8]) -> Result<Option<SockTuple>, DecodeError> {
    if b.is_empty() {
        return Ok(None);
    }
    let t: &[u8; raw::TUPLE_SIZE] = b.try_into().map_err(|_| DecodeError::BadTuple {
        etype: etype.name(),
        len: b.len(),
    })?;
    let u16_at = |at: usize| u16::from_le_bytes([t[at], t[at + 1]]);
    let addr16 = |at: usize| -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&t[at..at + 16]);
        a
    };
    let family = u16_at(tuple_off::FAMILY);
    let ip = |at: usize| -> IpAddr {
        let a = addr16(at);
        if family == AF_INET {
            IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(a))
        }
    };
    let (l4, local, remote) = match family {
        AF_INET | AF_INET6 => {
            let l4 = if u16_at(tuple_off::SOCK_TYPE) == SOCK_RAW {
                L4Proto::Raw
            } else {
                match u16_at(tuple_off::PROTO) {
                    6 => L4Proto::Tcp,
                    17 => L4Proto::Udp,
                    1 | 58 => L4Proto::Icmp,
                    255 => L4Proto::Raw,
                    _ => L4Proto::Unknown,
                }
            };
            (
                l4,
                SockAddr::Inet {
                    ip: ip(tuple_off::SADDR),
                    port: u16_at(tuple_off::SPORT),
                },
                SockAddr::Inet {
                    ip: ip(tuple_off::DADDR),
                    port: u16_at(tuple_off::DPORT),
                },
            )
        }
        AF_UNIX => (
            L4Proto::Unix,
            SockAddr::Unix {
                path: String::new(),
            },
            SockAddr::Unix {
                path: String::new(),
            },
        ),
        other => (
            L4Proto::Unknown,
            SockAddr::Other { family: other },
            SockAddr::Other { family: other },
        ),
    };
    Ok(Some(SockTuple { l4, local, remote }))
}

fn sign_i32(v: u64) -> i64 {
    i64::from(v as u32 as i32)
}

impl Decoder {
    /// `boot_to_wall_offset_ns` is added to the kernel's boot-time clock to
    /// give Unix time (see `probe::boot_to_wall_offset_ns`).
    pub fn new(boot_to_wall_offset_ns: i64) -> Self {
        Decoder {
            boot_to_wall_offset_ns,
            next_num: 1,
        }
    }

    /// Decodes one record; `evt.num` advances only on success.
    pub fn decode(&mut self, raw: &[u8]) -> Result<Event, DecodeError> {
        let (hdr, etype, parts) = split(raw)?;
        let res = hdr.i64(off::RES);
        let kind = kind(etype, res, &hdr, &parts)?;
        let mut task = TaskContext::default();
        fill_task(&hdr, &mut task);
        Ok(Event {
            num: self.next_num(),
            ts_ns: self.ts_ns(&hdr),
            cpu: hdr.u16(off::CPU),
            etype,
            res,
            task,
            kind,
        })
    }

    /// Like [`Self::decode`], but overwrites `ev` and reuses its string
    /// buffers for the thread name and open paths (the bulk of a typical
    /// mix), so a loop that decodes every record into the same event does
    /// not allocate for them. On error `ev` is left unchanged.
    pub fn decode_into(&mut self, raw: &[u8], ev: &mut Event) -> Result<(), DecodeError> {
        let (hdr, etype, parts) = split(raw)?;
        let res = hdr.i64(off::RES);
        let reuse_open = is_open(etype) && matches!(ev.kind, EventKind::Open { .. });
        if !reuse_open {
            ev.kind = kind(etype, res, &hdr, &parts)?;
        } else if let EventKind::Open {
            path,
            resolved_path,
            flags,
            mode,
            dirfd,
            dev,
            ino,
        } = &mut ev.kind
        {
            set_lossy(path, parts.bytes(0));
            resolved_path.clear();
            if path.starts_with('/') {
                resolved_path.push_str(path);
            }
            let a = open_args(etype, res, &hdr);
            (*flags, *mode, *dirfd, *dev, *ino) = (a.flags, a.mode, a.dirfd, a.dev, a.ino);
        }
        ev.num = self.next_num();
        ev.ts_ns = self.ts_ns(&hdr);
        ev.cpu = hdr.u16(off::CPU);
        ev.etype = etype;
        ev.res = res;
        fill_task(&hdr, &mut ev.task);
        Ok(())
    }

    fn next_num(&mut self) -> u64 {
        let num = self.next_num;
        self.next_num += 1;
        num
    }

    fn ts_ns(&self, hdr: &RawHeader<'_>) -> u64 {
        let ts_ns = (hdr.u64(off::TS_BOOT_NS) as i64).saturating_add(self.boot_to_wall_offset_ns);
        ts_ns.max(0) as u64
    }
}

/// Checks the record's length and type and splits its variable parts.
fn split(raw: &[u8]) -> Result<(RawHeader<'_>, EventType, Parts<'_>), DecodeError> {
    let hdr = RawHeader::new(raw).ok_or(DecodeError::TooShort { len: raw.len() })?;
    let declared = hdr.u32(off::LEN) as usize;
    if declared != raw.len() {
        return Err(DecodeError::LengthMismatch {
            declared,
            actual: raw.len(),
        });
    }
    let id = hdr.u16(off::ETYPE);
    let etype = EventType::from_id(id).ok_or(DecodeError::UnknownType(id))?;
    let parts = Parts::split(&hdr, &raw[raw::HDR_SIZE..])?;
    Ok((hdr, etype, parts))
}

/// `dst` becomes the text of `b` (up to a NUL), invalid UTF-8 replaced,
/// keeping `dst`'s allocation.
fn set_lossy(dst: &mut String, b: &[u8]) {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    dst.clear();
    match std::str::from_utf8(&b[..end]) {
        Ok(text) => dst.push_str(text),
        Err(_) => dst.push_str(&String::from_utf8_lossy(&b[..end])),
    }
}

fn is_open(etype: EventType) -> bool {
    matches!(
        etype,
        EventType::Open | EventType::Openat | EventType::Openat2 | EventType::Creat
    )
}

/// The numeric arguments of an open-family record.
struct OpenArgs {
    flags: u32,
    mode: u32,
    dirfd: i64,
    dev: u32,
    ino: u64,
}

fn open_args(etype: EventType, res: i64, h: &RawHeader<'_>) -> OpenArgs {
    use EventType as T;
    let u32a = |i: usize| h.arg(i) as u32;
    let (flags, mode, dirfd) = match etype {
        T::Open => (u32a(1), u32a(2), AT_FDCWD),
        T::Openat => (u32a(2), u32a(3), sign_i32(h.arg(0))),
        T::Openat2 => (h.aux(2) as u32, h.aux(3) as u32, sign_i32(h.arg(0))),
        _ => (O_CREAT_WRONLY_TRUNC, u32a(1), AT_FDCWD),
    };
    let ok = res >= 0;
    OpenArgs {
        flags,
        mode,
        dirfd,
        dev: if ok { h.aux(0) as u32 } else { 0 },
        ino: if ok { h.aux(1) } else { 0 },
    }
}

fn fill_task(h: &RawHeader<'_>, t: &mut TaskContext) {
    t.tid = i64::from(h.i32(off::TID));
    t.pid = i64::from(h.i32(off::PID));
    t.ppid = i64::from(h.i32(off::PPID));
    t.vtid = i64::from(h.i32(off::VTID));
    t.vpid = i64::from(h.i32(off::VPID));
    t.uid = h.u32(off::UID);
    t.gid = h.u32(off::GID);
    t.loginuid = h.u32(off::LOGINUID);
    set_lossy(&mut t.comm, h.comm());
    t.cgroup_id = h.u64(off::CGROUP_ID);
    t.tty = h.u32(off::TTY);
    t.cap_effective = h.u64(off::CAP_EFFECTIVE);
    t.cap_permitted = h.u64(off::CAP_PERMITTED);
    t.cap_inheritable = h.u64(off::CAP_INHERITABLE);
    t.vsid = i64::from(h.i32(off::VSID));
    t.vpgid = i64::from(h.i32(off::VPGID));
    t.pidns_ino = h.u32(off::PIDNS_INO);
    t.mntns_ino = h.u32(off::MNTNS_INO);
}

fn kind(
    etype: EventType,
    res: i64,
    h: &RawHeader<'_>,
    p: &Parts<'_>,
) -> Result<EventKind, DecodeError> {
    use EventType as T;
    let a = |i: usize| h.arg(i);
    let ai = |i: usize| h.arg(i) as i64;
    let fd = |i: usize| sign_i32(h.arg(i));
    let u32a = |i: usize| h.arg(i) as u32;
    let path_kind = |path: String| (resolved(&path), path);
    Ok(match etype {
        T::Execve | T::Execveat => {
            let success = res == 0;
            EventKind::Exec {
                filename: p.string(0),
                argv: nul_list(p.bytes(1)),
                env: if success {
                    nul_list(p.bytes(2))
                } else {
                    Vec::new()
                },
                exe_path: if success { p.string(3) } else { String::new() },
                cwd: if success { p.string(4) } else { String::new() },
                exe_file: if success {
                    ExeFileInfo {
                        ino: h.aux(0),
                        mtime_ns: h.aux(1),
                        ctime_ns: h.aux(2),
                        upper_layer: h.aux(3) & raw::EXE_UPPER != 0,
                        from_memfd: h.aux(3) & raw::EXE_MEMFD != 0,
                    }
                } else {
                    ExeFileInfo::default()
                },
                flags: if etype == T::Execveat { u32a(4) } else { 0 },
                cgroup: if success { p.string(5) } else { String::new() },
            }
        }
        T::Clone => EventKind::Clone { flags: a(0) },
        T::Clone3 => EventKind::Clone { flags: h.aux(0) },
        T::Fork => EventKind::Clone { flags: SIGCHLD },
        T::Vfork => EventKind::Clone {
            flags: CLONE_VM | CLONE_VFORK | SIGCHLD,
        },
        T::Procexit => EventKind::Exit {
            status: a(0) as u32 as i32,
        },
        T::Open | T::Openat | T::Openat2 | T::Creat => {
            let (resolved_path, path) = path_kind(p.string(0));
            let a = open_args(etype, res, h);
            EventKind::Open {
                path,
                resolved_path,
                flags: a.flags,
                mode: a.mode,
                dirfd: a.dirfd,
                dev: a.dev,
                ino: a.ino,
            }
        }
        T::Close => EventKind::Close { fd: fd(0) },
        T::Unlink | T::Rmdir | T::Unlinkat => {
            let (resolved_path, path) = path_kind(p.string(0));
            let (dirfd, flags) = if etype == T::Unlinkat {
                (fd(0), u32a(2))
            } else {
                (AT_FDCWD, 0)
            };
            EventKind::Unlink {
                path,
                resolved_path,
                dirfd,
                flags,
            }
        }
        T::Rename | T::Renameat | T::Renameat2 => {
            let (resolved_oldpath, oldpath) = path_kind(p.string(0));
            let (resolved_newpath, newpath) = path_kind(p.string(1));
            EventKind::Rename {
                oldpath,
                newpath,
                resolved_oldpath,
                resolved_newpath,
                flags: if etype == T::Renameat2 { u32a(4) } else { 0 },
            }
        }
        T::Mkdir | T::Mkdirat => {
            let (resolved_path, path) = path_kind(p.string(0));
            EventKind::Mkdir {
                path,
                resolved_path,
                mode: if etype == T::Mkdir { u32a(1) } else { u32a(2) },
            }
        }
        T::Link | T::Linkat => {
            let (resolved_oldpath, oldpath) = path_kind(p.string(0));
            let (resolved_newpath, newpath) = path_kind(p.string(1));
            EventKind::Link {
                oldpath,
                newpath,
                resolved_oldpath,
                resolved_newpath,
                flags: if etype == T::Linkat { u32a(4) } else { 0 },
            }
        }
        T::Symlink | T::Symlinkat => {
            let (resolved_linkpath, linkpath) = path_kind(p.string(1));
            EventKind::Symlink {
                target: p.string(0),
                linkpath,
                resolved_linkpath,
            }
        }
        T::Chmod | T::Fchmodat => {
            let (resolved_path, path) = path_kind(p.string(0));
            EventKind::Chmod {
                path,
                resolved_path,
                fd: if etype == T::Fchmodat { fd(0) } else { -1 },
                mode: if etype == T::Chmod { u32a(1) } else { u32a(2) },
            }
        }
        T::Fchmod => EventKind::Chmod {
            path: String::new(),
            resolved_path: String::new(),
            fd: fd(0),
            mode: u32a(1),
        },
        T::Dup => EventKind::Dup {
            oldfd: fd(0),
            newfd: res,
            flags: 0,
        },
        T::Dup2 | T::Dup3 => EventKind::Dup {
            oldfd: fd(0),
            newfd: fd(1),
            flags: if etype == T::Dup3 { u32a(2) } else { 0 },
        },
        T::Socket => EventKind::Socket {
            domain: u32a(0),
            sock_type: u32a(1),
            proto: u32a(2),
        },
        T::Connect => {
            let addr = sockaddr(p.bytes(0)).unwrap_or(SockAddr::Other { family: 0 });
            let mut tuple = tuple(etype, p.bytes(1))?;
            if let Some(t) = tuple.as_mut() {
                // Unix sockets have no addresses in the kernel tuple; a failed
                // inet connect has no remote end yet: both come from the call.
                let remote_unset =
                    matches!(&t.remote, SockAddr::Inet { ip, port: 0 } if ip.is_unspecified());
                if t.l4 == L4Proto::Unix || remote_unset {
                    t.remote = addr.clone();
                }
            }
            EventKind::Connect {
                fd: fd(0),
                addr,
                tuple,
            }
        }
        T::Accept | T::Accept4 => EventKind::Accept {
            tuple: tuple(etype, p.bytes(1))?,
            flags: if etype == T::Accept4 { u32a(3) } else { 0 },
        },
        T::Bind => EventKind::Bind {
            fd: fd(0),
            addr: sockaddr(p.bytes(0)).unwrap_or(SockAddr::Other { family: 0 }),
        },
        T::Listen => EventKind::Listen {
            fd: fd(0),
            backlog: a(1) as u32 as i32,
        },
        T::Sendto | T::Recvfrom | T::Sendmsg | T::Recvmsg => EventKind::Io {
            fd: fd(0),
            addr: sockaddr(p.bytes(0)),
            tuple: tuple(etype, p.bytes(1))?,
            data: p.bytes(2).to_vec(),
        },
        T::Setuid | T::Setgid => EventKind::SetId {
            real: u32a(0),
            effective: u32a(0),
            saved: u32a(0),
        },
        T::Setreuid | T::Setregid => EventKind::SetId {
            real: u32a(0),
            effective: u32a(1),
            saved: u32::MAX,
        },
        T::Setresuid | T::Setresgid => EventKind::SetId {
            real: u32a(0),
            effective: u32a(1),
            saved: u32a(2),
        },
        T::Ptrace => EventKind::Ptrace {
            request: ai(0),
            pid: sign_i32(a(1)),
        },
        T::Mount => EventKind::Mount {
            source: p.string(0),
            target: p.string(1),
            fstype: p.string(2),
            flags: a(3),
        },
        T::Umount2 => EventKind::Umount {
            target: p.string(0),
            flags: u32a(1),
        },
        T::Unshare => EventKind::Namespace {
            flags: a(0),
            fd: -1,
        },
        T::Setns => EventKind::Namespace {
            flags: a(1),
            fd: fd(0),
        },
        T::Bpf => EventKind::Bpf {
            cmd: sign_i32(a(0)),
        },
        T::InitModule => EventKind::ModuleLoad {
            fd: -1,
            params: p.string(0),
        },
        T::FinitModule => EventKind::ModuleLoad {
            fd: fd(0),
            params: p.string(0),
        },
        T::MemfdCreate => EventKind::MemfdCreate {
            name: p.string(0),
            flags: u32a(1),
        },
        T::Userfaultfd => EventKind::Userfaultfd { flags: u32a(0) },
        T::Prctl => EventKind::Prctl {
            option: sign_i32(a(0)),
            arg2: a(1),
        },
        T::Chdir => {
            let (resolved_path, path) = path_kind(p.string(0));
            EventKind::Chdir {
                path,
                resolved_path,
                fd: -1,
            }
        }
        T::Fchdir => EventKind::Chdir {
            path: String::new(),
            resolved_path: String::new(),
            fd: fd(0),
        },
        T::Pipe | T::Pipe2 => EventKind::Pipe {
            fds: [h.aux(0) as i64, h.aux(1) as i64],
            flags: if etype == T::Pipe2 { u32a(1) } else { 0 },
        },
        T::Fcntl => EventKind::Fcntl {
            fd: fd(0),
            cmd: sign_i32(a(1)),
        },
    })
}

/// Builds raw records the way the kernel does; for tests and benchmarks.
pub mod testing {
    use super::raw::{self, off};

    /// A raw record under construction.
    #[derive(Debug, Clone, Default)]
    pub struct RawBuilder {
        hdr: Vec<u8>,
        var: Vec<u8>,
        nvar: usize,
    }

    impl RawBuilder {
        /// A record of type `etype_id` with return value `res`.
        pub fn new(etype_id: u16, res: i64) -> Self {
            let mut b = RawBuilder {
                hdr: vec![0; raw::HDR_SIZE],
                var: Vec::new(),
                nvar: 0,
            };
            b.put(off::ETYPE, &etype_id.to_le_bytes());
            b.put(off::RES, &res.to_le_bytes());
            b
        }
        fn put(&mut self, at: usize, bytes: &[u8]) {
            self.hdr[at..at + bytes.len()].copy_from_slice(bytes);
        }
        /// Sets a header field at byte offset `at` (see `raw::off`).
        pub fn field(mut self, at: usize, bytes: &[u8]) -> Self {
            self.put(at, bytes);
            self
        }
        pub fn arg(self, i: usize, v: u64) -> Self {
            self.field(off::ARGS + 8 * i, &v.to_le_bytes())
        }
        pub fn aux(self, i: usize, v: u64) -> Self {
            self.field(off::AUX + 8 * i, &v.to_le_bytes())
        }
        /// Appends the next variable part.
        pub fn var(mut self, bytes: &[u8]) -> Self {
            let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
            let at = off::VAR_LEN + 2 * self.nvar;
            self.put(at, &len.to_le_bytes());
            self.var.extend_from_slice(&bytes[..usize::from(len)]);
            self.nvar += 1;
            self
        }
        /// The finished record bytes.
        pub fn build(mut self) -> Vec<u8> {
            let len = (raw::HDR_SIZE + self.var.len()) as u32;
            self.put(off::LEN, &len.to_le_bytes());
            let mut out = self.hdr;
            out.extend_from_slice(&self.var);
            out
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::testing::RawBuilder;
    use super::*;
    use proptest::prelude::*;

    fn decode(raw: &[u8]) -> Event {
        Decoder::new(1_000).decode(raw).unwrap()
    }

    #[test]
    fn decodes_openat_with_context() {
        let raw = RawBuilder::new(EventType::Openat.id(), 3)
            .field(off::TS_BOOT_NS, &5u64.to_le_bytes())
            .field(off::TID, &42i32.to_le_bytes())
            .field(off::PID, &41i32.to_le_bytes())
            .field(off::UID, &1000u32.to_le_bytes())
            .field(off::COMM, b"cat\0")
            .arg(0, (-100i64) as u64)
            .arg(2, 0o1101)
            .arg(3, 0o644)
            .aux(0, 0x800001)
            .aux(1, 77)
            .var(b"/etc/shadow")
            .build();
        let ev = decode(&raw);
        assert_eq!(ev.etype, EventType::Openat);
        assert_eq!(ev.ts_ns, 1_005);
        assert_eq!(ev.res, 3);
        assert_eq!(ev.task.tid, 42);
        assert_eq!(ev.task.pid, 41);
        assert_eq!(ev.task.uid, 1000);
        assert_eq!(ev.task.comm, "cat");
        assert_eq!(
            ev.kind,
            EventKind::Open {
                path: "/etc/shadow".into(),
                resolved_path: "/etc/shadow".into(),
                flags: 0o1101,
                mode: 0o644,
                dirfd: -100,
                dev: 0x800001,
                ino: 77,
            }
        );
    }

    #[test]
    fn relative_paths_are_left_unresolved() {
        let raw = RawBuilder::new(EventType::Open.id(), -2)
            .var(b"rel/file")
            .build();
        match decode(&raw).kind {
            EventKind::Open {
                path,
                resolved_path,
                dev,
                ino,
                ..
            } => {
                assert_eq!(path, "rel/file");
                assert_eq!(resolved_path, "");
                assert_eq!((dev, ino), (0, 0), "failed opens carry no inode");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn decodes_exec_parts_and_argv() {
        let raw = RawBuilder::new(EventType::Execve.id(), 0)
            .aux(0, 9)
            .aux(3, raw::EXE_MEMFD)
            .var(b"/bin/true")
            .var(b"true\0--a\0b c\0")
            .var(b"")
            .var(b"/usr/bin/true")
            .var(b"/tmp")
            .var(b"/process_api/abc")
            .build();
        match decode(&raw).kind {
            EventKind::Exec {
                filename,
                argv,
                exe_path,
                cwd,
                cgroup,
                exe_file,
                ..
            } => {
                assert_eq!(filename, "/bin/true");
                assert_eq!(argv, vec!["true", "--a", "b c"]);
                assert_eq!(exe_path, "/usr/bin/true");
                assert_eq!(cwd, "/tmp");
                assert_eq!(cgroup, "/process_api/abc");
                assert_eq!(exe_file.ino, 9);
                assert!(exe_file.from_memfd);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn decodes_connect_sockaddr_and_tuple() {
        let mut sa = vec![2u8, 0, 0x1f, 0x90, 127, 0, 0, 1];
        sa.extend_from_slice(&[0; 8]);
        let mut t = vec![0u8; raw::TUPLE_SIZE];
        t[0..2].copy_from_slice(&2u16.to_le_bytes());
        t[2..4].copy_from_slice(&5555u16.to_le_bytes());
        t[4..6].copy_from_slice(&8080u16.to_le_bytes());
        t[6..8].copy_from_slice(&6u16.to_le_bytes());
        t[8..10].copy_from_slice(&1u16.to_le_bytes());
        t[16..20].copy_from_slice(&[127, 0, 0, 1]);
        t[32..36].copy_from_slice(&[127, 0, 0, 1]);
        let raw = RawBuilder::new(EventType::Connect.id(), 0)
            .arg(0, 4)
            .var(&sa)
            .var(&t)
            .build();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        match decode(&raw).kind {
            EventKind::Connect { fd, addr, tuple } => {
                assert_eq!(fd, 4);
                assert_eq!(addr, SockAddr::Inet { ip: lo, port: 8080 });
                let t = tuple.unwrap();
                assert_eq!(t.l4, L4Proto::Tcp);
                assert_eq!(t.local, SockAddr::Inet { ip: lo, port: 5555 });
                assert_eq!(t.remote, SockAddr::Inet { ip: lo, port: 8080 });
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn abstract_unix_addresses_get_an_at_sign() {
        let raw = RawBuilder::new(EventType::Bind.id(), 0)
            .var(b"\x01\x00\x00name")
            .build();
        match decode(&raw).kind {
            EventKind::Bind { addr, .. } => assert_eq!(
                addr,
                SockAddr::Unix {
                    path: "@name".into()
                }
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_records_are_errors() {
        let mut d = Decoder::new(0);
        assert_eq!(d.decode(&[1, 2, 3]), Err(DecodeError::TooShort { len: 3 }));
        let mut raw = RawBuilder::new(EventType::Close.id(), 0).build();
        raw.push(0);
        assert!(matches!(
            d.decode(&raw),
            Err(DecodeError::LengthMismatch { .. })
        ));
        let raw = RawBuilder::new(999, 0).build();
        assert_eq!(d.decode(&raw), Err(DecodeError::UnknownType(999)));
        let mut raw = RawBuilder::new(EventType::Open.id(), 0).var(b"/x").build();
        raw.truncate(raw.len() - 1);
        let len = raw.len() as u32;
        raw[off::LEN..off::LEN + 4].copy_from_slice(&len.to_le_bytes());
        assert!(matches!(
            d.decode(&raw),
            Err(DecodeError::VarOverflow { .. })
        ));
        let raw = RawBuilder::new(EventType::Accept.id(), 3)
            .var(b"")
            .var(b"short")
            .build();
        assert!(matches!(d.decode(&raw), Err(DecodeError::BadTuple { .. })));
    }

    #[test]
    fn event_numbers_advance_per_decoded_event() {
        let mut d = Decoder::new(0);
        let raw = RawBuilder::new(EventType::Close.id(), 0).build();
        assert_eq!(d.decode(&raw).unwrap().num, 1);
        assert!(d.decode(&[0]).is_err());
        assert_eq!(d.decode(&raw).unwrap().num, 2);
    }

    #[test]
    fn decode_into_a_reused_event_equals_decode() {
        let open = |tid: i32, comm: &[u8], path: &[u8], res: i64| {
            RawBuilder::new(EventType::Openat.id(), res)
                .field(off::TID, &tid.to_le_bytes())
                .field(off::COMM, comm)
                .arg(0, (-100i64) as u64)
                .arg(2, 0o1101)
                .aux(0, 9)
                .aux(1, 77)
                .var(path)
                .build()
        };
        let records = [
            open(1, b"cat\0", b"/etc/shadow", 3),
            open(2, b"longer-name-xy\0", b"relative/p", 4),
            RawBuilder::new(EventType::Close.id(), 0).arg(0, 3).build(),
            open(3, b"a\0", b"/x\xff\xfey\0junk", -2),
            open(4, b"sh\0", b"", 5),
            RawBuilder::new(EventType::Execve.id(), 0)
                .field(off::COMM, b"ls\0")
                .var(b"/bin/ls")
                .var(b"ls\0-l\0")
                .build(),
            open(5, b"\0", b"/tmp/a", 6),
            vec![1, 2, 3],
        ];
        let (mut fresh, mut reusing) = (Decoder::new(7), Decoder::new(7));
        let mut ev = decode(&records[0]);
        for raw in &records {
            let want = fresh.decode(raw);
            let got = reusing.decode_into(raw, &mut ev);
            match want {
                Ok(want) => {
                    assert!(got.is_ok());
                    assert_eq!(ev, want);
                }
                Err(e) => assert_eq!(got, Err(e)),
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Decoder::new(0).decode(&bytes);
        }

        #[test]
        fn arbitrary_headers_with_consistent_length_never_panic(
            etype in 0u16..80,
            body in proptest::collection::vec(any::<u8>(), raw::HDR_SIZE..900),
        ) {
            let mut raw = body;
            let len = raw.len() as u32;
            raw[off::LEN..off::LEN + 4].copy_from_slice(&len.to_le_bytes());
            raw[off::ETYPE..off::ETYPE + 2].copy_from_slice(&etype.to_le_bytes());
            for i in 0..raw::NVAR {
                raw[off::VAR_LEN + 2 * i] %= 64;
                raw[off::VAR_LEN + 2 * i + 1] = 0;
            }
            let _ = Decoder::new(i64::MAX).decode(&raw);
        }
    }
}
