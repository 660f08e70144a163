/* SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0 */
/*
 * Record layout shared by the eBPF programs and the Rust decoder (the
 * skeleton's generated `types` module mirrors these structs; a Rust unit
 * test checks sizes and offsets). Every record is one `struct sensor_hdr`
 * followed by `var_len[0] + var_len[1] + ...` bytes of variable parts, in
 * order, without padding. Which part means what depends on the event type
 * and is documented in docs/record-format.md.
 */
#ifndef FALCO_SENSOR_H
#define FALCO_SENSOR_H

/*
 * This header is the single definition of every number the kernel and
 * userspace share. Shared numbers are enum constants: sensor/build.rs
 * generates the Rust constants (`crate::contract`) from this file, clang
 * records the enums in the object's BTF (see `sensor_contract` at the end),
 * libbpf-cargo emits them into the skeleton's `types` module, and a Rust
 * test checks the two agree. Plain `#define`s of a number are exported to
 * Rust too (the hash multipliers, which do not fit an enum).
 */

enum sensor_limit {
	SENSOR_NVAR = 6,
	SENSOR_NARGS = 6,
	SENSOR_NAUX = 4,
	/* Interest map size; index 0 is the "capture every type" switch. */
	SENSOR_MAX_ETYPE = 128,
	SENSOR_MAX_SYSCALL = 512,
	SENSOR_PATH_MAX = 4096,
	SENSOR_ARGV_MAX = 4096,
	SENSOR_SOCKADDR_MAX = 128,
	SENSOR_COMM_LEN = 16,
};
/* Variable area of the per-CPU scratch record: writes start at an offset
 * masked with SENSOR_VAR_MASK and are at most SENSOR_PATH_MAX long, so the
 * area needs SENSOR_VAR_MASK + 1 + SENSOR_PATH_MAX bytes. */
#define SENSOR_VAR_MASK 0xffff
#define SENSOR_VAR_AREA (SENSOR_VAR_MASK + 1 + SENSOR_PATH_MAX)

/* Tail-call handler slots (index into the `handlers` prog array). */
enum sensor_handler {
	SENSOR_H_ARGS = 0,
	SENSOR_H_PATHS = 1,
	SENSOR_H_SOCK = 2,
	SENSOR_H_EXEC_FAIL = 3,
	SENSOR_H_PIPE = 4,
	SENSOR_H_COUNT = 5,
};

/* syscall_desc.flags */
enum sensor_sd_flag {
	SENSOR_SD_FD_INFO = 0x01,   /* res is a new fd: record dev/ino in aux[0..1] */
	SENSOR_SD_OPEN_HOW = 0x02,  /* openat2: flags/mode from struct open_how (arg 2) */
	SENSOR_SD_SKIP_ZERO = 0x04, /* drop res == 0 (the child side of clone/fork) */
	SENSOR_SD_TUPLE_RES = 0x08, /* socket tuple from the fd in res (accept) */
	SENSOR_SD_CLONE3 = 0x10,    /* clone3: flags (first u64 of struct clone_args) in aux[0] */
	SENSOR_SD_FCNTL_DUP = 0x20, /* fcntl: only F_DUPFD / F_DUPFD_CLOEXEC */
	SENSOR_SD_NEW_FD = 0x40,    /* res >= 0 is a new fd (not the open family) */
	SENSOR_SD_CLOSE = 0x80,	    /* close: arg0 is the fd (see silent_fds) */
};

/* syscall_desc.sock_mode: where the user socket address and data are. */
enum sensor_sock_mode {
	SENSOR_SOCK_NONE = 0,
	SENSOR_SOCK_ADDR_ARG1 = 1, /* connect, bind: addr arg1, len arg2 */
	SENSOR_SOCK_SENDTO = 2,	   /* buf arg1, addr arg4, len arg5 */
	SENSOR_SOCK_RECVFROM = 3,  /* buf arg1, addr arg4, len pointer arg5 */
	SENSOR_SOCK_MSG = 4,	   /* struct msghdr at arg1 */
};

/* One entry per syscall number, filled by userspace for the target arch. */
struct syscall_desc {
	__u16 etype;	    /* 0: not captured */
	__u8 handler;	    /* enum sensor_handler */
	__u8 nstr;	    /* H_PATHS: number of user string arguments */
	__u8 str_arg[3];    /* H_PATHS: argument index of each string */
	__u8 flags;	    /* SENSOR_SD_* */
	__u8 sock_mode;	    /* enum sensor_sock_mode */
	__u8 exec_argv_arg; /* H_EXEC_FAIL: index of the argv argument */
	__u8 pad[6];
};

