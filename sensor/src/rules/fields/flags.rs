//! Symbolic names for numeric syscall arguments (open flags, modes, ptrace
//! requests, errno, capabilities...), rendered the way Falco renders them so
//! that conditions like `evt.arg.flags contains O_TRUNC` or
//! `evt.arg.request contains PTRACE_ATTACH` behave the same.

use std::fmt::Write;

/// A table of (name, value) pairs in the order Falco prints them.
pub(crate) type NameTable = &'static [(&'static str, u64)];

/// Falco's own open-flag bits (the kernel's are translated into these).
pub(crate) mod ppm_open {
    pub const RDONLY: u32 = 1 << 0;
    pub const WRONLY: u32 = 1 << 1;
    pub const RDWR: u32 = RDONLY | WRONLY;
    pub const CREAT: u32 = 1 << 2;
    pub const APPEND: u32 = 1 << 3;
    pub const DSYNC: u32 = 1 << 4;
    pub const EXCL: u32 = 1 << 5;
    pub const NONBLOCK: u32 = 1 << 6;
    pub const SYNC: u32 = 1 << 7;
    pub const TRUNC: u32 = 1 << 8;
    pub const DIRECT: u32 = 1 << 9;
    pub const DIRECTORY: u32 = 1 << 10;
    pub const LARGEFILE: u32 = 1 << 11;
    pub const CLOEXEC: u32 = 1 << 12;
    pub const TMPFILE: u32 = 1 << 13;
}

/// Open flags in Falco's print order.
pub(crate) const OPEN_FLAGS: NameTable = &[
    ("O_LARGEFILE", ppm_open::LARGEFILE as u64),
    ("O_DIRECTORY", ppm_open::DIRECTORY as u64),
    ("O_DIRECT", ppm_open::DIRECT as u64),
    ("O_TRUNC", ppm_open::TRUNC as u64),
    ("O_SYNC", ppm_open::SYNC as u64),
    ("O_NONBLOCK", ppm_open::NONBLOCK as u64),
    ("O_EXCL", ppm_open::EXCL as u64),
    ("O_DSYNC", ppm_open::DSYNC as u64),
    ("O_APPEND", ppm_open::APPEND as u64),
    ("O_CREAT", ppm_open::CREAT as u64),
    ("O_RDWR", ppm_open::RDWR as u64),
    ("O_WRONLY", ppm_open::WRONLY as u64),
    ("O_RDONLY", ppm_open::RDONLY as u64),
    ("O_CLOEXEC", ppm_open::CLOEXEC as u64),
    ("O_NONE", 0),
    ("O_TMPFILE", ppm_open::TMPFILE as u64),
];

/// Translates kernel `O_*` open flags (x86-64/arm64 values) into Falco's bits.
pub(crate) fn open_flags_to_ppm(flags: u32) -> u32 {
    let mut res = match flags & libc::O_ACCMODE as u32 {
        0 => ppm_open::RDONLY,
        1 => ppm_open::WRONLY,
        2 => ppm_open::RDWR,
        _ => 0,
    };
    let map: &[(i32, u32)] = &[
        (libc::O_CREAT, ppm_open::CREAT),
        (libc::O_APPEND, ppm_open::APPEND),
        (libc::O_DSYNC, ppm_open::DSYNC),
        (libc::O_EXCL, ppm_open::EXCL),
        (libc::O_NONBLOCK, ppm_open::NONBLOCK),
        (libc::O_TRUNC, ppm_open::TRUNC),
        (libc::O_DIRECT, ppm_open::DIRECT),
        (libc::O_DIRECTORY, ppm_open::DIRECTORY),
        (libc::O_LARGEFILE, ppm_open::LARGEFILE),
        (libc::O_CLOEXEC, ppm_open::CLOEXEC),
    ];
    for &(k, p) in map {
        if flags & k as u32 != 0 {
            res |= p;
        }
    }
    if flags & libc::O_SYNC as u32 == libc::O_SYNC as u32 {
        res |= ppm_open::SYNC;
    }
    if flags & libc::O_TMPFILE as u32 == libc::O_TMPFILE as u32 {
        res |= ppm_open::TMPFILE;
    }
    res
}

