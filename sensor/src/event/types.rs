//! The typed event model: what the decoder produces from a kernel record and
//! what the state tracker and rule engine consume. No stringly-typed bags:
//! every syscall has its own payload with typed arguments.

use std::net::IpAddr;

use crate::contract;

/// Event types, named as Falco names them in `evt.type`. Only exit events are
/// captured (the enter side carries nothing the exit side lacks), so there is
/// one variant per syscall plus the scheduler's process exit. The ids are
/// `enum sensor_event_type` of bpf/src/sensor.h (see [`crate::contract`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum EventType {
    Execve = contract::SENSOR_ET_EXECVE,
    Execveat = contract::SENSOR_ET_EXECVEAT,
    Clone = contract::SENSOR_ET_CLONE,
    Clone3 = contract::SENSOR_ET_CLONE3,
    Fork = contract::SENSOR_ET_FORK,
    Vfork = contract::SENSOR_ET_VFORK,
    /// Process (thread) exit, from the sched_process_exit tracepoint.
    Procexit = contract::SENSOR_ET_PROCEXIT,
    Open = contract::SENSOR_ET_OPEN,
    Openat = contract::SENSOR_ET_OPENAT,
    Openat2 = contract::SENSOR_ET_OPENAT2,
    Creat = contract::SENSOR_ET_CREAT,
    Close = contract::SENSOR_ET_CLOSE,
    Unlink = contract::SENSOR_ET_UNLINK,
    Unlinkat = contract::SENSOR_ET_UNLINKAT,
    Rename = contract::SENSOR_ET_RENAME,
    Renameat = contract::SENSOR_ET_RENAMEAT,
    Renameat2 = contract::SENSOR_ET_RENAMEAT2,
    Mkdir = contract::SENSOR_ET_MKDIR,
    Mkdirat = contract::SENSOR_ET_MKDIRAT,
    Rmdir = contract::SENSOR_ET_RMDIR,
    Link = contract::SENSOR_ET_LINK,
    Linkat = contract::SENSOR_ET_LINKAT,
    Symlink = contract::SENSOR_ET_SYMLINK,
    Symlinkat = contract::SENSOR_ET_SYMLINKAT,
    Chmod = contract::SENSOR_ET_CHMOD,
    Fchmod = contract::SENSOR_ET_FCHMOD,
    Fchmodat = contract::SENSOR_ET_FCHMODAT,
    Dup = contract::SENSOR_ET_DUP,
    Dup2 = contract::SENSOR_ET_DUP2,
    Dup3 = contract::SENSOR_ET_DUP3,
    Socket = contract::SENSOR_ET_SOCKET,
    Connect = contract::SENSOR_ET_CONNECT,
    Accept = contract::SENSOR_ET_ACCEPT,
    Accept4 = contract::SENSOR_ET_ACCEPT4,
    Bind = contract::SENSOR_ET_BIND,
    Listen = contract::SENSOR_ET_LISTEN,
    Sendto = contract::SENSOR_ET_SENDTO,
    Recvfrom = contract::SENSOR_ET_RECVFROM,
    Sendmsg = contract::SENSOR_ET_SENDMSG,
    Recvmsg = contract::SENSOR_ET_RECVMSG,
    Setuid = contract::SENSOR_ET_SETUID,
    Setgid = contract::SENSOR_ET_SETGID,
    Setreuid = contract::SENSOR_ET_SETREUID,
    Setregid = contract::SENSOR_ET_SETREGID,
    Setresuid = contract::SENSOR_ET_SETRESUID,
    Setresgid = contract::SENSOR_ET_SETRESGID,
    Ptrace = contract::SENSOR_ET_PTRACE,
    Mount = contract::SENSOR_ET_MOUNT,
    Umount2 = contract::SENSOR_ET_UMOUNT2,
    Unshare = contract::SENSOR_ET_UNSHARE,
    Setns = contract::SENSOR_ET_SETNS,
    Bpf = contract::SENSOR_ET_BPF,
    InitModule = contract::SENSOR_ET_INIT_MODULE,
    FinitModule = contract::SENSOR_ET_FINIT_MODULE,
    MemfdCreate = contract::SENSOR_ET_MEMFD_CREATE,
    Userfaultfd = contract::SENSOR_ET_USERFAULTFD,
    Prctl = contract::SENSOR_ET_PRCTL,
    Chdir = contract::SENSOR_ET_CHDIR,
    Fchdir = contract::SENSOR_ET_FCHDIR,
    Pipe = contract::SENSOR_ET_PIPE,
    Pipe2 = contract::SENSOR_ET_PIPE2,
    Fcntl = contract::SENSOR_ET_FCNTL,
}

