// SPDX-License-Identifier: GPL-2.0-only
/*
 * Falco-style sensor probes: exit-only syscall capture through one
 * tp_btf/sys_exit dispatcher that checks the interest map and tail-calls a
 * handler per argument shape, plus the sched_process_exec/exit tracepoints.
 * Each event is built in a per-CPU scratch record and sent as ONE compact
 * record (struct sensor_hdr + variable parts) on ONE ring buffer.
 */
#include "helpers.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Load-time settings, written by userspace into .rodata before load. */
const volatile __u32 io_buffer_bytes = 0;
const volatile bool cgroup_v1_memory = true;

struct scratch_record {
	struct sensor_hdr hdr;
	__u8 var[SENSOR_VAR_AREA];
};

/* One scratch record per CPU, indexed by CPU id. A plain array because
 * per-CPU map values are limited to 32 KiB; userspace sets max_entries to the
 * number of possible CPUs before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct scratch_record);
} scratch SEC(".maps");

/* Userspace resizes this with set_max_entries before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* interest[etype] != 0: capture; interest[0] != 0: capture every type. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SENSOR_MAX_ETYPE);
	__type(key, __u32);
	__type(value, __u8);
} interest SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SENSOR_MAX_SYSCALL);
	__type(key, __u32);
	__type(value, struct syscall_desc);
} syscall_table SEC(".maps");

/* open_filter[0].on != 0: the open prefilter is on (see open_prefixes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct open_filter_cfg);
} open_filter SEC(".maps");

/* Settings userspace changes while the probes run (a rules reload can turn
 * environment capture on or off), unlike the .rodata ones fixed at load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct runtime_settings);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SENSOR_MAX_PREFIXES);
	__type(key, __u32);
	__type(value, struct open_prefix);
} open_prefixes SEC(".maps");

/* Keys: FNV-1a 64 hashes of basenames (see open_path_wanted). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SENSOR_MAX_BASENAMES);
	__type(key, __u64);
	__type(value, __u8);
} open_basenames SEC(".maps");

/* Keys: FNV-1a 64 hashes of parent directories with their trailing '/'. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SENSOR_MAX_DIRS);
	__type(key, __u64);
	__type(value, __u8);
} open_dirs SEC(".maps");

/* Keys: comm names, NUL-padded to 16 bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SENSOR_MAX_COMMS);
	__type(key, char[16]);
	__type(value, __u8);
} open_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct open_grams);
} open_grams SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct open_cache);
} open_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct silent_fds);
} silent_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SENSOR_H_COUNT);
	__type(key, __u32);
	__type(value, __u32);
} handlers SEC(".maps");

#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) ((regs)->syscallno)
#else
#error "the sensor supports x86_64 and arm64"
#endif

static __always_inline bool interested(__u32 etype)
{
	__u32 all = 0;
	__u8 *on = bpf_map_lookup_elem(&interest, &all);

	if (on && *on)
		return true;
	on = bpf_map_lookup_elem(&interest, &etype);
	return on && *on;
}

static __always_inline const struct syscall_desc *desc_of(struct pt_regs *regs)
{
	__u32 nr = (__u32)SYSCALL_NR(regs);

	return bpf_map_lookup_elem(&syscall_table, &nr);
}

static __always_inline void syscall_args(struct sensor_hdr *h, struct pt_regs *regs)
{
	h->args[0] = PT_REGS_PARM1_SYSCALL(regs);
	h->args[1] = PT_REGS_PARM2_SYSCALL(regs);
	h->args[2] = PT_REGS_PARM3_SYSCALL(regs);
	h->args[3] = PT_REGS_PARM4_SYSCALL(regs);
	h->args[4] = PT_REGS_PARM5_SYSCALL(regs);
	h->args[5] = PT_REGS_PARM6_SYSCALL(regs);
}

static __always_inline __u64 arg_at(const struct sensor_hdr *h, __u8 i)
{
	switch (i) {
	case 0:
		return h->args[0];
	case 1:
		return h->args[1];
	case 2:
		return h->args[2];
	case 3:
		return h->args[3];
	case 4:
		return h->args[4];
	case 5:
		return h->args[5];
	}
	return 0;
}

static __always_inline void set_var_len(struct scratch_record *r, int idx, __u32 len)
{
	if (idx >= 0 && idx < SENSOR_NVAR)
		r->hdr.var_len[idx] = len;
}

static __always_inline struct scratch_record *scratch_record(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&scratch, &cpu);
}

/* Resets the header of `r` and fills in the event and task context. */
static __always_inline void begin_in(struct scratch_record *r, __u16 etype, __s64 res)
{
	__builtin_memset(&r->hdr, 0, sizeof(r->hdr));
	r->hdr.etype = etype;
	r->hdr.res = res;
	fill_task_context(&r->hdr, bpf_get_current_task_btf());
}

