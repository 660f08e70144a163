//! `fd.*` (the file descriptor an event uses) and `fs.path.*` (the paths
//! of filesystem syscalls).
//!
//! The event payload is authoritative (it carries the resolved path of an
//! open, the tuple of a connect); the state's fd table fills in for events
//! that only name an fd number (close, dup, sendto, fchmod...).

use super::registry::Key;
use super::{Cx, FieldArg, Value, str_value};
use crate::event::{EventKind, SockAddr, SockTuple};
use crate::state::{FdInfo, FdKind};
use std::borrow::Cow;
use std::fmt::Write;
use std::net::IpAddr;

/// Falco's `fd.type` text; an fd of unknown kind has no type (Falco
/// prints `<NA>`), which conditions must see as missing, not as text.
pub(crate) fn kind_name(kind: FdKind) -> Option<&'static str> {
    Some(match kind {
        FdKind::File => "file",
        FdKind::Directory => "directory",
        FdKind::Ipv4Socket => "ipv4",
        FdKind::Ipv6Socket => "ipv6",
        FdKind::UnixSocket => "unix",
        FdKind::NetlinkSocket => "netlink",
        FdKind::Pipe => "pipe",
        FdKind::Event => "event",
        FdKind::Signalfd => "signalfd",
        FdKind::Eventpoll => "eventpoll",
        FdKind::Inotify => "inotify",
        FdKind::Timerfd => "timerfd",
        FdKind::Bpf => "bpf",
        FdKind::Userfaultfd => "userfaultfd",
        FdKind::Memfd => "memfd",
        FdKind::Unknown => return None,
    })
}

/// Falco's `fd.typechar` letter.
pub(crate) fn kind_char(kind: FdKind) -> &'static str {
    match kind {
        FdKind::File => "f",
        FdKind::Directory => "d",
        FdKind::Ipv4Socket => "4",
        FdKind::Ipv6Socket => "6",
        FdKind::UnixSocket | FdKind::Userfaultfd => "u",
        FdKind::NetlinkSocket => "n",
        FdKind::Pipe => "p",
        FdKind::Event => "e",
        FdKind::Signalfd => "s",
        FdKind::Eventpoll => "l",
        FdKind::Inotify => "i",
        FdKind::Timerfd => "t",
        FdKind::Bpf => "b",
        FdKind::Memfd => "m",
        FdKind::Unknown => "o",
    }
}

/// Which end of a connection this process holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

/// The fd an event uses: its number (when the event names or creates one)
/// and the state's record of it.
pub(crate) struct EvFd<'a> {
    pub num: Option<i64>,
    pub info: Option<&'a FdInfo>,
}

/// The fd number an event uses or creates.
pub(crate) fn event_fd_num(cx: &Cx<'_>) -> Option<i64> {
    let ev = cx.ev;
    let created = || (ev.res >= 0).then_some(ev.res);
    let named = |fd: i64| (fd >= 0).then_some(fd);
    match &ev.kind {
        EventKind::Open { .. }
        | EventKind::Accept { .. }
        | EventKind::Socket { .. }
        | EventKind::MemfdCreate { .. }
        | EventKind::Userfaultfd { .. } => created(),
        EventKind::Close { fd }
        | EventKind::Connect { fd, .. }
        | EventKind::Bind { fd, .. }
        | EventKind::Listen { fd, .. }
        | EventKind::Io { fd, .. }
        | EventKind::Fcntl { fd, .. } => named(*fd),
        EventKind::Dup { oldfd, .. } => named(*oldfd),
        EventKind::Chmod { path, fd, .. } if path.is_empty() => named(*fd),
        EventKind::Chdir { path, fd, .. } if path.is_empty() => named(*fd),
        EventKind::ModuleLoad { fd, .. } if ev.etype == crate::event::EventType::FinitModule => {
            named(*fd)
        }
        EventKind::Namespace { fd, .. } if ev.etype == crate::event::EventType::Setns => named(*fd),
        EventKind::Pipe { fds, .. } if ev.res >= 0 => Some(fds[0]),
        _ => None,
    }
}

pub(crate) fn event_fd<'a>(cx: &Cx<'a>) -> EvFd<'a> {
    let num = event_fd_num(cx);
    let info = num.and_then(|n| cx.st.fd(cx.ev.task.pid, n));
    EvFd { num, info }
}