impl EventType {
    /// Every event type, in declaration order.
    pub const ALL: &'static [EventType] = &[
        EventType::Execve,
        EventType::Execveat,
        EventType::Clone,
        EventType::Clone3,
        EventType::Fork,
        EventType::Vfork,
        EventType::Procexit,
        EventType::Open,
        EventType::Openat,
        EventType::Openat2,
        EventType::Creat,
        EventType::Close,
        EventType::Unlink,
        EventType::Unlinkat,
        EventType::Rename,
        EventType::Renameat,
        EventType::Renameat2,
        EventType::Mkdir,
        EventType::Mkdirat,
        EventType::Rmdir,
        EventType::Link,
        EventType::Linkat,
        EventType::Symlink,
        EventType::Symlinkat,
        EventType::Chmod,
        EventType::Fchmod,
        EventType::Fchmodat,
        EventType::Dup,
        EventType::Dup2,
        EventType::Dup3,
        EventType::Socket,
        EventType::Connect,
        EventType::Accept,
        EventType::Accept4,
        EventType::Bind,
        EventType::Listen,
        EventType::Sendto,
        EventType::Recvfrom,
        EventType::Sendmsg,
        EventType::Recvmsg,
        EventType::Setuid,
        EventType::Setgid,
        EventType::Setreuid,
        EventType::Setregid,
        EventType::Setresuid,
        EventType::Setresgid,
        EventType::Ptrace,
        EventType::Mount,
        EventType::Umount2,
        EventType::Unshare,
        EventType::Setns,
        EventType::Bpf,
        EventType::InitModule,
        EventType::FinitModule,
        EventType::MemfdCreate,
        EventType::Userfaultfd,
        EventType::Prctl,
        EventType::Chdir,
        EventType::Fchdir,
        EventType::Pipe,
        EventType::Pipe2,
        EventType::Fcntl,
    ];

    /// Number of event types; ids run from 1 to `COUNT` inclusive.
    pub const COUNT: usize = EventType::ALL.len();

    /// Falco's name for the type (`evt.type`).
    pub fn name(self) -> &'static str {
        use EventType::*;
        match self {
            Execve => "execve",
            Execveat => "execveat",
            Clone => "clone",
            Clone3 => "clone3",
            Fork => "fork",
            Vfork => "vfork",
            Procexit => "procexit",
            Open => "open",
            Openat => "openat",
            Openat2 => "openat2",
            Creat => "creat",
            Close => "close",
            Unlink => "unlink",
            Unlinkat => "unlinkat",
            Rename => "rename",
            Renameat => "renameat",
            Renameat2 => "renameat2",
            Mkdir => "mkdir",
            Mkdirat => "mkdirat",
            Rmdir => "rmdir",
            Link => "link",
            Linkat => "linkat",
            Symlink => "symlink",
            Symlinkat => "symlinkat",
            Chmod => "chmod",
            Fchmod => "fchmod",
            Fchmodat => "fchmodat",
            Dup => "dup",
            Dup2 => "dup2",
            Dup3 => "dup3",
            Socket => "socket",
            Connect => "connect",
            Accept => "accept",
            Accept4 => "accept4",
            Bind => "bind",
            Listen => "listen",
            Sendto => "sendto",
            Recvfrom => "recvfrom",
            Sendmsg => "sendmsg",
            Recvmsg => "recvmsg",
            Setuid => "setuid",
            Setgid => "setgid",
            Setreuid => "setreuid",
            Setregid => "setregid",
            Setresuid => "setresuid",
            Setresgid => "setresgid",
            Ptrace => "ptrace",
            Mount => "mount",
            Umount2 => "umount2",
            Unshare => "unshare",
            Setns => "setns",
            Bpf => "bpf",
            InitModule => "init_module",
            FinitModule => "finit_module",
            MemfdCreate => "memfd_create",
            Userfaultfd => "userfaultfd",
            Prctl => "prctl",
            Chdir => "chdir",
            Fchdir => "fchdir",
            Pipe => "pipe",
            Pipe2 => "pipe2",
            Fcntl => "fcntl",
        }
    }

    /// Looks a Falco event name up; `None` for names this sensor does not capture.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// Stable numeric id (1-based), the index used in the kernel interest map.
    pub fn id(self) -> u16 {
        self as u16
    }

    /// Inverse of [`EventType::id`].
    pub fn from_id(id: u16) -> Option<EventType> {
        EventType::ALL
            .get(usize::from(id).checked_sub(1)?)
            .copied()
            .filter(|t| t.id() == id)
    }

    /// Falco's event category (`evt.category`).
    pub fn category(self) -> &'static str {
        use EventType::*;
        match self {
            Execve | Execveat | Clone | Clone3 | Fork | Vfork | Procexit | Prctl | Chdir
            | Fchdir => "process",
            Open | Openat | Openat2 | Creat | Close | Dup | Dup2 | Dup3 | Pipe | Pipe2 | Fcntl => {
                "file"
            }
            Unlink | Unlinkat | Rename | Renameat | Renameat2 | Mkdir | Mkdirat | Rmdir | Link
            | Linkat | Symlink | Symlinkat | Chmod | Fchmod | Fchmodat => "file",
            Socket | Connect | Accept | Accept4 | Bind | Listen => "net",
            Sendto | Recvfrom | Sendmsg | Recvmsg => "net",
            Setuid | Setgid | Setreuid | Setregid | Setresuid | Setresgid => "user",
            Ptrace | Mount | Umount2 | Unshare | Setns | Bpf | InitModule | FinitModule
            | MemfdCreate | Userfaultfd => "system",
        }
    }
}

