//! The state tracker: applies every event to the thread, fd, container and
//! user tables before rules run (`apply`), and drops what the event ended
//! after they ran (`finish`), so rules on `procexit` or `close` still see
//! the thread or fd.

use super::cgroup::{self, ContainerRef};
use super::cri;
use super::dns::NameTable;
use super::fdname;
use super::proc::{ProcReader, SocketCache};
use super::resolver::{CriResolver, Lookup};
use super::types::{
    ContainerInfo, FdInfo, FdKind, HOST_CONTAINER_ID, PodInfo, StateView, ThreadInfo,
};
use super::users::UserDb;
use crate::event::{Event, EventKind, EventType, SockAddr, TaskContext};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Event types the tracker needs whenever any rule is loaded: process
/// lifecycle, working directory and identity changes.
pub const REQUIRED_EVENT_TYPES: &[EventType] = &[
    EventType::Clone,
    EventType::Clone3,
    EventType::Fork,
    EventType::Vfork,
    EventType::Execve,
    EventType::Execveat,
    EventType::Procexit,
    EventType::Chdir,
    EventType::Fchdir,
    EventType::Setuid,
    EventType::Setgid,
    EventType::Setreuid,
    EventType::Setregid,
    EventType::Setresuid,
    EventType::Setresgid,
];

/// Event types that keep fd tables current; add them when a loaded rule
/// reads `fd.*` on an fd-based syscall (read/write-style events, close,
/// dup...). Without them fd names come from /proc seeding only.
pub const FD_EVENT_TYPES: &[EventType] = &[
    EventType::Open,
    EventType::Openat,
    EventType::Openat2,
    EventType::Creat,
    EventType::Close,
    EventType::Dup,
    EventType::Dup2,
    EventType::Dup3,
    EventType::Fcntl,
    EventType::Socket,
    EventType::Connect,
    EventType::Accept,
    EventType::Accept4,
    EventType::Bind,
    EventType::Pipe,
    EventType::Pipe2,
    EventType::MemfdCreate,
];

/// Runtime names [`ContainerRef`] uses, to turn a stored name back into one.
const SCOPE_RUNTIMES: &[&str] = &["containerd", "cri-o", "docker", "podman"];

const CLONE_THREAD: u64 = 0x0001_0000;
const AT_FDCWD: i64 = -100;
const O_DIRECTORY: u32 = 0o200_000;
const O_CLOEXEC: u32 = 0o2_000_000;
const MFD_CLOEXEC: u32 = 1;
const EINPROGRESS: i64 = 115;
const F_DUPFD: i64 = 0;
const F_DUPFD_CLOEXEC: i64 = 1030;

/// Settings of the state tracker.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Most threads kept; beyond it the oldest dead or idle ones are evicted.
    pub max_threads: usize,
    /// Most fds kept per process (the rest are not tracked).
    pub max_fds_per_process: usize,
    /// Most containers kept.
    pub max_containers: usize,
    /// Ask the CRI runtime for container metadata.
    pub cri_enabled: bool,
    /// CRI sockets to try in order; empty = the well-known paths.
    pub cri_sockets: Vec<PathBuf>,
    /// How long the pipeline waits for one container lookup.
    pub cri_timeout: Duration,
    /// When a lookup failed, how long before it is tried again.
    pub cri_retry_interval: Duration,
    /// Root of the host filesystem ("/" unless the sensor runs in a container
    /// with the host mounted elsewhere); /proc and /etc are read below it.
    pub host_root: PathBuf,
    /// Least time between re-reads of a passwd/group file on a miss.
    pub user_refresh_interval: Duration,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            max_threads: 131_072,
            max_fds_per_process: 4096,
            max_containers: 8192,
            cri_enabled: true,
            cri_sockets: Vec::new(),
            cri_timeout: Duration::from_millis(500),
            cri_retry_interval: Duration::from_secs(30),
            host_root: PathBuf::from("/"),
            user_refresh_interval: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading {path}: {source}")]
    Proc {
        path: String,
        source: std::io::Error,
    },
}