fn socket_kind(domain: u32) -> FdKind {
    match domain as i32 {
        libc::AF_INET => FdKind::Ipv4Socket,
        libc::AF_INET6 => FdKind::Ipv6Socket,
        libc::AF_UNIX => FdKind::UnixSocket,
        libc::AF_NETLINK => FdKind::NetlinkSocket,
        _ => FdKind::Unknown,
    }
}

fn addr_kind(a: &SockAddr) -> FdKind {
    match a {
        SockAddr::Inet {
            ip: IpAddr::V4(_), ..
        } => FdKind::Ipv4Socket,
        SockAddr::Inet {
            ip: IpAddr::V6(_), ..
        } => FdKind::Ipv6Socket,
        SockAddr::Unix { .. } => FdKind::UnixSocket,
        SockAddr::Other { .. } => FdKind::Unknown,
    }
}

/// The fd's kind: from the payload for fd-creating events, else the state.
pub(crate) fn fd_kind(cx: &Cx<'_>, f: &EvFd<'_>) -> Option<FdKind> {
    let ev = cx.ev;
    let from_event = match &ev.kind {
        EventKind::Open { flags, .. } if ev.res >= 0 => {
            Some(if flags & libc::O_DIRECTORY as u32 != 0 {
                FdKind::Directory
            } else {
                FdKind::File
            })
        }
        EventKind::Socket { domain, .. } if ev.res >= 0 => Some(socket_kind(*domain)),
        EventKind::Accept { tuple: Some(t), .. } if ev.res >= 0 => Some(addr_kind(&t.local)),
        EventKind::Connect { addr, .. } if f.info.is_none() => Some(addr_kind(addr)),
        EventKind::MemfdCreate { .. } if ev.res >= 0 => Some(FdKind::Memfd),
        EventKind::Userfaultfd { .. } if ev.res >= 0 => Some(FdKind::Userfaultfd),
        EventKind::Pipe { .. } if ev.res >= 0 => Some(FdKind::Pipe),
        _ => None,
    };
    from_event.or(f.info.map(|i| i.kind))
}

/// The socket tuple of the event: the payload's, else the state's.
fn tuple<'a>(cx: &Cx<'a>, f: &EvFd<'a>) -> Option<&'a SockTuple> {
    let from_event = match &cx.ev.kind {
        EventKind::Connect { tuple, .. }
        | EventKind::Accept { tuple, .. }
        | EventKind::Io { tuple, .. } => tuple.as_ref(),
        _ => None,
    };
    from_event.or(f.info.and_then(|i| i.tuple.as_ref()))
}

/// Whether this process is the client or the server of the tuple: connect
/// makes a client, accept a server; otherwise the side with the lower port
/// is taken as the server (the state does not record who accepted).
fn role(cx: &Cx<'_>, t: &SockTuple) -> Role {
    match &cx.ev.kind {
        EventKind::Connect { .. } => Role::Client,
        EventKind::Accept { .. } => Role::Server,
        _ => match (&t.local, &t.remote) {
            (SockAddr::Inet { port: lp, .. }, SockAddr::Inet { port: rp, .. }) if lp < rp => {
                Role::Server
            }
            _ => Role::Client,
        },
    }
}

fn inet(a: &SockAddr) -> Option<(IpAddr, u16)> {
    match a {
        SockAddr::Inet { ip, port } => Some((*ip, *port)),
        _ => None,
    }
}

/// (client, server) ends of an IP tuple.
fn ends(cx: &Cx<'_>, t: &SockTuple) -> Option<((IpAddr, u16), (IpAddr, u16))> {
    let l = inet(&t.local)?;
    let r = inet(&t.remote)?;
    Some(match role(cx, t) {
        Role::Client => (l, r),
        Role::Server => (r, l),
    })
}

/// The watched name `ip` resolved to (`fd.sip.name`...), or every one
/// when several names share the address (a comparison holds for any);
/// missing when none does.
fn ip_name<'a>(cx: &Cx<'a>, ip: IpAddr) -> Option<Value<'a>> {
    match cx.st.ip_names(ip) {
        [] => None,
        [one] => Some(str_value(one)),
        many => Some(Value::List(many.iter().map(|n| str_value(n)).collect())),
    }
}

/// Falco's socket `fd.name`: `cip:cport->sip:sport` for IP, the path for unix.
fn tuple_name(cx: &Cx<'_>, t: &SockTuple) -> Option<String> {
    if let Some(((cip, cport), (sip, sport))) = ends(cx, t) {
        let mut s = String::with_capacity(48);
        let _ = write!(s, "{cip}:{cport}->{sip}:{sport}");
        return Some(s);
    }
    match (&t.remote, &t.local) {
        (SockAddr::Unix { path }, _) if !path.is_empty() => Some(path.clone()),
        (_, SockAddr::Unix { path }) => Some(path.clone()),
        _ => None,
    }
}