/* Socket endpoints as the kernel socket holds them after the syscall. */
struct sensor_tuple {
	__u16 family;	 /* AF_* */
	__u16 sport;	 /* local port, host order */
	__u16 dport;	 /* remote port, host order */
	__u16 proto;	 /* IPPROTO_* of the socket; 0 for unix */
	__u16 sock_type; /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 pad[3];
	__u8 saddr[16]; /* local address (IPv4 in the first 4 bytes) */
	__u8 daddr[16]; /* remote address */
};

struct sensor_hdr {
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() at syscall exit */
	__s64 res;
	__u64 cgroup_id;
	__u64 cap_effective;
	__u64 cap_permitted;
	__u64 cap_inheritable;
	__u64 args[SENSOR_NARGS]; /* raw syscall arguments */
	__u64 aux[SENSOR_NAUX];	  /* per-type extra facts (docs/record-format.md) */
	__s32 tid;
	__s32 pid;
	__s32 ppid;
	__s32 vtid;
	__s32 vpid;
	__s32 vsid;
	__s32 vpgid;
	__u32 uid;
	__u32 gid;
	__u32 loginuid;
	__u32 tty;
	__u32 pidns_ino;
	__u32 mntns_ino;
	__u32 len; /* whole record, header included */
	__u16 etype;
	__u16 cpu;
	__u16 var_len[SENSOR_NVAR];
	char comm[SENSOR_COMM_LEN];
};

/* Event type ids (`EventType` in Rust, `evt.type` names in lower case).
 * Ids are stored in record files: never renumber one, append new types.
 * They run from 1 to the last one without gaps. */
enum sensor_event_type {
	SENSOR_ET_EXECVE = 1,
	SENSOR_ET_EXECVEAT = 2,
	SENSOR_ET_CLONE = 3,
	SENSOR_ET_CLONE3 = 4,
	SENSOR_ET_FORK = 5,
	SENSOR_ET_VFORK = 6,
	SENSOR_ET_PROCEXIT = 7,
	SENSOR_ET_OPEN = 8,
	SENSOR_ET_OPENAT = 9,
	SENSOR_ET_OPENAT2 = 10,
	SENSOR_ET_CREAT = 11,
	SENSOR_ET_CLOSE = 12,
	SENSOR_ET_UNLINK = 13,
	SENSOR_ET_UNLINKAT = 14,
	SENSOR_ET_RENAME = 15,
	SENSOR_ET_RENAMEAT = 16,
	SENSOR_ET_RENAMEAT2 = 17,
	SENSOR_ET_MKDIR = 18,
	SENSOR_ET_MKDIRAT = 19,
	SENSOR_ET_RMDIR = 20,
	SENSOR_ET_LINK = 21,
	SENSOR_ET_LINKAT = 22,
	SENSOR_ET_SYMLINK = 23,
	SENSOR_ET_SYMLINKAT = 24,
	SENSOR_ET_CHMOD = 25,
	SENSOR_ET_FCHMOD = 26,
	SENSOR_ET_FCHMODAT = 27,
	SENSOR_ET_DUP = 28,
	SENSOR_ET_DUP2 = 29,
	SENSOR_ET_DUP3 = 30,
	SENSOR_ET_SOCKET = 31,
	SENSOR_ET_CONNECT = 32,
	SENSOR_ET_ACCEPT = 33,
	SENSOR_ET_ACCEPT4 = 34,
	SENSOR_ET_BIND = 35,
	SENSOR_ET_LISTEN = 36,
	SENSOR_ET_SENDTO = 37,
	SENSOR_ET_RECVFROM = 38,
	SENSOR_ET_SENDMSG = 39,
	SENSOR_ET_RECVMSG = 40,
	SENSOR_ET_SETUID = 41,
	SENSOR_ET_SETGID = 42,
	SENSOR_ET_SETREUID = 43,
	SENSOR_ET_SETREGID = 44,
	SENSOR_ET_SETRESUID = 45,
	SENSOR_ET_SETRESGID = 46,
	SENSOR_ET_PTRACE = 47,
	SENSOR_ET_MOUNT = 48,
	SENSOR_ET_UMOUNT2 = 49,
	SENSOR_ET_UNSHARE = 50,
	SENSOR_ET_SETNS = 51,
	SENSOR_ET_BPF = 52,
	SENSOR_ET_INIT_MODULE = 53,
	SENSOR_ET_FINIT_MODULE = 54,
	SENSOR_ET_MEMFD_CREATE = 55,
	SENSOR_ET_USERFAULTFD = 56,
	SENSOR_ET_PRCTL = 57,
	SENSOR_ET_CHDIR = 58,
	SENSOR_ET_FCHDIR = 59,
	SENSOR_ET_PIPE = 60,
	SENSOR_ET_PIPE2 = 61,
	SENSOR_ET_FCNTL = 62,
};

