//! Fixture shared by the condition-evaluator benchmarks
//! (`examples/bench_rules.rs` and `benches/condition_eval.rs`, which include
//! it with `#[path]`): a containerd container `web` in pod `prod/web-0`,
//! threads in or out of it, and event builders.

use falco_sensor::event::{Event, EventKind, EventType, TaskContext};
use falco_sensor::state::{ContainerInfo, PodInfo, ThreadInfo};
use std::sync::Arc;

/// The short id of the `web` container.
pub const CID: &str = "0123456789ab";

/// Thread `tid`, leader of its process, running `/usr/bin/<comm>` with
/// `args` in container `cid` (`host` for the host).
pub fn thread(tid: i64, ppid: i64, comm: &str, cid: &str, args: &[&str]) -> ThreadInfo {
    ThreadInfo {
        tid,
        pid: tid,
        ppid,
        comm: comm.into(),
        exe: comm.into(),
        exe_path: format!("/usr/bin/{comm}"),
        args: args.iter().map(|s| s.to_string()).collect(),
        container_id: Arc::from(cid),
        cwd: "/".into(),
        ..ThreadInfo::default()
    }
}

/// The `web` container (nginx:1.27), resolved, in pod `prod/web-0`.
pub fn web_container() -> ContainerInfo {
    ContainerInfo {
        id: CID.into(),
        full_id: format!("{CID}{}", "0".repeat(52)),
        name: "web".into(),
        image: "docker.io/library/nginx:1.27".into(),
        image_repository: "docker.io/library/nginx".into(),
        image_tag: "1.27".into(),
        pod: Some(PodInfo {
            name: "web-0".into(),
            namespace: "prod".into(),
            ..PodInfo::default()
        }),
        resolved: true,
        ..ContainerInfo::default()
    }
}

/// An event of `task` returning 3 (an fd, for the fd-creating types).
pub fn event(etype: EventType, task: TaskContext, kind: EventKind) -> Event {
    Event {
        num: 1,
        ts_ns: 1,
        cpu: 0,
        etype,
        res: 3,
        task,
        kind,
    }
}

/// The payload of a successful absolute `openat` of `path`.
pub fn open_kind(path: &str) -> EventKind {
    EventKind::Open {
        path: path.into(),
        resolved_path: path.into(),
        flags: 0,
        mode: 0,
        dirfd: -100,
        dev: 0,
        ino: 0,
    }
}
