/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel-structure readers shared by the sensor programs: task context,
 * fd -> file lookups, d_path-like walks, cgroup paths and socket tuples.
 * Every loop is bounded so the verifier accepts it on kernels >= 5.15.
 */
#ifndef FALCO_HELPERS_BPF_H
#define FALCO_HELPERS_BPF_H

/* vmlinux.h first: sensor.h uses its __u* types. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "sensor.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030
#define S_IFMT 00170000
#define S_IFDIR 0040000
#define S_IFSOCK 0140000
#define PATH_COMPONENTS_MAX 48
#define CGROUP_DEPTH_MAX 16
#define CGROUP_NAME_MAX 256
#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/* Field renames across kernel versions (CO-RE flavors). */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct inode___pre611 {
	struct timespec64 i_mtime;
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

/*
 * Scratch space for building paths. The walk state lives here too, not on
 * the stack: the verifier does not track map contents, so the bpf_loop
 * callbacks below converge after one pass instead of one per iteration.
 */
struct path_scratch {
	char buf[SENSOR_PATH_MAX * 2];
	__u64 dentry;
	__u64 mnt;
	__u64 mnt_root;
	__u64 names[CGROUP_DEPTH_MAX];
	__u32 pos;
	__u32 depth;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} path_scratch_map SEC(".maps");

static __always_inline struct path_scratch *path_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&path_scratch_map, &zero);
}

/*
 * Kernel pointers reached from bpf_get_current_task_btf() or tp_btf
 * arguments are BTF-typed, so plain dereferences compile to fast checked
 * loads (relocated by CO-RE through vmlinux.h's preserve_access_index)
 * instead of one bpf_probe_read_kernel call per hop: this is the hot path.
 */
#define UPID_AT(pid, i, ns_out)                                                                    \
	({                                                                                         \
		if (ns_out)                                                                        \
			*(ns_out) = (pid)->numbers[i].ns;                                          \
		(pid)->numbers[i].nr;                                                              \
	})

/* The pid number in the pid's own (deepest) namespace. Pid namespaces
 * nested deeper than four levels report 0 (not seen in practice: host,
 * container, and container-in-container). */
static __always_inline __s32 pid_nr_in_own_ns(struct pid *pid, struct pid_namespace **ns)
{
	if (!pid)
		return 0;
	switch (pid->level) {
	case 0:
		return UPID_AT(pid, 0, ns);
	case 1:
		return UPID_AT(pid, 1, ns);
	case 2:
		return UPID_AT(pid, 2, ns);
	case 3:
		return UPID_AT(pid, 3, ns);
	default:
		return 0;
	}
}

static __always_inline __u64 read_caps(const kernel_cap_t *cap)
{
	__u64 v = 0;

	/* Both layouts (u32[2] before 6.3, u64 after) are 8 little-endian bytes. */
	bpf_probe_read_kernel(&v, sizeof(v), cap);
	return v;
}

static __always_inline __u32 task_tty(struct task_struct *t)
{
	struct tty_struct *tty = t->signal->tty;
	__u32 minor;

	if (!tty)
		return 0;
	minor = tty->driver->minor_start + tty->index;
	return ((__u32)tty->driver->major << 20) | (minor & 0xfffff);
}

