//! `proc.*`, `thread.*`, `user.*` and `group.*`: the thread that caused the
//! event, its ancestors, and its credentials.

use super::registry::Key;
use super::{Cx, FieldArg, Value, flags, str_value};
use crate::event::EventKind;
use crate::state::{FdKind, HOST_CONTAINER_ID, ThreadInfo};
use std::borrow::Cow;

/// How far up the parent chain ancestor fields look; protects against
/// cycles in inconsistent state and bounds the per-event cost.
pub(crate) const MAX_ANCESTORS: usize = 64;

/// Shells that start interactive sessions (`proc.loginshellid`).
const SHELLS: &[&str] = &[
    "ash", "bash", "csh", "dash", "fish", "ksh", "sh", "tcsh", "zsh",
];

/// The process of the event or one of its ancestors.
#[derive(Clone, Copy)]
pub(crate) enum Proc<'a> {
    /// The thread that caused the event (values come from the event first).
    Cur,
    /// An ancestor process, from the state.
    Anc(&'a ThreadInfo),
}

impl<'a> Cx<'a> {
    /// The successful exec this event reports, if it is one.
    fn exec(&self) -> Option<(&'a [String], &'a str, &'a str)> {
        match &self.ev.kind {
            EventKind::Exec {
                argv,
                exe_path,
                cwd,
                ..
            } if self.ev.res == 0 => Some((argv.as_slice(), exe_path.as_str(), cwd.as_str())),
            _ => None,
        }
    }

