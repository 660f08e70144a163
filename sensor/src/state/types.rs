//! Data kept per thread, fd, container and pod. The rule engine reads these
//! through [`StateView`]; only the state tracker writes them.

use super::dns::NameTable;
use crate::event::SockTuple;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

/// Container id used for processes that run on the host (Falco's convention).
pub const HOST_CONTAINER_ID: &str = "host";

/// One thread. Threads of a process share the process-wide fields (copied at
/// clone and refreshed at exec).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    pub tid: i64,
    /// Thread-group id (process id).
    pub pid: i64,
    /// Parent process id.
    pub ppid: i64,
    /// Ids inside the thread's own pid namespace.
    pub vtid: i64,
    pub vpid: i64,
    pub vpgid: i64,
    pub vsid: i64,
    /// Process name (`proc.name`): comm, updated at exec.
    pub comm: String,
    /// argv[0] as invoked (`proc.exe`).
    pub exe: String,
    /// Resolved executable path (`proc.exepath`).
    pub exe_path: String,
    /// Arguments without argv[0].
    pub args: Vec<String>,
    /// Environment (only filled when some rule needs `proc.env`).
    pub env: Vec<String>,
    /// Working directory, always ending without a trailing slash except "/".
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// u32::MAX when unset.
    pub loginuid: u32,
    pub tty: u32,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    /// Process start (clone) time, Unix ns.
    pub start_ns: u64,
    /// Time of the last exec, Unix ns.
    pub exec_ns: u64,
    /// Container id ("host" for host processes), shared across threads.
    pub container_id: Arc<str>,
    /// Executable facts.
    pub exe_ino: u64,
    pub exe_mtime_ns: u64,
    pub exe_ctime_ns: u64,
    pub exe_upper_layer: bool,
    pub exe_from_memfd: bool,
    /// pid namespace inode, to tell host and container pid namespaces apart.
    pub pidns_ino: u32,
}

impl ThreadInfo {
    /// Whether this thread is the main thread of its process.
    pub fn is_main_thread(&self) -> bool {
        self.tid == self.pid
    }

    /// `proc.cmdline`: name followed by arguments, space separated.
    pub fn cmdline(&self) -> String {
        let mut s = self.comm.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// Kinds of file descriptor, with Falco's `fd.typechar` / `fd.type` renderings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FdKind {
    File,
    Directory,
    Ipv4Socket,
    Ipv6Socket,
    UnixSocket,
    NetlinkSocket,
    Pipe,
    Event,
    Signalfd,
    Eventpoll,
    Inotify,
    Timerfd,
    Bpf,
    Userfaultfd,
    Memfd,
    Unknown,
}

/// One open file descriptor of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdInfo {
    pub kind: FdKind,
    /// Falco's `fd.name`: absolute path for files, tuple text for sockets.
    pub name: String,
    /// Open flags (O_*), for files.
    pub flags: u32,
    /// Socket tuple, for connected / accepted / bound sockets.
    pub tuple: Option<SockTuple>,
    /// Device and inode, for files.
    pub dev: u32,
    pub ino: u64,
    /// The socket is connected (connect or accept succeeded).
    pub connected: bool,
}

/// A bind or volume mount of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMount {
    pub source: String,
    pub dest: String,
    pub mode: String,
    pub read_write: bool,
    pub propagation: String,
}

/// The Kubernetes pod a container belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// CRI pod sandbox id.
    pub sandbox_id: String,
}

/// Container metadata, from the CRI runtime (or the cgroup alone when the
/// runtime could not be asked).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Short id: the first 12 hex digits (`container.id`).
    pub id: String,
    /// Full 64 hex digit id.
    pub full_id: String,
    pub name: String,
    /// Image reference as configured (`container.image`).
    pub image: String,
    pub image_repository: String,
    pub image_tag: String,
    pub image_digest: String,
    pub privileged: bool,
    pub mounts: Vec<ContainerMount>,
    /// Creation time, Unix ns.
    pub start_ns: u64,
    /// "containerd", "cri-o", "docker", "podman".
    pub runtime: String,
    pub pod: Option<PodInfo>,
    /// Whether metadata came from the runtime (false: id from cgroup only).
    pub resolved: bool,
}