/// The calling thread's context, captured in the kernel with every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskContext {
    /// Thread id, host pid namespace.
    pub tid: i64,
    /// Thread-group id (process id), host pid namespace.
    pub pid: i64,
    /// Parent's thread-group id (real_parent), host pid namespace.
    pub ppid: i64,
    /// Thread id in the task's own pid namespace (`thread.vtid`).
    pub vtid: i64,
    /// Process id in the task's own pid namespace (`proc.vpid`).
    pub vpid: i64,
    /// Effective uid / gid.
    pub uid: u32,
    pub gid: u32,
    /// Audit login uid; `u32::MAX` when unset (Falco renders -1).
    pub loginuid: u32,
    /// `comm` of the thread (at most 15 bytes).
    pub comm: String,
    /// Kernel id of the task's cgroup v2 (or memory v1) cgroup.
    pub cgroup_id: u64,
    /// Controlling tty as `major << 20 | minor`-style number Falco uses; 0 when none.
    pub tty: u32,
    /// Capability sets (bit masks of CAP_*).
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    /// Session id and process group id in the task's pid namespace.
    pub vsid: i64,
    pub vpgid: i64,
    /// Inode number of the task's pid namespace (host vs container).
    pub pidns_ino: u32,
    /// Inode number of the task's mount namespace.
    pub mntns_ino: u32,
}

/// A socket address as decoded from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockAddr {
    /// IPv4 or IPv6 address and port.
    Inet { ip: IpAddr, port: u16 },
    /// Unix socket path ("" for unnamed, "@name" for abstract).
    Unix { path: String },
    /// Family the decoder does not understand (numeric AF_*).
    Other { family: u16 },
}

/// Both ends of a socket connection, as the kernel saw them after the syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockTuple {
    /// Layer-4 protocol.
    pub l4: L4Proto,
    /// Local end.
    pub local: SockAddr,
    /// Remote end.
    pub remote: SockAddr,
}

/// Layer-4 protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4Proto {
    Tcp,
    Udp,
    Icmp,
    Raw,
    Unix,
    Unknown,
}

impl L4Proto {
    /// Falco's `fd.l4proto` rendering.
    pub fn name(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Icmp => "icmp",
            L4Proto::Raw => "raw",
            L4Proto::Unix => "unix",
            L4Proto::Unknown => "<NA>",
        }
    }
}

