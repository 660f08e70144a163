//! Reading processes, threads and their fds from `/proc`, to seed the state at
//! start and to fill in threads the tracker never saw being created.
//!
//! Processes come and go while we read: every read that fails because the
//! process vanished makes that process (or fd) be skipped, never an error.

use super::cgroup::{self, ContainerRef};
use super::fdname;
use super::types::{FdInfo, FdKind, HOST_CONTAINER_ID, ThreadInfo};
use crate::event::{L4Proto, SockAddr, SockTuple};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One process as read from /proc: its threads (main thread first), fds and
/// cgroup identity.
#[derive(Debug, Clone)]
pub struct ProcessSnapshot {
    pub threads: Vec<ThreadInfo>,
    pub fds: Vec<(i64, FdInfo)>,
    /// The memory (v1) or unified (v2) cgroup path.
    pub cgroup: Option<String>,
    pub container: Option<ContainerRef>,
}

/// Reads /proc under a root ("/" normally, the host's root mounted elsewhere
/// when the sensor runs in a container).
#[derive(Debug, Clone)]
pub struct ProcReader {
    proc_root: PathBuf,
    host_root: PathBuf,
    boot_ns: u64,
    clk_tck: u64,
}

impl ProcReader {
    pub fn new(host_root: &Path) -> ProcReader {
        let proc_root = host_root.join("proc");
        let boot_ns = std::fs::read_to_string(proc_root.join("stat"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .map_or(0, |secs| secs * 1_000_000_000);
        ProcReader {
            proc_root,
            host_root: host_root.to_path_buf(),
            boot_ns,
            clk_tck: crate::sys::clock_ticks_per_sec().unwrap_or(100),
        }
    }

    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    /// Every numeric entry of /proc.
    pub fn pids(&self) -> std::io::Result<Vec<i64>> {
        let mut pids: Vec<i64> = std::fs::read_dir(&self.proc_root)?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// Whether a thread id still exists.
    pub fn thread_alive(&self, tid: i64) -> bool {
        self.proc_root.join(tid.to_string()).exists()
    }

    /// A whole process with all its threads and fds; `None` if it vanished
    /// (or is not a process: thread ids are reachable under /proc too).
    pub fn read_process(&self, pid: i64, sockets: &mut SocketCache) -> Option<ProcessSnapshot> {
        let dir = self.proc_root.join(pid.to_string());
        let main = self.read_task(&dir, pid, pid)?;
        if main.pid != pid {
            return None;
        }
        let cgroup_text = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
        let container = cgroup::container_from_proc_cgroup(&cgroup_text);
        let cgroup = cgroup::primary_cgroup_path(&cgroup_text).map(str::to_string);
        let mut main = main;
        main.container_id = container_short_id(container.as_ref());
        if container.is_some() && !main.exe_path.is_empty() {
            main.exe_upper_layer = self.exe_in_upper_layer(&dir, &main.exe_path);
        }
        let mut threads = vec![main.clone()];
        if let Ok(tasks) = std::fs::read_dir(dir.join("task")) {
            for tid in tasks.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok()) {
                if tid == pid {
                    continue;
                }
                let tdir = dir.join("task").join(tid.to_string());
                if let Some(t) = self.read_thread_of(&tdir, &main, tid) {
                    threads.push(t);
                }
            }
        }
        let fds = self.read_fds(&dir, sockets);
        Some(ProcessSnapshot {
            threads,
            fds,
            cgroup,
            container,
        })
    }

    /// One thread (for lazily creating a thread the tracker missed).
    pub fn read_one_thread(
        &self,
        pid: i64,
        tid: i64,
    ) -> Option<(ThreadInfo, Option<ContainerRef>)> {
        let dir = self.proc_root.join(pid.to_string());
        let main = self.read_task(&dir, pid, pid)?;
        let cgroup_text = std::fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
        let container = cgroup::container_from_proc_cgroup(&cgroup_text);
        let mut main = main;
        main.container_id = container_short_id(container.as_ref());
        if tid == pid {
            return Some((main, container));
        }
        let t = self.read_thread_of(&dir.join("task").join(tid.to_string()), &main, tid)?;
        Some((t, container))
    }

    /// Fds of one process (for a process whose fd table we never saw).
    pub fn read_process_fds(&self, pid: i64, sockets: &mut SocketCache) -> Vec<(i64, FdInfo)> {
        self.read_fds(&self.proc_root.join(pid.to_string()), sockets)
    }

    fn read_thread_of(&self, tdir: &Path, main: &ThreadInfo, tid: i64) -> Option<ThreadInfo> {
        let status = std::fs::read_to_string(tdir.join("status")).ok()?;
        let comm = std::fs::read_to_string(tdir.join("comm")).ok()?;
        let mut t = main.clone();
        t.tid = tid;
        t.comm = comm.trim_end_matches('\n').to_string();
        apply_status(&mut t, &status);
        t.tid = tid;
        t.pid = main.pid;
        if let Ok(stat) = std::fs::read_to_string(tdir.join("stat"))
            && let Some(st) = parse_stat(&stat)
        {
            t.start_ns = self.boot_ns + st.start_ticks * 1_000_000_000 / self.clk_tck;
        }
        Some(t)
    }

    fn read_task(&self, dir: &Path, pid: i64, tid: i64) -> Option<ThreadInfo> {
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        let st = parse_stat(&stat)?;
        let mut t = ThreadInfo {
            tid,
            pid,
            comm: std::fs::read_to_string(dir.join("comm"))
                .map(|c| c.trim_end_matches('\n').to_string())
                .unwrap_or_else(|_| st.comm.clone()),
            loginuid: u32::MAX,
            container_id: Arc::from(HOST_CONTAINER_ID),
            ..ThreadInfo::default()
        };
        apply_status(&mut t, &status);
        t.tty = encode_tty(st.tty_nr);
        t.start_ns = self.boot_ns + st.start_ticks * 1_000_000_000 / self.clk_tck;
        t.exec_ns = t.start_ns;
        if t.vpid == t.pid {
            t.vsid = st.session;
            t.vpgid = st.pgrp;
        }
        if let Ok(cmdline) = std::fs::read(dir.join("cmdline")) {
            let mut parts = cmdline
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned());
            let mut argv: Vec<String> = parts.by_ref().collect();
            // cmdline ends with a NUL, which leaves one empty trailing piece.
            if argv.last().is_some_and(String::is_empty) {
                argv.pop();
            }
            if !argv.is_empty() {
                t.exe = argv.remove(0);
                t.args = argv;
            }
        }
        if let Ok(exe) = std::fs::read_link(dir.join("exe")) {
            let exe = exe.to_string_lossy().into_owned();
            t.exe_from_memfd = exe.starts_with("/memfd:");
            t.exe_path = exe;
        }
        if let Ok(meta) = std::fs::metadata(dir.join("exe")) {
            use std::os::unix::fs::MetadataExt;
            t.exe_ino = meta.ino();
            t.exe_mtime_ns = timespec_ns(meta.mtime(), meta.mtime_nsec());
            t.exe_ctime_ns = timespec_ns(meta.ctime(), meta.ctime_nsec());
        }
        if t.exe.is_empty() {
            t.exe = t.comm.clone();
        }
        if let Ok(cwd) = std::fs::read_link(dir.join("cwd")) {
            t.cwd = cwd.to_string_lossy().into_owned();
        }
        if let Some(v) = std::fs::read_to_string(dir.join("loginuid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            t.loginuid = v;
        }
        if let Some(ino) = std::fs::read_link(dir.join("ns/pid"))
            .ok()
            .and_then(|l| ns_inode(&l.to_string_lossy()))
        {
            t.pidns_ino = u32::try_from(ino).unwrap_or(0);
        }
        Some(t)
    }

    /// Whether the executable exists in the upper (writable) layer of the
    /// process's overlay root: it was written inside the container.
    fn exe_in_upper_layer(&self, dir: &Path, exe_path: &str) -> bool {
        let Ok(mountinfo) = std::fs::read_to_string(dir.join("mountinfo")) else {
            return false;
        };
        let Some(upper) = mountinfo.lines().find_map(overlay_root_upperdir) else {
            return false;
        };
        let rel = exe_path.trim_start_matches('/');
        self.host_root
            .join(upper.trim_start_matches('/'))
            .join(rel)
            .exists()
    }

    fn read_fds(&self, dir: &Path, sockets: &mut SocketCache) -> Vec<(i64, FdInfo)> {
        let Ok(entries) = std::fs::read_dir(dir.join("fd")) else {
            return Vec::new();
        };
        let netns = std::fs::read_link(dir.join("ns/net"))
            .ok()
            .and_then(|l| ns_inode(&l.to_string_lossy()))
            .unwrap_or(0);
        let mut out = Vec::new();
        for e in entries.filter_map(Result::ok) {
            let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
                continue;
            };
            let Ok(target) = std::fs::read_link(e.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            let flags = std::fs::read_to_string(dir.join("fdinfo").join(fd.to_string()))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("flags:"))
                        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
                })
                .unwrap_or(0);
            let info = if let Some(ino) = bracketed(&target, "socket:") {
                let table = sockets.table(dir, netns);
                match table.get(&ino) {
                    Some(s) => s.to_fd(flags),
                    None => FdInfo {
                        kind: FdKind::Unknown,
                        ..plain_fd(String::new(), flags)
                    },
                }
            } else if target.starts_with("pipe:") {
                FdInfo {
                    kind: FdKind::Pipe,
                    ..plain_fd(target, flags)
                }
            } else if let Some(anon) = target.strip_prefix("anon_inode:") {
                FdInfo {
                    kind: anon_kind(anon),
                    ..plain_fd(target.clone(), flags)
                }
            } else if target.starts_with("/memfd:") {
                FdInfo {
                    kind: FdKind::Memfd,
                    ..plain_fd(target.trim_start_matches('/').to_string(), flags)
                }
            } else if target.starts_with('/') {
                let meta = std::fs::metadata(e.path()).ok();
                let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
                let (dev, ino) = meta.map_or((0, 0), |m| {
                    use std::os::unix::fs::MetadataExt;
                    (u32::try_from(m.dev()).unwrap_or(0), m.ino())
                });
                FdInfo {
                    kind: if is_dir {
                        FdKind::Directory
                    } else {
                        FdKind::File
                    },
                    dev,
                    ino,
                    ..plain_fd(target, flags)
                }
            } else {
                FdInfo {
                    kind: FdKind::Unknown,
                    ..plain_fd(target, flags)
                }
            };
            out.push((fd, info));
        }
        out.sort_by_key(|(fd, _)| *fd);
        out
    }
}