/// The fd's name: resolved path for opens (even failed ones, as Falco
/// does), tuple text for connect/accept, the state's name otherwise.
pub(crate) fn fd_name<'a>(cx: &Cx<'a>, f: &EvFd<'a>) -> Option<Cow<'a, str>> {
    let ev = cx.ev;
    match &ev.kind {
        EventKind::Open {
            path,
            resolved_path,
            ..
        } => return abs_path(resolved_path, path, cx),
        EventKind::Connect { tuple, addr, .. } => {
            if let Some(n) = tuple.as_ref().and_then(|t| tuple_name(cx, t)) {
                return Some(Cow::Owned(n));
            }
            if let SockAddr::Unix { path } = addr {
                return Some(Cow::Borrowed(path.as_str()));
            }
        }
        EventKind::Accept { tuple: Some(t), .. } => {
            if let Some(n) = tuple_name(cx, t) {
                return Some(Cow::Owned(n));
            }
        }
        EventKind::MemfdCreate { name, .. } if f.info.is_none() && ev.res >= 0 => {
            return Some(Cow::Owned(format!("memfd:{name}")));
        }
        _ => {}
    }
    let info = f.info?;
    if info.name.is_empty()
        && let Some(n) = info.tuple.as_ref().and_then(|t| tuple_name(cx, t))
    {
        return Some(Cow::Owned(n));
    }
    Some(Cow::Borrowed(info.name.as_str()))
}

/// An absolute path: the kernel-resolved one, else the raw one made
/// absolute against the thread's cwd.
pub(crate) fn abs_path<'a>(resolved: &'a str, raw: &'a str, cx: &Cx<'a>) -> Option<Cow<'a, str>> {
    if !resolved.is_empty() {
        return Some(Cow::Borrowed(resolved));
    }
    if raw.is_empty() {
        return None;
    }
    if raw.starts_with('/') {
        return Some(Cow::Borrowed(raw));
    }
    let cwd = cx.cwd().unwrap_or("/");
    let mut s = String::with_capacity(cwd.len() + raw.len() + 1);
    s.push_str(cwd);
    if !cwd.ends_with('/') {
        s.push('/');
    }
    s.push_str(raw.strip_prefix("./").unwrap_or(raw));
    Some(Cow::Owned(s))
}

fn dirname(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => path,
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn sub<'a>(c: &Cow<'a, str>, f: impl Fn(&str) -> &str) -> Cow<'a, str> {
    match c {
        Cow::Borrowed(s) => Cow::Borrowed(f(s)),
        Cow::Owned(s) => Cow::Owned(f(s).to_string()),
    }
}

fn is_file_like(kind: Option<FdKind>, cx: &Cx<'_>) -> bool {
    match kind {
        Some(k) => matches!(k, FdKind::File | FdKind::Directory),
        // A failed open has no fd but Falco still reports its path.
        None => matches!(cx.ev.kind, EventKind::Open { .. }),
    }
}

fn ip_list<'a>(a: IpAddr, b: IpAddr) -> Value<'a> {
    Value::List(vec![Value::Ip(a), Value::Ip(b)])
}