/* Starts a record in this CPU's scratch space with the header filled in. */
static __always_inline struct scratch_record *begin(__u16 etype, __s64 res)
{
	struct scratch_record *r = scratch_record();

	if (r)
		begin_in(r, etype, res);
	return r;
}

static __always_inline __u64 syscall_arg(struct pt_regs *regs, __u8 i)
{
	switch (i) {
	case 0:
		return PT_REGS_PARM1_SYSCALL(regs);
	case 1:
		return PT_REGS_PARM2_SYSCALL(regs);
	case 2:
		return PT_REGS_PARM3_SYSCALL(regs);
	case 3:
		return PT_REGS_PARM4_SYSCALL(regs);
	case 4:
		return PT_REGS_PARM5_SYSCALL(regs);
	case 5:
		return PT_REGS_PARM6_SYSCALL(regs);
	}
	return 0;
}

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *d = bpf_map_lookup_elem(&drops, &zero);

	if (d)
		*d += 1;
}

/* Sends header + `var_total` bytes of variable parts. */
static __always_inline void submit(struct scratch_record *r, __u32 var_total)
{
	__u32 len = sizeof(struct sensor_hdr) + (var_total & SENSOR_VAR_MASK);

	r->hdr.len = len;
	if (len > sizeof(*r))
		return;
	/* Never wake the reader: a wakeup is an IPI (a VM exit on virtual
	 * machines) and costs more than the capture itself. The reader drains
	 * the buffer on its own clock instead. */
	if (bpf_ringbuf_output(&events, r, len, BPF_RB_NO_WAKEUP))
		count_drop();
}

/* Appends a user string as variable part `idx`; returns the new offset. */
static __always_inline __u32 put_user_str(struct scratch_record *r, int idx, __u32 off,
					  const char *src, __u32 max)
{
	long n;

	if (!src || idx >= SENSOR_NVAR)
		return off;
	if (max > SENSOR_PATH_MAX)
		max = SENSOR_PATH_MAX;
	n = bpf_probe_read_user_str(&r->var[off & SENSOR_VAR_MASK], max, src);
	if (n <= 1)
		return off;
	set_var_len(r, idx, n - 1);
	return off + n - 1;
}

static __always_inline __u32 put_user_bytes(struct scratch_record *r, int idx, __u32 off,
					    const void *src, __u64 len)
{
	if (!src || len == 0)
		return off;
	if (len > SENSOR_PATH_MAX - 1)
		len = SENSOR_PATH_MAX - 1;
	if (bpf_probe_read_user(&r->var[off & SENSOR_VAR_MASK], len & (SENSOR_PATH_MAX - 1), src))
		return off;
	set_var_len(r, idx, len);
	return off + len;
}

static __always_inline void fill_file_info(struct sensor_hdr *h, __s64 fd)
{
	struct file *f = fd_to_file(bpf_get_current_task_btf(), fd);
	struct inode *ino;

	if (!f)
		return;
	if (bpf_ksym_exists(bpf_rdonly_cast)) {
		/* Kernels >= 6.2: a typed pointer allows direct loads. */
		ino = bpf_core_cast(f, struct file)->f_inode;
		h->aux[0] = ino->i_sb->s_dev;
		h->aux[1] = ino->i_ino;
		return;
	}
	ino = BPF_CORE_READ(f, f_inode);
	h->aux[0] = BPF_CORE_READ(ino, i_sb, s_dev);
	h->aux[1] = BPF_CORE_READ(ino, i_ino);
}