fn plain_fd(name: String, flags: u32) -> FdInfo {
    FdInfo {
        kind: FdKind::File,
        name,
        flags,
        tuple: None,
        dev: 0,
        ino: 0,
        connected: false,
    }
}

fn anon_kind(anon: &str) -> FdKind {
    match anon.trim_matches(|c| c == '[' || c == ']') {
        "eventfd" => FdKind::Event,
        "eventpoll" => FdKind::Eventpoll,
        "inotify" => FdKind::Inotify,
        "signalfd" => FdKind::Signalfd,
        "timerfd" => FdKind::Timerfd,
        "userfaultfd" => FdKind::Userfaultfd,
        a if a.starts_with("bpf") => FdKind::Bpf,
        _ => FdKind::Unknown,
    }
}

fn timespec_ns(secs: i64, nsec: i64) -> u64 {
    u64::try_from(secs)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(nsec).unwrap_or(0))
}

fn container_short_id(c: Option<&ContainerRef>) -> Arc<str> {
    match c {
        Some(c) => Arc::from(&c.id[..12]),
        None => Arc::from(HOST_CONTAINER_ID),
    }
}

/// `socket:[123]` → 123.
fn bracketed(s: &str, prefix: &str) -> Option<u64> {
    s.strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// `pid:[4026531836]` → 4026531836.
fn ns_inode(link: &str) -> Option<u64> {
    let (_, rest) = link.split_once(':')?;
    rest.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// From a mountinfo line for "/" on overlayfs, its `upperdir=` option.
fn overlay_root_upperdir(line: &str) -> Option<&str> {
    let (pre, post) = line.split_once(" - ")?;
    if pre.split(' ').nth(4)? != "/" {
        return None;
    }
    let mut post = post.split(' ');
    if post.next()? != "overlay" {
        return None;
    }
    post.nth(1)?
        .split(',')
        .find_map(|o| o.strip_prefix("upperdir="))
}

/// Fields of /proc/<pid>/stat we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatFields {
    pub comm: String,
    pub ppid: i64,
    pub pgrp: i64,
    pub session: i64,
    pub tty_nr: u32,
    pub start_ticks: u64,
}

/// Parses /proc/<pid>/stat. The comm field is parenthesised and may itself
/// contain spaces and parentheses, so fields are counted after the last ')'.
pub fn parse_stat(s: &str) -> Option<StatFields> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = s.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state).
    let field = |n: usize| rest.get(n - 3).copied();
    Some(StatFields {
        comm,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        tty_nr: field(7)?
            .parse::<i64>()
            .ok()
            .and_then(|v| u32::try_from(v).ok())?,
        start_ticks: field(22)?.parse().ok()?,
    })
}

