//! `kill-process`: SIGKILL through a pidfd after checking that the pid still
//! names the process from the alert. The pidfd pins the process we checked, so
//! if it exits and the pid is reused between the check and the signal, the
//! signal fails instead of hitting the newcomer.

use super::error::ActionError;
use super::guard::{ProcStat, parse_stat};
use super::target::Target;
use crate::sys::{Clock, clock_ns};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The kernel truncates comm to 15 bytes.
const COMM_LEN: usize = 15;
/// Slack between the event clock and the start time derived from /proc,
/// which has clock-tick (10 ms) resolution.
const START_SLACK_NS: i64 = 50_000_000;

/// Kills `target.pid` with SIGKILL if it is still the process the alert saw.
/// Returns a description of what was killed.
pub fn kill_process(target: &Target) -> Result<String, ActionError> {
    let pid = target.pid;
    let pidfd = pidfd_open(pid)?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s))
        .ok_or(ActionError::ProcessGone { pid })?;
    verify_identity(target, &stat, start_wall_ns(stat.start_ticks))?;
    // SAFETY: pidfd is an open pidfd owned by this function; a null siginfo
    // with flags 0 is the documented way to send a plain signal.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            return Err(ActionError::ProcessGone { pid });
        }
        return Err(ActionError::Os {
            call: "pidfd_send_signal",
            pid,
            source: err,
        });
    }
    Ok(format!("sent SIGKILL to process {pid} ({})", stat.comm))
}

fn pidfd_open(pid: i64) -> Result<OwnedFd, ActionError> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1;
    // no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            return Err(ActionError::ProcessGone { pid });
        }
        return Err(ActionError::Os {
            call: "pidfd_open",
            pid,
            source: err,
        });
    }
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Wall-clock start time of a process from its /proc start ticks (since boot).
fn start_wall_ns(start_ticks: u64) -> Option<i64> {
    let hz = crate::sys::clock_ticks_per_sec()?;
    let since_boot = i128::from(start_ticks) * 1_000_000_000 / i128::from(hz);
    let boot_wall = clock_ns(Clock::Realtime)? - clock_ns(Clock::Boottime)?;
    i64::try_from(i128::from(boot_wall) + since_boot).ok()
}

/// The process must have the alert's name (comm, possibly truncated) and must
/// have started before the event; otherwise the pid was reused.
fn verify_identity(
    target: &Target,
    stat: &ProcStat,
    start_wall_ns: Option<i64>,
) -> Result<(), ActionError> {
    let pid = target.pid;
    let mismatch = |why: String| ActionError::IdentityMismatch { pid, why };
    let expected = target.process_name.as_str();
    if !expected.is_empty() && !comm_matches(expected, &stat.comm) {
        return Err(mismatch(format!(
            "its name is now {:?}, the alert says {expected:?}",
            stat.comm
        )));
    }
    if target.event_time_ns > 0 {
        let start = start_wall_ns.ok_or_else(|| mismatch("start time unknown".into()))?;
        if start > target.event_time_ns + START_SLACK_NS {
            return Err(mismatch(format!(
                "it started {} ms after the event",
                (start - target.event_time_ns) / 1_000_000
            )));
        }
    }
    Ok(())
}

fn comm_matches(expected: &str, comm: &str) -> bool {
    if expected == comm {
        return true;
    }
    // proc.name may be longer than the kernel's 15-byte comm.
    expected.len() > COMM_LEN && comm.len() == COMM_LEN && expected.starts_with(comm)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors
mod tests {
    use super::*;

    fn target(name: &str, event_time_ns: i64) -> Target {
        Target {
            pid: 100,
            process_name: name.into(),
            event_time_ns,
            container_id: None,
            pod: None,
            forwarded: false,
        }
    }

    fn stat(comm: &str) -> ProcStat {
        ProcStat {
            comm: comm.into(),
            ppid: 1,
            start_ticks: 0,
        }
    }

    #[test]
    fn name_must_match() {
        assert!(verify_identity(&target("sleep", 0), &stat("sleep"), None).is_ok());
        let err = verify_identity(&target("sleep", 0), &stat("bash"), None).unwrap_err();
        assert!(err.to_string().contains("bash"), "{err}");
        let long = "a-very-long-process-name";
        assert!(verify_identity(&target(long, 0), &stat(&long[..15]), None).is_ok());
        assert!(verify_identity(&target(long, 0), &stat(&long[..10]), None).is_err());
    }

    #[test]
    fn process_started_after_the_event_is_not_the_culprit() {
        let t = target("sleep", 1_000_000_000_000);
        assert!(verify_identity(&t, &stat("sleep"), Some(999_000_000_000)).is_ok());
        assert!(verify_identity(&t, &stat("sleep"), Some(1_000_010_000_000)).is_ok());
        let err = verify_identity(&t, &stat("sleep"), Some(1_002_000_000_000)).unwrap_err();
        assert!(matches!(err, ActionError::IdentityMismatch { .. }), "{err}");
    }

    #[test]
    fn own_start_time_is_in_the_past() {
        let st = parse_stat(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        let start = start_wall_ns(st.start_ticks).unwrap();
        let now = clock_ns(Clock::Realtime).unwrap();
        assert!(start <= now + START_SLACK_NS && start > now - 86_400_000_000_000 * 365);
    }

    #[test]
    fn missing_process_is_reported_gone() {
        let t = Target {
            pid: i64::from(i32::MAX),
            ..target("x", 0)
        };
        assert!(matches!(
            kill_process(&t),
            Err(ActionError::ProcessGone { .. })
        ));
    }
}