/// Read access to the state, as rules need it. Implemented by the state
/// tracker and by test fixtures.
pub trait StateView {
    /// A thread by tid.
    fn thread(&self, tid: i64) -> Option<&ThreadInfo>;
    /// A process's main thread by pid (for parent and ancestor lookups).
    fn process(&self, pid: i64) -> Option<&ThreadInfo>;
    /// An open fd of a process.
    fn fd(&self, pid: i64, fd: i64) -> Option<&FdInfo>;
    /// Container metadata by short or full id.
    fn container(&self, id: &str) -> Option<&ContainerInfo>;
    /// User name for a uid as seen from the given container ("host" for the host).
    fn user_name(&self, container_id: &str, uid: u32) -> Option<&str>;
    /// Group name for a gid, likewise.
    fn group_name(&self, container_id: &str, gid: u32) -> Option<&str>;
    /// The user's home directory and shell, for `user.homedir` / `user.shell`.
    fn user_home_shell(&self, container_id: &str, uid: u32) -> Option<(&str, &str)>;
    /// Every open fd of a process, by fd number (for `fd.types`). Views that
    /// cannot enumerate fds list none.
    fn fds(&self, _pid: i64) -> Vec<(i64, &FdInfo)> {
        Vec::new()
    }
    /// The names the rules watch that `ip` resolved to (`fd.sip.name`...);
    /// empty when none does or nothing is resolved.
    fn ip_names(&self, _ip: IpAddr) -> &[Arc<str>] {
        &[]
    }
}

/// A simple in-memory [`StateView`] for tests and replay fixtures.
#[derive(Debug, Default, Clone)]
pub struct MemoryState {
    pub threads: HashMap<i64, ThreadInfo>,
    pub fds: HashMap<(i64, i64), FdInfo>,
    pub containers: HashMap<String, ContainerInfo>,
    /// (container id, uid) -> (name, home, shell)
    pub users: HashMap<(String, u32), (String, String, String)>,
    /// (container id, gid) -> name
    pub groups: HashMap<(String, u32), String>,
    pub ip_names: NameTable,
}

impl StateView for MemoryState {
    fn thread(&self, tid: i64) -> Option<&ThreadInfo> {
        self.threads.get(&tid)
    }
    fn process(&self, pid: i64) -> Option<&ThreadInfo> {
        self.threads.get(&pid)
    }
    fn fd(&self, pid: i64, fd: i64) -> Option<&FdInfo> {
        self.fds.get(&(pid, fd))
    }
    fn container(&self, id: &str) -> Option<&ContainerInfo> {
        self.containers
            .get(id)
            .or_else(|| id.get(..12).and_then(|short| self.containers.get(short)))
    }
    fn user_name(&self, container_id: &str, uid: u32) -> Option<&str> {
        self.users
            .get(&(container_id.to_string(), uid))
            .map(|u| u.0.as_str())
    }
    fn group_name(&self, container_id: &str, gid: u32) -> Option<&str> {
        self.groups
            .get(&(container_id.to_string(), gid))
            .map(String::as_str)
    }
    fn user_home_shell(&self, container_id: &str, uid: u32) -> Option<(&str, &str)> {
        self.users
            .get(&(container_id.to_string(), uid))
            .map(|u| (u.1.as_str(), u.2.as_str()))
    }
    fn fds(&self, pid: i64) -> Vec<(i64, &FdInfo)> {
        let mut v: Vec<(i64, &FdInfo)> = self
            .fds
            .iter()
            .filter(|((p, _), _)| *p == pid)
            .map(|((_, fd), info)| (*fd, info))
            .collect();
        v.sort_by_key(|(fd, _)| *fd);
        v
    }
    fn ip_names(&self, ip: IpAddr) -> &[Arc<str>] {
        self.ip_names.names(ip)
    }
}