static __always_inline bool fd_is_dir(long fd)
{
	struct file *f;
	umode_t mode;

	if (fd < 0)
		return false;
	f = fd_to_file(bpf_get_current_task_btf(), fd);
	if (!f)
		return false;
	/* Every dropped open asks: direct loads where the kernel allows them
	 * (>= 6.2) instead of two helper reads. */
	if (bpf_ksym_exists(bpf_rdonly_cast))
		mode = bpf_core_cast(f, struct file)->f_inode->i_mode;
	else
		mode = BPF_CORE_READ(f, f_inode, i_mode);
	return (mode & S_IFMT) == S_IFDIR;
}

static __always_inline bool close_filter_on(void)
{
	__u32 zero = 0;
	struct open_filter_cfg *cfg = bpf_map_lookup_elem(&open_filter, &zero);

	return cfg && cfg->close_filter;
}

/* This process's marks; created on demand when `create`. */
static __always_inline struct silent_fds *silent_of(bool create)
{
	return bpf_task_storage_get(&silent_fds, bpf_get_current_task_btf()->group_leader, 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* The mark byte of `fd`, or NULL when `fd` is out of range or the process
 * has no marks (and `create` is false). */
static __always_inline __u8 *silent_slot(long fd, bool create)
{
	struct silent_fds *s;

	if (fd < 0 || fd >= SENSOR_SILENT_FDS)
		return NULL;
	s = silent_of(create);
	return s ? &s->fd[fd & (SENSOR_SILENT_FDS - 1)] : NULL;
}

/* The prefilter dropped the open that returned `fd`. */
static __always_inline void mark_silent(long fd)
{
	__u8 *m = silent_slot(fd, true);

	if (m)
		*m = 1;
}

/* `fd` now names something userspace is told about. */
static __always_inline void forget_silent(long fd)
{
	__u8 *m = silent_slot(fd, false);

	if (m)
		*m = 0;
}

/* Whether `fd` was silent (its close is not sent); clears the mark. */
static __always_inline bool take_silent(long fd)
{
	__u8 *m = silent_slot(fd, false);

	if (!m || !*m)
		return false;
	*m = 0;
	return true;
}

/*
 * The checks every captured syscall exit goes through before its handler
 * (shared by the dispatcher and the per-syscall programs of
 * per_syscall.bpf.h, so both send the same records): whether the syscall is
 * captured at all, and the close filter's fd bookkeeping.
 */
static __always_inline bool exit_wanted(struct pt_regs *regs, long ret)
{
	const struct syscall_desc *d = desc_of(regs);

	if (!d || !d->etype)
		return false;
	if ((d->flags & SENSOR_SD_SKIP_ZERO) && ret == 0)
		return false;
	if (d->handler == SENSOR_H_EXEC_FAIL && ret >= 0)
		return false; /* successful execs come from sched_process_exec */
	if (d->flags & SENSOR_SD_FCNTL_DUP) {
		__u64 cmd = PT_REGS_PARM2_SYSCALL(regs);

		if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
			return false;
	}
	if (!interested(d->etype))
		return false;
	if ((d->flags & SENSOR_SD_CLOSE) && close_filter_on() &&
	    take_silent((long)PT_REGS_PARM1_SYSCALL(regs)))
		return false;
	/* Unconditional: a mark left while the close filter was off would
	 * hide this fd's close once it is back on. */
	if ((d->flags & SENSOR_SD_NEW_FD) && ret >= 0)
		forget_silent(ret);
	return true;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_dispatch, struct pt_regs *regs, long ret)
{
	const struct syscall_desc *d;

	if (!exit_wanted(regs, ret))
		return 0;
	d = desc_of(regs);
	if (d)
		bpf_tail_call(ctx, &handlers, d->handler);
	return 0;
}

/* Syscalls whose arguments are all plain integers. */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_args, struct pt_regs *regs, long ret)
{
	const struct syscall_desc *d = desc_of(regs);
	struct scratch_record *r;

	if (!d)
		return 0;
	r = begin(d->etype, ret);
	if (!r)
		return 0;
	syscall_args(&r->hdr, regs);
	if (d->flags & SENSOR_SD_CLONE3)
		bpf_probe_read_user(&r->hdr.aux[0], sizeof(__u64), (void *)r->hdr.args[0]);
	submit(r, 0);
	return 0;
}

struct prefix_search {
	const __u8 *path;
	__u32 path_len;
	bool found;
};

static long prefix_step(__u64 idx, void *ctx)
{
	struct prefix_search *ps = ctx;
	__u32 key = idx;
	const struct open_prefix *p = bpf_map_lookup_elem(&open_prefixes, &key);
	const __u8 *path = ps->path;
	__u32 len;

	if (!p || !path)
		return 1;
	len = p->len;
	if (len == 0)
		return 1; /* slots are filled from the front */
	if (len > sizeof(p->s) || len > ps->path_len)
		return 0;
	for (int i = 0; i < sizeof(p->s); i++) {
		if (i >= len) {
			ps->found = true;
			return 1;
		}
		if (path[i] != p->s[i])
			return 0;
	}
	ps->found = true;
	return 1;
}


struct path_scan {
	const __u8 *path;
	const struct open_grams *grams; /* NULL: no gram test */
	struct open_cache *cache;	/* NULL: no cache */
	__u64 generation;		/* of the filter */
	__u32 len;
	__u32 comp_len;	 /* bytes in the current component */
	__u32 comp_dots; /* of which '.' */
	__u32 window;	 /* the last 4 bytes, the newest in the low byte */
	__u64 hash;	 /* FNV-1a 64 of the current component */
	/* The parent directory so far: each finished component's hash folded
	 * in FNV style (see dir_hash in Rust). */
	__u64 dir;
	bool odd;	/* not in normal form, or ends a component in ".." */
	bool gram_hit;	/* some 4-byte window's bit is set */
	bool cached;	/* the cache holds this path: already dropped */
};

/* True when the component just ended is empty (`//`), `.` or `..`. */
static __always_inline bool odd_component(const struct path_scan *ps)
{
	return ps->comp_len == 0 || (ps->comp_len <= 2 && ps->comp_dots == ps->comp_len);
}

/* One byte of the scan; false ends it (odd path or gram hit). */
static __always_inline bool scan_byte(struct path_scan *ps, const struct open_grams *g, __u32 idx,
				      __u8 c)
{
	__u32 h;

	/* A component ending in ".." before a '/' contains "../", which
	 * `contains` literals of any length may look for. */
	if (c == '/' && idx > 0) {
		if (odd_component(ps) || (ps->window & 0xffff) == 0x2e2e) {
			ps->odd = true;
			return false;
		}
	}
	ps->window = (ps->window << 8) | c;
	if (g && idx >= 3) {
		h = (ps->window * SENSOR_GRAM_MULT) >> 16;
		if (g->w[(h >> 6) & (SENSOR_GRAM_BITS / 64 - 1)] & (1ULL << (h & 63))) {
			ps->gram_hit = true;
			return false;
		}
	}
	if (c == '/') {
		if (idx > 0)
			ps->dir = (ps->dir ^ ps->hash) * SENSOR_FNV_PRIME;
		ps->comp_len = 0;
		ps->comp_dots = 0;
		ps->hash = SENSOR_FNV_OFFSET;
		return true;
	}
	ps->comp_len++;
	if (c == '.')
		ps->comp_dots++;
	ps->hash = (ps->hash ^ c) * SENSOR_FNV_PRIME;
	return true;
}

/* 8 per callback scans faster but costs the verifier ~1 s more at load. */
#define SCAN_CHUNK 4

/* Whether the cache holds this path for the current filter. The scratch
 * area was zeroed before the path was read, so its first words are the
 * path, zero-padded. Runs in a bpf_loop callback, checked apart from the
 * caller, so its branches do not multiply the caller's states. */
static __always_inline bool cache_hit(const struct path_scan *ps)
{
	const struct open_cache *oc = ps->cache;
	const __u64 *w = (const __u64 *)ps->path;
	__u64 diff;

	if (!oc || !w || ps->len > SENSOR_CACHE_LEN)
		return false;
	diff = (oc->generation ^ ps->generation) | (oc->len ^ ps->len);
#pragma unroll
	for (int i = 0; i < SENSOR_CACHE_WORDS; i++)
		diff |= oc->w[i] ^ w[i];
	return diff == 0;
}

/* Sets `cached` (a one-iteration bpf_loop callback). */
static long cache_check(__u64 idx, void *ctx)
{
	struct path_scan *ps = ctx;

	ps->cached = cache_hit(ps);
	return 1;
}

/* Remembers a dropped path (a one-iteration bpf_loop callback). */
static long cache_store(__u64 idx, void *ctx)
{
	struct path_scan *ps = ctx;
	struct open_cache *oc = ps->cache;
	const __u64 *w = (const __u64 *)ps->path;

	if (!oc || !w || ps->len > SENSOR_CACHE_LEN)
		return 1;
	oc->generation = ps->generation;
	oc->len = ps->len;
#pragma unroll
	for (int i = 0; i < SENSOR_CACHE_WORDS; i++)
		oc->w[i] = w[i];
	return 1;
}

/* Scans bytes [idx * SCAN_CHUNK, idx * SCAN_CHUNK + SCAN_CHUNK): one
 * bpf_loop callback per chunk, since a call costs more than a byte. */
static long scan_step(__u64 idx, void *ctx)
{
	struct path_scan *ps = ctx;
	const __u8 *path = ps->path;
	const struct open_grams *g = ps->grams;
	__u32 base = idx * SCAN_CHUNK;

	if (!path || base >= SENSOR_PATH_MAX)
		return 1;
#pragma unroll
	for (int i = 0; i < SCAN_CHUNK; i++) {
		__u32 at = base + i;

		if (at >= ps->len || at >= SENSOR_PATH_MAX)
			return 1;
		if (!scan_byte(ps, g, at, path[at & (SENSOR_PATH_MAX - 1)]))
			return 1;
	}
	return 0;
}

/* Whether the summary bit of `h` (its top 12 bits) is set. */
static __always_inline bool set_bit(const __u64 *bits, __u64 h)
{
	h >>= 64 - 12;
	return bits[(h >> 6) & (SENSOR_SET_BITS / 64 - 1)] & (1ULL << (h & 63));
}

/*
 * The open prefilter: false when the filter is on, `path` (len bytes, in
 * the scratch record) is absolute, in normal form, and passes none of the
 * checks of struct open_filter_cfg. Relative paths always pass: only the
 * state tracker knows the cwd; so do paths userspace would rewrite when
 * normalising them (see struct path_scan).
 */
static __always_inline bool open_path_wanted(struct scratch_record *r, __u32 len)
{
	__u32 zero = 0;
	struct open_filter_cfg *cfg = bpf_map_lookup_elem(&open_filter, &zero);
	struct prefix_search ps = {.path = r->var, .path_len = len, .found = false};
	struct path_scan sc = {.path = r->var, .len = len, .hash = SENSOR_FNV_OFFSET, .dir = SENSOR_FNV_OFFSET};
	const struct open_grams *g;
	__u8 c;

	if (!cfg || !cfg->on || len == 0 || r->var[0] != '/')
		return true;
	/* No prefix has this second byte: skip the prefix walk. */
	c = r->var[1];
	if (cfg->second_byte[(c >> 6) & 3] & (1ULL << (c & 63))) {
		bpf_loop(SENSOR_MAX_PREFIXES, prefix_step, &ps, 0);
		if (ps.found)
			return true;
	}
	g = bpf_map_lookup_elem(&open_grams, &zero);
	if (!g)
		return true;
	if (cfg->ncomms) {
		__u64 comm[2] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (set_bit(g->comm_bits,
			    comm[0] * SENSOR_COMM_MULT_LO ^ comm[1] * SENSOR_COMM_MULT_HI) &&
		    bpf_map_lookup_elem(&open_comms, comm))
			return true;
	}
	if (len >= SENSOR_PATH_MAX - 1)
		return true; /* maybe truncated: cannot judge it */
	if (cfg->ngrams)
		sc.grams = g;
	sc.cache = bpf_map_lookup_elem(&open_cache, &zero);
	sc.generation = cfg->generation;
	bpf_loop(1, cache_check, &sc, 0);
	if (sc.cached)
		return false;
	bpf_loop((len + SCAN_CHUNK - 1) / SCAN_CHUNK, scan_step, &sc, 0);
	if (sc.odd || sc.gram_hit || odd_component(&sc))
		return true;
	if (cfg->ndirs && set_bit(g->dir_bits, sc.dir) && bpf_map_lookup_elem(&open_dirs, &sc.dir))
		return true;
	if (cfg->nbasenames && set_bit(g->base_bits, sc.hash) &&
	    bpf_map_lookup_elem(&open_basenames, &sc.hash))
		return true;
	bpf_loop(1, cache_store, &sc, 0);
	return false;
}

/* Syscalls with up to three user path/name strings (open, rename, mount...). */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_paths, struct pt_regs *regs, long ret)
{
	const struct syscall_desc *d = desc_of(regs);
	struct scratch_record *r;
	__u32 off = 0;
	long n;

	if (!d)
		return 0;
	r = scratch_record();
	if (!r)
		return 0;
	/* The first string goes in before the header so the open prefilter
	 * can reject the event before any task context is read; the area is
	 * zeroed first for the prefilter's cache of dropped paths. */
	__builtin_memset(r->var, 0, SENSOR_CACHE_LEN);
	n = bpf_probe_read_user_str(&r->var[0], SENSOR_PATH_MAX,
				    (const char *)syscall_arg(regs, d->str_arg[0]));
	off = n > 1 ? n - 1 : 0;
	/* Directories always pass: a later openat(dirfd, ...) or fchdir
	 * resolves through the fd table, whatever the directory's path. */
	if ((d->flags & SENSOR_SD_FD_INFO) && !open_path_wanted(r, off) && !fd_is_dir(ret)) {
		if (ret >= 0 && close_filter_on())
			mark_silent(ret);
		return 0;
	}
	if ((d->flags & SENSOR_SD_FD_INFO) && ret >= 0)
		forget_silent(ret);
	begin_in(r, d->etype, ret);
	syscall_args(&r->hdr, regs);
	r->hdr.var_len[0] = off;
	for (int i = 1; i < 3; i++) {
		if (i >= d->nstr)
			break;
		off = put_user_str(r, i, off, (const char *)arg_at(&r->hdr, d->str_arg[i]),
				   SENSOR_PATH_MAX);
	}
	if ((d->flags & SENSOR_SD_FD_INFO) && ret >= 0)
		fill_file_info(&r->hdr, ret);
	if (d->flags & SENSOR_SD_OPEN_HOW) {
		struct open_how how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)r->hdr.args[2]);
		r->hdr.aux[2] = how.flags;
		r->hdr.aux[3] = how.mode;
	}
	submit(r, off);
	return 0;
}