/// Counters describing the tracker's tables and work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateStats {
    pub threads: usize,
    pub processes_with_fds: usize,
    pub fds: usize,
    pub containers: usize,
    pub threads_evicted: u64,
    pub threads_from_proc: u64,
    pub threads_from_event: u64,
    pub cri_lookups: u64,
    pub cri_failures: u64,
    pub cri_timeouts: u64,
    /// Whether a CRI socket was found.
    pub cri_socket: Option<String>,
}

struct ThreadEntry {
    info: ThreadInfo,
    /// Event counter value when the thread was last seen.
    last_seen: u64,
    /// The thread itself exited but is kept because other threads of its
    /// process still run (a process's main thread).
    exited: bool,
}

struct ContainerEntry {
    info: ContainerInfo,
    /// When an unresolved entry may be asked about again.
    retry_at: Option<Instant>,
}

/// See the module documentation.
pub struct StateTracker {
    cfg: StateConfig,
    procfs: ProcReader,
    // Tables keyed by kernel-assigned ids (tid, pid, fd) use FxHash: an
    // attacker cannot choose those keys, and SipHash cost ~14% of the
    // detection thread. Tables keyed by strings keep the standard hasher.
    threads: FxHashMap<i64, ThreadEntry>,
    /// Live threads per process id.
    members: FxHashMap<i64, u32>,
    fds: FxHashMap<i64, FxHashMap<i64, FdInfo>>,
    /// By full id; `short_ids` maps the 12-digit form.
    containers: HashMap<String, ContainerEntry>,
    short_ids: HashMap<String, String>,
    users: UserDb,
    resolver: Option<CriResolver>,
    /// Names of the addresses the rules watch (`fd.sip.name`...).
    ip_names: Arc<NameTable>,
    clock: u64,
    stats: StateStats,
}

