//! Syscall number → (event type, handler shape) tables, one per
//! architecture. The kernel dispatcher looks the syscall number up in the
//! `syscall_table` map filled from here; adding an architecture means adding
//! a table (aarch64 has no open/creat/rename/... and only the *at forms).

use crate::contract;
use crate::event::EventType;

/// Tail-call handler slots (`enum sensor_handler` in bpf/src/sensor.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Handler {
    Args = contract::SENSOR_H_ARGS,
    Paths = contract::SENSOR_H_PATHS,
    Sock = contract::SENSOR_H_SOCK,
    ExecFail = contract::SENSOR_H_EXEC_FAIL,
    Pipe = contract::SENSOR_H_PIPE,
}

/// `syscall_desc.flags` bits.
pub const SD_FD_INFO: u8 = contract::SENSOR_SD_FD_INFO;
pub const SD_OPEN_HOW: u8 = contract::SENSOR_SD_OPEN_HOW;
pub const SD_SKIP_ZERO: u8 = contract::SENSOR_SD_SKIP_ZERO;
pub const SD_TUPLE_RES: u8 = contract::SENSOR_SD_TUPLE_RES;
pub const SD_CLONE3: u8 = contract::SENSOR_SD_CLONE3;
pub const SD_FCNTL_DUP: u8 = contract::SENSOR_SD_FCNTL_DUP;
/// `res >= 0` is a new fd (other than the open family's).
pub const SD_NEW_FD: u8 = contract::SENSOR_SD_NEW_FD;
/// close: subject to the close filter (see `OpenFilter::close_filter`).
pub const SD_CLOSE: u8 = contract::SENSOR_SD_CLOSE;

/// `syscall_desc.sock_mode` values.
pub const SOCK_NONE: u8 = contract::SENSOR_SOCK_NONE;
pub const SOCK_ADDR_ARG1: u8 = contract::SENSOR_SOCK_ADDR_ARG1;
pub const SOCK_SENDTO: u8 = contract::SENSOR_SOCK_SENDTO;
pub const SOCK_RECVFROM: u8 = contract::SENSOR_SOCK_RECVFROM;
pub const SOCK_MSG: u8 = contract::SENSOR_SOCK_MSG;

/// Size of `struct syscall_desc`.
pub const DESC_SIZE: usize = 16;

/// How the kernel captures one syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallDesc {
    pub nr: u32,
    pub etype: EventType,
    pub handler: Handler,
    /// Argument indexes of user strings (paths, names), at most 3.
    pub strings: &'static [u8],
    pub flags: u8,
    pub sock_mode: u8,
    /// Argument index of argv (execve family).
    pub argv_arg: u8,
}

impl SyscallDesc {
    /// The `struct syscall_desc` bytes for the kernel map.
    pub fn to_bytes(&self) -> [u8; DESC_SIZE] {
        let mut b = [0u8; DESC_SIZE];
        b[0..2].copy_from_slice(&self.etype.id().to_le_bytes());
        b[2] = self.handler as u8;
        b[3] = self.strings.len().min(3) as u8;
        for (i, s) in self.strings.iter().take(3).enumerate() {
            b[4 + i] = *s;
        }
        b[7] = self.flags;
        b[8] = self.sock_mode;
        b[9] = self.argv_arg;
        b
    }
}

const fn d(
    nr: u32,
    etype: EventType,
    handler: Handler,
    strings: &'static [u8],
    flags: u8,
) -> SyscallDesc {
    SyscallDesc {
        nr,
        etype,
        handler,
        strings,
        flags,
        sock_mode: SOCK_NONE,
        argv_arg: 0,
    }
}

const fn sock(nr: u32, etype: EventType, mode: u8, flags: u8) -> SyscallDesc {
    SyscallDesc {
        nr,
        etype,
        handler: Handler::Sock,
        strings: &[],
        flags,
        sock_mode: mode,
        argv_arg: 0,
    }
}

const fn exec(nr: u32, etype: EventType, path_arg: &'static [u8], argv_arg: u8) -> SyscallDesc {
    SyscallDesc {
        nr,
        etype,
        handler: Handler::ExecFail,
        strings: path_arg,
        flags: 0,
        sock_mode: SOCK_NONE,
        argv_arg,
    }
}

use EventType as T;
use Handler::{Args, Paths, Pipe};

/// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
pub const X86_64: &[SyscallDesc] = &[
    exec(59, T::Execve, &[0], 1),
    exec(322, T::Execveat, &[1], 2),
    d(56, T::Clone, Args, &[], SD_SKIP_ZERO),
    d(435, T::Clone3, Args, &[], SD_SKIP_ZERO | SD_CLONE3),
    d(57, T::Fork, Args, &[], SD_SKIP_ZERO),
    d(58, T::Vfork, Args, &[], SD_SKIP_ZERO),
    d(2, T::Open, Paths, &[0], SD_FD_INFO),
    d(257, T::Openat, Paths, &[1], SD_FD_INFO),
    d(437, T::Openat2, Paths, &[1], SD_FD_INFO | SD_OPEN_HOW),
    d(85, T::Creat, Paths, &[0], SD_FD_INFO),
    d(3, T::Close, Args, &[], SD_CLOSE),
    d(87, T::Unlink, Paths, &[0], 0),
    d(263, T::Unlinkat, Paths, &[1], 0),
    d(82, T::Rename, Paths, &[0, 1], 0),
    d(264, T::Renameat, Paths, &[1, 3], 0),
    d(316, T::Renameat2, Paths, &[1, 3], 0),
    d(83, T::Mkdir, Paths, &[0], 0),
    d(258, T::Mkdirat, Paths, &[1], 0),
    d(84, T::Rmdir, Paths, &[0], 0),
    d(86, T::Link, Paths, &[0, 1], 0),
    d(265, T::Linkat, Paths, &[1, 3], 0),
    d(88, T::Symlink, Paths, &[0, 1], 0),
    d(266, T::Symlinkat, Paths, &[0, 2], 0),
    d(90, T::Chmod, Paths, &[0], 0),
    d(91, T::Fchmod, Args, &[], 0),
    d(268, T::Fchmodat, Paths, &[1], 0),
    d(32, T::Dup, Args, &[], SD_NEW_FD),
    d(33, T::Dup2, Args, &[], SD_NEW_FD),
    d(292, T::Dup3, Args, &[], SD_NEW_FD),
    d(41, T::Socket, Args, &[], SD_NEW_FD),
    sock(42, T::Connect, SOCK_ADDR_ARG1, 0),
    sock(43, T::Accept, SOCK_NONE, SD_TUPLE_RES | SD_NEW_FD),
    sock(288, T::Accept4, SOCK_NONE, SD_TUPLE_RES | SD_NEW_FD),
    sock(49, T::Bind, SOCK_ADDR_ARG1, 0),
    d(50, T::Listen, Args, &[], 0),
    sock(44, T::Sendto, SOCK_SENDTO, 0),
    sock(45, T::Recvfrom, SOCK_RECVFROM, 0),
    sock(46, T::Sendmsg, SOCK_MSG, 0),
    sock(47, T::Recvmsg, SOCK_MSG, 0),
    d(105, T::Setuid, Args, &[], 0),
    d(106, T::Setgid, Args, &[], 0),
    d(113, T::Setreuid, Args, &[], 0),
    d(114, T::Setregid, Args, &[], 0),
    d(117, T::Setresuid, Args, &[], 0),
    d(119, T::Setresgid, Args, &[], 0),
    d(101, T::Ptrace, Args, &[], 0),
    d(165, T::Mount, Paths, &[0, 1, 2], 0),
    d(166, T::Umount2, Paths, &[0], 0),
    d(272, T::Unshare, Args, &[], 0),
    d(308, T::Setns, Args, &[], 0),
    d(321, T::Bpf, Args, &[], 0),
    d(175, T::InitModule, Paths, &[2], 0),
    d(313, T::FinitModule, Paths, &[1], 0),
    d(319, T::MemfdCreate, Paths, &[0], SD_NEW_FD),
    d(323, T::Userfaultfd, Args, &[], SD_NEW_FD),
    d(157, T::Prctl, Args, &[], 0),
    d(80, T::Chdir, Paths, &[0], 0),
    d(81, T::Fchdir, Args, &[], 0),
    d(22, T::Pipe, Pipe, &[], 0),
    d(293, T::Pipe2, Pipe, &[], 0),
    d(72, T::Fcntl, Args, &[], SD_FCNTL_DUP | SD_NEW_FD),
];

/// The table for the architecture this binary runs on, if supported.
pub fn native_table() -> Option<&'static [SyscallDesc]> {
    if cfg!(target_arch = "x86_64") {
        Some(X86_64)
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn x86_64_table_covers_every_syscall_type_once() {
        let mut numbers = HashSet::new();
        let mut types = HashSet::new();
        for desc in X86_64 {
            assert!(numbers.insert(desc.nr), "syscall {} listed twice", desc.nr);
            assert!(types.insert(desc.etype), "{:?} listed twice", desc.etype);
            assert!(desc.nr < 512, "syscall_table has 512 entries");
            assert!(desc.strings.len() <= 3);
            assert!(desc.strings.iter().all(|&a| a < 6));
        }
        for t in EventType::ALL {
            if *t != EventType::Procexit {
                assert!(types.contains(t), "{t:?} has no syscall");
            }
        }
    }

    #[test]
    fn desc_bytes_match_the_c_layout() {
        let b = X86_64[1].to_bytes();
        assert_eq!(u16::from_le_bytes([b[0], b[1]]), EventType::Execveat.id());
        assert_eq!(b[2], Handler::ExecFail as u8);
        assert_eq!((b[3], b[4]), (1, 1));
        assert_eq!(b[9], 2);
    }
}