/*
 * Socket syscalls. var[0]: user sockaddr, var[1]: struct sensor_tuple of the
 * kernel socket, var[2]: first io_buffer_bytes of data.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_sock, struct pt_regs *regs, long ret)
{
	const struct syscall_desc *d = desc_of(regs);
	struct scratch_record *r;
	struct sensor_tuple *tp;
	struct file *f;
	const void *addr = 0, *buf = 0;
	__u64 addrlen = 0, buflen = 0;
	__u32 off = 0;

	if (!d)
		return 0;
	r = begin(d->etype, ret);
	if (!r)
		return 0;
	syscall_args(&r->hdr, regs);
	switch (d->sock_mode) {
	case SENSOR_SOCK_ADDR_ARG1:
		addr = (const void *)r->hdr.args[1];
		addrlen = r->hdr.args[2];
		break;
	case SENSOR_SOCK_SENDTO:
		buf = (const void *)r->hdr.args[1];
		addr = (const void *)r->hdr.args[4];
		addrlen = r->hdr.args[5];
		break;
	case SENSOR_SOCK_RECVFROM: {
		__u32 len = 0;

		buf = (const void *)r->hdr.args[1];
		addr = (const void *)r->hdr.args[4];
		if (addr)
			bpf_probe_read_user(&len, sizeof(len), (void *)r->hdr.args[5]);
		addrlen = len;
		break;
	}
	case SENSOR_SOCK_MSG: {
		struct user_msghdr msg = {};
		struct iovec iov = {};

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)r->hdr.args[1]))
			break;
		addr = msg.msg_name;
		addrlen = msg.msg_namelen;
		if (msg.msg_iovlen > 0 && !bpf_probe_read_user(&iov, sizeof(iov), msg.msg_iov))
			buf = iov.iov_base;
		break;
	}
	}
	if (addrlen > SENSOR_SOCKADDR_MAX)
		addrlen = SENSOR_SOCKADDR_MAX;
	off = put_user_bytes(r, 0, off, addr, addrlen);

	f = fd_to_file(bpf_get_current_task_btf(),
		       (d->flags & SENSOR_SD_TUPLE_RES) ? ret : (__s64)r->hdr.args[0]);
	if (f && !((d->flags & SENSOR_SD_TUPLE_RES) && ret < 0)) {
		tp = (struct sensor_tuple *)&r->var[off & SENSOR_VAR_MASK];
		__builtin_memset(tp, 0, sizeof(*tp));
		fill_tuple(tp, f);
		if (tp->family) {
			r->hdr.var_len[1] = sizeof(*tp);
			off += sizeof(*tp);
		}
	}

	if (io_buffer_bytes > 0 && buf && ret > 0) {
		buflen = ret < io_buffer_bytes ? ret : io_buffer_bytes;
		off = put_user_bytes(r, 2, off, buf, buflen);
	}
	submit(r, off);
	return 0;
}

/* Failed execve/execveat: the filename and argv from user memory. */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_exec_fail, struct pt_regs *regs, long ret)
{
	const struct syscall_desc *d = desc_of(regs);
	struct scratch_record *r;
	const char *const *argv;
	__u32 off, start;

	if (!d)
		return 0;
	r = begin(d->etype, ret);
	if (!r)
		return 0;
	syscall_args(&r->hdr, regs);
	off = put_user_str(r, 0, 0, (const char *)arg_at(&r->hdr, d->str_arg[0]), SENSOR_PATH_MAX);
	argv = (const char *const *)arg_at(&r->hdr, d->exec_argv_arg);
	start = off;
	for (int i = 0; i < 32 && argv; i++) {
		const char *arg = 0;
		long n;

		if (off - start >= SENSOR_ARGV_MAX - 256)
			break;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		n = bpf_probe_read_user_str(&r->var[off & SENSOR_VAR_MASK], 256, arg);
		if (n <= 0)
			break;
		off += n; /* keep the NUL as the separator, like /proc/pid/cmdline */
	}
	r->hdr.var_len[1] = off - start;
	submit(r, off);
	return 0;
}