    pub(crate) fn name(&self, p: Proc<'a>) -> Option<&'a str> {
        match p {
            Proc::Cur if !self.ev.task.comm.is_empty() => Some(self.ev.task.comm.as_str()),
            Proc::Cur => self.th.map(|t| t.comm.as_str()),
            Proc::Anc(t) => Some(t.comm.as_str()),
        }
    }

    pub(crate) fn exe(&self, p: Proc<'a>) -> Option<&'a str> {
        match p {
            Proc::Cur => match self.exec() {
                Some((argv, _, _)) => argv.first().map(String::as_str),
                None => self.th.map(|t| t.exe.as_str()),
            },
            Proc::Anc(t) => Some(t.exe.as_str()),
        }
    }

    pub(crate) fn exepath(&self, p: Proc<'a>) -> Option<&'a str> {
        match p {
            Proc::Cur => match self.exec() {
                Some((_, path, _)) => Some(path),
                None => self.th.map(|t| t.exe_path.as_str()),
            },
            Proc::Anc(t) => Some(t.exe_path.as_str()),
        }
    }

    pub(crate) fn args(&self, p: Proc<'a>) -> Option<&'a [String]> {
        match p {
            Proc::Cur => match self.exec() {
                Some((argv, _, _)) => Some(argv.get(1..).unwrap_or(&[])),
                None => self.th.map(|t| t.args.as_slice()),
            },
            Proc::Anc(t) => Some(t.args.as_slice()),
        }
    }

    pub(crate) fn cwd(&self) -> Option<&'a str> {
        match self.exec() {
            Some((_, _, cwd)) if !cwd.is_empty() => Some(cwd),
            _ => self.th.map(|t| t.cwd.as_str()),
        }
    }

    pub(crate) fn pid(&self, p: Proc<'a>) -> i64 {
        match p {
            Proc::Cur => self.ev.task.pid,
            Proc::Anc(t) => t.pid,
        }
    }

    fn ppid(&self, p: Proc<'a>) -> i64 {
        match p {
            Proc::Cur if self.ev.task.ppid > 0 => self.ev.task.ppid,
            Proc::Cur => self.th.map_or(0, |t| t.ppid),
            Proc::Anc(t) => t.ppid,
        }
    }

    /// `proc.cmdline`: name and arguments joined with spaces.
    pub(crate) fn cmdline(&self, p: Proc<'a>) -> Option<Cow<'a, str>> {
        let name = self.name(p)?;
        let args = self.args(p).unwrap_or(&[]);
        if args.is_empty() {
            return Some(Cow::Borrowed(name));
        }
        Some(Cow::Owned(join_with(name, args)))
    }

    /// The n-th ancestor: 0 is the process itself, 1 its parent.
    pub(crate) fn ancestor(&self, n: usize) -> Option<Proc<'a>> {
        let mut cur = Proc::Cur;
        for _ in 0..n.min(MAX_ANCESTORS) {
            cur = self.parent(cur)?;
        }
        if n > MAX_ANCESTORS {
            return None;
        }
        Some(cur)
    }

    pub(crate) fn parent(&self, p: Proc<'a>) -> Option<Proc<'a>> {
        let pid = self.pid(p);
        let ppid = self.ppid(p);
        if ppid <= 0 || ppid == pid {
            return None;
        }
        self.st.process(ppid).map(Proc::Anc)
    }

    /// Every ancestor above the process, nearest first.
    pub(crate) fn ancestors(&self) -> impl Iterator<Item = Proc<'a>> + '_ {
        let mut cur = Some(Proc::Cur);
        std::iter::from_fn(move || {
            cur = self.parent(cur?);
            cur
        })
        .take(MAX_ANCESTORS)
    }

    /// Container id of the thread ("host" when it runs on the host).
    pub(crate) fn container_id(&self) -> Option<&'a str> {
        self.th.map(|t| &*t.container_id).filter(|c| !c.is_empty())
    }

    pub(crate) fn user_container(&self) -> &'a str {
        self.container_id().unwrap_or(HOST_CONTAINER_ID)
    }

    fn thread_field<T>(&self, f: impl Fn(&'a ThreadInfo) -> T) -> Option<T> {
        self.th.map(f)
    }

    /// The leader of the session (`vsid`) or process group (`vpgid`): the
    /// process whose vpid equals the id, else the eldest ancestor that still
    /// shares it.
    fn leader(&self, id_of: impl Fn(&ThreadInfo) -> i64, own: i64) -> Option<Proc<'a>> {
        if self.ev.task.vpid == own {
            return Some(Proc::Cur);
        }
        let mut last = Proc::Cur;
        for p in self.ancestors() {
            let Proc::Anc(t) = p else { break };
            if id_of(t) != own {
                break;
            }
            last = p;
            if t.vpid == own {
                break;
            }
        }
        Some(last)
    }
}

fn join_with(first: &str, rest: &[String]) -> String {
    let mut s =
        String::with_capacity(first.len() + rest.iter().map(|a| a.len() + 1).sum::<usize>());
    s.push_str(first);
    for a in rest {
        s.push(' ');
        s.push_str(a);
    }
    s
}

fn join_args(args: &[String]) -> Cow<'_, str> {
    match args {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(one.as_str()),
        [first, rest @ ..] => Cow::Owned(join_with(first, rest)),
    }
}

fn index(arg: Option<&FieldArg>) -> Option<usize> {
    match arg {
        Some(FieldArg::Index(n)) => Some(*n),
        _ => None,
    }
}

/// An ancestor field: with an index, that ancestor's value; without, the
/// values of every ancestor above the process (a condition matches any).
fn ancestor_field<'a>(
    cx: &Cx<'a>,
    arg: Option<&FieldArg>,
    get: impl Fn(&Cx<'a>, Proc<'a>) -> Option<Value<'a>>,
) -> Option<Value<'a>> {
    match index(arg) {
        Some(n) => get(cx, cx.ancestor(n)?),
        None => {
            let all: Vec<Value<'a>> = cx.ancestors().filter_map(|p| get(cx, p)).collect();
            if all.is_empty() {
                None
            } else {
                Some(Value::List(all))
            }
        }
    }
}

fn fd_kind_name(kind: FdKind) -> Option<&'static str> {
    super::fd::kind_name(kind)
}

