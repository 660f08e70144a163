//! `falco-sensor record`: capture raw kernel records to a file for replay
//! and benchmarks (format: docs/record-format.md).

use super::RecordArgs;
use crate::capture::record::{RecordError, UserSnapshot};
use crate::capture::record::{RecordHeader, RecordWriter};
use crate::event::EventType;
use crate::event::decode::Decoder;
use crate::pipeline::env_capture::env_readers;
use crate::pipeline::{RulesSource, interest};
use crate::probe::{Probe, ProbeConfig};
use crate::rules::LoadOptions;
use crate::state::users::UserTable;
use crate::state::{ContainerInfo, HOST_CONTAINER_ID};
use crate::state::{StateConfig, StateTracker, StateView};
use anyhow::{Context, bail};
use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// Runs the capture until the duration, the event limit or Ctrl-C.
pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    // With -r, capture what those rules (and the state tracker) need;
    // without, every event type.
    // Environments only when those rules read them (they may hold secrets).
    let (interest, capture_env): (Vec<EventType>, bool) = if args.rules.is_empty() {
        (EventType::ALL.to_vec(), false)
    } else {
        let loaded = RulesSource::from_files(args.rules.clone(), LoadOptions::default())
            .load()
            .context("loading rules")?;
        (
            interest(&loaded.ruleset).into_iter().collect(),
            !env_readers(&loaded.ruleset).is_empty(),
        )
    };
    let cfg = ProbeConfig {
        filter_enabled: !args.rules.is_empty(),
        capture_env,
        ..ProbeConfig::default()
    };
    let header = RecordHeader::current();
    // The state tracker runs beside the capture so the file carries the
    // thread table at start and the metadata of every container seen:
    // replay then needs nothing from this machine.
    let mut tracker = StateTracker::new(StateConfig::default());
    tracker
        .seed_from_proc()
        .context("reading running processes from /proc")?;
    let (probe, rx) = Probe::start_raw(cfg, &interest).context("cannot start the eBPF probe")?;
    let mut writer = RecordWriter::create_with_header(&args.output, &header)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    for t in tracker.threads() {
        writer.write_thread(t)?;
    }
    writer.write_users(&UserSnapshot {
        container_id: HOST_CONTAINER_ID.to_string(),
        table: UserTable::load(Path::new("/")),
    })?;
    let mut containers_written: HashSet<String> = HashSet::new();
    let seeded: Vec<(ContainerInfo, Option<i64>)> = tracker
        .containers()
        .map(|c| {
            let pid = tracker
                .threads()
                .find(|t| *t.container_id == *c.id)
                .map(|t| t.pid);
            (c.clone(), pid)
        })
        .collect();
    for (c, pid) in seeded {
        write_container_with_users(&mut writer, &c, pid)?;
        containers_written.insert(c.id.clone());
    }
    let mut decoder = Decoder::new(header.boot_to_wall_offset_ns);
    // Scripts and tests wait for this line before they act.
    eprintln!(
        "falco-sensor: recording {} event types to {}",
        interest.len(),
        args.output.display()
    );
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, interrupted.clone())
            .context("installing signal handlers")?;
    }
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let max = args.max_events.unwrap_or(u64::MAX);
    let mut written = 0u64;
    let mut answers_seen = tracker.lookups_answered();
    while written < max && !interrupted.load(Ordering::Relaxed) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(raw) => {
                if let Ok(mut ev) = decoder.decode(&raw) {
                    tracker.apply(&mut ev);
                    let cid = tracker.thread(ev.task.tid).map(|t| t.container_id.clone());
                    if let Some(cid) = cid
                        && !containers_written.contains(&*cid)
                        && let Some(c) = tracker.container(&cid)
                        && c.resolved
                    {
                        write_container_with_users(&mut writer, c, Some(ev.task.pid))?;
                        containers_written.insert(c.id.clone());
                    }
                    tracker.finish(&ev);
                }
                writer.write_raw(&raw)?;
                written += 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("the probe reader stopped unexpectedly"),
        }
        // Metadata that arrived after a container's events: written as soon
        // as it is known, so replay has it for the container's later events.
        tracker.poll_metadata();
        let answers = tracker.lookups_answered();
        if answers != answers_seen {
            answers_seen = answers;
            let fresh: Vec<ContainerInfo> = tracker
                .containers()
                .filter(|c| c.resolved && !containers_written.contains(&c.id))
                .cloned()
                .collect();
            for c in fresh {
                let pid = tracker
                    .threads()
                    .find(|t| *t.container_id == *c.id)
                    .map(|t| t.pid);
                write_container_with_users(&mut writer, &c, pid)?;
                containers_written.insert(c.id.clone());
            }
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

/// Writes a container's metadata and, when one of its processes is known,
/// the users and groups of its own root filesystem.
fn write_container_with_users(
    writer: &mut RecordWriter,
    c: &ContainerInfo,
    pid: Option<i64>,
) -> Result<(), RecordError> {
    writer.write_container(c)?;
    if let Some(pid) = pid {
        let root = format!("/proc/{pid}/root");
        writer.write_users(&UserSnapshot {
            container_id: c.id.clone(),
            table: UserTable::load(Path::new(&root)),
        })?;
    }
    Ok(())
}
