//! `evt.*`: the event itself, its result and its arguments (`evt.arg.*`),
//! with Falco's parameter names per event type and Falco's renderings of
//! flags, modes, fds, uids and well-known codes.

use super::flags::{self, NameTable};
use super::registry::Key;
use super::{Cx, FieldArg, Value, fd, str_value};
use crate::event::{EventKind, EventType, SockAddr, SockTuple};
use std::borrow::Cow;
use std::fmt::Write;
use std::sync::OnceLock;

/// One syscall argument, typed so it can be rendered raw or resolved.
#[derive(Clone, Copy)]
pub(crate) enum Param<'a> {
    /// The return value as an errno-style result.
    Res(i64),
    /// A file descriptor (rendered `<typechar>name` when known).
    Fd(i64),
    Int(i64),
    UInt(u64),
    Str(&'a str),
    /// Bit flags: (raw value, value in table encoding, table).
    Flags(u64, u64, NameTable),
    /// chmod-style mode bits, rendered `S_I*` names.
    Mode(u32),
    /// A permission mode printed in octal (open, mkdir).
    Octal(u32),
    /// One of a set of codes (ptrace request, socket family, bpf command).
    Code(i64, NameTable),
    /// A user or group id, resolved to a name in the thread's container.
    Uid(u32),
    Gid(u32),
    /// A pid, resolved to the process name.
    Pid(i64),
    Addr(&'a SockAddr),
    Tuple(Option<&'a SockTuple>),
    Bytes(&'a [u8]),
    /// A list of strings (argv, env), space separated.
    List(&'a [String]),
}

/// Most arguments any event has (execve).
const MAX_PARAMS: usize = 24;

/// The arguments of one event, in Falco's order, without heap allocation.
pub(crate) struct Params<'a> {
    items: [(&'static str, Param<'a>); MAX_PARAMS],
    len: usize,
}

impl<'a> Params<'a> {
    fn push(&mut self, item: (&'static str, Param<'a>)) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = item;
            self.len += 1;
        }
    }

    pub(crate) fn as_slice(&self) -> &[(&'static str, Param<'a>)] {
        &self.items[..self.len]
    }
}

impl<'a> From<&[(&'static str, Param<'a>)]> for Params<'a> {
    fn from(items: &[(&'static str, Param<'a>)]) -> Self {
        let mut p = Params {
            items: [("", Param::Int(0)); MAX_PARAMS],
            len: 0,
        };
        for &item in items {
            p.push(item);
        }
        p
    }
}

fn ps<'a>(items: &[(&'static str, Param<'a>)]) -> Params<'a> {
    Params::from(items)
}

/// The i-th argument of the event, with Falco's parameter name.
pub(crate) fn param<'a>(cx: &Cx<'a>, i: usize) -> Option<(&'static str, Param<'a>)> {
    params(cx).as_slice().get(i).copied()
}