/// Information about an executable file, captured at execve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExeFileInfo {
    /// Inode number of the executable.
    pub ino: u64,
    /// Modification and status change times, Unix ns.
    pub mtime_ns: u64,
    pub ctime_ns: u64,
    /// The executable lives in an overlayfs upper layer (written in the container).
    pub upper_layer: bool,
    /// The executable is a memfd (fileless execution).
    pub from_memfd: bool,
}

/// Typed payload of one event. Paths are as the syscall received them;
/// `resolved_*` fields are absolute paths computed in the kernel (for
/// `*at` syscalls relative to the dirfd) when the probe can resolve them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// execve / execveat (successful or failed; see `Event::res`).
    Exec {
        /// Path given to the syscall (`evt.arg.filename`).
        filename: String,
        /// Full argv, argv[0] included.
        argv: Vec<String>,
        /// Environment, only when a rule needs `proc.env` (empty otherwise).
        env: Vec<String>,
        /// Resolved executable path after success (`proc.exepath`).
        exe_path: String,
        /// Working directory at exec time.
        cwd: String,
        /// Executable file facts.
        exe_file: ExeFileInfo,
        /// execveat flags (0 for execve).
        flags: u32,
        /// The task's cgroup path after exec (memory controller on cgroup v1,
        /// the unified hierarchy on v2), e.g. `/kubepods/besteffort/pod<uid>/<64 hex>`.
        /// The container id is derived from it.
        cgroup: String,
    },
    /// fork / vfork / clone / clone3, reported in the parent (`res` is the child tid).
    Clone {
        /// Clone flags (CLONE_*).
        flags: u64,
    },
    /// A thread exited.
    Exit {
        /// Exit status as the kernel encodes it.
        status: i32,
    },
    /// open / openat / openat2 / creat. `res` is the new fd or -errno.
    Open {
        /// Path as given to the syscall.
        path: String,
        /// Absolute path after resolving against cwd / dirfd.
        resolved_path: String,
        /// O_* flags.
        flags: u32,
        /// Creation mode.
        mode: u32,
        /// Directory fd for *at variants (AT_FDCWD = -100).
        dirfd: i64,
        /// Device and inode of the opened file, on success.
        dev: u32,
        ino: u64,
    },
    /// close(fd).
    Close { fd: i64 },
    /// unlink / unlinkat / rmdir.
    Unlink {
        path: String,
        resolved_path: String,
        dirfd: i64,
        flags: u32,
    },
    /// rename / renameat / renameat2.
    Rename {
        oldpath: String,
        newpath: String,
        resolved_oldpath: String,
        resolved_newpath: String,
        flags: u32,
    },
    /// mkdir / mkdirat.
    Mkdir {
        path: String,
        resolved_path: String,
        mode: u32,
    },
    /// link / linkat (hard links).
    Link {
        oldpath: String,
        newpath: String,
        resolved_oldpath: String,
        resolved_newpath: String,
        flags: u32,
    },
    /// symlink / symlinkat: `target` is the link's content, `linkpath` the new name.
    Symlink {
        target: String,
        linkpath: String,
        resolved_linkpath: String,
    },
    /// chmod / fchmod / fchmodat. For fchmod `path` is empty and `fd` set.
    Chmod {
        path: String,
        resolved_path: String,
        fd: i64,
        mode: u32,
    },
    /// dup / dup2 / dup3: `res` is the new fd.
    Dup { oldfd: i64, newfd: i64, flags: u32 },
    /// socket(domain, type, protocol): `res` is the new fd.
    Socket {
        domain: u32,
        sock_type: u32,
        proto: u32,
    },
    /// connect(fd, addr): tuple after the call (local end filled on success).
    Connect {
        fd: i64,
        addr: SockAddr,
        tuple: Option<SockTuple>,
    },
    /// accept / accept4: `res` is the new fd.
    Accept {
        tuple: Option<SockTuple>,
        flags: u32,
    },
    /// bind(fd, addr).
    Bind { fd: i64, addr: SockAddr },
    /// listen(fd, backlog).
    Listen { fd: i64, backlog: i32 },
    /// sendto / sendmsg / recvfrom / recvmsg. `data` holds the first bytes of
    /// the buffer only when a rule needs `evt.buffer` (empty otherwise).
    Io {
        fd: i64,
        addr: Option<SockAddr>,
        tuple: Option<SockTuple>,
        data: Vec<u8>,
    },
    /// setuid / setreuid / setresuid and the gid family: requested ids
    /// (`u32::MAX` = unchanged).
    SetId {
        real: u32,
        effective: u32,
        saved: u32,
    },
    /// ptrace(request, pid).
    Ptrace { request: i64, pid: i64 },
    /// mount(source, target, fstype, flags).
    Mount {
        source: String,
        target: String,
        fstype: String,
        flags: u64,
    },
    /// umount2(target, flags).
    Umount { target: String, flags: u32 },
    /// unshare(flags) / setns(fd, nstype).
    Namespace { flags: u64, fd: i64 },
    /// bpf(cmd, ...).
    Bpf { cmd: i64 },
    /// init_module / finit_module.
    ModuleLoad { fd: i64, params: String },
    /// memfd_create(name, flags): `res` is the new fd.
    MemfdCreate { name: String, flags: u32 },
    /// userfaultfd(flags).
    Userfaultfd { flags: u32 },
    /// prctl(option, arg2).
    Prctl { option: i64, arg2: u64 },
    /// chdir(path) / fchdir(fd).
    Chdir {
        path: String,
        resolved_path: String,
        fd: i64,
    },
    /// pipe / pipe2: the two new fds.
    Pipe { fds: [i64; 2], flags: u32 },
    /// fcntl(fd, cmd): only F_DUPFD family is tracked (res is the new fd).
    Fcntl { fd: i64, cmd: i64 },
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Monotonic per-sensor event number (`evt.num`).
    pub num: u64,
    /// Wall-clock time of the syscall's exit, Unix ns (`evt.rawtime`).
    pub ts_ns: u64,
    /// CPU the event was captured on.
    pub cpu: u16,
    /// Syscall / event type.
    pub etype: EventType,
    /// Return value: fd / tid / 0 on success, -errno on failure (`evt.rawres`).
    pub res: i64,
    /// The calling thread.
    pub task: TaskContext,
    /// Typed arguments.
    pub kind: EventKind,
}