/// chmod-style mode bits, Falco's print order.
pub(crate) const MODE_BITS: NameTable = &[
    ("S_IXOTH", 0o1),
    ("S_IWOTH", 0o2),
    ("S_IROTH", 0o4),
    ("S_IXGRP", 0o10),
    ("S_IWGRP", 0o20),
    ("S_IRGRP", 0o40),
    ("S_IXUSR", 0o100),
    ("S_IWUSR", 0o200),
    ("S_IRUSR", 0o400),
    ("S_ISVTX", 0o1000),
    ("S_ISGID", 0o2000),
    ("S_ISUID", 0o4000),
];

pub(crate) const UNLINKAT_FLAGS: NameTable = &[("AT_REMOVEDIR", libc::AT_REMOVEDIR as u64)];
pub(crate) const LINKAT_FLAGS: NameTable = &[
    ("AT_SYMLINK_FOLLOW", libc::AT_SYMLINK_FOLLOW as u64),
    ("AT_EMPTY_PATH", libc::AT_EMPTY_PATH as u64),
];
pub(crate) const RENAMEAT2_FLAGS: NameTable = &[
    ("RENAME_NOREPLACE", 1),
    ("RENAME_EXCHANGE", 2),
    ("RENAME_WHITEOUT", 4),
];
pub(crate) const MEMFD_FLAGS: NameTable = &[
    ("MFD_CLOEXEC", 1),
    ("MFD_ALLOW_SEALING", 2),
    ("MFD_HUGETLB", 4),
];
pub(crate) const EXECVEAT_FLAGS: NameTable = &[
    ("AT_EMPTY_PATH", libc::AT_EMPTY_PATH as u64),
    ("AT_SYMLINK_NOFOLLOW", libc::AT_SYMLINK_NOFOLLOW as u64),
];
pub(crate) const CLONE_FLAGS: NameTable = &[
    ("CLONE_FILES", libc::CLONE_FILES as u64),
    ("CLONE_FS", libc::CLONE_FS as u64),
    ("CLONE_IO", libc::CLONE_IO as u64),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC as u64),
    ("CLONE_NEWNET", libc::CLONE_NEWNET as u64),
    ("CLONE_NEWNS", libc::CLONE_NEWNS as u64),
    ("CLONE_NEWPID", libc::CLONE_NEWPID as u64),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS as u64),
    ("CLONE_PARENT", libc::CLONE_PARENT as u64),
    ("CLONE_PARENT_SETTID", libc::CLONE_PARENT_SETTID as u64),
    ("CLONE_PTRACE", libc::CLONE_PTRACE as u64),
    ("CLONE_SIGHAND", libc::CLONE_SIGHAND as u64),
    ("CLONE_SYSVSEM", libc::CLONE_SYSVSEM as u64),
    ("CLONE_THREAD", libc::CLONE_THREAD as u64),
    ("CLONE_UNTRACED", libc::CLONE_UNTRACED as u64),
    ("CLONE_VM", libc::CLONE_VM as u64),
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER as u64),
    ("CLONE_CHILD_CLEARTID", libc::CLONE_CHILD_CLEARTID as u64),
    ("CLONE_CHILD_SETTID", libc::CLONE_CHILD_SETTID as u64),
    ("CLONE_SETTLS", libc::CLONE_SETTLS as u64),
    ("CLONE_VFORK", libc::CLONE_VFORK as u64),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP as u64),
];

/// Renders `val` as Falco does for flag arguments: the names of the set
/// bits joined with `|`, in table order, each bit consumed once (so O_RDWR
/// does not also print O_RDONLY and O_WRONLY). An exact match of the whole
/// value stops the scan. Returns false when no name applied.
pub(crate) fn render_flags(val: u64, table: NameTable, out: &mut String) -> bool {
    let start = out.len();
    let mut rest = val;
    let mut sep = "";
    for &(name, bit) in table {
        if bit == val {
            out.push_str(sep);
            out.push_str(name);
            return true;
        }
        if bit != 0 && rest != 0 && rest & bit == bit {
            out.push_str(sep);
            out.push_str(name);
            sep = "|";
            rest &= !bit;
        }
    }
    out.len() > start
}

