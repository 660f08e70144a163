//! Per-syscall attach (`probe.attach: per_syscall`, see docs/probes.md and
//! bpf/src/per_syscall.bpf.h): which syscall exit tracepoint each captured
//! syscall type is taken from, and the links attached and detached as the
//! interest set changes. The links live on the reader thread, which owns
//! the skeleton.

use super::ProbeError;
use super::syscalls::{Handler, SyscallDesc};
use crate::event::EventType;
use libbpf_rs::{Link, TracepointCategory};
use std::collections::{BTreeMap, HashSet};

/// The handler programs, in [`Handler`] slot order.
pub(super) const HANDLERS: [(Handler, &str); 5] = [
    (Handler::Args, "kx_handle_args"),
    (Handler::Paths, "kx_handle_paths"),
    (Handler::Sock, "kx_handle_sock"),
    (Handler::ExecFail, "kx_handle_exec_fail"),
    (Handler::Pipe, "kx_handle_pipe"),
];

/// Whether `name` is a per-syscall program of the object.
pub(super) fn is_ours(name: &str) -> bool {
    name.starts_with("kx_")
}

/// The kernel's name of the syscall behind `etype` (its SYSCALL_DEFINE name).
fn kernel_name(etype: EventType) -> &'static str {
    match etype {
        EventType::Umount2 => "umount",
        t => t.name(),
    }
}

/// Where tracefs is mounted, if it is.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The exit tracepoint each syscall type is taken from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Plan {
    /// Type → tracepoint name in the `syscalls` category.
    pub tracepoints: BTreeMap<EventType, String>,
    /// Types whose syscall this kernel does not implement (no tracepoint:
    /// built without it, e.g. init_module without module support); such a
    /// call can only fail with ENOSYS, and is not captured in this mode.
    pub missing: Vec<EventType>,
}

/// Maps every syscall of `table` to its exit tracepoint; `exists` says
/// whether `syscalls:<name>` exists. Fails when none does (no
/// CONFIG_FTRACE_SYSCALLS).
pub(super) fn plan_with(
    table: &[SyscallDesc],
    exists: impl Fn(&str) -> bool,
) -> Result<Plan, String> {
    let mut plan = Plan::default();
    for desc in table {
        let tp = format!("sys_exit_{}", kernel_name(desc.etype));
        if exists(&tp) {
            plan.tracepoints.insert(desc.etype, tp);
        } else {
            plan.missing.push(desc.etype);
        }
    }
    if plan.tracepoints.is_empty() {
        return Err("this kernel has no syscall exit tracepoints (CONFIG_FTRACE_SYSCALLS)".into());
    }
    Ok(plan)
}

/// [`plan_with`] for the running kernel, from tracefs.
pub(super) fn plan(table: &[SyscallDesc]) -> Result<Plan, String> {
    let events = TRACEFS
        .iter()
        .map(|t| std::path::Path::new(t).join("events/syscalls"))
        .find(|p| p.is_dir())
        .ok_or_else(|| {
            format!(
                "tracefs is not mounted (looked for {}); mount it with `mount -t tracefs tracefs /sys/kernel/tracing`",
                TRACEFS.join(", ")
            )
        })?;
    plan_with(table, |tp| events.join(tp).is_dir())
}

/// The links of the exit program, one per probed function.
pub(super) struct Attached {
    plan: Plan,
    links: BTreeMap<String, Link>,
}

impl Attached {
    pub fn new(plan: Plan) -> Self {
        Attached {
            plan,
            links: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Probes the syscalls of the types in `interest` (all of them with the
    /// filter off) and unprobes the rest. New links come first, so a type
    /// wanted before and after never misses an event.
    pub fn apply(
        &mut self,
        prog: &libbpf_rs::ProgramMut<'_>,
        interest: &[EventType],
        filter_enabled: bool,
    ) -> Result<(), ProbeError> {
        let wanted: HashSet<&str> = self
            .plan
            .tracepoints
            .iter()
            .filter(|(t, _)| !filter_enabled || interest.contains(t))
            .map(|(_, f)| f.as_str())
            .collect();
        for func in &wanted {
            if !self.links.contains_key(*func) {
                let link = prog
                    .attach_tracepoint(TracepointCategory::Syscalls, func)
                    .map_err(|e| ProbeError::Load {
                        step: "attaching per-syscall probes",
                        detail: format!("syscalls:{func}: {e:#}"),
                    })?;
                self.links.insert((*func).to_string(), link);
            }
        }
        self.links.retain(|f, _| wanted.contains(f.as_str()));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::probe::syscalls::X86_64;

    #[test]
    fn syscalls_map_to_their_exit_tracepoints() {
        let plan = plan_with(X86_64, |tp| tp != "sys_exit_init_module").unwrap();
        assert_eq!(plan.tracepoints.len(), X86_64.len() - 1);
        assert_eq!(
            plan.tracepoints
                .get(&EventType::Umount2)
                .map(String::as_str),
            Some("sys_exit_umount")
        );
        assert_eq!(
            plan.tracepoints.get(&EventType::Openat).map(String::as_str),
            Some("sys_exit_openat")
        );
        assert_eq!(plan.missing, vec![EventType::InitModule]);
        assert!(plan_with(X86_64, |_| false).is_err());
    }

    #[test]
    fn handler_programs_follow_the_slot_order() {
        for (i, (h, name)) in HANDLERS.iter().enumerate() {
            assert_eq!(*h as usize, i);
            assert!(is_ours(name));
        }
    }
}
