//! Linux ABI numbers the decoder and the state tracker interpret (syscall
//! flags, address families, errno values), in the types their users
//! compare them with. Values come from the `libc` crate for the target
//! architecture (open flags differ between x86_64 and arm64), never typed
//! in by hand; the test pins the x86_64 numbers documented in the man pages.

#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

pub const AF_UNIX: u16 = libc::AF_UNIX as u16;
pub const AF_INET: u16 = libc::AF_INET as u16;
pub const AF_INET6: u16 = libc::AF_INET6 as u16;
pub const SOCK_RAW: u16 = libc::SOCK_RAW as u16;
pub const AT_FDCWD: i64 = libc::AT_FDCWD as i64;
/// `creat(path, mode)` is `open(path, O_CREAT | O_WRONLY | O_TRUNC, mode)`.
pub const O_CREAT_WRONLY_TRUNC: u32 = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32;
pub const O_DIRECTORY: u32 = libc::O_DIRECTORY as u32;
pub const O_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
pub const MFD_CLOEXEC: u32 = libc::MFD_CLOEXEC;
pub const CLONE_VM: u64 = libc::CLONE_VM as u64;
pub const CLONE_VFORK: u64 = libc::CLONE_VFORK as u64;
pub const CLONE_THREAD: u64 = libc::CLONE_THREAD as u64;
/// fork() is clone(SIGCHLD): the exit signal sits in the flags' low byte.
pub const SIGCHLD: u64 = libc::SIGCHLD as u64;
pub const EINPROGRESS: i64 = libc::EINPROGRESS as i64;
pub const F_DUPFD: i64 = libc::F_DUPFD as i64;
pub const F_DUPFD_CLOEXEC: i64 = libc::F_DUPFD_CLOEXEC as i64;

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The numbers the code used to spell out, as x86_64 Linux defines them.
    #[test]
    fn x86_64_values() {
        assert_eq!((AF_UNIX, AF_INET, AF_INET6, SOCK_RAW), (1, 2, 10, 3));
        assert_eq!(AT_FDCWD, -100);
        assert_eq!(O_CREAT_WRONLY_TRUNC, 0o100 | 0o1 | 0o1000);
        assert_eq!(
            (O_DIRECTORY, O_CLOEXEC, MFD_CLOEXEC),
            (0o200_000, 0o2_000_000, 1)
        );
        assert_eq!(
            (CLONE_VM, CLONE_VFORK, CLONE_THREAD),
            (0x100, 0x4000, 0x1_0000)
        );
        assert_eq!(SIGCHLD, 17);
        assert_eq!(EINPROGRESS, 115);
        assert_eq!((F_DUPFD, F_DUPFD_CLOEXEC), (0, 1030));
    }
}