/* pipe/pipe2: the two new fds from the user array. */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_pipe, struct pt_regs *regs, long ret)
{
	const struct syscall_desc *d = desc_of(regs);
	struct scratch_record *r;
	int fds[2] = {-1, -1};

	if (!d)
		return 0;
	r = begin(d->etype, ret);
	if (!r)
		return 0;
	syscall_args(&r->hdr, regs);
	if (ret == 0)
		bpf_probe_read_user(fds, sizeof(fds), (void *)r->hdr.args[0]);
	if (ret == 0) {
		forget_silent(fds[0]);
		forget_silent(fds[1]);
	}
	r->hdr.aux[0] = (__u64)(__s64)fds[0];
	r->hdr.aux[1] = (__u64)(__s64)fds[1];
	submit(r, 0);
	return 0;
}

static __always_inline __u32 put_mm_range(struct scratch_record *r, int idx, __u32 off,
					  unsigned long start, unsigned long end)
{
	if (end <= start)
		return off;
	return put_user_bytes(r, idx, off, (const void *)start, end - start);
}

static __always_inline __u64 inode_time_ns(struct inode *ino, bool ctime)
{
	if (bpf_core_field_exists(ino->i_mtime_sec)) {
		if (ctime)
			return BPF_CORE_READ(ino, i_ctime_sec) * 1000000000ULL +
			       BPF_CORE_READ(ino, i_ctime_nsec);
		return BPF_CORE_READ(ino, i_mtime_sec) * 1000000000ULL +
		       BPF_CORE_READ(ino, i_mtime_nsec);
	}
	struct inode___pre611 *old = (void *)ino;
	if (ctime)
		return BPF_CORE_READ(old, i_ctime.tv_sec) * 1000000000ULL +
		       BPF_CORE_READ(old, i_ctime.tv_nsec);
	return BPF_CORE_READ(old, i_mtime.tv_sec) * 1000000000ULL +
	       BPF_CORE_READ(old, i_mtime.tv_nsec);
}