/// Every argument of the event, with Falco's parameter names.
pub(crate) fn params<'a>(cx: &Cx<'a>) -> Params<'a> {
    use EventType as T;
    use Param as P;
    let ev = cx.ev;
    let res = P::Res(ev.res);
    let et = ev.etype;
    match &ev.kind {
        EventKind::Exec {
            filename,
            argv,
            env,
            exe_path,
            cwd,
            exe_file,
            flags,
            ..
        } => ps(&[
            ("res", res),
            ("exe", P::Str(argv.first().map_or("", String::as_str))),
            ("args", P::List(argv.get(1..).unwrap_or(&[]))),
            ("tid", P::Int(ev.task.tid)),
            ("pid", P::Int(ev.task.pid)),
            ("ptid", P::Int(ev.task.ppid)),
            ("cwd", P::Str(cwd)),
            ("comm", P::Str(&ev.task.comm)),
            ("env", P::List(env)),
            ("tty", P::UInt(ev.task.tty.into())),
            ("vpgid", P::Int(ev.task.vpgid)),
            (
                "loginuid",
                P::Int(super::process::loginuid(ev.task.loginuid)),
            ),
            (
                "flags",
                P::Flags((*flags).into(), (*flags).into(), flags::EXECVEAT_FLAGS),
            ),
            ("cap_inheritable", P::UInt(ev.task.cap_inheritable)),
            ("cap_permitted", P::UInt(ev.task.cap_permitted)),
            ("cap_effective", P::UInt(ev.task.cap_effective)),
            ("exe_ino", P::UInt(exe_file.ino)),
            ("exe_ino_ctime", P::UInt(exe_file.ctime_ns)),
            ("exe_ino_mtime", P::UInt(exe_file.mtime_ns)),
            ("uid", P::Uid(ev.task.uid)),
            ("trusted_exepath", P::Str(exe_path)),
            ("gid", P::Gid(ev.task.gid)),
            ("filename", P::Str(filename)),
        ]),
        EventKind::Clone { flags } => ps(&[
            ("res", P::Int(ev.res)),
            (
                "exe",
                P::Str(cx.exe(super::process::Proc::Cur).unwrap_or("")),
            ),
            (
                "args",
                P::List(cx.args(super::process::Proc::Cur).unwrap_or(&[])),
            ),
            ("tid", P::Int(ev.task.tid)),
            ("pid", P::Int(ev.task.pid)),
            ("ptid", P::Int(ev.task.ppid)),
            ("cwd", P::Str(cx.cwd().unwrap_or(""))),
            ("comm", P::Str(&ev.task.comm)),
            ("flags", P::Flags(*flags, *flags, flags::CLONE_FLAGS)),
            ("uid", P::Uid(ev.task.uid)),
            ("gid", P::Gid(ev.task.gid)),
            ("vtid", P::Int(ev.task.vtid)),
            ("vpid", P::Int(ev.task.vpid)),
        ]),
        EventKind::Exit { status } => {
            let s = *status;
            ps(&[
                ("status", P::Int(s.into())),
                ("ret", P::Int(((s >> 8) & 0xff).into())),
                ("sig", P::Int((s & 0x7f).into())),
                ("core", P::UInt(u64::from(s & 0x80 != 0))),
            ])
        }
        EventKind::Open {
            path,
            flags: f,
            mode,
            dirfd,
            dev,
            ino,
            ..
        } => {
            let ppm = flags::open_flags_to_ppm(*f);
            let fl = P::Flags(ppm.into(), ppm.into(), flags::OPEN_FLAGS);
            let mut v = ps(&[("fd", P::Fd(ev.res))]);
            if matches!(et, T::Openat | T::Openat2) {
                v.push(("dirfd", P::Fd(*dirfd)));
            }
            v.push(("name", P::Str(path)));
            if et != T::Creat {
                v.push(("flags", fl));
            }
            v.push(("mode", P::Octal(*mode)));
            v.push(("dev", P::UInt((*dev).into())));
            v.push(("ino", P::UInt(*ino)));
            v
        }
        EventKind::Close { fd } => ps(&[("res", res), ("fd", P::Fd(*fd))]),
        EventKind::Unlink {
            path,
            dirfd,
            flags: f,
            ..
        } => match et {
            T::Unlinkat => ps(&[
                ("res", res),
                ("dirfd", P::Fd(*dirfd)),
                ("name", P::Str(path)),
                (
                    "flags",
                    P::Flags((*f).into(), (*f).into(), flags::UNLINKAT_FLAGS),
                ),
            ]),
            _ => ps(&[("res", res), ("path", P::Str(path))]),
        },
        EventKind::Rename {
            oldpath,
            newpath,
            flags: f,
            ..
        } => {
            let mut v = ps(&[
                ("res", res),
                ("oldpath", P::Str(oldpath)),
                ("newpath", P::Str(newpath)),
            ]);
            if et == T::Renameat2 {
                v.push((
                    "flags",
                    P::Flags((*f).into(), (*f).into(), flags::RENAMEAT2_FLAGS),
                ));
            }
            v
        }
        EventKind::Mkdir { path, mode, .. } => ps(&[
            ("res", res),
            ("path", P::Str(path)),
            ("mode", P::Octal(*mode)),
        ]),
        EventKind::Link {
            oldpath,
            newpath,
            flags: f,
            ..
        } => {
            let mut v = ps(&[
                ("res", res),
                ("oldpath", P::Str(oldpath)),
                ("newpath", P::Str(newpath)),
            ]);
            if et == T::Linkat {
                v.push((
                    "flags",
                    P::Flags((*f).into(), (*f).into(), flags::LINKAT_FLAGS),
                ));
            }
            v
        }
        EventKind::Symlink {
            target, linkpath, ..
        } => ps(&[
            ("res", res),
            ("target", P::Str(target)),
            ("linkpath", P::Str(linkpath)),
        ]),
        EventKind::Chmod { path, fd, mode, .. } => match et {
            T::Fchmod => ps(&[("res", res), ("fd", P::Fd(*fd)), ("mode", P::Mode(*mode))]),
            _ => ps(&[
                ("res", res),
                ("filename", P::Str(path)),
                ("mode", P::Mode(*mode)),
            ]),
        },
        EventKind::Dup {
            oldfd,
            newfd,
            flags: f,
        } => match et {
            T::Dup => ps(&[("res", P::Fd(ev.res)), ("oldfd", P::Fd(*oldfd))]),
            T::Dup2 => ps(&[
                ("res", P::Fd(ev.res)),
                ("oldfd", P::Fd(*oldfd)),
                ("newfd", P::Fd(*newfd)),
            ]),
            _ => ps(&[
                ("res", P::Fd(ev.res)),
                ("oldfd", P::Fd(*oldfd)),
                ("newfd", P::Fd(*newfd)),
                ("flags", P::UInt((*f).into())),
            ]),
        },
        EventKind::Socket {
            domain,
            sock_type,
            proto,
        } => ps(&[
            ("fd", P::Fd(ev.res)),
            ("domain", P::Code((*domain).into(), flags::SOCKET_FAMILIES)),
            ("type", P::UInt((*sock_type).into())),
            ("proto", P::UInt((*proto).into())),
        ]),
        EventKind::Connect { fd, addr, tuple } => ps(&[
            ("res", res),
            ("tuple", P::Tuple(tuple.as_ref())),
            ("fd", P::Fd(*fd)),
            ("addr", P::Addr(addr)),
        ]),
        EventKind::Accept { tuple, flags: f } => {
            let mut v = ps(&[("fd", P::Fd(ev.res)), ("tuple", P::Tuple(tuple.as_ref()))]);
            if et == T::Accept4 {
                v.push(("flags", P::UInt((*f).into())));
            }
            v
        }
        EventKind::Bind { fd, addr } => {
            ps(&[("res", res), ("addr", P::Addr(addr)), ("fd", P::Fd(*fd))])
        }
        EventKind::Listen { fd, backlog } => ps(&[
            ("res", res),
            ("fd", P::Fd(*fd)),
            ("backlog", P::Int((*backlog).into())),
        ]),
        EventKind::Io {
            fd,
            addr,
            tuple,
            data,
        } => {
            let mut v = ps(&[
                ("res", res),
                ("data", P::Bytes(data)),
                ("fd", P::Fd(*fd)),
                ("tuple", P::Tuple(tuple.as_ref())),
            ]);
            if let Some(a) = addr {
                v.push(("addr", P::Addr(a)));
            }
            v
        }
        EventKind::SetId {
            real,
            effective,
            saved,
        } => {
            let id = |v: u32| if is_gid(et) { P::Gid(v) } else { P::Uid(v) };
            let (r, e, s) = if is_gid(et) {
                ("rgid", "egid", "sgid")
            } else {
                ("ruid", "euid", "suid")
            };
            match et {
                T::Setuid => ps(&[("res", res), ("uid", id(*real))]),
                T::Setgid => ps(&[("res", res), ("gid", id(*real))]),
                T::Setreuid | T::Setregid => {
                    ps(&[("res", res), (r, id(*real)), (e, id(*effective))])
                }
                _ => ps(&[
                    ("res", res),
                    (r, id(*real)),
                    (e, id(*effective)),
                    (s, id(*saved)),
                ]),
            }
        }
        EventKind::Ptrace { request, pid } => ps(&[
            ("res", res),
            ("request", P::Code(*request, flags::PTRACE_REQUESTS)),
            ("pid", P::Pid(*pid)),
        ]),
        EventKind::Mount {
            source,
            target,
            fstype,
            flags: f,
        } => ps(&[
            ("res", res),
            ("dev", P::Str(source)),
            ("dir", P::Str(target)),
            ("type", P::Str(fstype)),
            ("flags", P::UInt(*f)),
        ]),
        EventKind::Umount { target, flags: f } => ps(&[
            ("res", res),
            ("name", P::Str(target)),
            ("flags", P::UInt((*f).into())),
        ]),
        EventKind::Namespace { flags: f, fd } => match et {
            T::Setns => ps(&[
                ("res", res),
                ("fd", P::Fd(*fd)),
                ("nstype", P::Flags(*f, *f, flags::CLONE_FLAGS)),
            ]),
            _ => ps(&[
                ("res", res),
                ("flags", P::Flags(*f, *f, flags::CLONE_FLAGS)),
            ]),
        },
        EventKind::Bpf { cmd } => ps(&[
            ("res_or_fd", P::Int(ev.res)),
            ("cmd", P::Code(*cmd, flags::BPF_COMMANDS)),
        ]),
        EventKind::ModuleLoad { fd, params } => match et {
            T::FinitModule => ps(&[("res", res), ("fd", P::Fd(*fd)), ("uargs", P::Str(params))]),
            _ => ps(&[("res", res), ("uargs", P::Str(params))]),
        },
        EventKind::MemfdCreate { name, flags: f } => ps(&[
            ("fd", P::Fd(ev.res)),
            ("name", P::Str(name)),
            (
                "flags",
                P::Flags((*f).into(), (*f).into(), flags::MEMFD_FLAGS),
            ),
        ]),
        EventKind::Userfaultfd { flags: f } => ps(&[("res", res), ("flags", P::UInt((*f).into()))]),
        EventKind::Prctl { option, arg2 } => ps(&[
            ("res", res),
            ("option", P::Code(*option, flags::PRCTL_OPTIONS)),
            ("arg2_int", P::UInt(*arg2)),
        ]),
        EventKind::Chdir { path, fd, .. } => match et {
            T::Fchdir => ps(&[("res", res), ("fd", P::Fd(*fd))]),
            _ => ps(&[("res", res), ("path", P::Str(path))]),
        },
        EventKind::Pipe { fds, flags: f } => {
            let mut v = ps(&[("res", res), ("fd1", P::Fd(fds[0])), ("fd2", P::Fd(fds[1]))]);
            if et == T::Pipe2 {
                v.push(("flags", P::UInt((*f).into())));
            }
            v
        }
        EventKind::Fcntl { fd, cmd } => ps(&[
            ("res", P::Fd(ev.res)),
            ("fd", P::Fd(*fd)),
            ("cmd", P::Code(*cmd, flags::FCNTL_COMMANDS)),
        ]),
    }
}