static __always_inline void fill_task_context(struct sensor_hdr *h, struct task_struct *t)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	const struct cred *cred = t->cred;
	struct signal_struct *sig = t->signal;
	struct pid *tpid = t->thread_pid;
	struct pid_namespace *pidns = 0;

	h->tid = (__s32)pid_tgid;
	h->pid = (__s32)(pid_tgid >> 32);
	h->ppid = t->real_parent->tgid;

	h->vtid = pid_nr_in_own_ns(tpid, &pidns);
	h->pidns_ino = pidns ? pidns->ns.inum : 0;
	h->vpid = pid_nr_in_own_ns(t->group_leader->thread_pid, 0);
	h->vsid = pid_nr_in_own_ns(sig->pids[PIDTYPE_SID], 0);
	h->vpgid = pid_nr_in_own_ns(sig->pids[PIDTYPE_PGID], 0);
	h->mntns_ino = t->nsproxy ? t->nsproxy->mnt_ns->ns.inum : 0;
	h->uid = cred->euid.val;
	h->gid = cred->egid.val;
	h->loginuid = bpf_core_field_exists(t->loginuid) ? t->loginuid.val : (__u32)-1;
	if (bpf_core_field_exists(cred->cap_effective.val)) {
		h->cap_effective = cred->cap_effective.val;
		h->cap_permitted = cred->cap_permitted.val;
		h->cap_inheritable = cred->cap_inheritable.val;
	} else {
		h->cap_effective = read_caps(&cred->cap_effective);
		h->cap_permitted = read_caps(&cred->cap_permitted);
		h->cap_inheritable = read_caps(&cred->cap_inheritable);
	}
	h->tty = task_tty(t);
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->cpu = (__u16)bpf_get_smp_processor_id();
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline struct file *fd_to_file(struct task_struct *t, __s64 fd)
{
	struct fdtable *fdt = t->files->fdt;
	struct file **fds;
	struct file *f = 0;

	if (!fdt || fd < 0 || fd >= fdt->max_fds)
		return 0;
	fds = fdt->fd;
	/* A variable index into the fd array needs a helper read. */
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd & 0xfffff]);
	return f;
}

/* One step of the walk towards the root (a bpf_loop callback). */
static long d_path_step(__u64 idx, void *ctx)
{
	struct path_scratch *ps = path_scratch();
	struct dentry *dentry, *mnt_root, *parent;
	struct mount *mnt;
	__u32 n, pos;

	if (!ps || !ps->dentry)
		return 1;
	dentry = (struct dentry *)ps->dentry;
	mnt_root = (struct dentry *)ps->mnt_root;
	mnt = (struct mount *)ps->mnt;
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != mnt_root || mnt == mnt_parent)
			return 1;
		ps->dentry = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		ps->mnt = (__u64)mnt_parent;
		ps->mnt_root = (__u64)BPF_CORE_READ(mnt_parent, mnt.mnt_root);
		return 0;
	}
	n = BPF_CORE_READ(dentry, d_name.len) & 0xff;
	pos = ps->pos;
	if (n + 1 >= pos || pos > SENSOR_PATH_MAX)
		return 1;
	pos -= n;
	bpf_probe_read_kernel(&ps->buf[pos & (SENSOR_PATH_MAX - 1)], n,
			      BPF_CORE_READ(dentry, d_name.name));
	pos -= 1;
	ps->buf[pos & (SENSOR_PATH_MAX - 1)] = '/';
	ps->pos = pos;
	ps->dentry = (__u64)parent;
	return 0;
}

/*
 * Writes the absolute path of (dentry, vfsmnt) to dst, without NUL, and
 * returns its length. Walks at most PATH_COMPONENTS_MAX components, crossing
 * mount points; deeper paths keep only their deepest components.
 */
static __always_inline __u32 write_d_path(char *dst, struct dentry *dentry, struct vfsmount *vfsmnt)
{
	struct path_scratch *ps = path_scratch();
	__u32 n, pos;

	if (!ps || !dentry)
		return 0;
	ps->dentry = (__u64)dentry;
	ps->mnt = (__u64)container_of(vfsmnt, struct mount, mnt);
	ps->mnt_root = (__u64)BPF_CORE_READ(vfsmnt, mnt_root);
	ps->pos = SENSOR_PATH_MAX;
	bpf_loop(PATH_COMPONENTS_MAX, d_path_step, 0, 0);
	pos = ps->pos;
	if (pos >= SENSOR_PATH_MAX) {
		pos = SENSOR_PATH_MAX - 1;
		ps->buf[pos] = '/';
	}
	n = (SENSOR_PATH_MAX - pos) & (SENSOR_PATH_MAX - 1);
	bpf_probe_read_kernel(dst, n, &ps->buf[pos & (SENSOR_PATH_MAX - 1)]);
	return n;
}

