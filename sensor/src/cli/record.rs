//! `falco-sensor record`: capture raw kernel records to a file for replay
//! and benchmarks (format: docs/record-format.md).

use super::RecordArgs;
use crate::event::EventType;
use crate::event::record::{RecordHeader, RecordWriter};
use crate::probe::{Probe, ProbeConfig};
use anyhow::{Context, bail};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; `on_signal` has the C ABI signal expects.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Runs the capture until the duration, the event limit or Ctrl-C.
pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    if !args.rules.is_empty() {
        bail!(
            "record -r: choosing event types from rules is not available in this build; \
             omit -r to capture every event type"
        );
    }
    let cfg = ProbeConfig {
        filter_enabled: false,
        ..ProbeConfig::default()
    };
    let header = RecordHeader::current();
    let (probe, rx) =
        Probe::start_raw(cfg, EventType::ALL).context("cannot start the eBPF probe")?;
    let mut writer = RecordWriter::create_with_header(&args.output, &header)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    install_signal_handlers();
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let max = args.max_events.unwrap_or(u64::MAX);
    let mut written = 0u64;
    while written < max && !INTERRUPTED.load(Ordering::Relaxed) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(raw) => {
                writer.write_raw(&raw)?;
                written += 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("the probe reader stopped unexpectedly"),
        }
    }
    writer.flush()?;
    let stats = probe.stats();
    probe.stop();
    eprintln!(
        "falco-sensor: recorded {written} events to {} (kernel drops {}, userspace drops {})",
        args.output.display(),
        stats.kernel_drops,
        stats.userspace_drops
    );
    Ok(ExitCode::SUCCESS)
}
