//! The kernel stamps events with the boot-time clock (it keeps counting
//! through suspend and never jumps); the decoder adds this offset to get
//! Unix time.

use crate::sys::{Clock, clock_ns};

/// Unix ns minus boot-time ns, sampled now. Measured once at start so all
/// events of a run share one offset (wall-clock steps do not reorder them).
pub fn boot_to_wall_offset_ns() -> i64 {
    // Read the boot clock between two wall-clock reads and use the midpoint,
    // which halves the error from being preempted between the calls.
    let wall1 = now_ns(Clock::Realtime);
    let boot = now_ns(Clock::Boottime);
    let wall2 = now_ns(Clock::Realtime);
    wall1 + (wall2 - wall1) / 2 - boot
}

fn now_ns(clock: Clock) -> i64 {
    clock_ns(clock).unwrap_or(0)
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
        let boot = now_ns(Clock::Boottime);
        let diff = (boot + offset - wall).abs();
        assert!(diff < 1_000_000_000, "offset is off by {diff} ns");
    }
}