/// Names of a value that is one of a set (not bits): ptrace requests,
/// fcntl commands, bpf commands, socket families, prctl options.
pub(crate) fn lookup(val: i64, table: NameTable) -> Option<&'static str> {
    let v = u64::try_from(val).ok()?;
    table.iter().find(|(_, x)| *x == v).map(|(n, _)| *n)
}

pub(crate) const PTRACE_REQUESTS: NameTable = &[
    ("PTRACE_TRACEME", 0),
    ("PTRACE_PEEKTEXT", 1),
    ("PTRACE_PEEKDATA", 2),
    ("PTRACE_PEEKUSR", 3),
    ("PTRACE_POKETEXT", 4),
    ("PTRACE_POKEDATA", 5),
    ("PTRACE_POKEUSR", 6),
    ("PTRACE_CONT", 7),
    ("PTRACE_KILL", 8),
    ("PTRACE_SINGLESTEP", 9),
    ("PTRACE_GETREGS", 12),
    ("PTRACE_SETREGS", 13),
    ("PTRACE_GETFPREGS", 14),
    ("PTRACE_SETFPREGS", 15),
    ("PTRACE_ATTACH", 16),
    ("PTRACE_DETACH", 17),
    ("PTRACE_GETFPXREGS", 18),
    ("PTRACE_SETFPXREGS", 19),
    ("PTRACE_OLDSETOPTIONS", 21),
    ("PTRACE_GET_THREAD_AREA", 25),
    ("PTRACE_SET_THREAD_AREA", 26),
    ("PTRACE_ARCH_PRCTL", 30),
    ("PTRACE_SYSEMU", 31),
    ("PTRACE_SYSEMU_SINGLESTEP", 32),
    ("PTRACE_SINGLEBLOCK", 33),
    ("PTRACE_SYSCALL", 24),
    ("PTRACE_SETOPTIONS", 0x4200),
    ("PTRACE_GETEVENTMSG", 0x4201),
    ("PTRACE_GETSIGINFO", 0x4202),
    ("PTRACE_SETSIGINFO", 0x4203),
    ("PTRACE_GETREGSET", 0x4204),
    ("PTRACE_SETREGSET", 0x4205),
    ("PTRACE_SEIZE", 0x4206),
    ("PTRACE_INTERRUPT", 0x4207),
    ("PTRACE_LISTEN", 0x4208),
    ("PTRACE_PEEKSIGINFO", 0x4209),
    ("PTRACE_GETSIGMASK", 0x420a),
    ("PTRACE_SETSIGMASK", 0x420b),
];

pub(crate) const SOCKET_FAMILIES: NameTable = &[
    ("AF_UNSPEC", 0),
    ("AF_UNIX", 1),
    ("AF_INET", 2),
    ("AF_AX25", 3),
    ("AF_IPX", 4),
    ("AF_APPLETALK", 5),
    ("AF_NETROM", 6),
    ("AF_BRIDGE", 7),
    ("AF_ATMPVC", 8),
    ("AF_X25", 9),
    ("AF_INET6", 10),
    ("AF_ROSE", 11),
    ("AF_DECnet", 12),
    ("AF_NETBEUI", 13),
    ("AF_SECURITY", 14),
    ("AF_KEY", 15),
    ("AF_NETLINK", 16),
    ("AF_PACKET", 17),
    ("AF_ASH", 18),
    ("AF_ECONET", 19),
    ("AF_ATMSVC", 20),
    ("AF_RDS", 21),
    ("AF_SNA", 22),
    ("AF_IRDA", 23),
    ("AF_PPPOX", 24),
    ("AF_WANPIPE", 25),
    ("AF_LLC", 26),
    ("AF_CAN", 29),
    ("AF_TIPC", 30),
    ("AF_BLUETOOTH", 31),
    ("AF_IUCV", 32),
    ("AF_RXRPC", 33),
    ("AF_ISDN", 34),
    ("AF_PHONET", 35),
    ("AF_IEEE802154", 36),
    ("AF_CAIF", 37),
    ("AF_ALG", 38),
    ("AF_NFC", 39),
    ("AF_VSOCK", 40),
    ("AF_XDP", 44),
];