/// /proc's tty_nr (the kernel's `new_encode_dev`) → `major << 20 | minor`.
pub fn encode_tty(tty_nr: u32) -> u32 {
    if tty_nr == 0 {
        return 0;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    (major << 20) | minor
}

/// Applies the fields of /proc/<pid>/status to a thread.
pub fn apply_status(t: &mut ThreadInfo, status: &str) {
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let nums = || {
            value
                .split_whitespace()
                .filter_map(|v| v.parse::<i64>().ok())
        };
        match key {
            "Tgid" => t.pid = value.parse().unwrap_or(t.pid),
            "Pid" => t.tid = value.parse().unwrap_or(t.tid),
            "PPid" => t.ppid = value.parse().unwrap_or(t.ppid),
            // Effective ids are the second column (real, effective, saved, fs).
            "Uid" => {
                t.uid = nums()
                    .nth(1)
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(t.uid)
            }
            "Gid" => {
                t.gid = nums()
                    .nth(1)
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(t.gid)
            }
            "CapEff" => t.cap_effective = u64::from_str_radix(value, 16).unwrap_or(0),
            "CapPrm" => t.cap_permitted = u64::from_str_radix(value, 16).unwrap_or(0),
            "CapInh" => t.cap_inheritable = u64::from_str_radix(value, 16).unwrap_or(0),
            // The last column is the id in the innermost pid namespace.
            "NStgid" => t.vpid = nums().next_back().unwrap_or(t.vpid),
            "NSpid" => t.vtid = nums().next_back().unwrap_or(t.vtid),
            _ => {}
        }
    }
}

