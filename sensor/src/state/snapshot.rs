//! What the rules read about one event's process, frozen at the event: its
//! thread, its process and ancestors, and its process's fd table. An event
//! held back until its container's metadata arrives is evaluated later,
//! when the process may have exited or closed the fd; [`SnapshotView`]
//! answers from the snapshot first and from the live state for the rest
//! (containers, users, unrelated processes).

use super::tracker::StateTracker;
use super::types::{ContainerInfo, FdInfo, StateView, ThreadInfo};
use crate::event::Event;
use rustc_hash::FxHashMap;

/// Ancestors kept beyond the event's own process (`proc.aname[N]` and the
/// alert's ancestry read at most this deep).
const MAX_ANCESTORS: usize = 32;

/// See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct EventSnapshot {
    /// By tid: the event's thread, its process's main thread, ancestors.
    threads: Vec<ThreadInfo>,
    pid: i64,
    fds: FxHashMap<i64, FdInfo>,
}

impl EventSnapshot {
    /// Freezes what `ev` can read from `st`.
    pub fn take(st: &StateTracker, ev: &Event) -> EventSnapshot {
        let mut threads: Vec<ThreadInfo> = Vec::with_capacity(8);
        if let Some(t) = st.thread(ev.task.tid) {
            threads.push(t.clone());
        }
        let mut next = st.process(ev.task.pid);
        for _ in 0..=MAX_ANCESTORS {
            let Some(p) = next else { break };
            if threads.iter().any(|t| t.tid == p.tid) {
                // The event's own thread when it is the main thread; a
                // ppid loop otherwise.
                if p.tid != ev.task.tid {
                    break;
                }
            } else {
                threads.push(p.clone());
            }
            if p.ppid == p.pid || p.ppid <= 0 {
                break;
            }
            next = st.process(p.ppid);
        }
        let fds = st.process_fds(ev.task.pid).cloned().unwrap_or_default();
        EventSnapshot {
            threads,
            pid: ev.task.pid,
            fds,
        }
    }
}

/// A [`StateView`] over a snapshot, falling back to the live state.
pub struct SnapshotView<'a> {
    pub snapshot: &'a EventSnapshot,
    pub live: &'a StateTracker,
}

impl StateView for SnapshotView<'_> {
    fn thread(&self, tid: i64) -> Option<&ThreadInfo> {
        self.snapshot
            .threads
            .iter()
            .find(|t| t.tid == tid)
            .or_else(|| self.live.thread(tid))
    }

    fn process(&self, pid: i64) -> Option<&ThreadInfo> {
        self.snapshot
            .threads
            .iter()
            .find(|t| t.tid == pid)
            .or_else(|| self.live.process(pid))
    }

    fn fd(&self, pid: i64, fd: i64) -> Option<&FdInfo> {
        if pid == self.snapshot.pid {
            self.snapshot.fds.get(&fd)
        } else {
            self.live.fd(pid, fd)
        }
    }

    fn container(&self, id: &str) -> Option<&ContainerInfo> {
        self.live.container(id)
    }

    fn user_name(&self, container_id: &str, uid: u32) -> Option<&str> {
        self.live.user_name(container_id, uid)
    }

    fn group_name(&self, container_id: &str, gid: u32) -> Option<&str> {
        self.live.group_name(container_id, gid)
    }

    fn user_home_shell(&self, container_id: &str, uid: u32) -> Option<(&str, &str)> {
        self.live.user_home_shell(container_id, uid)
    }

    fn fds(&self, pid: i64) -> Vec<(i64, &FdInfo)> {
        if pid == self.snapshot.pid {
            let mut v: Vec<(i64, &FdInfo)> =
                self.snapshot.fds.iter().map(|(fd, f)| (*fd, f)).collect();
            v.sort_by_key(|(fd, _)| *fd);
            v
        } else {
            self.live.fds(pid)
        }
    }
}
