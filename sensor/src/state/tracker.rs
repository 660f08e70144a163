//! The state tracker: applies every event to the thread, fd, container and
//! user tables before rules run (`apply`), and drops what the event ended
//! after they ran (`finish`), so rules on `procexit` or `close` still see
//! the thread or fd.

use super::cgroup::{self, ContainerRef};
use super::dns::NameTable;
use super::fdname;
use super::proc::{ProcReader, SocketCache};
use super::resolver::{Answer, CriSource, LookupError, MetadataSource, Resolver};
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

use crate::event::abi::{
    AT_FDCWD, CLONE_THREAD, EINPROGRESS, F_DUPFD, F_DUPFD_CLOEXEC, MFD_CLOEXEC, O_CLOEXEC,
    O_DIRECTORY,
};

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
    /// Bound on one container lookup (the pipeline itself never waits).
    pub cri_timeout: Duration,
    /// First wait before a failed lookup is tried again; doubles per failure.
    pub cri_retry_initial: Duration,
    /// Longest wait between two tries of a failed lookup.
    pub cri_retry_max: Duration,
    /// How long events of a container whose metadata is still being looked
    /// up may be held back so their alerts carry it (0: never held).
    pub metadata_wait: Duration,
    /// Root of the host filesystem ("/" unless the sensor runs in a container
    /// with the host mounted elsewhere); /proc and /etc are read below it.
    pub host_root: PathBuf,
    /// Least time between re-reads of a passwd/group file on a miss.
    pub user_refresh_interval: Duration,
}

impl StateConfig {
    /// Default bound on one CRI lookup (also `state.lookup_timeout_ms`).
    pub const DEFAULT_CRI_TIMEOUT_MS: u64 = 1000;
    /// Default hold for events awaiting metadata (`state.metadata_wait_ms`).
    pub const DEFAULT_METADATA_WAIT_MS: u64 = 1000;
    /// Default thread table size (`state.max_threads`).
    pub const DEFAULT_MAX_THREADS: usize = 131_072;
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            max_threads: Self::DEFAULT_MAX_THREADS,
            max_fds_per_process: 4096,
            max_containers: 8192,
            cri_enabled: true,
            cri_sockets: Vec::new(),
            cri_timeout: Duration::from_millis(Self::DEFAULT_CRI_TIMEOUT_MS),
            cri_retry_initial: Duration::from_millis(25),
            cri_retry_max: Duration::from_secs(30),
            metadata_wait: Duration::from_millis(Self::DEFAULT_METADATA_WAIT_MS),
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
    /// Lookups asked again after a failure.
    pub cri_retries: u64,
    /// The CRI socket answering lookups, once one did.
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
    /// Where the metadata lookup stands; `None` once resolved (or given
    /// by replay and tests).
    lookup: Option<PendingLookup>,
}

/// An unresolved container's lookup.
#[derive(Debug, Clone, Copy)]
struct PendingLookup {
    first_seen: Instant,
    /// A request is queued or being answered.
    in_flight: bool,
    /// Failed tries so far.
    failures: u32,
    /// When a failed lookup may be asked again.
    retry_at: Instant,
    /// The last try found no runtime socket at all: waiting cannot help.
    no_runtime: bool,
}

/// Where a container's metadata stands, for callers holding its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataState {
    /// Known (or never to be known by waiting: unknown id, no runtime).
    Settled,
    /// Being looked up; worth waiting for until the deadline.
    Pending { deadline: Instant },
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
    resolver: Option<Resolver>,
    /// Unresolved containers (full ids) with a lookup to retry.
    pending: Vec<String>,
    /// "No runtime socket" was logged once already.
    warned_no_runtime: bool,
    /// Names of the addresses the rules watch (`fd.sip.name`...).
    ip_names: Arc<NameTable>,
    clock: u64,
    stats: StateStats,
}

impl StateTracker {
    pub fn new(cfg: StateConfig) -> Self {
        let source = cfg
            .cri_enabled
            .then(|| CriSource::new(cfg.cri_sockets.clone(), cfg.cri_timeout));
        Self::with_metadata_source(cfg, source)
    }

