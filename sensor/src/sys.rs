//! Thin safe wrappers over the few libc calls the sensor makes in more than
//! one place (clock reads, clock ticks). Signals go through `signal_hook`, never raw
//! `libc::signal`.

/// The clocks the sensor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Wall-clock time (Unix epoch).
    Realtime,
    /// Time since boot, counting suspend (the kernel's event timestamps);
    /// the monotonic clock where the OS has no boot-time clock.
    Boottime,
    /// CPU time consumed by the calling thread.
    ThreadCpu,
}

impl Clock {
    fn id(self) -> libc::clockid_t {
        match self {
            Clock::Realtime => libc::CLOCK_REALTIME,
            #[cfg(target_os = "linux")]
            Clock::Boottime => libc::CLOCK_BOOTTIME,
            #[cfg(not(target_os = "linux"))]
            Clock::Boottime => libc::CLOCK_MONOTONIC,
            Clock::ThreadCpu => libc::CLOCK_THREAD_CPUTIME_ID,
        }
    }
}

/// The clock's current value in nanoseconds; `None` if the kernel refuses
/// the read (it does not for these clocks on supported systems).
pub fn clock_ns(clock: Clock) -> Option<i64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the
    // call, and every `Clock` maps to a clock id the target supports.
    let rc = unsafe { libc::clock_gettime(clock.id(), &mut ts) };
    (rc == 0).then(|| ts.tv_sec * 1_000_000_000 + ts.tv_nsec)
}

/// CPU time of the calling thread in ns (0 if unreadable): for measuring
/// work on a shared machine, where wall time also counts waiting for a core.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(Clock::ThreadCpu).map_or(0, |ns| u64::try_from(ns).unwrap_or(0))
}

/// Clock ticks per second of /proc times (`_SC_CLK_TCK`); `None` if unknown.
pub fn clock_ticks_per_sec() -> Option<u64> {
    // SAFETY: sysconf has no memory arguments; it only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&hz| hz > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clocks_read_and_advance() {
        let wall = clock_ns(Clock::Realtime).unwrap();
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert!((sys - wall).abs() < 1_000_000_000);
        let b1 = clock_ns(Clock::Boottime).unwrap();
        let c1 = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(clock_ns(Clock::Boottime).unwrap() > b1);
        assert!(thread_cpu_ns() > c1);
        assert!(clock_ticks_per_sec().is_some());
    }
}