fn is_gid(t: EventType) -> bool {
    matches!(
        t,
        EventType::Setgid | EventType::Setregid | EventType::Setresgid
    )
}

/// The argument called `name`.
pub(crate) fn param_by_name<'a>(cx: &Cx<'a>, name: &str) -> Option<Param<'a>> {
    params(cx)
        .as_slice()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}

/// Writes the raw (numeric or literal) form of an argument.
fn render_raw(cx: &Cx<'_>, p: Param<'_>, out: &mut String) {
    match p {
        Param::Res(n) | Param::Fd(n) | Param::Int(n) | Param::Code(n, _) | Param::Pid(n) => {
            let _ = write!(out, "{n}");
        }
        Param::UInt(n) | Param::Flags(n, _, _) => {
            let _ = write!(out, "{n}");
        }
        Param::Uid(n) | Param::Gid(n) => {
            if n == u32::MAX {
                out.push_str("-1");
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Param::Mode(m) | Param::Octal(m) => {
            let _ = write!(out, "0{m:o}");
        }
        Param::Str(s) => out.push_str(s),
        Param::Addr(a) => render_addr(a, out),
        Param::Tuple(t) => {
            if let Some(t) = t {
                render_tuple(t, out);
            }
        }
        Param::Bytes(b) => render_bytes(b, out),
        Param::List(items) => {
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(s);
            }
        }
    }
    let _ = cx;
}

/// Writes the resolved (symbolic) form of an argument; false when it has none.
fn render_resolved(cx: &Cx<'_>, p: Param<'_>, out: &mut String) -> bool {
    match p {
        Param::Res(n) if n < 0 => match flags::errno_name(n) {
            Some(e) => {
                out.push_str(e);
                true
            }
            None => false,
        },
        Param::Fd(n) if n < 0 && n != i64::from(libc::AT_FDCWD) => match flags::errno_name(n) {
            Some(e) => {
                out.push_str(e);
                true
            }
            None => false,
        },
        Param::Fd(n) => {
            let before = out.len();
            fd::render_fd_arg(cx, n, out);
            // A bare number is not a resolution.
            let resolved = out[before..].starts_with('<') || n == i64::from(libc::AT_FDCWD);
            if !resolved {
                out.truncate(before);
            }
            resolved
        }
        Param::Flags(_, v, table) => flags::render_flags(v, table, out),
        Param::Mode(m) => flags::render_flags(m.into(), flags::MODE_BITS, out),
        Param::Code(n, table) => match flags::lookup(n, table) {
            Some(name) => {
                out.push_str(name);
                true
            }
            None => false,
        },
        Param::Uid(u) => match cx.st.user_name(cx.user_container(), u) {
            Some(name) => {
                out.push_str(name);
                true
            }
            None => false,
        },
        Param::Gid(g) => match cx.st.group_name(cx.user_container(), g) {
            Some(name) => {
                out.push_str(name);
                true
            }
            None => false,
        },
        Param::Pid(pid) => match cx.st.process(pid) {
            Some(t) => {
                out.push_str(&t.comm);
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// `evt.arg.X`: the resolved form when there is one, else the raw one.
fn arg_value<'a>(cx: &Cx<'a>, p: Param<'a>) -> Value<'a> {
    match p {
        Param::Str(s) => return str_value(s),
        Param::Bytes(b) => return Value::Bytes(Cow::Borrowed(b)),
        _ => {}
    }
    let mut s = String::new();
    if !render_resolved(cx, p, &mut s) {
        s.clear();
        render_raw(cx, p, &mut s);
    }
    Value::Str(Cow::Owned(s))
}

/// `evt.rawarg.X`: numbers as numbers, text as text.
fn rawarg_value<'a>(cx: &Cx<'a>, p: Param<'a>) -> Value<'a> {
    match p {
        Param::Res(n) | Param::Fd(n) | Param::Int(n) | Param::Code(n, _) | Param::Pid(n) => {
            Value::Int(n)
        }
        Param::UInt(n) | Param::Flags(n, _, _) => Value::Int(n as i64),
        Param::Uid(n) | Param::Gid(n) => Value::Int(super::process::loginuid(n)),
        Param::Mode(m) | Param::Octal(m) => Value::Int(m.into()),
        Param::Str(s) => str_value(s),
        Param::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
        _ => {
            let mut s = String::new();
            render_raw(cx, p, &mut s);
            Value::Str(Cow::Owned(s))
        }
    }
}

/// `evt.args`: `name=raw(resolved) name=raw ...`.
fn all_args(cx: &Cx<'_>) -> String {
    let mut out = String::new();
    for (i, &(name, p)) in params(cx).as_slice().iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(name);
        out.push('=');
        render_raw(cx, p, &mut out);
        let before = out.len();
        out.push('(');
        if render_resolved(cx, p, &mut out) {
            out.push(')');
        } else {
            out.truncate(before);
        }
    }
    out
}

fn render_addr(a: &SockAddr, out: &mut String) {
    match a {
        SockAddr::Inet { ip, port } => {
            let _ = write!(out, "{ip}:{port}");
        }
        SockAddr::Unix { path } => out.push_str(path),
        SockAddr::Other { family } => {
            let _ = write!(out, "family {family}");
        }
    }
}

fn render_tuple(t: &SockTuple, out: &mut String) {
    render_addr(&t.local, out);
    out.push_str("->");
    render_addr(&t.remote, out);
}

/// Printable bytes as they are, others as `.` (Falco's default buffer format).
fn render_bytes(b: &[u8], out: &mut String) {
    for &c in b {
        out.push(if c.is_ascii_graphic() || c == b' ' {
            c as char
        } else {
            '.'
        });
    }
}

/// The node's host name: FALCO_HOSTNAME, else the kernel's.
fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        if let Ok(h) = std::env::var("FALCO_HOSTNAME")
            && !h.is_empty()
        {
            return h;
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

fn time_string(ts_ns: u64, fmt: &str, nanos: bool) -> String {
    let secs = i64::try_from(ts_ns / 1_000_000_000).unwrap_or(i64::MAX);
    let ns = (ts_ns % 1_000_000_000) as u32;
    let Some(dt) = chrono::DateTime::from_timestamp(secs, ns) else {
        return String::new();
    };
    let mut s = dt.format(fmt).to_string();
    if nanos {
        let _ = write!(s, ".{ns:09}");
    }
    s
}

fn is_open(t: EventType) -> bool {
    matches!(t, EventType::Open | EventType::Openat | EventType::Openat2)
}

pub(super) fn extract<'a>(key: Key, arg: Option<&FieldArg>, cx: &Cx<'a>) -> Option<Value<'a>> {
    let ev = cx.ev;
    let v = match key {
        Key::EvtNum => Value::UInt(ev.num),
        Key::EvtTime => Value::Str(Cow::Owned(time_string(ev.ts_ns, "%H:%M:%S", true))),
        Key::EvtTimeS => Value::Str(Cow::Owned(time_string(ev.ts_ns, "%H:%M:%S", false))),
        Key::EvtTimeIso => {
            let mut s = time_string(ev.ts_ns, "%Y-%m-%dT%H:%M:%S", true);
            s.push('Z');
            Value::Str(Cow::Owned(s))
        }
        Key::EvtDatetime => {
            Value::Str(Cow::Owned(time_string(ev.ts_ns, "%Y-%m-%d %H:%M:%S", true)))
        }
        Key::EvtDatetimeS => Value::Str(Cow::Owned(time_string(
            ev.ts_ns,
            "%Y-%m-%d %H:%M:%S",
            false,
        ))),
        Key::EvtRawtime => Value::UInt(ev.ts_ns),
        Key::EvtRawtimeS => Value::UInt(ev.ts_ns / 1_000_000_000),
        Key::EvtRawtimeNs => Value::UInt(ev.ts_ns % 1_000_000_000),
        Key::EvtDir => str_value("<"),
        Key::EvtType => str_value(ev.etype.name()),
        Key::SyscallType if ev.etype == EventType::Procexit => return None,
        Key::SyscallType => str_value(ev.etype.name()),
        Key::EvtCategory => str_value(ev.etype.category()),
        Key::EvtCpu => Value::Int(ev.cpu.into()),
        Key::EvtArgs | Key::EvtInfo => Value::Str(Cow::Owned(all_args(cx))),
        Key::EvtArg => {
            let p = match arg? {
                FieldArg::Key(name) => param_by_name(cx, name)?,
                FieldArg::Index(i) => param(cx, *i)?.1,
            };
            arg_value(cx, p)
        }
        Key::EvtRawarg => {
            let p = match arg? {
                FieldArg::Key(name) => param_by_name(cx, name)?,
                FieldArg::Index(i) => param(cx, *i)?.1,
            };
            rawarg_value(cx, p)
        }
        Key::EvtBuffer => match &ev.kind {
            EventKind::Io { data, .. } if !data.is_empty() => Value::Bytes(Cow::Borrowed(data)),
            _ => return None,
        },
        Key::EvtBuflen => match &ev.kind {
            EventKind::Io { .. } if ev.res >= 0 => Value::UInt(ev.res as u64),
            _ => return None,
        },
        Key::EvtRes => match (ev.res >= 0, flags::errno_name(ev.res)) {
            (true, _) => str_value("SUCCESS"),
            (false, Some(name)) => str_value(name),
            (false, None) => {
                let mut s = String::new();
                flags::res_string(ev.res, &mut s);
                Value::Str(Cow::Owned(s))
            }
        },
        Key::EvtRawres => Value::Int(ev.res),
        Key::EvtFailed => Value::Bool(ev.failed()),
        Key::EvtIsIo => Value::Bool(matches!(ev.kind, EventKind::Io { .. })),
        Key::EvtIsIoRead => {
            Value::Bool(matches!(ev.etype, EventType::Recvfrom | EventType::Recvmsg))
        }
        Key::EvtIsIoWrite => {
            Value::Bool(matches!(ev.etype, EventType::Sendto | EventType::Sendmsg))
        }
        Key::EvtIsOpenRead | Key::EvtIsOpenWrite | Key::EvtIsOpenCreate | Key::EvtIsOpenExec => {
            Value::Bool(open_test(key, cx))
        }
        Key::EvtHostname => str_value(hostname()),
        Key::EvtSource => str_value("syscall"),
        Key::EvtPluginname => return None,
        Key::EvtIsAsync => Value::Bool(false),
        _ => return None,
    };
    Some(v)
}

fn open_test(key: Key, cx: &Cx<'_>) -> bool {
    use flags::ppm_open as O;
    let ev = cx.ev;
    let EventKind::Open { flags: f, mode, .. } = &ev.kind else {
        return false;
    };
    let exec_bits = mode & 0o111 != 0;
    if ev.etype == EventType::Creat {
        return key == Key::EvtIsOpenExec && exec_bits;
    }
    if !is_open(ev.etype) {
        return false;
    }
    let ppm = flags::open_flags_to_ppm(*f);
    match key {
        Key::EvtIsOpenRead => ppm & O::RDONLY != 0,
        Key::EvtIsOpenWrite => ppm & O::WRONLY != 0,
        // The probe does not report whether O_CREAT actually created the
        // file, so a successful O_CREAT open counts as a creation.
        Key::EvtIsOpenCreate => ev.res >= 0 && ppm & (O::CREAT | O::TMPFILE) != 0,
        _ => ppm & (O::CREAT | O::TMPFILE) != 0 && exec_bits,
    }
}