impl StateTracker {
    pub fn new(cfg: StateConfig) -> Self {
        let resolver = if cfg.cri_enabled {
            match cri::detect_socket(&cfg.cri_sockets) {
                Ok(sock) => match CriResolver::start(sock.clone(), cfg.cri_timeout) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!("cannot start the CRI resolver for {}: {e}", sock.display());
                        None
                    }
                },
                Err(e) => {
                    tracing::info!("container metadata unavailable: {e}");
                    None
                }
            }
        } else {
            None
        };
        let stats = StateStats {
            cri_socket: resolver.as_ref().map(|r| r.socket().display().to_string()),
            ..StateStats::default()
        };
        StateTracker {
            procfs: ProcReader::new(&cfg.host_root),
            users: UserDb::new(cfg.host_root.clone(), cfg.user_refresh_interval),
            cfg,
            threads: FxHashMap::default(),
            members: FxHashMap::default(),
            fds: FxHashMap::default(),
            containers: HashMap::new(),
            short_ids: HashMap::new(),
            resolver,
            ip_names: Arc::default(),
            clock: 0,
            stats,
        }
    }

    /// Replaces the address -> name table (from [`super::dns::NameWatcher`]).
    pub fn set_ip_names(&mut self, table: Arc<NameTable>) {
        self.ip_names = table;
    }

    /// Reads every process and thread from /proc. Returns the number of
    /// threads known afterwards.
    pub fn seed_from_proc(&mut self) -> Result<usize, StateError> {
        let pids = self.procfs.pids().map_err(|source| StateError::Proc {
            path: self.procfs.proc_root().display().to_string(),
            source,
        })?;
        let mut sockets = SocketCache::default();
        for pid in pids {
            let Some(snap) = self.procfs.read_process(pid, &mut sockets) else {
                continue;
            };
            if let Some(c) = &snap.container {
                self.ensure_container(c);
            }
            if let Some(main) = snap.threads.first() {
                self.users
                    .ensure(&main.container_id, main.pid, main.uid, main.gid);
            }
            let table: FxHashMap<i64, FdInfo> = snap
                .fds
                .into_iter()
                .take(self.cfg.max_fds_per_process)
                .collect();
            self.fds.insert(pid, table);
            for t in snap.threads {
                self.insert_thread(t);
            }
        }
        Ok(self.threads.len())
    }

    /// Applies an event before rules see it: creates and updates threads,
    /// fd tables and containers, and fills the event's `resolved_*` paths.
    pub fn apply(&mut self, ev: &mut Event) {
        self.clock += 1;
        self.collect_late_containers();
        self.ensure_thread(&ev.task);
        self.refresh_from_task(&ev.task);
        self.retry_unresolved_container(ev.task.tid);
        self.resolve_paths(ev);
        let ok = ev.res >= 0;
        let tid = ev.task.tid;
        let pid = ev.task.pid;
        match &ev.kind {
            EventKind::Clone { flags } if ev.res > 0 => self.on_clone(ev, *flags),
            EventKind::Exec { .. } if ev.res == 0 => self.on_exec(ev),
            EventKind::Open {
                path,
                resolved_path,
                flags,
                dev,
                ino,
                ..
            } if ok => {
                // An unresolvable relative path is still better than no name.
                let name = if resolved_path.is_empty() {
                    path
                } else {
                    resolved_path
                };
                let kind = if flags & O_DIRECTORY != 0 {
                    FdKind::Directory
                } else {
                    FdKind::File
                };
                let info = FdInfo {
                    kind,
                    name: name.clone(),
                    flags: *flags,
                    tuple: None,
                    dev: *dev,
                    ino: *ino,
                    connected: false,
                };
                self.set_fd(pid, ev.res, info);
            }
            EventKind::Socket {
                domain, sock_type, ..
            } if ok => {
                let kind = match domain {
                    1 => FdKind::UnixSocket,
                    2 => FdKind::Ipv4Socket,
                    10 => FdKind::Ipv6Socket,
                    16 => FdKind::NetlinkSocket,
                    _ => FdKind::Unknown,
                };
                // SOCK_CLOEXEC has O_CLOEXEC's value.
                let flags = sock_type & O_CLOEXEC;
                self.set_fd(pid, ev.res, empty_fd(kind, String::new(), flags));
            }
            EventKind::Connect { fd, addr, tuple } if ok || ev.res == -EINPROGRESS => {
                let (fd, addr, tuple) = (*fd, addr.clone(), tuple.clone());
                let name = tuple
                    .as_ref()
                    .map(fdname::tuple_name)
                    .unwrap_or_else(|| fdname::addr_name(&addr));
                let kind = sock_kind(tuple.as_ref().map_or(&addr, |t| &t.remote));
                let entry = self
                    .fds
                    .get_mut(&pid)
                    .and_then(|t| t.get_mut(&fd))
                    .map(|e| {
                        e.name = name.clone();
                        e.tuple = tuple.clone();
                        e.connected = true;
                    });
                if entry.is_none() {
                    let mut info = empty_fd(kind, name, 0);
                    info.tuple = tuple;
                    info.connected = true;
                    self.set_fd(pid, fd, info);
                }
            }
            EventKind::Accept { tuple, flags } if ok => {
                let info = match tuple {
                    Some(t) => FdInfo {
                        tuple: Some(t.clone()),
                        connected: true,
                        ..empty_fd(sock_kind(&t.local), fdname::accepted_tuple_name(t), *flags)
                    },
                    None => empty_fd(FdKind::Unknown, String::new(), *flags),
                };
                self.set_fd(pid, ev.res, info);
            }
            EventKind::Bind { fd, addr } if ok => {
                let (fd, name, kind) = (*fd, fdname::addr_name(addr), sock_kind(addr));
                match self.fds.get_mut(&pid).and_then(|t| t.get_mut(&fd)) {
                    Some(e) => e.name = name,
                    None => self.set_fd(pid, fd, empty_fd(kind, name, 0)),
                }
            }
            EventKind::Dup { oldfd, flags, .. } if ok => {
                let cloexec = if ev.etype == EventType::Dup3 {
                    flags & O_CLOEXEC
                } else {
                    0
                };
                self.dup_fd(pid, *oldfd, ev.res, cloexec);
            }
            EventKind::Fcntl { fd, cmd } if ok && (*cmd == F_DUPFD || *cmd == F_DUPFD_CLOEXEC) => {
                let cloexec = if *cmd == F_DUPFD_CLOEXEC {
                    O_CLOEXEC
                } else {
                    0
                };
                self.dup_fd(pid, *fd, ev.res, cloexec);
            }
            EventKind::Pipe { fds, flags } if ok => {
                for fd in *fds {
                    self.set_fd(pid, fd, empty_fd(FdKind::Pipe, String::new(), *flags));
                }
            }
            EventKind::MemfdCreate { name, flags } if ok => {
                let cloexec = if flags & MFD_CLOEXEC != 0 {
                    O_CLOEXEC
                } else {
                    0
                };
                let info = empty_fd(FdKind::Memfd, format!("memfd:{name}"), cloexec);
                self.set_fd(pid, ev.res, info);
            }
            EventKind::Chdir {
                resolved_path, fd, ..
            } if ok => {
                let cwd = if ev.etype == EventType::Fchdir {
                    self.fd(pid, *fd).map(|f| f.name.clone())
                } else {
                    Some(resolved_path.clone())
                };
                // The cwd belongs to the process (threads share it): keep the
                // calling thread's and the main thread's copy current.
                if let Some(cwd) = cwd.filter(|c| c.starts_with('/')) {
                    if let Some(t) = self.threads.get_mut(&pid) {
                        t.info.cwd.clone_from(&cwd);
                    }
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.info.cwd = cwd;
                    }
                }
            }
            _ => {}
        }
    }

    /// Drops what the event ended, after rules ran on it.
    pub fn finish(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::Exit { .. } => self.remove_thread(ev.task.tid),
            EventKind::Close { fd } if ev.res >= 0 => {
                if let Some(t) = self.fds.get_mut(&ev.task.pid) {
                    t.remove(fd);
                }
            }
            _ => {}
        }
    }

    /// Adds or replaces container metadata (replay, tests).
    pub fn insert_container(&mut self, info: ContainerInfo) {
        let full = if info.full_id.is_empty() {
            info.id.clone()
        } else {
            info.full_id.clone()
        };
        if let Some(short) = full.get(..12) {
            self.short_ids.insert(short.to_string(), full.clone());
        }
        self.containers.insert(
            full,
            ContainerEntry {
                info,
                retry_at: None,
            },
        );
    }

    /// Adds or replaces a thread (replay, tests).
    pub fn insert_thread(&mut self, info: ThreadInfo) {
        self.make_room();
        let tid = info.tid;
        let pid = info.pid;
        let previous = self.threads.insert(
            tid,
            ThreadEntry {
                info,
                last_seen: self.clock,
                exited: false,
            },
        );
        if previous.is_none_or(|p| p.exited) {
            *self.members.entry(pid).or_insert(0) += 1;
        }
    }

    pub fn threads(&self) -> impl Iterator<Item = &ThreadInfo> {
        self.threads.values().map(|e| &e.info)
    }

    pub fn containers(&self) -> impl Iterator<Item = &ContainerInfo> {
        self.containers.values().map(|e| &e.info)
    }

    /// Users and groups, for replay and tests.
    pub fn users_mut(&mut self) -> &mut UserDb {
        &mut self.users
    }

    pub fn stats(&self) -> StateStats {
        StateStats {
            threads: self.threads.len(),
            processes_with_fds: self.fds.len(),
            fds: self.fds.values().map(HashMap::len).sum(),
            containers: self.containers.len(),
            ..self.stats.clone()
        }
    }

    // ---- threads ----

    /// Makes sure the event's thread is known: from /proc when it still
    /// exists, else from the event's own context and its process or parent.
    fn ensure_thread(&mut self, task: &TaskContext) {
        if let Some(e) = self.threads.get_mut(&task.tid) {
            e.last_seen = self.clock;
            return;
        }
        if let Some((info, container)) = self.procfs.read_one_thread(task.pid, task.tid)
            && info.pid == task.pid
        {
            self.stats.threads_from_proc += 1;
            if let Some(c) = &container {
                self.ensure_container(c);
            }
            if !self.fds.contains_key(&task.pid) {
                let fds = self
                    .procfs
                    .read_process_fds(task.pid, &mut SocketCache::default());
                self.fds.insert(
                    task.pid,
                    fds.into_iter().take(self.cfg.max_fds_per_process).collect(),
                );
            }
            self.users
                .ensure(&info.container_id, info.pid, info.uid, info.gid);
            self.insert_thread(info);
            // Lookups by pid (parents, ancestors) need the main thread too.
            if task.tid != task.pid
                && !self.threads.contains_key(&task.pid)
                && let Some((main, _)) = self.procfs.read_one_thread(task.pid, task.pid)
            {
                self.insert_thread(main);
            }
            return;
        }
        self.stats.threads_from_event += 1;
        // A thread of a known process, or a child of a known parent, shares
        // their executable, arguments, cwd and container.
        let base = self
            .process(task.pid)
            .or_else(|| self.process(task.ppid))
            .cloned();
        let mut info = base.unwrap_or_else(|| ThreadInfo {
            exe: task.comm.clone(),
            container_id: Arc::from(HOST_CONTAINER_ID),
            ..ThreadInfo::default()
        });
        info.tid = task.tid;
        info.pid = task.pid;
        info.ppid = task.ppid;
        info.vtid = task.vtid;
        info.vpid = task.vpid;
        info.comm = task.comm.clone();
        self.insert_thread(info);
    }

    /// The kernel's view of the thread at this event is authoritative for
    /// identity, credentials and parent (which changes on reparenting).
    fn refresh_from_task(&mut self, task: &TaskContext) {
        let Some(e) = self.threads.get_mut(&task.tid) else {
            return;
        };
        let t = &mut e.info;
        t.ppid = task.ppid;
        t.vtid = task.vtid;
        t.vpid = task.vpid;
        t.vsid = task.vsid;
        t.vpgid = task.vpgid;
        t.uid = task.uid;
        t.gid = task.gid;
        t.loginuid = task.loginuid;
        t.tty = task.tty;
        t.cap_effective = task.cap_effective;
        t.cap_permitted = task.cap_permitted;
        t.cap_inheritable = task.cap_inheritable;
        if task.pidns_ino != 0 {
            t.pidns_ino = task.pidns_ino;
        }
        if !task.comm.is_empty() {
            t.comm.clone_from(&task.comm);
        }
        // Disjoint fields: no Arc clone per event.
        self.users.ensure(&t.container_id, t.pid, t.uid, t.gid);
    }

    fn on_clone(&mut self, ev: &Event, flags: u64) {
        let child = ev.res;
        // A caller inside a pid namespace gets the child's id in that
        // namespace, which is not a host tid: the child is then created
        // lazily from /proc on its own first event.
        if ev.task.vtid != 0 && ev.task.vtid != ev.task.tid {
            return;
        }
        if self.threads.get(&child).is_some_and(|e| !e.exited) {
            return;
        }
        let Some(parent) = self.threads.get(&ev.task.tid).map(|e| e.info.clone()) else {
            return;
        };
        let mut info = parent;
        info.tid = child;
        info.vtid = child;
        if flags & CLONE_THREAD != 0 {
            info.pid = ev.task.pid;
        } else {
            info.pid = child;
            info.vpid = child;
            info.ppid = ev.task.pid;
            let table = self.fds.get(&ev.task.pid).cloned().unwrap_or_default();
            self.fds.insert(child, table);
        }
        info.start_ns = ev.ts_ns;
        self.insert_thread(info);
    }

    fn on_exec(&mut self, ev: &Event) {
        let EventKind::Exec {
            filename,
            argv,
            env,
            exe_path,
            cwd,
            exe_file,
            cgroup,
            ..
        } = &ev.kind
        else {
            return;
        };
        let container = if cgroup.is_empty() {
            None
        } else {
            Some(cgroup::container_id_from_cgroup(cgroup))
        };
        if let Some(Some(c)) = &container {
            self.ensure_container(c);
        }
        let pid = ev.task.pid;
        let Some(entry) = self.threads.get_mut(&ev.task.tid) else {
            return;
        };
        let t = &mut entry.info;
        let mut args = argv.clone();
        t.exe = if args.is_empty() {
            filename.clone()
        } else {
            args.remove(0)
        };
        t.args = args;
        t.exe_path = if exe_path.is_empty() {
            fdname::resolve(&t.cwd, filename)
        } else {
            exe_path.clone()
        };
        if !env.is_empty() {
            t.env.clone_from(env);
        }
        if !cwd.is_empty() {
            t.cwd.clone_from(cwd);
        }
        if !ev.task.comm.is_empty() {
            t.comm.clone_from(&ev.task.comm);
        }
        t.exe_ino = exe_file.ino;
        t.exe_mtime_ns = exe_file.mtime_ns;
        t.exe_ctime_ns = exe_file.ctime_ns;
        t.exe_upper_layer = exe_file.upper_layer;
        t.exe_from_memfd = exe_file.from_memfd;
        t.exec_ns = ev.ts_ns;
        match container {
            Some(Some(c)) => t.container_id = Arc::from(&c.id[..12]),
            Some(None) => t.container_id = Arc::from(HOST_CONTAINER_ID),
            None => {}
        }
        // Descriptors marked close-on-exec are gone in the new program.
        if let Some(table) = self.fds.get_mut(&pid) {
            table.retain(|_, f| f.flags & O_CLOEXEC == 0);
        }
    }

    fn remove_thread(&mut self, tid: i64) {
        let Some(entry) = self.threads.get_mut(&tid) else {
            return;
        };
        if entry.exited {
            return;
        }
        let pid = entry.info.pid;
        let remaining = match self.members.get_mut(&pid) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if remaining == 0 {
            self.members.remove(&pid);
            self.threads.remove(&tid);
            self.threads.remove(&pid);
            self.fds.remove(&pid);
        } else if tid == pid {
            // Keep the main thread for lookups by pid while threads remain.
            entry.exited = true;
        } else {
            self.threads.remove(&tid);
        }
    }

    /// Keeps the table under `max_threads`: first drops threads whose /proc
    /// entry is gone (their exit was lost), oldest first, then the least
    /// recently seen ones, down to 90% of the limit.
    fn make_room(&mut self) {
        let max = self.cfg.max_threads.max(1);
        if self.threads.len() < max {
            return;
        }
        let target = max - max / 10 - 1;
        let mut by_age: Vec<(u64, i64)> = self
            .threads
            .iter()
            .map(|(tid, e)| (e.last_seen, *tid))
            .collect();
        by_age.sort_unstable();
        let excess = self.threads.len() - target.min(self.threads.len());
        let dead: Vec<i64> = by_age
            .iter()
            .filter(|(_, tid)| {
                self.threads.get(tid).is_some_and(|e| e.exited) || !self.procfs.thread_alive(*tid)
            })
            .take(excess)
            .map(|(_, tid)| *tid)
            .collect();
        let mut removed = 0;
        for tid in &dead {
            removed += self.evict(*tid);
        }
        for (_, tid) in &by_age {
            if self.threads.len() <= target {
                break;
            }
            removed += self.evict(*tid);
        }
        self.stats.threads_evicted += removed;
    }

    fn evict(&mut self, tid: i64) -> u64 {
        let Some(e) = self.threads.remove(&tid) else {
            return 0;
        };
        let pid = e.info.pid;
        if let Some(n) = self.members.get_mut(&pid) {
            *n = n.saturating_sub(u32::from(!e.exited));
            if *n == 0 {
                self.members.remove(&pid);
                self.fds.remove(&pid);
            }
        }
        1
    }

    // ---- fds ----

    fn set_fd(&mut self, pid: i64, fd: i64, info: FdInfo) {
        let max = self.cfg.max_fds_per_process;
        let table = self.fds.entry(pid).or_default();
        if table.len() < max || table.contains_key(&fd) {
            table.insert(fd, info);
        }
    }

    fn dup_fd(&mut self, pid: i64, oldfd: i64, newfd: i64, cloexec: u32) {
        if let Some(mut info) = self.fd(pid, oldfd).cloned() {
            info.flags = (info.flags & !O_CLOEXEC) | cloexec;
            self.set_fd(pid, newfd, info);
        } else if let Some(t) = self.fds.get_mut(&pid) {
            // dup2 onto an open fd closed it: do not keep the old name around.
            t.remove(&newfd);
        }
    }

    // ---- paths ----

    /// Fills empty `resolved_*` fields from the thread's cwd or the dirfd's
    /// path in the fd table.
    fn resolve_paths(&self, ev: &mut Event) {
        if !matches!(
            ev.kind,
            EventKind::Open { .. }
                | EventKind::Unlink { .. }
                | EventKind::Rename { .. }
                | EventKind::Link { .. }
                | EventKind::Mkdir { .. }
                | EventKind::Symlink { .. }
                | EventKind::Chmod { .. }
                | EventKind::Chdir { .. }
        ) {
            return;
        }
        let tid = ev.task.tid;
        let pid = ev.task.pid;
        // Borrowed, not cloned: most paths arrive absolute and already
        // resolved, and this runs for every open.
        let cwd = self
            .threads
            .get(&pid)
            .or_else(|| self.threads.get(&tid))
            .map(|e| e.info.cwd.as_str())
            .filter(|c| c.starts_with('/'));
        let base_for = |dirfd: i64| -> Option<&str> {
            if dirfd == AT_FDCWD {
                cwd
            } else {
                self.fd(pid, dirfd)
                    .map(|f| f.name.as_str())
                    .filter(|n| n.starts_with('/'))
            }
        };
        let fill = |resolved: &mut String, path: &str, base: Option<&str>| {
            if !resolved.is_empty() || path.is_empty() {
                return;
            }
            if path.starts_with('/') {
                *resolved = fdname::resolve("/", path);
            } else if let Some(b) = base {
                *resolved = fdname::resolve(b, path);
            }
        };
        match &mut ev.kind {
            EventKind::Open {
                path,
                resolved_path,
                dirfd,
                ..
            }
            | EventKind::Unlink {
                path,
                resolved_path,
                dirfd,
                ..
            } => {
                let base = base_for(*dirfd);
                fill(resolved_path, path, base);
            }
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
            } => {
                fill(resolved_oldpath, oldpath, cwd);
                fill(resolved_newpath, newpath, cwd);
            }
            EventKind::Mkdir {
                path,
                resolved_path,
                ..
            } => fill(resolved_path, path, cwd),
            EventKind::Symlink {
                linkpath,
                resolved_linkpath,
                ..
            } => fill(resolved_linkpath, linkpath, cwd),
            EventKind::Chmod {
                path,
                resolved_path,
                fd,
                ..
            } => {
                if path.is_empty() && resolved_path.is_empty() {
                    if let Some(f) = self.fd(pid, *fd) {
                        resolved_path.clone_from(&f.name);
                    }
                } else {
                    fill(resolved_path, path, cwd);
                }
            }
            EventKind::Chdir {
                path,
                resolved_path,
                ..
            } => fill(resolved_path, path, cwd),
            _ => {}
        }
    }

    // ---- containers ----

    fn collect_late_containers(&mut self) {
        let late: Vec<ContainerInfo> = match &self.resolver {
            Some(r) => r.late_results().collect(),
            None => return,
        };
        for mut info in late {
            if let Some(old) = self.containers.get(&info.full_id)
                && info.runtime.is_empty()
            {
                info.runtime.clone_from(&old.info.runtime);
            }
            self.insert_container(info);
        }
    }

    /// Registers a container seen in a cgroup, asking the runtime about it
    /// on first sight and again after the retry interval when that failed.
    fn ensure_container(&mut self, c: &ContainerRef) {
        if let Some(e) = self.containers.get(&c.id) {
            let retry_due = e.retry_at.is_some_and(|t| Instant::now() >= t);
            if e.info.resolved || !retry_due {
                return;
            }
        }
        if self.containers.len() >= self.cfg.max_containers {
            self.prune_containers();
        }
        let mut placeholder = ContainerInfo {
            id: c.id[..12].to_string(),
            full_id: c.id.clone(),
            runtime: c.runtime.to_string(),
            pod: c.pod_uid.as_ref().map(|uid| PodInfo {
                uid: uid.clone(),
                ..PodInfo::default()
            }),
            resolved: false,
            ..ContainerInfo::default()
        };
        let outcome = self.resolver.as_ref().map(|r| r.lookup(&c.id));
        let retry_at = match outcome {
            Some(Lookup::Found(mut info)) => {
                self.stats.cri_lookups += 1;
                if info.runtime.is_empty() {
                    info.runtime = c.runtime.to_string();
                }
                if let (Some(pod), Some(uid)) = (info.pod.as_mut(), &c.pod_uid)
                    && pod.uid.is_empty()
                {
                    pod.uid.clone_from(uid);
                }
                placeholder = *info;
                None
            }
            Some(Lookup::Failed(e)) => {
                self.stats.cri_lookups += 1;
                self.stats.cri_failures += 1;
                tracing::debug!("container {}: {e}", c.id);
                Some(Instant::now() + self.cfg.cri_retry_interval)
            }
            Some(Lookup::TimedOut) => {
                self.stats.cri_lookups += 1;
                self.stats.cri_timeouts += 1;
                Some(Instant::now() + self.cfg.cri_retry_interval)
            }
            None => Some(Instant::now() + self.cfg.cri_retry_interval),
        };
        self.short_ids.insert(c.id[..12].to_string(), c.id.clone());
        self.containers.insert(
            c.id.clone(),
            ContainerEntry {
                info: placeholder,
                retry_at,
            },
        );
    }

    /// A container whose lookup failed is asked again, once its retry time
    /// has come, when one of its threads does anything.
    fn retry_unresolved_container(&mut self, tid: i64) {
        let Some(cid) = self.threads.get(&tid).map(|e| &*e.info.container_id) else {
            return;
        };
        if cid == HOST_CONTAINER_ID {
            return;
        }
        let Some(full) = self.short_ids.get(cid) else {
            return;
        };
        let Some(e) = self.containers.get(full) else {
            return;
        };
        if e.info.resolved || e.retry_at.is_none_or(|t| Instant::now() < t) {
            return;
        }
        let runtime = SCOPE_RUNTIMES
            .iter()
            .copied()
            .find(|r| *r == e.info.runtime)
            .unwrap_or("containerd");
        let c = ContainerRef {
            id: e.info.full_id.clone(),
            runtime,
            pod_uid: e.info.pod.as_ref().map(|p| p.uid.clone()),
        };
        self.ensure_container(&c);
    }

    /// Drops containers no known thread runs in.
    fn prune_containers(&mut self) {
        let live: std::collections::HashSet<&str> = self
            .threads
            .values()
            .map(|e| &*e.info.container_id)
            .collect();
        let gone: Vec<String> = self
            .containers
            .values()
            .filter(|e| !live.contains(e.info.id.as_str()))
            .map(|e| e.info.full_id.clone())
            .collect();
        for full in gone {
            if let Some(e) = self.containers.remove(&full) {
                self.short_ids.remove(&e.info.id);
                self.users.forget(&e.info.id);
            }
        }
    }
}