pub(super) fn extract<'a>(key: Key, arg: Option<&FieldArg>, cx: &Cx<'a>) -> Option<Value<'a>> {
    let ev = cx.ev;
    let v = match key {
        Key::ProcExe => str_value(cx.exe(Proc::Cur)?),
        Key::ProcPexe => str_value(cx.exe(cx.parent(Proc::Cur)?)?),
        Key::ProcAexe => ancestor_field(cx, arg, |cx, p| cx.exe(p).map(str_value))?,
        Key::ProcExepath => str_value(cx.exepath(Proc::Cur)?),
        Key::ProcPexepath => str_value(cx.exepath(cx.parent(Proc::Cur)?)?),
        Key::ProcAexepath => ancestor_field(cx, arg, |cx, p| cx.exepath(p).map(str_value))?,
        Key::ProcName => str_value(cx.name(Proc::Cur)?),
        Key::ProcPname => str_value(cx.name(cx.parent(Proc::Cur)?)?),
        Key::ProcAname => ancestor_field(cx, arg, |cx, p| cx.name(p).map(str_value))?,
        Key::ProcArgs => {
            let args = cx.args(Proc::Cur)?;
            match index(arg) {
                Some(n) => str_value(args.get(n)?),
                None => Value::Str(join_args(args)),
            }
        }
        Key::ProcAargs => ancestor_field(cx, arg, |cx, p| {
            cx.args(p).map(|a| Value::Str(join_args(a)))
        })?,
        Key::ProcCmdline => Value::Str(cx.cmdline(Proc::Cur)?),
        Key::ProcPcmdline => Value::Str(cx.cmdline(cx.parent(Proc::Cur)?)?),
        Key::ProcAcmdline => ancestor_field(cx, arg, |cx, p| cx.cmdline(p).map(Value::Str))?,
        Key::ProcCmdnargs => Value::UInt(cx.args(Proc::Cur)?.len() as u64),
        Key::ProcCmdlenargs => {
            Value::UInt(cx.args(Proc::Cur)?.iter().map(|a| a.len() as u64).sum())
        }
        Key::ProcExeline => {
            let exe = cx.exe(Proc::Cur)?;
            let args = cx.args(Proc::Cur).unwrap_or(&[]);
            if args.is_empty() {
                str_value(exe)
            } else {
                Value::Str(Cow::Owned(join_with(exe, args)))
            }
        }
        Key::ProcEnv => {
            let env: &[String] = match &ev.kind {
                EventKind::Exec { env, .. } if ev.res == 0 && !env.is_empty() => env,
                _ => &cx.th?.env,
            };
            match arg {
                Some(FieldArg::Key(name)) => str_value(
                    env.iter()
                        .find_map(|e| e.strip_prefix(name.as_str())?.strip_prefix('='))?,
                ),
                _ => Value::Str(join_args(env)),
            }
        }
        Key::ProcCwd => str_value(cx.cwd()?),
        Key::ProcLoginshellid => {
            let mut found = 0;
            for p in std::iter::once(Proc::Cur).chain(cx.ancestors()) {
                if cx.name(p).is_some_and(|n| SHELLS.contains(&n)) {
                    found = cx.pid(p);
                }
            }
            Value::Int(found)
        }
        Key::ProcTty => Value::UInt(u64::from(if ev.task.tty != 0 {
            ev.task.tty
        } else {
            cx.th.map_or(0, |t| t.tty)
        })),
        Key::ProcPid => Value::Int(ev.task.pid),
        Key::ProcPpid => Value::Int(cx.ppid(Proc::Cur)),
        Key::ProcApid => ancestor_field(cx, arg, |cx, p| Some(Value::Int(cx.pid(p))))?,
        Key::ProcVpid => Value::Int(ev.task.vpid),
        Key::ProcPvpid => match cx.parent(Proc::Cur)? {
            Proc::Anc(t) => Value::Int(t.vpid),
            Proc::Cur => return None,
        },
        Key::ProcSid => Value::Int(ev.task.vsid),
        Key::ProcSname | Key::ProcSidExe | Key::ProcSidExepath => {
            let p = cx.leader(|t| t.vsid, ev.task.vsid)?;
            leader_value(cx, key, p)?
        }
        Key::ProcVpgid => Value::Int(ev.task.vpgid),
        Key::ProcVpgidName | Key::ProcVpgidExe | Key::ProcVpgidExepath => {
            let p = cx.leader(|t| t.vpgid, ev.task.vpgid)?;
            leader_value(cx, key, p)?
        }
        Key::ProcDuration => {
            let start = cx.thread_field(|t| t.start_ns).filter(|s| *s > 0)?;
            Value::UInt(ev.ts_ns.saturating_sub(start))
        }
        Key::ProcPpidDuration => match cx.parent(Proc::Cur)? {
            Proc::Anc(t) if t.start_ns > 0 => Value::UInt(ev.ts_ns.saturating_sub(t.start_ns)),
            _ => return None,
        },
        Key::ProcPidTs => Value::UInt(cx.thread_field(|t| t.start_ns).filter(|s| *s > 0)?),
        Key::ProcPpidTs => match cx.parent(Proc::Cur)? {
            Proc::Anc(t) if t.start_ns > 0 => Value::UInt(t.start_ns),
            _ => return None,
        },
        Key::ProcIsExeUpperLayer => Value::Bool(match &ev.kind {
            EventKind::Exec { exe_file, .. } if ev.res == 0 => exe_file.upper_layer,
            _ => cx.th?.exe_upper_layer,
        }),
        Key::ProcIsExeFromMemfd => Value::Bool(match &ev.kind {
            EventKind::Exec { exe_file, .. } if ev.res == 0 => exe_file.from_memfd,
            _ => cx.th?.exe_from_memfd,
        }),
        Key::ProcIsSidLeader => Value::Bool(ev.task.vpid == ev.task.vsid),
        Key::ProcIsVpgidLeader => Value::Bool(ev.task.vpid == ev.task.vpgid),
        Key::ProcExeIno => Value::Int(i64::try_from(exe_facts(cx)?.0).ok()?),
        Key::ProcExeInoCtime => Value::UInt(exe_facts(cx)?.1),
        Key::ProcExeInoMtime => Value::UInt(exe_facts(cx)?.2),
        Key::ProcExeInoCtimeDurationProcStart => {
            let ctime = exe_facts(cx)?.1;
            let start = cx.thread_field(|t| t.start_ns).filter(|s| *s > 0)?;
            if ctime == 0 {
                return None;
            }
            Value::UInt(start.saturating_sub(ctime))
        }
        Key::ProcStdinType | Key::ProcStdoutType | Key::ProcStderrType => {
            let fd = match key {
                Key::ProcStdinType => 0,
                Key::ProcStdoutType => 1,
                _ => 2,
            };
            str_value(fd_kind_name(cx.st.fd(ev.task.pid, fd)?.kind)?)
        }
        Key::ProcStdinName | Key::ProcStdoutName | Key::ProcStderrName => {
            let fd = match key {
                Key::ProcStdinName => 0,
                Key::ProcStdoutName => 1,
                _ => 2,
            };
            str_value(&cx.st.fd(ev.task.pid, fd)?.name)
        }

        Key::ThreadTid => Value::Int(ev.task.tid),
        Key::ThreadVtid => Value::Int(ev.task.vtid),
        Key::ThreadIsmain => Value::Bool(ev.task.tid == ev.task.pid),
        Key::ThreadCapPermitted => {
            Value::Str(Cow::Owned(flags::caps_to_string(ev.task.cap_permitted)))
        }
        Key::ThreadCapInheritable => {
            Value::Str(Cow::Owned(flags::caps_to_string(ev.task.cap_inheritable)))
        }
        Key::ThreadCapEffective => {
            Value::Str(Cow::Owned(flags::caps_to_string(ev.task.cap_effective)))
        }

        Key::UserUid => Value::UInt(u64::from(ev.task.uid)),
        Key::UserName => str_value(cx.st.user_name(cx.user_container(), ev.task.uid)?),
        Key::UserHomedir => str_value(cx.st.user_home_shell(cx.user_container(), ev.task.uid)?.0),
        Key::UserShell => str_value(cx.st.user_home_shell(cx.user_container(), ev.task.uid)?.1),
        Key::UserLoginuid => Value::Int(loginuid(ev.task.loginuid)),
        Key::UserLoginname => {
            if ev.task.loginuid == u32::MAX {
                return None;
            }
            str_value(cx.st.user_name(cx.user_container(), ev.task.loginuid)?)
        }
        Key::GroupGid => Value::UInt(u64::from(ev.task.gid)),
        Key::GroupName => str_value(cx.st.group_name(cx.user_container(), ev.task.gid)?),
        _ => return None,
    };
    Some(v)
}

/// `user.loginuid` is shown signed: an unset login uid (u32::MAX) is -1.
pub(crate) fn loginuid(raw: u32) -> i64 {
    if raw == u32::MAX { -1 } else { i64::from(raw) }
}

fn leader_value<'a>(cx: &Cx<'a>, key: Key, p: Proc<'a>) -> Option<Value<'a>> {
    match key {
        Key::ProcSname | Key::ProcVpgidName => cx.name(p).map(str_value),
        Key::ProcSidExe | Key::ProcVpgidExe => cx.exe(p).map(str_value),
        _ => cx.exepath(p).map(str_value),
    }
}

/// (inode, ctime, mtime) of the executable.
fn exe_facts(cx: &Cx<'_>) -> Option<(u64, u64, u64)> {
    match &cx.ev.kind {
        EventKind::Exec { exe_file, .. } if cx.ev.res == 0 => {
            Some((exe_file.ino, exe_file.ctime_ns, exe_file.mtime_ns))
        }
        _ => cx.th.map(|t| (t.exe_ino, t.exe_ctime_ns, t.exe_mtime_ns)),
    }
    .filter(|f| f.0 != 0)
}