/// A socket from /proc/<pid>/net/*.
#[derive(Debug, Clone)]
pub struct ProcSocket {
    pub kind: FdKind,
    pub tuple: SockTuple,
    pub connected: bool,
    pub listening: bool,
}

impl ProcSocket {
    fn to_fd(&self, flags: u32) -> FdInfo {
        let name = if self.listening {
            fdname::addr_name(&self.tuple.local)
        } else {
            fdname::tuple_name(&self.tuple)
        };
        FdInfo {
            kind: self.kind,
            name,
            flags,
            tuple: Some(self.tuple.clone()),
            dev: 0,
            ino: 0,
            connected: self.connected,
        }
    }
}

/// Socket tables by network namespace, read once per namespace per seeding.
#[derive(Debug, Default)]
pub struct SocketCache {
    by_netns: HashMap<u64, HashMap<u64, ProcSocket>>,
}

impl SocketCache {
    fn table(&mut self, dir: &Path, netns: u64) -> &HashMap<u64, ProcSocket> {
        self.by_netns
            .entry(netns)
            .or_insert_with(|| read_socket_tables(&dir.join("net")))
    }
}

fn read_socket_tables(net: &Path) -> HashMap<u64, ProcSocket> {
    let mut out = HashMap::new();
    for (file, l4, v6) in [
        ("tcp", L4Proto::Tcp, false),
        ("tcp6", L4Proto::Tcp, true),
        ("udp", L4Proto::Udp, false),
        ("udp6", L4Proto::Udp, true),
    ] {
        if let Ok(text) = std::fs::read_to_string(net.join(file)) {
            for (ino, s) in text
                .lines()
                .skip(1)
                .filter_map(|l| parse_inet_line(l, l4, v6))
            {
                out.insert(ino, s);
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(net.join("unix")) {
        for (ino, s) in text.lines().skip(1).filter_map(parse_unix_line) {
            out.insert(ino, s);
        }
    }
    out
}

/// One line of /proc/net/tcp{,6} or udp{,6}.
pub fn parse_inet_line(line: &str, l4: L4Proto, v6: bool) -> Option<(u64, ProcSocket)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let local = parse_hex_addr(f.get(1)?, v6)?;
    let remote = parse_hex_addr(f.get(2)?, v6)?;
    let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
    let ino: u64 = f.get(9)?.parse().ok()?;
    // TCP_ESTABLISHED = 1, TCP_LISTEN = 10; UDP "connected" has a remote port.
    let (connected, listening) = match l4 {
        L4Proto::Tcp => (state == 1, state == 10),
        _ => (
            matches!(remote, SockAddr::Inet { port, .. } if port != 0),
            false,
        ),
    };
    Some((
        ino,
        ProcSocket {
            kind: if v6 {
                FdKind::Ipv6Socket
            } else {
                FdKind::Ipv4Socket
            },
            tuple: SockTuple { l4, local, remote },
            connected,
            listening,
        },
    ))
}

/// `0100007F:1F90` (IPv4, little-endian words) or the 32-digit IPv6 form.
fn parse_hex_addr(s: &str, v6: bool) -> Option<SockAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = if v6 {
        if ip.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for w in 0..4 {
            let word = u32::from_str_radix(&ip[w * 8..w * 8 + 8], 16).ok()?;
            bytes[w * 4..w * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        let word = u32::from_str_radix(ip, 16).ok()?;
        IpAddr::V4(Ipv4Addr::from(word.to_le_bytes()))
    };
    Some(SockAddr::Inet { ip, port })
}

/// One line of /proc/net/unix: `Num RefCount Protocol Flags Type St Inode [Path]`.
pub fn parse_unix_line(line: &str) -> Option<(u64, ProcSocket)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let ino: u64 = f.get(6)?.parse().ok()?;
    let state = u8::from_str_radix(f.get(5)?, 16).ok()?;
    let path = f.get(7).map_or(String::new(), |p| p.to_string());
    // SS_CONNECTED = 3; flags 0x10000 is __SO_ACCEPTCON (listening).
    let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
    Some((
        ino,
        ProcSocket {
            kind: FdKind::UnixSocket,
            tuple: SockTuple {
                l4: L4Proto::Unix,
                local: SockAddr::Unix { path },
                remote: SockAddr::Unix {
                    path: String::new(),
                },
            },
            connected: state == 3,
            listening: flags & 0x10000 != 0,
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let s =
            "1234 (a) b (c)) S 1 1234 1234 34816 1234 4194304 0 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        let st = parse_stat(s).unwrap();
        assert_eq!(st.comm, "a) b (c)");
        assert_eq!((st.ppid, st.pgrp, st.session), (1, 1234, 1234));
        assert_eq!(st.tty_nr, 34816);
        assert_eq!(st.start_ticks, 98765);
        assert!(parse_stat("garbage").is_none());
        // pts/0 is major 136 minor 0
        assert_eq!(encode_tty(34816), 136 << 20);
        assert_eq!(encode_tty(0), 0);
    }

    #[test]
    fn status_fields() {
        let mut t = ThreadInfo::default();
        apply_status(
            &mut t,
            "Name:\tsh\nTgid:\t50\nPid:\t51\nPPid:\t7\nUid:\t1000\t1001\t1000\t1000\nGid:\t5\t6\t5\t5\nCapEff:\t000001ffffffffff\nCapPrm:\t0000000000000000\nNStgid:\t50\t3\nNSpid:\t51\t4\n",
        );
        assert_eq!((t.pid, t.tid, t.ppid), (50, 51, 7));
        assert_eq!((t.uid, t.gid), (1001, 6));
        assert_eq!(t.cap_effective, 0x1ff_ffff_ffff);
        assert_eq!((t.vpid, t.vtid), (3, 4));
    }

    #[test]
    fn net_lines() {
        let l = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0";
        let (ino, s) = parse_inet_line(l, L4Proto::Tcp, false).unwrap();
        assert_eq!(ino, 12345);
        assert!(s.listening && !s.connected);
        assert_eq!(fdname::addr_name(&s.tuple.local), "127.0.0.1:8080");
        let l6 = "   1: 00000000000000000000000001000000:0050 00000000000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0";
        let (_, s6) = parse_inet_line(l6, L4Proto::Tcp, true).unwrap();
        assert!(s6.connected);
        assert_eq!(
            s6.tuple.local,
            SockAddr::Inet {
                ip: "::1".parse().unwrap(),
                port: 80
            }
        );
        let u = "0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/x.sock";
        let (uino, us) = parse_unix_line(u).unwrap();
        assert_eq!(uino, 4242);
        assert!(us.listening);
        assert_eq!(
            us.tuple.local,
            SockAddr::Unix {
                path: "/run/x.sock".into()
            }
        );
    }

    #[test]
    fn overlay_upperdir_of_root_mount() {
        let line = "1500 1400 0:120 / / rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/var/lib/c/up,workdir=/var/lib/c/work";
        assert_eq!(overlay_root_upperdir(line), Some("/var/lib/c/up"));
        let other = "25 1 8:1 / /data rw - ext4 /dev/sda1 rw";
        assert_eq!(overlay_root_upperdir(other), None);
    }

    #[test]
    fn reads_own_process() {
        let r = ProcReader::new(Path::new("/"));
        let me = i64::from(std::process::id());
        let snap = r
            .read_process(me, &mut SocketCache::default())
            .expect("own process readable");
        let main = &snap.threads[0];
        assert_eq!(main.pid, me);
        assert_eq!(main.tid, me);
        assert_eq!(main.cwd, std::env::current_dir().unwrap().to_string_lossy());
        assert!(
            snap.fds
                .iter()
                .any(|(fd, _)| *fd == 0 || *fd == 1 || *fd == 2)
        );
        assert!(main.start_ns > 1_500_000_000_000_000_000);
    }
}