fn empty_fd(kind: FdKind, name: String, flags: u32) -> FdInfo {
    FdInfo {
        kind,
        name,
        flags,
        tuple: None,
        dev: 0,
        ino: 0,
        connected: false,
    }
}

fn sock_kind(a: &SockAddr) -> FdKind {
    match a {
        SockAddr::Inet { ip, .. } if ip.is_ipv4() => FdKind::Ipv4Socket,
        SockAddr::Inet { .. } => FdKind::Ipv6Socket,
        SockAddr::Unix { .. } => FdKind::UnixSocket,
        SockAddr::Other { .. } => FdKind::Unknown,
    }
}

impl StateView for StateTracker {
    fn thread(&self, tid: i64) -> Option<&ThreadInfo> {
        self.threads.get(&tid).map(|e| &e.info)
    }

    fn process(&self, pid: i64) -> Option<&ThreadInfo> {
        self.threads.get(&pid).map(|e| &e.info)
    }

    fn fd(&self, pid: i64, fd: i64) -> Option<&FdInfo> {
        self.fds.get(&pid)?.get(&fd)
    }

    fn container(&self, id: &str) -> Option<&ContainerInfo> {
        let full = if id.len() == 12 {
            self.short_ids.get(id).map(String::as_str)?
        } else {
            id
        };
        self.containers.get(full).map(|e| &e.info)
    }

    fn user_name(&self, container_id: &str, uid: u32) -> Option<&str> {
        self.users.user(container_id, uid).map(|u| u.name.as_str())
    }

    fn group_name(&self, container_id: &str, gid: u32) -> Option<&str> {
        self.users.group(container_id, gid)
    }

    fn user_home_shell(&self, container_id: &str, uid: u32) -> Option<(&str, &str)> {
        self.users
            .user(container_id, uid)
            .map(|u| (u.home.as_str(), u.shell.as_str()))
    }

    fn ip_names(&self, ip: std::net::IpAddr) -> &[Arc<str>] {
        self.ip_names.names(ip)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "tracker_tests.rs"]
mod tests;
