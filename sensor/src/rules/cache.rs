//! A [`StateView`] wrapper that remembers the last few lookups during one
//! event's evaluation: every field extraction asks the state for the same
//! thread, parent, container and fd again, and each of those is a hash
//! lookup in the real state. Lives on the stack; no allocation.

use crate::state::{ContainerInfo, FdInfo, StateView, ThreadInfo};
use std::cell::Cell;

/// Small direct-mapped caches; ancestors of one event are few.
const SLOTS: usize = 8;

type ThreadSlot<'s> = Cell<Option<(i64, Option<&'s ThreadInfo>)>>;
type FdSlot<'s> = Cell<Option<((i64, i64), Option<&'s FdInfo>)>>;

pub struct CachedView<'s> {
    inner: &'s dyn StateView,
    threads: [ThreadSlot<'s>; SLOTS],
    processes: [ThreadSlot<'s>; SLOTS],
    container: Cell<Option<&'s ContainerInfo>>,
    fd: FdSlot<'s>,
}

impl<'s> CachedView<'s> {
    pub fn new(inner: &'s dyn StateView) -> Self {
        CachedView {
            inner,
            threads: Default::default(),
            processes: Default::default(),
            container: Cell::new(None),
            fd: Cell::new(None),
        }
    }
}

fn slot(id: i64) -> usize {
    (id as u64 as usize) % SLOTS
}

fn cached<'s>(
    slots: &[ThreadSlot<'s>; SLOTS],
    id: i64,
    lookup: impl FnOnce() -> Option<&'s ThreadInfo>,
) -> Option<&'s ThreadInfo> {
    let cell = &slots[slot(id)];
    if let Some((k, v)) = cell.get()
        && k == id
    {
        return v;
    }
    let v = lookup();
    cell.set(Some((id, v)));
    v
}

impl StateView for CachedView<'_> {
    fn thread(&self, tid: i64) -> Option<&ThreadInfo> {
        cached(&self.threads, tid, || self.inner.thread(tid))
    }

    fn process(&self, pid: i64) -> Option<&ThreadInfo> {
        cached(&self.processes, pid, || self.inner.process(pid))
    }

    fn fd(&self, pid: i64, fd: i64) -> Option<&FdInfo> {
        if let Some((k, v)) = self.fd.get()
            && k == (pid, fd)
        {
            return v;
        }
        let v = self.inner.fd(pid, fd);
        self.fd.set(Some(((pid, fd), v)));
        v
    }

    fn container(&self, id: &str) -> Option<&ContainerInfo> {
        if let Some(c) = self.container.get()
            && (c.id == id || c.full_id == id)
        {
            return Some(c);
        }
        let v = self.inner.container(id);
        if v.is_some() {
            self.container.set(v);
        }
        v
    }

    fn user_name(&self, container_id: &str, uid: u32) -> Option<&str> {
        self.inner.user_name(container_id, uid)
    }

    fn group_name(&self, container_id: &str, gid: u32) -> Option<&str> {
        self.inner.group_name(container_id, gid)
    }

    fn user_home_shell(&self, container_id: &str, uid: u32) -> Option<(&str, &str)> {
        self.inner.user_home_shell(container_id, uid)
    }

    fn ip_names(&self, ip: std::net::IpAddr) -> &[std::sync::Arc<str>] {
        self.inner.ip_names(ip)
    }
}
