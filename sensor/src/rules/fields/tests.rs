//! Field semantics table: synthetic events over a `MemoryState` fixture,
//! checked against the values Falco gives for the same situation.

use super::*;
use crate::event::{EventKind, EventType, ExeFileInfo, L4Proto, SockAddr, SockTuple, TaskContext};
use crate::state::{
    ContainerInfo, ContainerMount, FdInfo, FdKind, MemoryState, PodInfo, ThreadInfo,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

pub(crate) const CID: &str = "abcdef123456";
pub(crate) const FULL_CID: &str =
    "abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890";
/// 2023-11-14T22:13:20.123456789Z
pub(crate) const TS: u64 = 1_700_000_000_123_456_789;

fn thread(pid: i64, ppid: i64, comm: &str, exe_path: &str, args: &[&str], cid: &str) -> ThreadInfo {
    ThreadInfo {
        tid: pid,
        pid,
        ppid,
        vtid: pid,
        vpid: pid,
        vpgid: pid,
        vsid: pid,
        comm: comm.to_string(),
        exe: comm.to_string(),
        exe_path: exe_path.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        cwd: "/root".to_string(),
        loginuid: u32::MAX,
        start_ns: TS - 5_000_000_000,
        container_id: Arc::from(cid),
        ..Default::default()
    }
}

pub(crate) fn fd_info(kind: FdKind, name: &str, tuple: Option<SockTuple>) -> FdInfo {
    FdInfo {
        kind,
        name: name.to_string(),
        flags: 0,
        connected: tuple.is_some(),
        tuple,
        dev: 0,
        ino: 0,
    }
}

pub(crate) fn inet(ip: &str, port: u16) -> SockAddr {
    SockAddr::Inet {
        ip: ip.parse::<IpAddr>().expect("test ip"),
        port,
    }
}

pub(crate) fn tcp(local: SockAddr, remote: SockAddr) -> SockTuple {
    SockTuple {
        l4: L4Proto::Tcp,
        local,
        remote,
    }
}

/// Host: systemd(1) → sshd(50) → bash(100, session and group leader) →
/// cat(200). Container `web` (pod prod/web-0): containerd-shim(290, host) →
/// nginx(300) → sh(310).
pub(crate) fn fixture() -> MemoryState {
    let mut st = MemoryState::default();
    let host = "host";
    let mut threads = vec![
        thread(1, 0, "systemd", "/usr/lib/systemd/systemd", &[], host),
        thread(50, 1, "sshd", "/usr/sbin/sshd", &["-D"], host),
        thread(100, 50, "bash", "/usr/bin/bash", &["-i"], host),
        thread(200, 100, "cat", "/usr/bin/cat", &["/etc/shadow"], host),
        thread(
            290,
            1,
            "containerd-shim",
            "/usr/bin/containerd-shim-runc-v2",
            &[],
            host,
        ),
        thread(
            300,
            290,
            "nginx",
            "/usr/sbin/nginx",
            &["-g", "daemon off;"],
            FULL_CID,
        ),
        thread(310, 300, "sh", "/bin/sh", &["-c", "id"], FULL_CID),
    ];
    for t in &mut threads {
        if t.pid == 200 {
            t.vsid = 100;
            t.vpgid = 200;
        }
    }
    for t in threads {
        st.threads.insert(t.tid, t);
    }
    st.fds
        .insert((200, 3), fd_info(FdKind::File, "/etc/shadow", None));
    st.fds
        .insert((200, 0), fd_info(FdKind::File, "/dev/pts/0", None));
    let conn = tcp(inet("10.0.0.5", 40000), inet("93.184.216.34", 443));
    st.fds.insert(
        (310, 3),
        fd_info(
            FdKind::Ipv4Socket,
            "10.0.0.5:40000->93.184.216.34:443",
            Some(conn),
        ),
    );
    st.fds.insert(
        (310, 0),
        fd_info(
            FdKind::Ipv4Socket,
            "10.0.0.5:40000->93.184.216.34:443",
            Some(tcp(inet("10.0.0.5", 40000), inet("93.184.216.34", 443))),
        ),
    );
    let mut labels = BTreeMap::new();
    labels.insert("app".to_string(), "web".to_string());
    labels.insert("tier".to_string(), "front".to_string());
    st.containers.insert(
        CID.to_string(),
        ContainerInfo {
            id: CID.to_string(),
            full_id: FULL_CID.to_string(),
            name: "web".to_string(),
            image: "docker.io/library/nginx:1.25".to_string(),
            image_repository: "docker.io/library/nginx".to_string(),
            image_tag: "1.25".to_string(),
            image_digest: "sha256:0123".to_string(),
            privileged: false,
            mounts: vec![
                ContainerMount {
                    source: "/var/run/docker.sock".to_string(),
                    dest: "/var/run/docker.sock".to_string(),
                    mode: "".to_string(),
                    read_write: true,
                    propagation: "rprivate".to_string(),
                },
                ContainerMount {
                    source: "/srv/data".to_string(),
                    dest: "/data".to_string(),
                    mode: "ro".to_string(),
                    read_write: false,
                    propagation: "rprivate".to_string(),
                },
            ],
            start_ns: TS - 60_000_000_000,
            runtime: "containerd".to_string(),
            pod: Some(PodInfo {
                name: "web-0".to_string(),
                namespace: "prod".to_string(),
                uid: "0c5d7c3e-0000-4000-8000-000000000001".to_string(),
                labels,
                sandbox_id: "fedcba9876543210fedcba".to_string(),
            }),
            resolved: true,
        },
    );
    let user = |n: &str, h: &str, s: &str| (n.to_string(), h.to_string(), s.to_string());
    st.users
        .insert(("host".to_string(), 0), user("root", "/root", "/bin/bash"));
    st.users.insert(
        ("host".to_string(), 1000),
        user("alice", "/home/alice", "/bin/zsh"),
    );
    st.users.insert(
        (FULL_CID.to_string(), 101),
        user("nginx", "/var/cache/nginx", "/sbin/nologin"),
    );
    st.groups
        .insert(("host".to_string(), 0), "root".to_string());
    st
}

pub(crate) fn task_of(st: &MemoryState, tid: i64) -> TaskContext {
    let t = &st.threads[&tid];
    TaskContext {
        tid: t.tid,
        pid: t.pid,
        ppid: t.ppid,
        vtid: t.vtid,
        vpid: t.vpid,
        uid: if tid >= 300 { 101 } else { 0 },
        gid: 0,
        loginuid: if tid == 200 { 1000 } else { u32::MAX },
        comm: t.comm.clone(),
        tty: if tid == 200 || tid == 310 { 34816 } else { 0 },
        cap_effective: (1 << 21) | 1,
        vsid: t.vsid,
        vpgid: t.vpgid,
        ..Default::default()
    }
}

pub(crate) fn event(
    st: &MemoryState,
    tid: i64,
    etype: EventType,
    res: i64,
    kind: EventKind,
) -> Event {
    Event {
        num: 42,
        ts_ns: TS,
        cpu: 1,
        etype,
        res,
        task: task_of(st, tid),
        kind,
    }
}

pub(crate) fn open(path: &str, resolved: &str, flags: i32, mode: u32) -> EventKind {
    EventKind::Open {
        path: path.to_string(),
        resolved_path: resolved.to_string(),
        flags: flags as u32,
        mode,
        dirfd: i64::from(libc::AT_FDCWD),
        dev: (8 << 20) | 3,
        ino: 1234,
    }
}

pub(crate) fn exec(argv: &[&str], exe_path: &str, memfd: bool) -> EventKind {
    EventKind::Exec {
        filename: exe_path.to_string(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec!["HOME=/root".to_string(), "TERM=xterm".to_string()],
        exe_path: exe_path.to_string(),
        cwd: "/root".to_string(),
        exe_file: ExeFileInfo {
            ino: 77,
            mtime_ns: 10,
            ctime_ns: TS - 6_000_000_000,
            upper_layer: false,
            from_memfd: memfd,
        },
        flags: 0,
        cgroup: String::new(),
    }
}

/// Resolves `field` as written in a rule (`proc.aname[2]`, `evt.arg.flags`)
/// and renders its value like an output does; `None` is `<NA>`.
pub(crate) fn get(field: &str, ev: &Event, st: &MemoryState) -> Option<String> {
    let (name, arg) = match field.find('[') {
        Some(i) => (&field[..i], Some(field[i + 1..].trim_end_matches(']'))),
        None => (field, None),
    };
    let spec = resolve(name, arg).unwrap_or_else(|e| panic!("{field}: {e}"));
    let v = extract(&spec, ev, st)?;
    let mut s = String::new();
    render_field(&spec, &v, &mut s);
    Some(s)
}

fn check(ev: &Event, st: &MemoryState, table: &[(&str, Option<&str>)]) {
    let mut failures = Vec::new();
    for (field, want) in table {
        let have = get(field, ev, st);
        if have.as_deref() != *want {
            failures.push(format!("{field}: want {want:?}, have {have:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n{}",
        ev.etype.name(),
        failures.join("\n")
    );
}

#[test]
fn process_fields_of_an_exec_on_the_host() {
    let st = fixture();
    let ev = event(
        &st,
        200,
        EventType::Execve,
        0,
        exec(&["cat", "/etc/shadow"], "/usr/bin/cat", false),
    );
    check(
        &ev,
        &st,
        &[
            ("proc.name", Some("cat")),
            ("proc.exe", Some("cat")),
            ("proc.exepath", Some("/usr/bin/cat")),
            ("proc.args", Some("/etc/shadow")),
            ("proc.args[0]", Some("/etc/shadow")),
            ("proc.args[1]", None),
            ("proc.cmdline", Some("cat /etc/shadow")),
            ("proc.exeline", Some("cat /etc/shadow")),
            ("proc.cmdnargs", Some("1")),
            ("proc.cmdlenargs", Some("11")),
            ("proc.pname", Some("bash")),
            ("proc.pexe", Some("bash")),
            ("proc.pexepath", Some("/usr/bin/bash")),
            ("proc.pcmdline", Some("bash -i")),
            ("proc.aname[0]", Some("cat")),
            ("proc.aname[1]", Some("bash")),
            ("proc.aname[2]", Some("sshd")),
            ("proc.aname[3]", Some("systemd")),
            ("proc.aname[4]", None),
            ("proc.aname", Some("bash sshd systemd")),
            ("proc.apid[2]", Some("50")),
            ("proc.aexepath[2]", Some("/usr/sbin/sshd")),
            ("proc.acmdline[2]", Some("sshd -D")),
            ("proc.pid", Some("200")),
            ("proc.ppid", Some("100")),
            ("proc.vpid", Some("200")),
            ("proc.pvpid", Some("100")),
            ("proc.cwd", Some("/root")),
            ("proc.tty", Some("34816")),
            ("proc.env", Some("HOME=/root TERM=xterm")),
            ("proc.env[TERM]", Some("xterm")),
            ("proc.env[NOPE]", None),
            ("proc.loginshellid", Some("100")),
            ("proc.sid", Some("100")),
            ("proc.sname", Some("bash")),
            ("proc.is_sid_leader", Some("false")),
            ("proc.vpgid", Some("200")),
            ("proc.vpgid.name", Some("cat")),
            ("proc.is_vpgid_leader", Some("true")),
            ("proc.duration", Some("5000000000")),
            ("proc.is_exe_from_memfd", Some("false")),
            ("proc.is_exe_upper_layer", Some("false")),
            ("proc.exe_ino", Some("77")),
            ("proc.exe_ino.ctime_duration_proc_start", Some("1000000000")),
            ("proc.stdin.type", Some("file")),
            ("proc.stdin.name", Some("/dev/pts/0")),
            ("proc.stdout.type", None),
            ("thread.tid", Some("200")),
            ("thread.ismain", Some("true")),
            ("thread.cap_effective", Some("CAP_CHOWN CAP_SYS_ADMIN")),
            ("thread.cap_permitted", Some("")),
            ("user.uid", Some("0")),
            ("user.name", Some("root")),
            ("user.homedir", Some("/root")),
            ("user.shell", Some("/bin/bash")),
            ("user.loginuid", Some("1000")),
            ("user.loginname", Some("alice")),
            ("group.gid", Some("0")),
            ("group.name", Some("root")),
            ("evt.type", Some("execve")),
            ("evt.category", Some("process")),
            ("evt.arg.exe", Some("cat")),
            ("evt.arg.args", Some("/etc/shadow")),
            ("fd.name", None),
            ("fs.path.name", None),
        ],
    );
    // Without state the event still names the process.
    let empty = MemoryState::default();
    check(
        &ev,
        &empty,
        &[
            ("proc.name", Some("cat")),
            ("proc.cmdline", Some("cat /etc/shadow")),
            ("proc.pname", None),
            ("proc.aname", None),
            ("user.name", None),
            ("user.uid", Some("0")),
            ("container.id", None),
        ],
    );
}

#[test]
fn fileless_exec_and_unset_loginuid() {
    let st = fixture();
    let ev = event(
        &st,
        310,
        EventType::Execve,
        0,
        exec(&["[kworker]"], "/memfd:x (deleted)", true),
    );
    check(
        &ev,
        &st,
        &[
            ("proc.is_exe_from_memfd", Some("true")),
            ("proc.exe", Some("[kworker]")),
            ("proc.args", Some("")),
            ("proc.cmdline", Some("sh")),
            ("user.loginuid", Some("-1")),
            ("user.loginname", None),
            ("user.name", Some("nginx")),
            ("group.name", None),
            ("proc.aname", Some("nginx containerd-shim systemd")),
        ],
    );
}

#[test]
fn container_and_k8s_fields_in_a_pod_and_on_the_host() {
    let st = fixture();
    let ev = event(
        &st,
        310,
        EventType::Execve,
        0,
        exec(&["sh", "-c", "id"], "/bin/sh", false),
    );
    check(
        &ev,
        &st,
        &[
            ("container.id", Some(CID)),
            ("container.full_id", Some(FULL_CID)),
            ("container.name", Some("web")),
            ("container.image", Some("docker.io/library/nginx:1.25")),
            (
                "container.image.repository",
                Some("docker.io/library/nginx"),
            ),
            ("container.image.tag", Some("1.25")),
            ("container.image.digest", Some("sha256:0123")),
            ("container.type", Some("containerd")),
            ("container.privileged", Some("false")),
            (
                "container.mounts",
                Some(
                    "/var/run/docker.sock:/var/run/docker.sock::true:rprivate /srv/data:/data:ro:false:rprivate",
                ),
            ),
            (
                "container.mount.dest[/var/run/docker.sock]",
                Some("/var/run/docker.sock"),
            ),
            ("container.mount.dest[/srv*]", Some("/data")),
            ("container.mount.dest[/proc*]", None),
            ("container.mount.source[/data]", Some("/srv/data")),
            ("container.mount.source[1]", Some("/srv/data")),
            ("container.mount.rdwr[/srv/*]", Some("false")),
            (
                "container.start_ts",
                Some(&(TS - 60_000_000_000).to_string()),
            ),
            ("container.duration", Some("60000000000")),
            ("k8s.ns.name", Some("prod")),
            ("k8s.pod.name", Some("web-0")),
            ("k8s.pod.uid", Some("0c5d7c3e-0000-4000-8000-000000000001")),
            ("k8s.pod.label[app]", Some("web")),
            ("k8s.pod.label[nope]", None),
            ("k8s.pod.labels", Some("(app:web,tier:front)")),
            ("k8s.pod.sandbox_id", Some("fedcba987654")),
        ],
    );
    let host = event(
        &st,
        200,
        EventType::Execve,
        0,
        exec(&["cat"], "/usr/bin/cat", false),
    );
    check(
        &host,
        &st,
        &[
            ("container.id", Some("host")),
            ("container.full_id", Some("host")),
            ("container.name", Some("host")),
            ("container.type", Some("host")),
            ("container.image", None),
            ("container.image.repository", None),
            ("container.privileged", None),
            ("container.mounts", None),
            ("k8s.ns.name", None),
            ("k8s.pod.name", None),
            ("k8s.pod.labels", None),
        ],
    );
}

#[test]
fn evt_fields_and_open_flags() {
    let st = fixture();
    let ev = event(
        &st,
        200,
        EventType::Openat,
        3,
        open("shadow", "/etc/shadow", libc::O_RDONLY | libc::O_CLOEXEC, 0),
    );
    check(
        &ev,
        &st,
        &[
            ("evt.num", Some("42")),
            ("evt.type", Some("openat")),
            ("syscall.type", Some("openat")),
            ("evt.dir", Some("<")),
            ("evt.category", Some("file")),
            ("evt.cpu", Some("1")),
            ("evt.rawtime", Some("1700000000123456789")),
            ("evt.rawtime.s", Some("1700000000")),
            ("evt.rawtime.ns", Some("123456789")),
            ("evt.time", Some("22:13:20.123456789")),
            ("evt.time.s", Some("22:13:20")),
            ("evt.datetime", Some("2023-11-14 22:13:20.123456789")),
            ("evt.time.iso8601", Some("2023-11-14T22:13:20.123456789Z")),
            ("evt.res", Some("SUCCESS")),
            ("evt.rawres", Some("3")),
            ("evt.failed", Some("false")),
            ("evt.arg.flags", Some("O_RDONLY|O_CLOEXEC")),
            ("evt.arg[flags]", Some("O_RDONLY|O_CLOEXEC")),
            ("evt.arg[3]", Some("O_RDONLY|O_CLOEXEC")),
            ("evt.rawarg.flags", Some("4097")),
            ("evt.arg.name", Some("shadow")),
            ("evt.arg.fd", Some("<f>/etc/shadow")),
            ("evt.arg.dirfd", Some("AT_FDCWD")),
            ("evt.arg.mode", Some("00")),
            ("evt.arg.nope", None),
            ("evt.arg[99]", None),
            (
                "evt.args",
                Some(
                    "fd=3(<f>/etc/shadow) dirfd=-100(AT_FDCWD) name=shadow flags=4097(O_RDONLY|O_CLOEXEC) mode=00 dev=8388611 ino=1234",
                ),
            ),
            ("evt.is_open_read", Some("true")),
            ("evt.is_open_write", Some("false")),
            ("evt.is_open_create", Some("false")),
            ("evt.is_open_exec", Some("false")),
            ("evt.source", Some("syscall")),
            ("evt.pluginname", None),
            ("evt.is_io", Some("false")),
            ("evt.buffer", None),
        ],
    );
    let failed = event(
        &st,
        200,
        EventType::Open,
        -2,
        open(
            "/nope",
            "/nope",
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o755,
        ),
    );
    check(
        &failed,
        &st,
        &[
            ("evt.res", Some("ENOENT")),
            ("evt.rawres", Some("-2")),
            ("evt.failed", Some("true")),
            ("evt.arg.flags", Some("O_TRUNC|O_CREAT|O_WRONLY")),
            ("evt.arg.fd", Some("ENOENT")),
            ("evt.arg.dirfd", None),
            ("evt.is_open_write", Some("true")),
            ("evt.is_open_read", Some("false")),
            ("evt.is_open_create", Some("false")),
            ("evt.is_open_exec", Some("true")),
            ("fd.name", Some("/nope")),
            ("fd.directory", Some("/")),
            ("fd.filename", None),
            ("fd.num", Some("-1")),
            ("fd.typechar", Some("f")),
            ("fd.type", None),
        ],
    );
    let rdwr = event(
        &st,
        200,
        EventType::Open,
        4,
        open("/tmp/x", "/tmp/x", libc::O_RDWR | libc::O_CREAT, 0o644),
    );
    check(
        &rdwr,
        &st,
        &[
            ("evt.arg.flags", Some("O_CREAT|O_RDWR")),
            ("evt.is_open_read", Some("true")),
            ("evt.is_open_write", Some("true")),
            ("evt.is_open_create", Some("true")),
            ("evt.is_open_exec", Some("false")),
            ("evt.arg.mode", Some("0644")),
        ],
    );
}

#[test]
fn evt_args_of_other_syscalls() {
    let st = fixture();
    let chmod = event(
        &st,
        200,
        EventType::Chmod,
        0,
        EventKind::Chmod {
            path: "/tmp/x".to_string(),
            resolved_path: "/tmp/x".to_string(),
            fd: -1,
            mode: 0o4755,
        },
    );
    check(
        &chmod,
        &st,
        &[
            (
                "evt.arg.mode",
                Some("S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"),
            ),
            ("evt.arg.filename", Some("/tmp/x")),
            ("evt.rawarg.mode", Some("2541")),
            ("evt.arg.res", Some("0")),
            ("fs.path.name", Some("/tmp/x")),
        ],
    );
    let ptrace = event(
        &st,
        200,
        EventType::Ptrace,
        0,
        EventKind::Ptrace {
            request: 16,
            pid: 300,
        },
    );
    check(
        &ptrace,
        &st,
        &[
            ("evt.arg.request", Some("PTRACE_ATTACH")),
            ("evt.rawarg.request", Some("16")),
            ("evt.arg.pid", Some("nginx")),
            ("evt.rawarg.pid", Some("300")),
            ("evt.category", Some("system")),
        ],
    );
    let setuid = event(
        &st,
        200,
        EventType::Setuid,
        0,
        EventKind::SetId {
            real: 0,
            effective: u32::MAX,
            saved: u32::MAX,
        },
    );
    check(
        &setuid,
        &st,
        &[("evt.arg.uid", Some("root")), ("evt.rawarg.uid", Some("0"))],
    );
    let setuid_unknown = event(
        &st,
        200,
        EventType::Setuid,
        -1,
        EventKind::SetId {
            real: 4242,
            effective: u32::MAX,
            saved: u32::MAX,
        },
    );
    check(
        &setuid_unknown,
        &st,
        &[
            ("evt.arg.uid", Some("4242")),
            ("evt.res", Some("EPERM")),
            ("evt.arg.res", Some("EPERM")),
        ],
    );
    let socket = event(
        &st,
        200,
        EventType::Socket,
        5,
        EventKind::Socket {
            domain: 17,
            sock_type: 3,
            proto: 768,
        },
    );
    check(
        &socket,
        &st,
        &[
            ("evt.arg.domain", Some("AF_PACKET")),
            ("fd.num", Some("5")),
            ("fd.typechar", Some("o")),
        ],
    );
    let bpf = event(&st, 200, EventType::Bpf, 7, EventKind::Bpf { cmd: 5 });
    check(
        &bpf,
        &st,
        &[
            ("evt.arg.cmd", Some("BPF_PROG_LOAD")),
            ("evt.arg.res_or_fd", Some("7")),
        ],
    );
    let memfd = event(
        &st,
        200,
        EventType::MemfdCreate,
        6,
        EventKind::MemfdCreate {
            name: "x".to_string(),
            flags: 1,
        },
    );
    check(
        &memfd,
        &st,
        &[
            ("evt.arg.name", Some("x")),
            ("evt.arg.flags", Some("MFD_CLOEXEC")),
            ("fd.typechar", Some("m")),
            ("fd.type", Some("memfd")),
            ("fd.name", Some("memfd:x")),
        ],
    );
    let symlink = event(
        &st,
        200,
        EventType::Symlinkat,
        0,
        EventKind::Symlink {
            target: "/etc/shadow".to_string(),
            linkpath: "s".to_string(),
            resolved_linkpath: "/tmp/s".to_string(),
        },
    );
    check(
        &symlink,
        &st,
        &[
            ("evt.arg.target", Some("/etc/shadow")),
            ("evt.arg.linkpath", Some("s")),
            ("fs.path.source", Some("/etc/shadow")),
            ("fs.path.sourceraw", Some("/etc/shadow")),
            ("fs.path.target", Some("/tmp/s")),
            ("fs.path.targetraw", Some("s")),
            ("fs.path.name", None),
        ],
    );
}

#[test]
fn fd_fields_for_sockets() {
    let st = fixture();
    let v4 = event(
        &st,
        310,
        EventType::Connect,
        0,
        EventKind::Connect {
            fd: 3,
            addr: inet("93.184.216.34", 443),
            tuple: Some(tcp(inet("10.0.0.5", 40000), inet("93.184.216.34", 443))),
        },
    );
    check(
        &v4,
        &st,
        &[
            ("fd.name", Some("10.0.0.5:40000->93.184.216.34:443")),
            ("fd.num", Some("3")),
            ("fd.type", Some("ipv4")),
            ("fd.typechar", Some("4")),
            ("fd.sockfamily", Some("ip")),
            ("fd.l4proto", Some("tcp")),
            ("fd.cip", Some("10.0.0.5")),
            ("fd.sip", Some("93.184.216.34")),
            ("fd.lip", Some("10.0.0.5")),
            ("fd.rip", Some("93.184.216.34")),
            ("fd.cport", Some("40000")),
            ("fd.sport", Some("443")),
            ("fd.lport", Some("40000")),
            ("fd.rport", Some("443")),
            ("fd.ip", Some("(10.0.0.5,93.184.216.34)")),
            ("fd.sip.name", None),
            ("fd.rip.name", None),
            ("fd.is_server", Some("false")),
            ("fd.connected", Some("true")),
            ("fd.name_changed", Some("true")),
            ("fd.directory", None),
            ("fd.filename", None),
            ("evt.arg.tuple", Some("10.0.0.5:40000->93.184.216.34:443")),
            ("evt.arg.fd", Some("<4>10.0.0.5:40000->93.184.216.34:443")),
            ("evt.category", Some("net")),
        ],
    );
    let v6 = event(
        &st,
        310,
        EventType::Connect,
        -115,
        EventKind::Connect {
            fd: 9,
            addr: inet("2001:db8::1", 80),
            tuple: Some(tcp(inet("::1", 5000), inet("2001:db8::1", 80))),
        },
    );
    check(
        &v6,
        &st,
        &[
            ("fd.name", Some("::1:5000->2001:db8::1:80")),
            ("fd.typechar", Some("6")),
            ("fd.type", Some("ipv6")),
            ("fd.sip", Some("2001:db8::1")),
            ("evt.res", Some("EINPROGRESS")),
            ("fd.connected", Some("true")),
        ],
    );
    let unix = event(
        &st,
        310,
        EventType::Connect,
        0,
        EventKind::Connect {
            fd: 8,
            addr: SockAddr::Unix {
                path: "/var/run/docker.sock".to_string(),
            },
            tuple: Some(SockTuple {
                l4: L4Proto::Unix,
                local: SockAddr::Unix {
                    path: String::new(),
                },
                remote: SockAddr::Unix {
                    path: "/var/run/docker.sock".to_string(),
                },
            }),
        },
    );
    check(
        &unix,
        &st,
        &[
            ("fd.name", Some("/var/run/docker.sock")),
            ("fd.typechar", Some("u")),
            ("fd.type", Some("unix")),
            ("fd.sockfamily", Some("unix")),
            ("fd.l4proto", None),
            ("fd.sip", None),
        ],
    );
    let accept = event(
        &st,
        300,
        EventType::Accept4,
        7,
        EventKind::Accept {
            tuple: Some(tcp(inet("10.0.0.5", 80), inet("1.2.3.4", 5555))),
            flags: 0,
        },
    );
    check(
        &accept,
        &st,
        &[
            ("fd.name", Some("1.2.3.4:5555->10.0.0.5:80")),
            ("fd.num", Some("7")),
            ("fd.is_server", Some("true")),
            ("fd.cip", Some("1.2.3.4")),
            ("fd.sip", Some("10.0.0.5")),
            ("fd.sport", Some("80")),
            ("fd.lport", Some("80")),
            ("fd.rport", Some("5555")),
        ],
    );
    // dup2(3, 0) of the socket: the fd fields describe the duplicated socket.
    let dup = event(
        &st,
        310,
        EventType::Dup2,
        0,
        EventKind::Dup {
            oldfd: 3,
            newfd: 0,
            flags: 0,
        },
    );
    check(
        &dup,
        &st,
        &[
            ("fd.num", Some("3")),
            ("fd.typechar", Some("4")),
            ("fd.types", Some("(ipv4)")),
            ("fd.types[0]", Some("ipv4")),
            ("fd.types[2]", None),
            ("fd.name", Some("10.0.0.5:40000->93.184.216.34:443")),
            (
                "evt.arg.newfd",
                Some("<4>10.0.0.5:40000->93.184.216.34:443"),
            ),
            ("evt.rawres", Some("0")),
        ],
    );
    let close = event(&st, 200, EventType::Close, 0, EventKind::Close { fd: 3 });
    check(
        &close,
        &st,
        &[
            ("fd.name", Some("/etc/shadow")),
            ("fd.directory", Some("/etc")),
            ("fd.filename", Some("shadow")),
            ("fd.typechar", Some("f")),
            ("fd.containername", Some("host:/etc/shadow")),
        ],
    );
}

#[test]
fn fs_path_fields() {
    let st = fixture();
    let rename = event(
        &st,
        200,
        EventType::Renameat2,
        0,
        EventKind::Rename {
            oldpath: "a".to_string(),
            newpath: "/usr/bin/a".to_string(),
            resolved_oldpath: "/tmp/a".to_string(),
            resolved_newpath: "/usr/bin/a".to_string(),
            flags: 1,
        },
    );
    check(
        &rename,
        &st,
        &[
            ("fs.path.source", Some("/tmp/a")),
            ("fs.path.sourceraw", Some("a")),
            ("fs.path.target", Some("/usr/bin/a")),
            ("fs.path.targetraw", Some("/usr/bin/a")),
            ("fs.path.name", None),
            ("evt.arg.oldpath", Some("a")),
            ("evt.arg.newpath", Some("/usr/bin/a")),
            ("evt.arg.flags", Some("RENAME_NOREPLACE")),
        ],
    );
    // A path the probe could not resolve is made absolute against the cwd.
    let unlink = event(
        &st,
        200,
        EventType::Unlinkat,
        0,
        EventKind::Unlink {
            path: "foo".to_string(),
            resolved_path: String::new(),
            dirfd: -100,
            flags: libc::AT_REMOVEDIR as u32,
        },
    );
    check(
        &unlink,
        &st,
        &[
            ("fs.path.name", Some("/root/foo")),
            ("fs.path.nameraw", Some("foo")),
            ("evt.arg.name", Some("foo")),
            ("evt.arg.flags", Some("AT_REMOVEDIR")),
            ("fs.path.source", None),
        ],
    );
    let mkdir = event(
        &st,
        200,
        EventType::Mkdir,
        0,
        EventKind::Mkdir {
            path: "/var/lib/x".to_string(),
            resolved_path: "/var/lib/x".to_string(),
            mode: 0o755,
        },
    );
    check(
        &mkdir,
        &st,
        &[
            ("fs.path.name", Some("/var/lib/x")),
            ("evt.arg.path", Some("/var/lib/x")),
        ],
    );
    let link = event(
        &st,
        200,
        EventType::Linkat,
        0,
        EventKind::Link {
            oldpath: "/etc/shadow".to_string(),
            newpath: "/tmp/sh".to_string(),
            resolved_oldpath: "/etc/shadow".to_string(),
            resolved_newpath: "/tmp/sh".to_string(),
            flags: 0,
        },
    );
    check(
        &link,
        &st,
        &[
            ("fs.path.source", Some("/etc/shadow")),
            ("fs.path.target", Some("/tmp/sh")),
        ],
    );
}

#[test]
fn resolve_accepts_falco_syntax_and_rejects_bad_references() {
    assert!(resolve("evt.arg.flags", None).is_ok());
    assert_eq!(
        resolve("evt.arg", Some("flags"))
            .expect("evt.arg[flags]")
            .arg,
        Some(FieldArg::Key("flags".to_string()))
    );
    assert_eq!(
        resolve("evt.arg", Some("0")).expect("evt.arg[0]").arg,
        Some(FieldArg::Index(0))
    );
    assert_eq!(
        resolve("k8s.pod.label.app", None)
            .expect("dotted label")
            .arg,
        Some(FieldArg::Key("app".to_string()))
    );
    assert_eq!(
        resolve("proc.aname", Some("2")).expect("aname[2]").arg,
        Some(FieldArg::Index(2))
    );
    assert!(matches!(
        resolve("proc.nope", None),
        Err(FieldError::Unknown(_))
    ));
    assert!(matches!(
        resolve("evt.arg.", None),
        Err(FieldError::Unknown(_))
    ));
    assert!(matches!(
        resolve("proc.name", Some("1")),
        Err(FieldError::UnexpectedArg { .. })
    ));
    assert!(matches!(
        resolve("evt.arg", None),
        Err(FieldError::MissingArg { .. })
    ));
    assert!(matches!(
        resolve("proc.aname", Some("x")),
        Err(FieldError::BadArg { .. })
    ));
    assert!(matches!(
        resolve("evt.arg.flags", Some("x")),
        Err(FieldError::Unknown(_))
    ));
}

/// Every field used by the three upstream rulesets is in the registry.
#[test]
fn upstream_rulesets_only_use_registered_fields() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat/falco-rules");
    let re = regex::Regex::new(
        r"\b((?:evt|proc|thread|user|group|fd|container|k8s|fs\.path)\.[a-z0-9_.]*[a-z0-9_])(\[[^\]]*\])?",
    )
    .expect("regex");
    let mut checked = 0;
    for file in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
        for line in text.lines() {
            let code = line.split('#').next().unwrap_or("");
            // Only conditions and outputs, not descriptions or list items.
            let trimmed = code.trim_start();
            if !(trimmed.starts_with("condition:")
                || trimmed.starts_with("output:")
                || code.starts_with("    ")
                    && (code.contains(" and ")
                        || code.contains(" or ")
                        || code.contains('=')
                        || code.contains('%')))
            {
                continue;
            }
            for c in re.captures_iter(code) {
                let name = &c[1];
                if matches!(name, "k8s.io" | "user.log" | "proc.name.") || name.ends_with(".yaml") {
                    continue;
                }
                let arg = c
                    .get(2)
                    .map(|m| m.as_str().trim_matches(|c| c == '[' || c == ']'));
                resolve(name, arg).unwrap_or_else(|e| panic!("{file}: {line}: {e}"));
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} field references found");
}

/// Counts heap allocations per thread so the test below can check that the
/// common fields are extracted without allocating.
mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        pub static ALLOCS: Cell<usize> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator;
    // the wrapper only bumps a thread-local counter, which never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCS.with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as our caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCS.with(|c| c.set(c.get() + 1));
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    pub fn count() -> usize {
        ALLOCS.with(Cell::get)
    }
}

#[test]
fn common_fields_extract_without_allocating() {
    let st = fixture();
    let ev = event(
        &st,
        310,
        EventType::Openat,
        3,
        open("/etc/passwd", "/etc/passwd", libc::O_RDONLY, 0),
    );
    let names = [
        "evt.type",
        "evt.rawres",
        "evt.is_open_read",
        "proc.name",
        "proc.exe",
        "proc.exepath",
        "proc.pname",
        "proc.aname[2]",
        "proc.tty",
        // user.name is left out: MemoryState builds a String key to look
        // users up, which is the fixture's cost, not extraction's.
        "user.uid",
        "fd.name",
        "fd.typechar",
        "fd.directory",
        "fd.num",
        "container.id",
        "container.name",
        "container.image.repository",
        "k8s.ns.name",
        "k8s.pod.name",
        "evt.arg.name",
    ];
    let specs: Vec<FieldSpec> = names
        .iter()
        .map(|n| {
            let (name, arg) = match n.find('[') {
                Some(i) => (&n[..i], Some(n[i + 1..].trim_end_matches(']'))),
                None => (*n, None),
            };
            resolve(name, arg).unwrap_or_else(|e| panic!("{n}: {e}"))
        })
        .collect();
    for (name, spec) in names.iter().zip(&specs) {
        let before = alloc_count::count();
        let v = extract(spec, &ev, &st);
        let after = alloc_count::count();
        assert!(v.is_some(), "{name} is <NA>");
        assert_eq!(after, before, "{name} allocated");
        drop(v);
    }
}

/// One event of every payload kind, for exhaustive field × event checks.
fn one_of_each_kind(st: &MemoryState) -> Vec<Event> {
    let s = |x: &str| x.to_string();
    let tuple = Some(tcp(inet("10.0.0.5", 1), inet("1.1.1.1", 53)));
    let kinds: Vec<(EventType, i64, EventKind)> = vec![
        (EventType::Execve, 0, exec(&["sh"], "/bin/sh", false)),
        (EventType::Execve, -2, exec(&[], "", false)),
        (
            EventType::Clone,
            311,
            EventKind::Clone {
                flags: libc::CLONE_THREAD as u64,
            },
        ),
        (EventType::Procexit, 0, EventKind::Exit { status: 0x8b }),
        (EventType::Open, 3, open("x", "", 0, 0)),
        (
            EventType::Creat,
            3,
            open("/tmp/y", "/tmp/y", libc::O_CREAT, 0o755),
        ),
        (
            EventType::Openat2,
            -13,
            open("/root/z", "/root/z", libc::O_RDWR | libc::O_TMPFILE, 0),
        ),
        (EventType::Close, 0, EventKind::Close { fd: 99 }),
        (
            EventType::Unlink,
            0,
            EventKind::Unlink {
                path: s(""),
                resolved_path: s(""),
                dirfd: -100,
                flags: 0,
            },
        ),
        (
            EventType::Renameat,
            0,
            EventKind::Rename {
                oldpath: s("a"),
                newpath: s("b"),
                resolved_oldpath: s(""),
                resolved_newpath: s(""),
                flags: 0,
            },
        ),
        (
            EventType::Mkdirat,
            0,
            EventKind::Mkdir {
                path: s("d"),
                resolved_path: s(""),
                mode: 0o700,
            },
        ),
        (
            EventType::Link,
            0,
            EventKind::Link {
                oldpath: s("a"),
                newpath: s("b"),
                resolved_oldpath: s(""),
                resolved_newpath: s(""),
                flags: 0,
            },
        ),
        (
            EventType::Symlink,
            0,
            EventKind::Symlink {
                target: s("../t"),
                linkpath: s("l"),
                resolved_linkpath: s(""),
            },
        ),
        (
            EventType::Fchmod,
            0,
            EventKind::Chmod {
                path: s(""),
                resolved_path: s(""),
                fd: 3,
                mode: 0,
            },
        ),
        (
            EventType::Dup,
            4,
            EventKind::Dup {
                oldfd: 3,
                newfd: -1,
                flags: 0,
            },
        ),
        (
            EventType::Dup3,
            1,
            EventKind::Dup {
                oldfd: 0,
                newfd: 1,
                flags: libc::O_CLOEXEC as u32,
            },
        ),
        (
            EventType::Socket,
            -97,
            EventKind::Socket {
                domain: 99,
                sock_type: 1,
                proto: 0,
            },
        ),
        (
            EventType::Connect,
            -111,
            EventKind::Connect {
                fd: 4,
                addr: SockAddr::Other { family: 99 },
                tuple: None,
            },
        ),
        (
            EventType::Accept,
            5,
            EventKind::Accept {
                tuple: None,
                flags: 0,
            },
        ),
        (
            EventType::Bind,
            0,
            EventKind::Bind {
                fd: 3,
                addr: inet("0.0.0.0", 80),
            },
        ),
        (
            EventType::Listen,
            0,
            EventKind::Listen {
                fd: 3,
                backlog: 128,
            },
        ),
        (
            EventType::Sendto,
            12,
            EventKind::Io {
                fd: 3,
                addr: Some(inet("1.1.1.1", 53)),
                tuple: tuple.clone(),
                data: b"\x1b[31mhi\n".to_vec(),
            },
        ),
        (
            EventType::Recvmsg,
            0,
            EventKind::Io {
                fd: 77,
                addr: None,
                tuple: None,
                data: Vec::new(),
            },
        ),
        (
            EventType::Setresgid,
            0,
            EventKind::SetId {
                real: 1,
                effective: 2,
                saved: u32::MAX,
            },
        ),
        (
            EventType::Ptrace,
            -1,
            EventKind::Ptrace {
                request: -5,
                pid: 99999,
            },
        ),
        (
            EventType::Mount,
            0,
            EventKind::Mount {
                source: s("proc"),
                target: s("/mnt"),
                fstype: s("proc"),
                flags: 0,
            },
        ),
        (
            EventType::Umount2,
            0,
            EventKind::Umount {
                target: s("/mnt"),
                flags: 2,
            },
        ),
        (
            EventType::Unshare,
            0,
            EventKind::Namespace {
                flags: libc::CLONE_NEWNS as u64,
                fd: -1,
            },
        ),
        (
            EventType::Setns,
            0,
            EventKind::Namespace { flags: 0, fd: 3 },
        ),
        (EventType::Bpf, -1, EventKind::Bpf { cmd: 1000 }),
        (
            EventType::InitModule,
            0,
            EventKind::ModuleLoad {
                fd: -1,
                params: s("x=1"),
            },
        ),
        (
            EventType::MemfdCreate,
            -24,
            EventKind::MemfdCreate {
                name: s(""),
                flags: 0xff,
            },
        ),
        (
            EventType::Userfaultfd,
            6,
            EventKind::Userfaultfd { flags: 0 },
        ),
        (
            EventType::Prctl,
            0,
            EventKind::Prctl {
                option: 15,
                arg2: 0,
            },
        ),
        (
            EventType::Chdir,
            0,
            EventKind::Chdir {
                path: s(".."),
                resolved_path: s(""),
                fd: -1,
            },
        ),
        (
            EventType::Fchdir,
            0,
            EventKind::Chdir {
                path: s(""),
                resolved_path: s(""),
                fd: 3,
            },
        ),
        (
            EventType::Pipe2,
            0,
            EventKind::Pipe {
                fds: [5, 6],
                flags: 0,
            },
        ),
        (EventType::Fcntl, 7, EventKind::Fcntl { fd: 3, cmd: 1030 }),
    ];
    let mut out = Vec::new();
    for tid in [200, 310, 4242] {
        for (etype, res, kind) in &kinds {
            let mut ev = if st.threads.contains_key(&tid) {
                event(st, tid, *etype, *res, kind.clone())
            } else {
                let mut ev = event(st, 200, *etype, *res, kind.clone());
                ev.task.tid = tid;
                ev.task.pid = tid;
                ev.task.ppid = tid;
                ev
            };
            ev.ts_ns = if tid == 4242 { 0 } else { ev.ts_ns };
            out.push(ev);
        }
    }
    out
}

/// Every field on every kind of event, with and without state and with the
/// argument forms rules use: never a panic, and the always-present fields
/// are never `<NA>`.
#[test]
fn every_field_on_every_event_kind() {
    let st = fixture();
    let empty = MemoryState::default();
    let always = [
        "evt.type",
        "evt.num",
        "evt.rawres",
        "evt.res",
        "evt.dir",
        "proc.pid",
        "thread.tid",
        "user.uid",
    ];
    let mut extracted = 0usize;
    for ev in one_of_each_kind(&st) {
        for state in [&st, &empty] {
            for f in registry() {
                let args: &[Option<&str>] = match f.arg {
                    ArgKind::None => &[None],
                    ArgKind::OptionalIndex => &[None, Some("0"), Some("1"), Some("40")],
                    ArgKind::RequiredIndex => &[Some("0"), Some("9")],
                    ArgKind::RequiredKey | ArgKind::OptionalKey => &[
                        Some("flags"),
                        Some("0"),
                        Some("7"),
                        Some("/var/*"),
                        Some("app"),
                    ],
                };
                for arg in args {
                    let spec = match resolve(f.name, *arg) {
                        Ok(s) => s,
                        Err(e) => panic!("{} {arg:?}: {e}", f.name),
                    };
                    if let Some(v) = extract(&spec, &ev, state) {
                        let mut s = String::new();
                        render_field(&spec, &v, &mut s);
                        extracted += 1;
                    } else {
                        assert!(
                            !always.contains(&f.name),
                            "{} is <NA> on {}",
                            f.name,
                            ev.etype.name()
                        );
                    }
                }
            }
        }
    }
    assert!(extracted > 10_000, "only {extracted} values extracted");
}
