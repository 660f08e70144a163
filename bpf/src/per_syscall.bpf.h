/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Per-syscall attach (probe.attach = per_syscall, see docs/probes.md):
 * instead of the tp_btf/sys_exit dispatcher, which runs on every syscall of
 * the node, the program below is attached to the exit tracepoint of each
 * syscall the interest set needs (syscalls:sys_exit_<name>), and userspace
 * attaches and detaches it as the interest set changes. A syscall nobody
 * watches runs no program of ours.
 *
 * Syscall tracepoints rather than fexit/kprobes: they exist on every kernel
 * with CONFIG_FTRACE_SYSCALLS, whatever the wrapper symbols, while fexit
 * may be refused by a security module and kprobes may be compiled out (both
 * are, on the machine these probes were measured on; see
 * docs/benchmarks.md). The syscall's registers are the task's user
 * registers (bpf_task_pt_regs), so the checks (exit_wanted) and the handler
 * bodies are the dispatcher's: the records are byte for byte the same.
 *
 * Included at the end of sensor.bpf.c: it reuses its maps and handlers.
 */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SENSOR_H_COUNT);
	__type(key, __u32);
	__type(value, __u32);
} kx_handlers SEC(".maps");

static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* The handler bodies of sensor.bpf.c: BPF_PROG(name, ...) defines the body
 * as the inline function ____name(ctx, args...); they do not read ctx. */
#define KX_HANDLER(h)                                                           \
	SEC("tracepoint")                                                       \
	int kx_##h(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                       \
		return ____##h((unsigned long long *)ctx, syscall_regs(),       \
			       ctx->ret);                                       \
	}

KX_HANDLER(handle_args)
KX_HANDLER(handle_paths)
KX_HANDLER(handle_sock)
KX_HANDLER(handle_exec_fail)
KX_HANDLER(handle_pipe)

SEC("tracepoint")
int kx_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	long ret = ctx->ret;
	const struct syscall_desc *d;

	if (!exit_wanted(regs, ret))
		return 0;
	d = desc_of(regs);
	if (d)
		bpf_tail_call(ctx, &kx_handlers, d->handler);
	return 0;
}