/* Open prefilter: when enabled, an open-family event with an absolute path
 * is sent only if the path starts with one of the prefixes, contains a
 * 4-byte sequence whose hash bit is set in the gram bitmap, its parent
 * directory (with the trailing '/') or its last component hashes (FNV-1a
 * 64) into the directory or basename set, the thread's comm is in the comm
 * set, or it is not in normal form (`//`, `.` or `..` components, a
 * component ending in `..`, trailing `/`), because userspace normalises the
 * path before rules see it. */
enum sensor_open_limit {
	SENSOR_MAX_PREFIXES = 32,
	SENSOR_PREFIX_LEN = 64, /* slot size: length byte + 63 bytes */
	SENSOR_MAX_BASENAMES = 256,
	SENSOR_MAX_DIRS = 256,
	SENSOR_MAX_COMMS = 256,
	/* Bits in the 4-gram bitmap (a 16-bit hash of each 4-byte window). */
	SENSOR_GRAM_BITS = 65536,
};
#define SENSOR_GRAM_MULT 0x9E3779B1U
/* settings[0]: options userspace may change while the probes run. */
struct runtime_settings {
	__u32 capture_env; /* non-zero: execs carry their environment (var 2) */
};

struct open_filter_cfg {
	__u32 on;
	__u32 nbasenames; /* 0: the basename set is empty, skip the lookup */
	/* Bit c set: some prefix has c as its second byte (the first is '/').
	 * Rejects most paths without walking the prefix list. */
	__u64 second_byte[4];
	__u32 ngrams; /* 0: the gram bitmap is empty, skip the test */
	__u32 ndirs;  /* 0: the directory set is empty */
	__u32 ncomms; /* 0: the comm set is empty */
	/* Non-zero: a close of an fd whose open the filter dropped is not sent
	 * either (see silent_fds). */
	__u32 close_filter;
	/* Changes with every filter update: tells stale open_cache entries. */
	__u64 generation;
};

/* Per CPU: the last absolute path (up to SENSOR_CACHE_LEN bytes) the path
 * checks dropped under filter `generation`. The same path again skips the
 * byte scan and the set lookups; the prefix and comm checks still run. */
enum sensor_cache_size { SENSOR_CACHE_WORDS = 8 };
#define SENSOR_CACHE_LEN (SENSOR_CACHE_WORDS * 8)
struct open_cache {
	__u64 generation;
	__u64 len;
	__u64 w[SENSOR_CACHE_WORDS];
};

struct open_prefix {
	__u8 len; /* 0: unused slot */
	char s[SENSOR_PREFIX_LEN - 1];
};

/* Bit sets the open filter tests before its hash map lookups: the 4-gram
 * bitmap, and 4,096-bit summaries (the top 12 bits of each key's hash) of
 * the basename, directory and comm sets, so a path that misses them costs
 * no lookup. */
enum sensor_set_size { SENSOR_SET_BITS = 4096 };
struct open_grams {
	__u64 w[SENSOR_GRAM_BITS / 64];
	__u64 base_bits[SENSOR_SET_BITS / 64];
	__u64 dir_bits[SENSOR_SET_BITS / 64];
	__u64 comm_bits[SENSOR_SET_BITS / 64];
};
#define SENSOR_COMM_MULT_LO 0x9E3779B97F4A7C15ULL
#define SENSOR_COMM_MULT_HI 0xC2B2AE3D27D4EB4FULL
/* FNV-1a 64 of basenames and directories (the open filter's set keys). */
#define SENSOR_FNV_OFFSET 0xcbf29ce484222325ULL
#define SENSOR_FNV_PRIME 0x100000001b3ULL

/* Per process (task storage of the thread group leader, so it ends with
 * the process): fds below SENSOR_SILENT_FDS whose open the prefilter
 * dropped, so userspace never heard of them. */
enum sensor_silent_size { SENSOR_SILENT_FDS = 256 };
struct silent_fds {
	__u8 fd[SENSOR_SILENT_FDS];
};

/* exec aux[3] bits */
enum sensor_exe_flag {
	SENSOR_EXE_MEMFD = 0x1,
	SENSOR_EXE_UPPER = 0x2,
};

/* Never instantiated: its fields name every contract enum, so the
 * object's BTF (and the skeleton's `types` module) carries them all. See
 * `sensor_contract_btf` in sensor.bpf.c. */
struct sensor_contract {
	enum sensor_limit limit;
	enum sensor_handler handler;
	enum sensor_sd_flag sd_flag;
	enum sensor_sock_mode sock_mode;
	enum sensor_event_type event_type;
	enum sensor_open_limit open_limit;
	enum sensor_cache_size cache_size;
	enum sensor_set_size set_size;
	enum sensor_silent_size silent_size;
	enum sensor_exe_flag exe_flag;
};

#endif
