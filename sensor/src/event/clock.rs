//! The kernel stamps events with the boot-time clock (it keeps counting
//! through suspend and never jumps); the decoder adds this offset to get
//! Unix time.

/// Unix ns minus boot-time ns, sampled now. Measured once at start so all
/// events of a run share one offset (wall-clock steps do not reorder them).
pub fn boot_to_wall_offset_ns() -> i64 {
    #[cfg(target_os = "linux")]
    let boot_clock = libc::CLOCK_BOOTTIME;
    #[cfg(not(target_os = "linux"))]
    let boot_clock = libc::CLOCK_MONOTONIC;
    // Read the boot clock between two wall-clock reads and use the midpoint,
    // which halves the error from being preempted between the calls.
    let wall1 = now_ns(libc::CLOCK_REALTIME);
    let boot = now_ns(boot_clock);
    let wall2 = now_ns(libc::CLOCK_REALTIME);
    wall1 + (wall2 - wall1) / 2 - boot
}

fn now_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call
    // and the clock ids used are supported on the targets they are chosen for.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn offset_makes_boot_time_look_like_now() {
        let offset = boot_to_wall_offset_ns();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        #[cfg(target_os = "linux")]
        let boot = now_ns(libc::CLOCK_BOOTTIME);
        #[cfg(not(target_os = "linux"))]
        let boot = now_ns(libc::CLOCK_MONOTONIC);
        let diff = (boot + offset - wall).abs();
        assert!(diff < 1_000_000_000, "offset is off by {diff} ns");
    }
}