static __always_inline struct kernfs_node *kernfs_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

/* Collects kernfs nodes from the cgroup up to (not including) the root. */
static long cgroup_up_step(__u64 idx, void *ctx)
{
	struct path_scratch *ps = path_scratch();
	struct kernfs_node *kn, *parent;
	__u32 d;

	if (!ps || !ps->dentry)
		return 1;
	d = ps->depth;
	if (d >= CGROUP_DEPTH_MAX)
		return 1;
	kn = (struct kernfs_node *)ps->dentry;
	parent = kernfs_parent(kn);
	if (!parent)
		return 1; /* the hierarchy root has no name in the path */
	ps->names[d & (CGROUP_DEPTH_MAX - 1)] = (__u64)kn;
	ps->depth = d + 1;
	ps->dentry = (__u64)parent;
	return 0;
}

/* Appends "/<name>" for the node `idx` levels below the root. */
static long cgroup_down_step(__u64 idx, void *ctx)
{
	struct path_scratch *ps = path_scratch();
	struct kernfs_node *kn;
	__u32 d, off;
	long n;

	if (!ps)
		return 1;
	d = ps->depth;
	off = ps->pos;
	if (idx >= d || d > CGROUP_DEPTH_MAX || off >= SENSOR_PATH_MAX - CGROUP_NAME_MAX - 1)
		return 1;
	kn = (struct kernfs_node *)ps->names[(d - 1 - idx) & (CGROUP_DEPTH_MAX - 1)];
	ps->buf[off & (SENSOR_PATH_MAX - 1)] = '/';
	off++;
	n = bpf_probe_read_kernel_str(&ps->buf[off & (SENSOR_PATH_MAX - 1)], CGROUP_NAME_MAX,
				      BPF_CORE_READ(kn, name));
	if (n > 1)
		off += n - 1;
	ps->pos = off;
	return 0;
}

/*
 * Writes the cgroup path ("/a/b/c") of the task's memory-controller cgroup
 * (cgroup v1) or its unified-hierarchy cgroup (v2) to dst; returns its length.
 */
static __always_inline __u32 write_cgroup_path(char *dst, struct task_struct *t, bool v1_memory)
{
	struct path_scratch *ps = path_scratch();
	struct kernfs_node *kn;
	__u32 n;

	if (!ps)
		return 0;
	if (v1_memory) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		kn = BPF_CORE_READ(t, cgroups, subsys[id & 31], cgroup, kn);
	} else {
		kn = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
	}
	ps->dentry = (__u64)kn;
	ps->depth = 0;
	ps->pos = 0;
	bpf_loop(CGROUP_DEPTH_MAX, cgroup_up_step, 0, 0);
	bpf_loop(CGROUP_DEPTH_MAX, cgroup_down_step, 0, 0);
	n = ps->pos;
	if (n == 0) {
		ps->buf[0] = '/';
		n = 1;
	}
	n &= SENSOR_PATH_MAX - 1;
	bpf_probe_read_kernel(dst, n, ps->buf);
	return n;
}

static __always_inline void fill_tuple(struct sensor_tuple *tp, struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	struct socket *sock;
	struct sock *sk;

	if (!ino || (BPF_CORE_READ(ino, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return;
	tp->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	tp->sock_type = BPF_CORE_READ(sock, type);
	tp->proto = BPF_CORE_READ(sk, sk_protocol);
	if (tp->family == AF_INET) {
		bpf_probe_read_kernel(tp->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_probe_read_kernel(tp->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (tp->family == AF_INET6) {
		bpf_probe_read_kernel(tp->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(tp->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		tp->proto = 0;
		return;
	}
	tp->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	tp->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

#endif