/*
 * Whether an overlayfs inode has an upper-layer dentry, i.e. the file was
 * written (or copied up) inside the container rather than shipped in the
 * image. When overlayfs is a module its types are not in vmlinux BTF; then
 * rely on struct ovl_inode's layout, stable since 4.x: `struct inode
 * vfs_inode` immediately followed by `struct dentry *__upperdentry`.
 */
static __always_inline bool exe_in_overlay_upper(struct inode *ino)
{
	struct dentry *upper = 0;

	if (BPF_CORE_READ(ino, i_sb, s_magic) != OVERLAYFS_SUPER_MAGIC)
		return false;
	if (bpf_core_type_exists(struct ovl_inode)) {
		struct ovl_inode *oi = container_of(ino, struct ovl_inode, vfs_inode);

		upper = BPF_CORE_READ(oi, __upperdentry);
	} else {
		bpf_probe_read_kernel(&upper, sizeof(upper),
				      (void *)ino + bpf_core_type_size(struct inode));
	}
	return upper != 0;
}

/*
 * Successful exec. var: 0 filename, 1 argv (NUL-separated), 2 env, 3 exe
 * path, 4 cwd, 5 cgroup path. aux: 0 exe inode, 1 mtime ns, 2 ctime ns,
 * 3 SENSOR_EXE_* flags.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
	__u32 nr = (__u32)SYSCALL_NR(regs);
	const struct syscall_desc *d = bpf_map_lookup_elem(&syscall_table, &nr);
	__u16 etype = (d && d->etype == SENSOR_ET_EXECVEAT) ? SENSOR_ET_EXECVEAT : SENSOR_ET_EXECVE;
	struct scratch_record *r;
	struct mm_struct *mm;
	struct file *exe;
	struct inode *ino;
	const struct runtime_settings *rs;
	__u32 zero = 0, off = 0;
	long n;

	if (!interested(etype))
		return 0;
	r = begin(etype, 0);
	if (!r)
		return 0;
	syscall_args(&r->hdr, regs);

	n = bpf_probe_read_kernel_str(&r->var[0], SENSOR_PATH_MAX, BPF_CORE_READ(bprm, filename));
	if (n > 1) {
		r->hdr.var_len[0] = n - 1;
		off = n - 1;
	}
	mm = BPF_CORE_READ(p, mm);
	off = put_mm_range(r, 1, off, BPF_CORE_READ(mm, arg_start), BPF_CORE_READ(mm, arg_end));
	rs = bpf_map_lookup_elem(&settings, &zero);
	if (rs && rs->capture_env)
		off = put_mm_range(r, 2, off, BPF_CORE_READ(mm, env_start),
				   BPF_CORE_READ(mm, env_end));

	exe = BPF_CORE_READ(bprm, file);
	n = write_d_path((char *)&r->var[off & SENSOR_VAR_MASK], BPF_CORE_READ(exe, f_path.dentry),
			 BPF_CORE_READ(exe, f_path.mnt));
	r->hdr.var_len[3] = n;
	off += n;

	n = write_d_path((char *)&r->var[off & SENSOR_VAR_MASK], BPF_CORE_READ(p, fs, pwd.dentry),
			 BPF_CORE_READ(p, fs, pwd.mnt));
	r->hdr.var_len[4] = n;
	off += n;

	n = write_cgroup_path((char *)&r->var[off & SENSOR_VAR_MASK], p, cgroup_v1_memory);
	r->hdr.var_len[5] = n;
	off += n;

	ino = BPF_CORE_READ(exe, f_inode);
	if (ino) {
		char name[6] = {};
		__u64 flags = 0;

		r->hdr.aux[0] = BPF_CORE_READ(ino, i_ino);
		r->hdr.aux[1] = inode_time_ns(ino, false);
		r->hdr.aux[2] = inode_time_ns(ino, true);
		bpf_probe_read_kernel(name, sizeof(name),
				      BPF_CORE_READ(exe, f_path.dentry, d_name.name));
		if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' &&
		    name[4] == 'd' && name[5] == ':')
			flags |= SENSOR_EXE_MEMFD;
		if (exe_in_overlay_upper(ino))
			flags |= SENSOR_EXE_UPPER;
		r->hdr.aux[3] = flags;
	}
	submit(r, off);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	struct scratch_record *r;

	if (!interested(SENSOR_ET_PROCEXIT))
		return 0;
	r = begin(SENSOR_ET_PROCEXIT, 0);
	if (!r)
		return 0;
	r->hdr.args[0] = BPF_CORE_READ(p, exit_code);
	submit(r, 0);
	return 0;
}

/* Never read: a global of this type is what keeps the contract enums of
 * sensor.h in the object's BTF, so the generated skeleton's `types` module
 * carries them and a Rust test can compare them with `crate::contract`. */
const volatile struct sensor_contract sensor_contract_btf = {};

#include "per_syscall.bpf.h"