pub(crate) const BPF_COMMANDS: NameTable = &[
    ("BPF_MAP_CREATE", 0),
    ("BPF_MAP_LOOKUP_ELEM", 1),
    ("BPF_MAP_UPDATE_ELEM", 2),
    ("BPF_MAP_DELETE_ELEM", 3),
    ("BPF_MAP_GET_NEXT_KEY", 4),
    ("BPF_PROG_LOAD", 5),
    ("BPF_OBJ_PIN", 6),
    ("BPF_OBJ_GET", 7),
    ("BPF_PROG_ATTACH", 8),
    ("BPF_PROG_DETACH", 9),
    ("BPF_PROG_TEST_RUN", 10),
    ("BPF_PROG_GET_NEXT_ID", 11),
    ("BPF_MAP_GET_NEXT_ID", 12),
    ("BPF_PROG_GET_FD_BY_ID", 13),
    ("BPF_MAP_GET_FD_BY_ID", 14),
    ("BPF_OBJ_GET_INFO_BY_FD", 15),
    ("BPF_PROG_QUERY", 16),
    ("BPF_RAW_TRACEPOINT_OPEN", 17),
    ("BPF_BTF_LOAD", 18),
    ("BPF_BTF_GET_FD_BY_ID", 19),
    ("BPF_TASK_FD_QUERY", 20),
    ("BPF_MAP_LOOKUP_AND_DELETE_ELEM", 21),
    ("BPF_MAP_FREEZE", 22),
    ("BPF_BTF_GET_NEXT_ID", 23),
    ("BPF_MAP_LOOKUP_BATCH", 24),
    ("BPF_MAP_LOOKUP_AND_DELETE_BATCH", 25),
    ("BPF_MAP_UPDATE_BATCH", 26),
    ("BPF_MAP_DELETE_BATCH", 27),
    ("BPF_LINK_CREATE", 28),
    ("BPF_LINK_UPDATE", 29),
    ("BPF_LINK_GET_FD_BY_ID", 30),
    ("BPF_LINK_GET_NEXT_ID", 31),
    ("BPF_ENABLE_STATS", 32),
    ("BPF_ITER_CREATE", 33),
    ("BPF_LINK_DETACH", 34),
    ("BPF_PROG_BIND_MAP", 35),
];

pub(crate) const FCNTL_COMMANDS: NameTable = &[
    ("F_DUPFD", 0),
    ("F_GETFD", 1),
    ("F_SETFD", 2),
    ("F_GETFL", 3),
    ("F_SETFL", 4),
    ("F_GETLK", 5),
    ("F_SETLK", 6),
    ("F_SETLKW", 7),
    ("F_SETOWN", 8),
    ("F_GETOWN", 9),
    ("F_SETSIG", 10),
    ("F_GETSIG", 11),
    ("F_SETLEASE", 1024),
    ("F_GETLEASE", 1025),
    ("F_NOTIFY", 1026),
    ("F_DUPFD_CLOEXEC", 1030),
    ("F_SETPIPE_SZ", 1031),
    ("F_GETPIPE_SZ", 1032),
];

pub(crate) const PRCTL_OPTIONS: NameTable = &[
    ("PR_SET_PDEATHSIG", 1),
    ("PR_GET_PDEATHSIG", 2),
    ("PR_GET_DUMPABLE", 3),
    ("PR_SET_DUMPABLE", 4),
    ("PR_GET_KEEPCAPS", 7),
    ("PR_SET_KEEPCAPS", 8),
    ("PR_SET_NAME", 15),
    ("PR_GET_NAME", 16),
    ("PR_GET_SECCOMP", 21),
    ("PR_SET_SECCOMP", 22),
    ("PR_CAPBSET_READ", 23),
    ("PR_CAPBSET_DROP", 24),
    ("PR_GET_SECUREBITS", 27),
    ("PR_SET_SECUREBITS", 28),
    ("PR_MCE_KILL", 33),
    ("PR_SET_MM", 35),
    ("PR_SET_CHILD_SUBREAPER", 36),
    ("PR_GET_CHILD_SUBREAPER", 37),
    ("PR_SET_NO_NEW_PRIVS", 38),
    ("PR_GET_NO_NEW_PRIVS", 39),
    ("PR_GET_TID_ADDRESS", 40),
    ("PR_SET_THP_DISABLE", 41),
    ("PR_GET_THP_DISABLE", 42),
    ("PR_CAP_AMBIENT", 47),
];

