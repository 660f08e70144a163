//! The one event type the UI loop consumes: ticks, terminal input, and
//! notifications from background tasks (sources, Kubernetes calls).

use crate::alert::AlertRecord;
use crate::app::RecordPurpose;
use crate::kube::PodDetails;
use crate::source::SensorTarget;
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
    /// Kubernetes discovery found a sensor (port-forwarded): it is a target
    /// for actions like any `--sensor`.
    Target(Box<SensorTarget>),
    /// The store took a batch of new alerts (ids assigned; duplicates have id 0).
    Stored(Result<StoredBatch, InsertFailed>),
    /// A full record read back from the store (`None`: no longer stored).
    Record {
        id: i64,
        purpose: RecordPurpose,
        result: Result<Option<Box<AlertRecord>>, String>,
    },
    /// A drafted exception was appended to the local rules file: its path
    /// and the file's full content, or why not.
    ExceptionWritten {
        result: Result<(String, String), String>,
        apply: bool,
    },
    /// Something the runner did, to show in the status line.
    Done(Result<String, String>),
}

/// What the store made of an insert.
#[derive(Debug)]
pub struct StoredBatch {
    pub alerts: Vec<AlertRecord>,
    /// Ids the retention limit deleted.
    pub dropped: Vec<i64>,
    pub retention_error: Option<String>,
}

/// A batch the store could not take, handed back so nothing is lost.
#[derive(Debug)]
pub struct InsertFailed {
    pub batch: Vec<AlertRecord>,
    pub error: String,
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
    /// Kubernetes discovery listed the sensor pods (each becomes a source).
    Discovered {
        pods: usize,
    },
    /// A file source finished reading.
    FileLoaded {
        alerts: usize,
        errors: Vec<String>,
    },
}