pub(super) fn extract<'a>(key: Key, arg: Option<&FieldArg>, cx: &Cx<'a>) -> Option<Value<'a>> {
    if let Some(v) = fs_path(key, cx) {
        return v;
    }
    let ev = cx.ev;
    let f = event_fd(cx);
    let v = match key {
        // A failed open has no fd; Falco reports -1.
        Key::FdNum => match (&ev.kind, f.num) {
            (EventKind::Open { .. }, None) => Value::Int(-1),
            (_, n) => Value::Int(n?),
        },
        Key::FdType => str_value(kind_name(fd_kind(cx, &f)?)?),
        Key::FdTypechar => match (fd_kind(cx, &f), &ev.kind) {
            (Some(k), _) => str_value(kind_char(k)),
            // Falco derives the letter from the event type when the fd is unknown.
            (None, EventKind::Open { .. }) => str_value("f"),
            (None, _) => return None,
        },
        Key::FdName => Value::Str(fd_name(cx, &f)?),
        Key::FdDirectory => {
            let kind = fd_kind(cx, &f);
            if !is_file_like(kind, cx) {
                return None;
            }
            let name = fd_name(cx, &f)?;
            if kind == Some(FdKind::Directory) {
                Value::Str(name)
            } else {
                Value::Str(sub(&name, dirname))
            }
        }
        Key::FdFilename => {
            if fd_kind(cx, &f) != Some(FdKind::File) {
                return None;
            }
            Value::Str(sub(&fd_name(cx, &f)?, basename))
        }
        Key::FdNameraw => match &ev.kind {
            EventKind::Open { path, .. } => str_value(path),
            _ => Value::Str(fd_name(cx, &f)?),
        },
        Key::FdIp | Key::FdNet => {
            let ((c, _), (s, _)) = ends(cx, tuple(cx, &f)?)?;
            ip_list(c, s)
        }
        Key::FdCip | Key::FdCnet => Value::Ip(ends(cx, tuple(cx, &f)?)?.0.0),
        Key::FdSip | Key::FdSnet => Value::Ip(ends(cx, tuple(cx, &f)?)?.1.0),
        Key::FdLip | Key::FdLnet => Value::Ip(inet(&tuple(cx, &f)?.local)?.0),
        Key::FdRip | Key::FdRnet => Value::Ip(inet(&tuple(cx, &f)?.remote)?.0),
        Key::FdPort => {
            let ((_, c), (_, s)) = ends(cx, tuple(cx, &f)?)?;
            Value::List(vec![Value::UInt(c.into()), Value::UInt(s.into())])
        }
        Key::FdCport => Value::UInt(ends(cx, tuple(cx, &f)?)?.0.1.into()),
        Key::FdSport => Value::UInt(ends(cx, tuple(cx, &f)?)?.1.1.into()),
        Key::FdLport => Value::UInt(inet(&tuple(cx, &f)?.local)?.1.into()),
        Key::FdRport => Value::UInt(inet(&tuple(cx, &f)?.remote)?.1.into()),
        Key::FdL4proto => {
            let kind = fd_kind(cx, &f)?;
            if !matches!(kind, FdKind::Ipv4Socket | FdKind::Ipv6Socket) {
                return None;
            }
            let name = match (tuple(cx, &f), &ev.kind) {
                (Some(t), _) => t.l4.name(),
                (None, EventKind::Socket { sock_type, .. }) => match (*sock_type as i32) & 0xf {
                    libc::SOCK_STREAM => "tcp",
                    libc::SOCK_DGRAM => "udp",
                    libc::SOCK_RAW => "raw",
                    _ => return None,
                },
                _ => return None,
            };
            if name == "<NA>" {
                return None;
            }
            str_value(name)
        }
        Key::FdSockfamily => match fd_kind(cx, &f)? {
            FdKind::Ipv4Socket | FdKind::Ipv6Socket => str_value("ip"),
            FdKind::UnixSocket => str_value("unix"),
            _ => return None,
        },
        Key::FdIsServer => Value::Bool(role(cx, tuple(cx, &f)?) == Role::Server),
        Key::FdUid => Value::Str(Cow::Owned(format!("{}{}", f.num?, ev.task.tid))),
        Key::FdContainername => {
            let cid = cx.container_id()?;
            Value::Str(Cow::Owned(format!("{cid}:{}", fd_name(cx, &f)?)))
        }
        Key::FdContainerdirectory => {
            let cid = cx.container_id()?;
            let name = fd_name(cx, &f)?;
            let dir = if fd_kind(cx, &f) == Some(FdKind::Directory) {
                &name
            } else {
                dirname(&name)
            };
            Value::Str(Cow::Owned(format!("{cid}:{dir}")))
        }
        Key::FdConnected => Value::Bool(match &ev.kind {
            EventKind::Connect { .. } | EventKind::Accept { .. } => {
                ev.res >= 0 || ev.res == -i64::from(libc::EINPROGRESS)
            }
            _ => f.info?.connected,
        }),
        Key::FdNameChanged => Value::Bool(match &ev.kind {
            EventKind::Connect { .. } => ev.res >= 0 || ev.res == -i64::from(libc::EINPROGRESS),
            EventKind::Bind { .. } => ev.res >= 0,
            EventKind::Io { addr: Some(_), .. } => true,
            _ => false,
        }),
        Key::FdCipName => ip_name(cx, ends(cx, tuple(cx, &f)?)?.0.0)?,
        Key::FdSipName => ip_name(cx, ends(cx, tuple(cx, &f)?)?.1.0)?,
        Key::FdLipName => ip_name(cx, inet(&tuple(cx, &f)?.local)?.0)?,
        Key::FdRipName => ip_name(cx, inet(&tuple(cx, &f)?.remote)?.0)?,
        Key::FdDev | Key::FdDevMajor | Key::FdDevMinor => {
            let dev = match &ev.kind {
                EventKind::Open { dev, .. } if ev.res >= 0 => *dev,
                _ => f.info?.dev,
            };
            Value::UInt(u64::from(match key {
                Key::FdDevMajor => dev >> 20,
                Key::FdDevMinor => dev & 0xfffff,
                _ => dev,
            }))
        }
        Key::FdIno => {
            let ino = match &ev.kind {
                EventKind::Open { ino, .. } if ev.res >= 0 => *ino,
                _ => f.info?.ino,
            };
            Value::Int(i64::try_from(ino).ok()?)
        }
        Key::FdTypes => match arg {
            // fd.types[N]: the type of the process's fd number N.
            Some(FieldArg::Index(n)) => {
                let n = i64::try_from(*n).ok()?;
                str_value(kind_name(cx.st.fd(ev.task.pid, n)?.kind)?)
            }
            // fd.types: the distinct types of every open fd of the process.
            _ => {
                let mut kinds: Vec<&'static str> = Vec::new();
                for (_, info) in cx.st.fds(ev.task.pid) {
                    let Some(k) = kind_name(info.kind) else {
                        continue;
                    };
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                if kinds.is_empty() {
                    return None;
                }
                Value::List(kinds.into_iter().map(str_value).collect())
            }
        },
        _ => return None,
    };
    Some(v)
}