impl Event {
    /// Whether the syscall failed (`evt.failed`).
    pub fn failed(&self) -> bool {
        self.res < 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_ids_and_names_round_trip() {
        for (i, t) in EventType::ALL.iter().enumerate() {
            assert_eq!(usize::from(t.id()), i + 1, "{t:?} is out of order in ALL");
            assert_eq!(EventType::from_id(t.id()), Some(*t));
            assert_eq!(EventType::from_name(t.name()), Some(*t));
        }
        assert_eq!(EventType::from_id(0), None);
        assert_eq!(EventType::from_name("nonsense"), None);
    }

    /// The kernel's `enum sensor_event_type` and [`EventType`] name the same
    /// ids: every C constant is the id of the variant Falco calls by its
    /// lower-case name, and there is no variant the kernel lacks.
    #[test]
    fn event_types_match_the_kernel_enum() {
        assert_eq!(contract::EVENT_TYPES.len(), EventType::COUNT);
        for &(name, id) in contract::EVENT_TYPES {
            let t = EventType::from_id(id)
                .unwrap_or_else(|| panic!("SENSOR_ET_{name} = {id} has no EventType"));
            assert_eq!(t.name(), name, "id {id}");
        }
    }

    /// Record files store these ids: renumbering one (reordering the C enum)
    /// would make old recordings decode as other syscalls. Append only.
    #[test]
    fn event_ids_are_stable_for_record_files() {
        const RECORDED_ORDER: &str = "execve execveat clone clone3 fork vfork procexit open \
            openat openat2 creat close unlink unlinkat rename renameat renameat2 mkdir mkdirat \
            rmdir link linkat symlink symlinkat chmod fchmod fchmodat dup dup2 dup3 socket \
            connect accept accept4 bind listen sendto recvfrom sendmsg recvmsg setuid setgid \
            setreuid setregid setresuid setresgid ptrace mount umount2 unshare setns bpf \
            init_module finit_module memfd_create userfaultfd prctl chdir fchdir pipe pipe2 fcntl";
        for (i, name) in RECORDED_ORDER.split_whitespace().enumerate() {
            let t = EventType::from_name(name).map(EventType::id);
            assert_eq!(t.map(usize::from), Some(i + 1), "{name}");
        }
    }
}
