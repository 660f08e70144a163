//! The table of supported fields. One macro invocation produces both the
//! public [`FieldInfo`] table and the parallel [`Key`] table that
//! [`super::extract`] dispatches on, so the two can never drift apart.

use super::{ArgKind, FieldInfo, FieldType};

macro_rules! fields {
    ($( $key:ident => $name:literal, $ty:ident, $arg:ident, $desc:literal; )*) => {
        /// Internal identity of a field, in registry order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Key { $($key),* }

        pub(crate) const REGISTRY: &[FieldInfo] = &[
            $(FieldInfo { name: $name, ftype: FieldType::$ty, arg: ArgKind::$arg, desc: $desc }),*
        ];

        pub(crate) const KEYS: &[Key] = &[ $(Key::$key),* ];
    };
}

fields! {
    // ---- evt: the event itself -------------------------------------------
    EvtNum => "evt.num", UInt, None, "Sequence number the sensor gave the event.";
    EvtTime => "evt.time", Str, None, "Time of the event as hh:mm:ss.nnnnnnnnn (UTC).";
    EvtTimeS => "evt.time.s", Str, None, "Time of the event as hh:mm:ss (UTC).";
    EvtTimeIso => "evt.time.iso8601", Str, None, "Time of the event in ISO 8601 form with nanoseconds, UTC (e.g. 2024-05-01T10:00:00.000000001Z).";
    EvtDatetime => "evt.datetime", Str, None, "Date and time of the event as YYYY-MM-DD hh:mm:ss.nnnnnnnnn (UTC).";
    EvtDatetimeS => "evt.datetime.s", Str, None, "Date and time of the event as YYYY-MM-DD hh:mm:ss (UTC).";
    EvtRawtime => "evt.rawtime", AbsTime, None, "Time of the event in nanoseconds since the Unix epoch.";
    EvtRawtimeS => "evt.rawtime.s", AbsTime, None, "Whole seconds part of evt.rawtime.";
    EvtRawtimeNs => "evt.rawtime.ns", AbsTime, None, "Nanoseconds within the second of evt.rawtime.";
    EvtDir => "evt.dir", Str, None, "Direction of the event: always '<' (exit) because the sensor only captures syscall exits.";
    EvtType => "evt.type", Str, None, "Name of the event type, e.g. open, execve, connect.";
    SyscallType => "syscall.type", Str, None, "Name of the system call; unset for events that are not syscalls (procexit).";
    EvtCategory => "evt.category", Str, None, "Broad class of the event: file, net, process, user or system.";
    EvtCpu => "evt.cpu", Int, None, "Number of the CPU the event was captured on.";
    EvtArgs => "evt.args", Str, None, "Every argument of the event as one 'name=value' string, the way Falco prints them.";
    EvtArg => "evt.arg", Str, RequiredKey, "One argument of the event, by Falco parameter name (evt.arg.flags, evt.arg[flags]) or position (evt.arg[0]); flags, modes and well-known codes are printed symbolically.";
    EvtRawarg => "evt.rawarg", Int, RequiredKey, "One argument of the event by name, as its raw number (evt.rawarg.flags, evt.rawarg.fd); text arguments give their text.";
    EvtInfo => "evt.info", Str, None, "Same text as evt.args.";
    EvtBuffer => "evt.buffer", Bytes, None, "Data buffer of send/receive events, when the sensor captures I/O buffers.";
    EvtBuflen => "evt.buflen", UInt, None, "Length of the captured data buffer of send/receive events.";
    EvtRes => "evt.res", Str, None, "Outcome of the syscall: SUCCESS, or the errno name (e.g. ENOENT, EACCES) on failure.";
    EvtRawres => "evt.rawres", Int, None, "Return value of the syscall as a number: fd, pid or 0 on success, minus errno on failure.";
    EvtFailed => "evt.failed", Bool, None, "true when the syscall returned an error.";
    EvtIsIo => "evt.is_io", Bool, None, "true for events that move data through an fd (send/receive family).";
    EvtIsIoRead => "evt.is_io_read", Bool, None, "true for events that read data from an fd (recvfrom, recvmsg).";
    EvtIsIoWrite => "evt.is_io_write", Bool, None, "true for events that write data to an fd (sendto, sendmsg).";
    EvtIsOpenRead => "evt.is_open_read", Bool, None, "true for open/openat/openat2 events that opened the path for reading (O_RDONLY or O_RDWR).";
    EvtIsOpenWrite => "evt.is_open_write", Bool, None, "true for open/openat/openat2 events that opened the path for writing (O_WRONLY or O_RDWR).";
    EvtIsOpenExec => "evt.is_open_exec", Bool, None, "true for open/openat/openat2/creat events that create a file with an execute bit in its mode.";
    EvtIsOpenCreate => "evt.is_open_create", Bool, None, "true for open/openat/openat2 events that can create a file (O_CREAT, or O_TMPFILE on success).";
    EvtHostname => "evt.hostname", Str, None, "Host name of the node the sensor runs on (FALCO_HOSTNAME overrides it).";
    EvtSource => "evt.source", Str, None, "Event source the event belongs to: always syscall here.";
    EvtPluginname => "evt.pluginname", Str, None, "Name of the plugin that produced the event; <NA> for syscall events.";
    EvtIsAsync => "evt.is_async", Bool, None, "true for events not produced by a syscall of the thread; always false here.";

    // ---- proc: the process that caused the event ---------------------------
    ProcExe => "proc.exe", Str, None, "First command-line argument (argv[0]) the process was started with; usually the program name or path, but the caller chooses it.";
    ProcPexe => "proc.pexe", Str, None, "proc.exe of the parent process.";
    ProcAexe => "proc.aexe", Str, OptionalIndex, "proc.exe of an ancestor: [0] is the process, [1] its parent, [2] the grandparent; without index a condition matches any ancestor above the process.";
    ProcExepath => "proc.exepath", Str, None, "Full path of the executable file, with symlinks resolved.";
    ProcPexepath => "proc.pexepath", Str, None, "proc.exepath of the parent process.";
    ProcAexepath => "proc.aexepath", Str, OptionalIndex, "proc.exepath of an ancestor, indexed like proc.aexe.";
    ProcName => "proc.name", Str, None, "Process name as the kernel keeps it (comm, at most 15 bytes), set from the executable's file name at exec.";
    ProcPname => "proc.pname", Str, None, "proc.name of the parent process.";
    ProcAname => "proc.aname", Str, OptionalIndex, "proc.name of an ancestor: [0] is the process, [1] its parent, [2] the grandparent; without index a condition matches any ancestor above the process.";
    ProcArgs => "proc.args", Str, OptionalIndex, "Command-line arguments after argv[0], joined with spaces; proc.args[N] is the N-th of them (0-based).";
    ProcAargs => "proc.aargs", Str, OptionalIndex, "proc.args of an ancestor, indexed like proc.aname.";
    ProcCmdline => "proc.cmdline", Str, None, "proc.name followed by proc.args, separated by spaces.";
    ProcPcmdline => "proc.pcmdline", Str, None, "proc.cmdline of the parent process.";
    ProcAcmdline => "proc.acmdline", Str, OptionalIndex, "proc.cmdline of an ancestor, indexed like proc.aname.";
    ProcCmdnargs => "proc.cmdnargs", UInt, None, "Number of command-line arguments after argv[0].";
    ProcCmdlenargs => "proc.cmdlenargs", UInt, None, "Total length in bytes of the arguments after argv[0], not counting separators.";
    ProcExeline => "proc.exeline", Str, None, "proc.exe followed by proc.args, separated by spaces.";
    ProcEnv => "proc.env", Str, OptionalKey, "Environment of the process as 'NAME=value NAME2=value2'; proc.env[NAME] is one variable's value. Captured at exec while an enabled rule reads proc.env (probe.capture_env: auto, the default), or always with probe.capture_env: true.";
    ProcCwd => "proc.cwd", Str, None, "Current working directory of the process.";
    ProcLoginshellid => "proc.loginshellid", Int, None, "pid of the oldest shell among the process and its ancestors; tells interactive sessions apart.";
    ProcTty => "proc.tty", UInt, None, "Controlling terminal of the process as a device number; 0 when there is none.";
    ProcPid => "proc.pid", Int, None, "Process id (thread-group id) in the host pid namespace.";
    ProcPpid => "proc.ppid", Int, None, "Process id of the parent, host pid namespace.";
    ProcApid => "proc.apid", Int, OptionalIndex, "pid of an ancestor, indexed like proc.aname.";
    ProcVpid => "proc.vpid", Int, None, "Process id as seen inside the process's own pid namespace (e.g. 1 for a container's init).";
    ProcPvpid => "proc.pvpid", Int, None, "proc.vpid of the parent process.";
    ProcSid => "proc.sid", Int, None, "Session id of the process, in its pid namespace.";
    ProcSname => "proc.sname", Str, None, "proc.name of the session leader: the ancestor whose pid is proc.sid, or the eldest ancestor in the same session.";
    ProcSidExe => "proc.sid.exe", Str, None, "proc.exe of the session leader.";
    ProcSidExepath => "proc.sid.exepath", Str, None, "proc.exepath of the session leader.";
    ProcVpgid => "proc.vpgid", Int, None, "Process group id, in the process's pid namespace.";
    ProcVpgidName => "proc.vpgid.name", Str, None, "proc.name of the process group leader: the ancestor whose vpid is proc.vpgid, or the eldest ancestor in the same group.";
    ProcVpgidExe => "proc.vpgid.exe", Str, None, "proc.exe of the process group leader.";
    ProcVpgidExepath => "proc.vpgid.exepath", Str, None, "proc.exepath of the process group leader.";
    ProcDuration => "proc.duration", RelTime, None, "Nanoseconds the process has been alive at the time of the event.";
    ProcPpidDuration => "proc.ppid.duration", RelTime, None, "Nanoseconds the parent process has been alive at the time of the event.";
    ProcPidTs => "proc.pid.ts", RelTime, None, "Start time of the process, nanoseconds since the Unix epoch.";
    ProcPpidTs => "proc.ppid.ts", RelTime, None, "Start time of the parent process, nanoseconds since the Unix epoch.";
    ProcIsExeUpperLayer => "proc.is_exe_upper_layer", Bool, None, "true when the executable lives in the writable (upper) layer of an overlay filesystem, i.e. it was written inside the container.";
    ProcIsExeFromMemfd => "proc.is_exe_from_memfd", Bool, None, "true when the executable is an anonymous memory file (memfd_create), i.e. fileless execution.";
    ProcIsSidLeader => "proc.is_sid_leader", Bool, None, "true when the process leads its session (vpid equals sid).";
    ProcIsVpgidLeader => "proc.is_vpgid_leader", Bool, None, "true when the process leads its process group (vpid equals vpgid).";
    ProcExeIno => "proc.exe_ino", Int, None, "Inode number of the executable file.";
    ProcExeInoCtime => "proc.exe_ino.ctime", AbsTime, None, "Last status change time (ctime) of the executable file, ns since the epoch.";
    ProcExeInoMtime => "proc.exe_ino.mtime", AbsTime, None, "Last modification time (mtime) of the executable file, ns since the epoch.";
    ProcExeInoCtimeDurationProcStart => "proc.exe_ino.ctime_duration_proc_start", AbsTime, None, "Nanoseconds between the executable's last status change and the start of the process; small values mean the file was dropped just before it ran.";
    ProcStdinType => "proc.stdin.type", Str, None, "fd.type of the process's fd 0 (stdin).";
    ProcStdoutType => "proc.stdout.type", Str, None, "fd.type of the process's fd 1 (stdout).";
    ProcStderrType => "proc.stderr.type", Str, None, "fd.type of the process's fd 2 (stderr).";
    ProcStdinName => "proc.stdin.name", Str, None, "fd.name of the process's fd 0 (stdin).";
    ProcStdoutName => "proc.stdout.name", Str, None, "fd.name of the process's fd 1 (stdout).";
    ProcStderrName => "proc.stderr.name", Str, None, "fd.name of the process's fd 2 (stderr).";

    // ---- thread ------------------------------------------------------------
    ThreadTid => "thread.tid", Int, None, "Thread id in the host pid namespace.";
    ThreadVtid => "thread.vtid", Int, None, "Thread id as seen inside the thread's own pid namespace.";
    ThreadIsmain => "thread.ismain", Bool, None, "true when the thread is the main thread of its process.";
    ThreadCapPermitted => "thread.cap_permitted", Str, None, "Permitted capability set, as space-separated CAP_* names.";
    ThreadCapInheritable => "thread.cap_inheritable", Str, None, "Inheritable capability set, as space-separated CAP_* names.";
    ThreadCapEffective => "thread.cap_effective", Str, None, "Effective capability set, as space-separated CAP_* names.";

    // ---- user / group ------------------------------------------------------
    UserUid => "user.uid", UInt, None, "Effective user id of the thread.";
    UserName => "user.name", Str, None, "Name of the effective user, looked up in the passwd database of the thread's container (or the host).";
    UserHomedir => "user.homedir", Str, None, "Home directory of the effective user.";
    UserShell => "user.shell", Str, None, "Login shell of the effective user.";
    UserLoginuid => "user.loginuid", Int, None, "Audit login user id (auid) of the user who started the session; -1 when unset (e.g. daemons).";
    UserLoginname => "user.loginname", Str, None, "Name of the audit login user.";
    GroupGid => "group.gid", UInt, None, "Effective group id of the thread.";
    GroupName => "group.name", Str, None, "Name of the effective group, looked up in the thread's container (or the host).";

    // ---- fd: the file descriptor the event uses ------------------------------
    FdNum => "fd.num", Int, None, "Number of the file descriptor the event uses or creates.";
    FdType => "fd.type", Str, None, "Kind of the fd: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, bpf, userfaultfd, memfd.";
    FdTypechar => "fd.typechar", Str, None, "Kind of the fd as one letter: f file, d directory, 4 ipv4, 6 ipv6, u unix, p pipe, e eventfd, s signalfd, l eventpoll, i inotify, t timerfd, n netlink, b bpf, u userfaultfd, o other.";
    FdName => "fd.name", Str, None, "Name of the fd: the absolute path for files and directories, 'client_ip:port->server_ip:port' for IP sockets, the path for unix sockets.";
    FdDirectory => "fd.directory", Str, None, "For files, the directory holding the file; for directories, the directory itself.";
    FdFilename => "fd.filename", Str, None, "For files, the last component of the path.";
    FdIp => "fd.ip", Ip, None, "Matches either end's IP address of the socket (conditions only).";
    FdCip => "fd.cip", Ip, None, "Client-side IP address of the socket.";
    FdSip => "fd.sip", Ip, None, "Server-side IP address of the socket.";
    FdLip => "fd.lip", Ip, None, "Local IP address of the socket.";
    FdRip => "fd.rip", Ip, None, "Remote IP address of the socket.";
    FdPort => "fd.port", UInt, None, "Matches either end's port of the socket (conditions only).";
    FdCport => "fd.cport", UInt, None, "Client-side port of a TCP/UDP socket.";
    FdSport => "fd.sport", UInt, None, "Server-side port of a TCP/UDP socket.";
    FdLport => "fd.lport", UInt, None, "Local port of a TCP/UDP socket.";
    FdRport => "fd.rport", UInt, None, "Remote port of a TCP/UDP socket.";
    FdL4proto => "fd.l4proto", Str, None, "Layer-4 protocol of the socket: tcp, udp, icmp or raw.";
    FdSockfamily => "fd.sockfamily", Str, None, "Address family of the socket: ip or unix.";
    FdIsServer => "fd.is_server", Bool, None, "true when this process holds the server end of the connection (accepted it).";
    FdUid => "fd.uid", Str, None, "Unique id of the fd: the fd number followed by the thread id.";
    FdContainername => "fd.containername", Str, None, "Container id and fd.name joined with ':'.";
    FdContainerdirectory => "fd.containerdirectory", Str, None, "Container id and fd.directory joined with ':'.";
    FdNet => "fd.net", IpNet, None, "Matches either end's IP address against a network in CIDR form (conditions only).";
    FdCnet => "fd.cnet", IpNet, None, "Matches the client IP address against a network in CIDR form.";
    FdSnet => "fd.snet", IpNet, None, "Matches the server IP address against a network in CIDR form.";
    FdLnet => "fd.lnet", IpNet, None, "Matches the local IP address against a network in CIDR form.";
    FdRnet => "fd.rnet", IpNet, None, "Matches the remote IP address against a network in CIDR form.";
    FdConnected => "fd.connected", Bool, None, "true when the socket is connected.";
    FdNameChanged => "fd.name_changed", Bool, None, "true when this event gave the fd a new name (e.g. connect filled in the tuple).";
    FdCipName => "fd.cip.name", Str, None, "Name of the client IP: which of the names the rules compare this field with resolves (through the system resolver) to it; <NA> when none does.";
    FdSipName => "fd.sip.name", Str, None, "Name of the server IP: which of the names the rules compare this field with resolves (through the system resolver) to it; <NA> when none does.";
    FdLipName => "fd.lip.name", Str, None, "Name of the local IP: which of the names the rules compare this field with resolves (through the system resolver) to it; <NA> when none does.";
    FdRipName => "fd.rip.name", Str, None, "Name of the remote IP: which of the names the rules compare this field with resolves (through the system resolver) to it; <NA> when none does.";
    FdDev => "fd.dev", UInt, None, "Device number of the file system holding the file.";
    FdDevMajor => "fd.dev.major", UInt, None, "Major part of fd.dev.";
    FdDevMinor => "fd.dev.minor", UInt, None, "Minor part of fd.dev.";
    FdIno => "fd.ino", Int, None, "Inode number of the file.";
    FdNameraw => "fd.nameraw", Str, None, "For files, the path exactly as the syscall received it (not made absolute).";
    FdTypes => "fd.types", StrList, OptionalIndex, "The distinct fd.type values of every fd the process has open; fd.types[N] is the type of the process's fd number N (fd.types[0] is stdin).";

    // ---- fs.path: paths of filesystem syscalls ---------------------------------
    FsPathName => "fs.path.name", Str, None, "For syscalls on one path (mkdir, unlink, chmod, open...), that path made absolute.";
    FsPathNameraw => "fs.path.nameraw", Str, None, "For syscalls on one path, the path as the syscall received it.";
    FsPathSource => "fs.path.source", Str, None, "For syscalls with a source and a target path (rename, link, symlink), the source made absolute.";
    FsPathSourceraw => "fs.path.sourceraw", Str, None, "For syscalls with a source and a target path, the source as received.";
    FsPathTarget => "fs.path.target", Str, None, "For syscalls with a source and a target path, the target made absolute.";
    FsPathTargetraw => "fs.path.targetraw", Str, None, "For syscalls with a source and a target path, the target as received.";

    // ---- container ---------------------------------------------------------------
    ContainerId => "container.id", Str, None, "Short (12 hex digit) id of the thread's container; 'host' for processes outside containers.";
    ContainerFullId => "container.full_id", Str, None, "Full 64 hex digit container id; 'host' for host processes.";
    ContainerName => "container.name", Str, None, "Name of the container; 'host' for host processes.";
    ContainerImage => "container.image", Str, None, "Image reference the container runs (repository:tag or digest); <NA> on the host.";
    ContainerImageRepository => "container.image.repository", Str, None, "Repository part of the container image, e.g. docker.io/library/nginx; <NA> on the host.";
    ContainerImageTag => "container.image.tag", Str, None, "Tag of the container image, e.g. 1.25; <NA> on the host.";
    ContainerImageDigest => "container.image.digest", Str, None, "Digest of the container image (sha256:...); <NA> on the host.";
    ContainerType => "container.type", Str, None, "Container runtime: containerd, cri-o, docker, podman; 'host' on the host.";
    ContainerPrivileged => "container.privileged", Bool, None, "true for containers running privileged; <NA> on the host.";
    ContainerMounts => "container.mounts", Str, None, "Every mount of the container as space-separated 'source:dest:mode:rdwr:propagation' items.";
    ContainerMount => "container.mount", Str, RequiredKey, "One mount as 'source:dest:mode:rdwr:propagation', chosen by position ([0]) or by a glob on its source path ([/var/run/*]).";
    ContainerMountSource => "container.mount.source", Str, RequiredKey, "Source path of a mount chosen by position or by a glob on its destination path.";
    ContainerMountDest => "container.mount.dest", Str, RequiredKey, "Destination path of a mount chosen by position or by a glob on its source path.";
    ContainerMountMode => "container.mount.mode", Str, RequiredKey, "Mode of a mount chosen by position or by a glob on its source path.";
    ContainerMountRdwr => "container.mount.rdwr", Str, RequiredKey, "Whether a mount (chosen by position or source glob) is writable: true or false.";
    ContainerMountPropagation => "container.mount.propagation", Str, RequiredKey, "Propagation of a mount chosen by position or by a glob on its source path.";
    ContainerStartTs => "container.start_ts", AbsTime, None, "Creation time of the container, ns since the epoch.";
    ContainerDuration => "container.duration", RelTime, None, "Nanoseconds since the container was created.";

    // ---- k8s: the pod of the container --------------------------------------------
    K8sNsName => "k8s.ns.name", Str, None, "Kubernetes namespace of the container's pod; <NA> outside pods.";
    K8sPodName => "k8s.pod.name", Str, None, "Name of the container's pod; <NA> outside pods.";
    K8sPodUid => "k8s.pod.uid", Str, None, "UID of the container's pod.";
    K8sPodId => "k8s.pod.id", Str, None, "Same as k8s.pod.uid (legacy name).";
    K8sPodSandboxId => "k8s.pod.sandbox_id", Str, None, "Short (12 hex digit) id of the pod's sandbox.";
    K8sPodFullSandboxId => "k8s.pod.full_sandbox_id", Str, None, "Full id of the pod's sandbox.";
    K8sPodLabel => "k8s.pod.label", Str, RequiredKey, "Value of one pod label, e.g. k8s.pod.label[app].";
    K8sPodLabels => "k8s.pod.labels", StrList, None, "Every pod label as 'key:value' items.";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_keys_line_up() {
        assert_eq!(REGISTRY.len(), KEYS.len());
        let mut seen = HashSet::new();
        for (i, f) in REGISTRY.iter().enumerate() {
            assert!(seen.insert(f.name), "duplicate field {}", f.name);
            assert_eq!(KEYS[i] as usize, i);
            assert!(!f.desc.is_empty(), "{} has no description", f.name);
        }
        assert!(u16::try_from(REGISTRY.len()).is_ok());
    }
}