    /// A tracker whose container metadata comes from `source` (`None`: no
    /// lookups, containers are known by id only).
    pub fn with_metadata_source(cfg: StateConfig, source: Option<impl MetadataSource>) -> Self {
        let resolver = source.and_then(|s| match Resolver::start(s) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("cannot start the container metadata resolver: {e}");
                None
            }
        });
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
            pending: Vec::new(),
            warned_no_runtime: false,
            ip_names: Arc::default(),
            clock: 0,
            stats: StateStats::default(),
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
        // Containers running at start get their metadata before the first
        // event, within one lookup timeout.
        self.settle_lookups(self.cfg.cri_timeout);
        Ok(self.threads.len())
    }

    /// Applies an event before rules see it: creates and updates threads,
    /// fd tables and containers, and fills the event's `resolved_*` paths.
    pub fn apply(&mut self, ev: &mut Event) {
        self.clock += 1;
        self.collect_answers();
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
        self.pending.retain(|p| *p != full);
        self.containers
            .insert(full, ContainerEntry { info, lookup: None });
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

    /// A process's fd table, as tracked.
    pub fn process_fds(&self, pid: i64) -> Option<&FxHashMap<i64, FdInfo>> {
        self.fds.get(&pid)
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

    /// Metadata lookups answered so far (cheap, unlike [`Self::stats`]).
    pub fn lookups_answered(&self) -> u64 {
        self.stats.cri_lookups
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

    /// Where the metadata of thread `tid`'s container stands. Host threads,
    /// unknown threads and resolved containers are settled.
    pub fn metadata_state(&self, tid: i64) -> MetadataState {
        let Some(cid) = self.threads.get(&tid).map(|e| &*e.info.container_id) else {
            return MetadataState::Settled;
        };
        if cid == HOST_CONTAINER_ID {
            return MetadataState::Settled;
        }
        match self.short_ids.get(cid) {
            Some(full) => self.container_metadata_state(full),
            None => MetadataState::Settled,
        }
    }

    /// [`Self::metadata_state`] by full container id.
    pub fn container_metadata_state(&self, full_id: &str) -> MetadataState {
        let Some(p) = self.containers.get(full_id).and_then(|e| e.lookup) else {
            return MetadataState::Settled;
        };
        if p.no_runtime || self.resolver.is_none() {
            return MetadataState::Settled;
        }
        MetadataState::Pending {
            deadline: p.first_seen + self.cfg.metadata_wait,
        }
    }

    /// The full id of thread `tid`'s container, if it runs in one.
    pub fn container_full_id(&self, tid: i64) -> Option<&str> {
        let cid = self.threads.get(&tid).map(|e| &*e.info.container_id)?;
        self.short_ids.get(cid).map(String::as_str)
    }

    /// Takes in the answers of lookups that completed, and asks again for
    /// the unresolved containers whose retry time has come. Cheap when
    /// nothing is pending; the detection loop calls it between events.
    pub fn poll_metadata(&mut self) {
        self.collect_answers();
        if self.pending.is_empty() {
            return;
        }
        let now = Instant::now();
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|id| {
                self.containers
                    .get(*id)
                    .and_then(|e| e.lookup)
                    .is_some_and(|p| !p.in_flight && p.retry_at <= now)
            })
            .cloned()
            .collect();
        for id in due {
            // A container none of whose threads is known any more is gone:
            // stop asking about it.
            let short = id.get(..12).unwrap_or(&id);
            if !self
                .threads
                .values()
                .any(|t| &*t.info.container_id == short)
            {
                self.pending.retain(|p| *p != id);
                continue;
            }
            self.request_lookup(&id, true);
        }
    }

    /// Waits up to `timeout` for the lookups in flight to be answered
    /// (start-up seeding, tests). True when none is left in flight.
    pub fn settle_lookups(&mut self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            self.collect_answers();
            let in_flight = self.pending.iter().any(|id| {
                self.containers
                    .get(id)
                    .and_then(|e| e.lookup)
                    .is_some_and(|p| p.in_flight)
            });
            let left = until.saturating_duration_since(Instant::now());
            if !in_flight {
                return true;
            }
            if left.is_zero() {
                return false;
            }
            let answer = self.resolver.as_ref().and_then(|r| r.wait(left));
            match answer {
                Some(a) => self.take_answer(a),
                None => return false,
            }
        }
    }

    fn collect_answers(&mut self) {
        let answers: Vec<Answer> = match &self.resolver {
            Some(r) => r.ready().collect(),
            None => return,
        };
        for a in answers {
            self.take_answer(a);
        }
    }

    fn take_answer(&mut self, a: Answer) {
        if a.endpoint.is_some() {
            self.stats.cri_socket = a.endpoint;
        }
        self.stats.cri_lookups += 1;
        let Some(entry) = self.containers.get_mut(&a.full_id) else {
            // Pruned meanwhile: nothing waits for it any more.
            return;
        };
        match a.outcome {
            Ok(mut info) => {
                if info.runtime.is_empty() {
                    info.runtime.clone_from(&entry.info.runtime);
                }
                if let (Some(pod), Some(old)) = (info.pod.as_mut(), entry.info.pod.as_ref())
                    && pod.uid.is_empty()
                {
                    pod.uid.clone_from(&old.uid);
                }
                entry.info = *info;
                entry.lookup = None;
                self.pending.retain(|p| *p != a.full_id);
            }
            Err(e) => {
                match &e {
                    LookupError::TimedOut(_) => self.stats.cri_timeouts += 1,
                    LookupError::NoRuntime(why) => {
                        self.stats.cri_failures += 1;
                        if !self.warned_no_runtime {
                            self.warned_no_runtime = true;
                            tracing::warn!(
                                "container metadata unavailable: {why}; asking again as containers show activity"
                            );
                        }
                    }
                    LookupError::Failed(_) => self.stats.cri_failures += 1,
                }
                if let Some(p) = entry.lookup.as_mut() {
                    p.in_flight = false;
                    p.failures = p.failures.saturating_add(1);
                    p.no_runtime = matches!(e, LookupError::NoRuntime(_));
                    p.retry_at = Instant::now() + retry_delay(&self.cfg, p.failures);
                    tracing::debug!(
                        "container {}: lookup {} failed ({e:?}); next try in {:?}",
                        a.full_id,
                        p.failures,
                        p.retry_at.saturating_duration_since(Instant::now())
                    );
                }
            }
        }
    }

    /// Queues a lookup of `full_id` (when a resolver runs).
    fn request_lookup(&mut self, full_id: &str, retry: bool) {
        let Some(resolver) = &self.resolver else {
            return;
        };
        let Some(p) = self
            .containers
            .get_mut(full_id)
            .and_then(|e| e.lookup.as_mut())
        else {
            return;
        };
        if p.in_flight {
            return;
        }
        if resolver.request(full_id) {
            p.in_flight = true;
            if retry {
                self.stats.cri_retries += 1;
            }
            if !self.pending.iter().any(|id| id == full_id) {
                self.pending.push(full_id.to_string());
            }
        }
    }

    /// Registers a container seen in a cgroup and asks the runtime about it
    /// (without waiting); failed lookups are retried with backoff.
    fn ensure_container(&mut self, c: &ContainerRef) {
        if self.containers.contains_key(&c.id) {
            return;
        }
        if self.containers.len() >= self.cfg.max_containers {
            self.prune_containers();
        }
        let now = Instant::now();
        let placeholder = ContainerInfo {
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
        self.short_ids.insert(c.id[..12].to_string(), c.id.clone());
        self.containers.insert(
            c.id.clone(),
            ContainerEntry {
                info: placeholder,
                lookup: Some(PendingLookup {
                    first_seen: now,
                    in_flight: false,
                    failures: 0,
                    retry_at: now,
                    no_runtime: self.resolver.is_none(),
                }),
            },
        );
        if self.resolver.is_some() {
            self.pending.push(c.id.clone());
            self.request_lookup(&c.id, false);
        }
    }

    /// A container whose lookup failed is asked again, once its retry time
    /// has come, when one of its threads does anything.
    fn retry_unresolved_container(&mut self, tid: i64) {
        if self.pending.is_empty() {
            return;
        }
        let Some(full) = self.container_full_id(tid) else {
            return;
        };
        let due = self
            .containers
            .get(full)
            .and_then(|e| e.lookup)
            .is_some_and(|p| !p.in_flight && p.retry_at <= Instant::now());
        if due {
            let full = full.to_string();
            self.request_lookup(&full, true);
        }
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
            self.pending.retain(|p| *p != full);
        }
    }
}

/// Backoff after the `failures`-th failed lookup: the initial delay doubled
/// per failure, capped.
fn retry_delay(cfg: &StateConfig, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    cfg.cri_retry_initial
        .saturating_mul(factor)
        .min(cfg.cri_retry_max)
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