/// `fs.path.*`: `Some(value)` when `key` is one of them.
fn fs_path<'a>(key: Key, cx: &Cx<'a>) -> Option<Option<Value<'a>>> {
    let ev = cx.ev;
    let single = |resolved: &'a str, raw: &'a str| -> Option<Value<'a>> {
        match key {
            Key::FsPathName => abs_path(resolved, raw, cx).map(Value::Str),
            Key::FsPathNameraw => (!raw.is_empty()).then(|| str_value(raw)),
            _ => None,
        }
    };
    let pair = |rs: &'a str, s: &'a str, rt: &'a str, t: &'a str| -> Option<Value<'a>> {
        match key {
            Key::FsPathSource => abs_path(rs, s, cx).map(Value::Str),
            Key::FsPathSourceraw => (!s.is_empty()).then(|| str_value(s)),
            Key::FsPathTarget => abs_path(rt, t, cx).map(Value::Str),
            Key::FsPathTargetraw => (!t.is_empty()).then(|| str_value(t)),
            _ => None,
        }
    };
    if !matches!(
        key,
        Key::FsPathName
            | Key::FsPathNameraw
            | Key::FsPathSource
            | Key::FsPathSourceraw
            | Key::FsPathTarget
            | Key::FsPathTargetraw
    ) {
        return None;
    }
    Some(match &ev.kind {
        EventKind::Open {
            path,
            resolved_path,
            ..
        }
        | EventKind::Unlink {
            path,
            resolved_path,
            ..
        }
        | EventKind::Mkdir {
            path,
            resolved_path,
            ..
        } => single(resolved_path, path),
        EventKind::Chmod {
            path,
            resolved_path,
            ..
        } if !path.is_empty() || !resolved_path.is_empty() => single(resolved_path, path),
        EventKind::Rename {
            oldpath,
            newpath,
            resolved_oldpath,
            resolved_newpath,
            ..
        }
        | EventKind::Link {
            oldpath,
            newpath,
            resolved_oldpath,
            resolved_newpath,
            ..
        } => pair(resolved_oldpath, oldpath, resolved_newpath, newpath),
        EventKind::Symlink {
            target,
            linkpath,
            resolved_linkpath,
        } => pair("", target, resolved_linkpath, linkpath),
        _ => None,
    })
}

/// Renders an fd argument the way Falco does in `evt.arg.fd`: `<typechar>name`
/// when the fd is known, the number otherwise.
pub(crate) fn render_fd_arg(cx: &Cx<'_>, fd: i64, out: &mut String) {
    let info = if fd >= 0 {
        cx.st.fd(cx.ev.task.pid, fd)
    } else {
        None
    };
    match info {
        Some(i) => {
            out.push('<');
            out.push_str(kind_char(i.kind));
            out.push('>');
            out.push_str(&i.name);
        }
        None if fd == i64::from(libc::AT_FDCWD) => out.push_str("AT_FDCWD"),
        None => {
            let _ = write!(out, "{fd}");
        }
    }
}
