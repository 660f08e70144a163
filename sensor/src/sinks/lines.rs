//! stdout and file sinks: one line per alert (Falco text or json_output),
//! written on a dedicated thread so a slow terminal or disk never stalls
//! the runtime. Every alert is written; no aggregation here.

use super::SinkError;
use super::aggregate::Item;
use super::format::{falco_json, text_line};
use crate::config::LineFormat;
use crate::metrics::SinkCounters;
use falco_proto::v1::Alert;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::mpsc;

pub fn render(format: LineFormat, alert: Arc<Alert>) -> String {
    let item = Item::single(alert);
    match format {
        LineFormat::Text => text_line(&item),
        LineFormat::Json => falco_json(&item).to_string(),
    }
}

/// Opens `path` for appending (created if missing).
pub fn open_file(path: &Path) -> Result<std::fs::File, SinkError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| SinkError::Config {
            key: "outputs.file.path".to_string(),
            message: format!("{}: {e}", path.display()),
        })
}

/// Spawns the writer thread; it ends when the bus is dropped.
pub fn spawn_writer(
    name: &str,
    mut out: Box<dyn Write + Send>,
    format: LineFormat,
    mut rx: mpsc::Receiver<Arc<Alert>>,
    counters: Arc<SinkCounters>,
) -> Result<std::thread::JoinHandle<()>, SinkError> {
    std::thread::Builder::new()
        .name(format!("sink-{name}"))
        .spawn(move || {
            while let Some(alert) = rx.blocking_recv() {
                let mut line = render(format, alert);
                line.push('\n');
                let mut ok = out.write_all(line.as_bytes()).is_ok();
                // Flush when the queue is momentarily empty: batches writes under load.
                if rx.is_empty() {
                    ok &= out.flush().is_ok();
                }
                let c = if ok { &counters.sent } else { &counters.failed };
                c.fetch_add(1, Relaxed);
            }
            let _ = out.flush();
        })
        .map_err(|e| SinkError::Spawn(e.to_string()))
}
