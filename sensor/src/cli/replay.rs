//! `falco-sensor replay FILE`: run a recorded event file (from `record`)
//! through the same decoder, state tracker and rules as `run`, printing the
//! alerts. Detections become testable and reproducible off-line.

use super::ReplayArgs;
use crate::capture::record::{Frame, RecordItem, RecordReader};
use crate::event::decode::Decoder;
use crate::pipeline::{Detector, RulesSource};
use crate::rules::LoadOptions;
use crate::sinks::aggregate::Item;
use crate::sinks::format::{falco_json, text_line};
use crate::state::{StateConfig, StateTracker};
use anyhow::Context;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let source = RulesSource::from_files(args.rules.clone(), LoadOptions::default());
    let loaded = source.load().context("loading rules")?;
    let mut reader = RecordReader::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let mut decoder = Decoder::new(reader.header().boot_to_wall_offset_ns);
    let hostname = reader.header().hostname.clone();
    let mut detector = Detector::new(Arc::new(loaded.ruleset), StateTracker::new(offline_state()));

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut events, mut alerts, mut decode_errors) = (0u64, 0u64, 0u64);
    let mut write_error: Option<std::io::Error> = None;
    let started = Instant::now();
    let cpu_started = crate::sys::thread_cpu_ns();
    let mut buf = Vec::new();
    let mut reused = None;
    while let Some(frame) = reader
        .next_frame(&mut buf)
        .with_context(|| format!("reading {}", args.file.display()))?
    {
        match frame {
            Frame::Item(item) => match *item {
                RecordItem::Thread(t) => detector.state_mut().insert_thread(t),
                RecordItem::Container(c) => detector.state_mut().insert_container(c),
                RecordItem::Users(u) => detector
                    .state_mut()
                    .users_mut()
                    .insert(&u.container_id, u.table),
                // next_frame hands raw records out as Frame::Raw only.
                RecordItem::Raw(_) => {}
            },
            Frame::Raw(raw) => {
                // Every record is decoded into the same event, reusing its
                // buffers.
                let decoded = match reused.as_mut() {
                    Some(ev) => decoder.decode_into(raw, ev),
                    None => decoder.decode(raw).map(|ev| reused = Some(ev)),
                };
                if let Err(e) = decoded {
                    decode_errors += 1;
                    tracing::debug!("skipping undecodable record: {e}");
                    continue;
                }
                let Some(ev) = reused.as_mut() else {
                    continue;
                };
                events += 1;
                detector.process(ev, |mut alert| {
                    alerts += 1;
                    alert.seq = alerts;
                    alert.hostname.clone_from(&hostname);
                    let item = Item::single(Arc::new(alert));
                    let line = if args.json {
                        falco_json(&item).to_string()
                    } else {
                        text_line(&item)
                    };
                    if write_error.is_none()
                        && let Err(e) = writeln!(out, "{line}")
                    {
                        write_error = Some(e);
                    }
                });
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu_ns = crate::sys::thread_cpu_ns().saturating_sub(cpu_started);
    out.flush().context("writing alerts")?;
    if let Some(e) = write_error {
        return Err(e).context("writing alerts");
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    let per_event = |ns: f64| if events > 0 { ns / events as f64 } else { 0.0 };
    eprintln!(
        "replay: {events} events, {alerts} alerts, {decode_errors} undecodable records in {:.3} s ({:.0} events/s, {:.0} ns/event; thread CPU {:.0} ns/event)",
        secs,
        events as f64 / secs,
        per_event(secs * 1e9),
        per_event(cpu_ns as f64),
    );
    Ok(ExitCode::SUCCESS)
}

/// State for replay: nothing is read from this machine (no /proc, no CRI);
/// threads and containers come from the file's snapshot frames.
fn offline_state() -> StateConfig {
    StateConfig {
        cri_enabled: false,
        host_root: std::path::PathBuf::from("/nonexistent-replay-root"),
        ..StateConfig::default()
    }
}
