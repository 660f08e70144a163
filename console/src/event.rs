//! The one event type the UI loop consumes: ticks, terminal input, and
//! notifications from background tasks (sources, Kubernetes calls).

use crate::alert::AlertRecord;
use crate::kube::PodDetails;
use crossterm::event::KeyEvent;
use falco_proto::v1::{GetStatsResponse, GetVersionResponse};

#[derive(Debug)]
pub enum Event {
    /// Periodic: flush pending alerts to the store, refresh clocks.
    Tick,
    Key(KeyEvent),
    Resize(u16, u16),
    App(AppEvent),
    /// SIGINT or SIGTERM: leave cleanly.
    Quit,
}

/// Something a background task finished or observed.
#[derive(Debug)]
pub enum AppEvent {
    Alert(Box<AlertRecord>),
    Sensor(SensorUpdate),
    /// A pod drilldown finished loading (or failed: the error text).
    Pod(Result<Box<PodDetails>, String>),
    /// A pod delete finished: `ns/name` or the error.
    PodDeleted(Result<String, String>),
    /// A rules file was sent to a sensor: a summary either way.
    RulesApplied(Result<String, String>),
}

/// News about one source, keyed by the name shown in the sensors view.
#[derive(Debug, Clone)]
pub struct SensorUpdate {
    pub source: String,
    pub kind: SensorUpdateKind,
}

#[derive(Debug, Clone)]
pub enum SensorUpdateKind {
    Connecting {
        attempt: u32,
    },
    Connected {
        version: Box<GetVersionResponse>,
        resumed_from: u64,
    },
    Disconnected {
        error: String,
        retry_in_ms: u64,
    },
    /// The sensor no longer holds these alerts: shown, never hidden.
    Gap {
        first: u64,
        last: u64,
        reason: String,
    },
    Detached {
        reason: String,
    },
    Heartbeat {
        time_ns: i64,
        last_seq: u64,
    },
    Stats(Box<GetStatsResponse>),
    /// A file source finished reading.
    FileLoaded {
        alerts: usize,
        errors: Vec<String>,
    },
}