/// Linux capability names, indexed by bit number.
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability mask as space-separated names in bit order.
pub(crate) fn caps_to_string(caps: u64) -> String {
    let mut s = String::new();
    for (i, name) in CAPABILITIES.iter().enumerate() {
        if caps & (1u64 << i) != 0 {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(name);
        }
    }
    s
}

/// errno names for `evt.res`, indexed by errno number.
const ERRNO: &[&str] = &[
    "SUCCESS",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "EHWPOISON",
];

/// Name of an errno given as a negative return value (`-2` → `ENOENT`).
pub(crate) fn errno_name(res: i64) -> Option<&'static str> {
    let n = usize::try_from(res.checked_neg()?).ok()?;
    ERRNO.get(n).copied().filter(|s| !s.is_empty())
}

/// `evt.res`: SUCCESS for non-negative results, the errno name otherwise
/// (`E<number>` when the number has no name).
pub(crate) fn res_string(res: i64, out: &mut String) {
    if res >= 0 {
        out.push_str("SUCCESS");
    } else if let Some(name) = errno_name(res) {
        out.push_str(name);
    } else {
        let _ = write!(out, "E{}", res.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(kernel: i32) -> String {
        let mut s = String::new();
        render_flags(
            u64::from(open_flags_to_ppm(kernel as u32)),
            OPEN_FLAGS,
            &mut s,
        );
        s
    }

    #[test]
    fn open_flags_render_in_falco_order() {
        assert_eq!(
            flags(libc::O_RDONLY | libc::O_CLOEXEC),
            "O_RDONLY|O_CLOEXEC"
        );
        assert_eq!(flags(libc::O_RDONLY), "O_RDONLY");
        assert_eq!(
            flags(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
            "O_TRUNC|O_CREAT|O_WRONLY"
        );
        assert_eq!(flags(libc::O_RDWR), "O_RDWR");
        assert_eq!(
            flags(libc::O_RDWR | libc::O_APPEND | libc::O_NONBLOCK),
            "O_NONBLOCK|O_APPEND|O_RDWR"
        );
        assert_eq!(
            flags(libc::O_WRONLY | libc::O_TMPFILE),
            "O_DIRECTORY|O_WRONLY|O_TMPFILE"
        );
    }

    #[test]
    fn modes_and_lookups() {
        let mut s = String::new();
        render_flags(0o4755, MODE_BITS, &mut s);
        assert_eq!(
            s,
            "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"
        );
        let mut s = String::new();
        assert!(!render_flags(0, MODE_BITS, &mut s));
        assert_eq!(lookup(16, PTRACE_REQUESTS), Some("PTRACE_ATTACH"));
        assert_eq!(lookup(0x4206, PTRACE_REQUESTS), Some("PTRACE_SEIZE"));
        assert_eq!(lookup(-1, PTRACE_REQUESTS), None);
        assert_eq!(lookup(17, SOCKET_FAMILIES), Some("AF_PACKET"));
        assert_eq!(lookup(5, BPF_COMMANDS), Some("BPF_PROG_LOAD"));
    }

    #[test]
    fn errno_and_caps() {
        let mut s = String::new();
        res_string(-2, &mut s);
        assert_eq!(s, "ENOENT");
        s.clear();
        res_string(3, &mut s);
        assert_eq!(s, "SUCCESS");
        s.clear();
        res_string(-4000, &mut s);
        assert_eq!(s, "E4000");
        assert_eq!(errno_name(-13), Some("EACCES"));
        assert_eq!(errno_name(-111), Some("ECONNREFUSED"));
        assert_eq!(
            caps_to_string((1 << 21) | (1 << 0)),
            "CAP_CHOWN CAP_SYS_ADMIN"
        );
        assert_eq!(caps_to_string(0), "");
    }
}
