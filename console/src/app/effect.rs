//! What the state asks the outside world to do. [`State`](super::State)
//! transitions only record effects; the [`Runner`](super::Runner) performs
//! them (SQLite, Kubernetes, gRPC, files, the terminal) and reports back with
//! [`AppEvent`](crate::event::AppEvent)s, so the state never blocks on I/O and
//! can be tested by feeding events and reading the effects it emitted.

use crate::alert::AlertRecord;
use crate::exception::ExceptionDraft;
use crate::source::SensorTarget;
use crate::triage::{Silence, TriageState};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Persist something in the local store.
    StoreWrite(StoreWrite),
    /// Read an alert's full record (the list keeps a shed copy) for `purpose`.
    LoadRecord { id: i64, purpose: RecordPurpose },
    /// Load a pod's describe, events and logs from Kubernetes.
    LoadPod {
        namespace: String,
        name: String,
        container: String,
    },
    /// Delete a pod (the operator confirmed).
    DeletePod { namespace: String, name: String },
    /// Append a drafted exception to the local rules file; with `apply`, then
    /// send the file to every sensor that allows actions.
    WriteException { draft: ExceptionDraft, apply: bool },
    /// Send a rules file to sensors (PutRulesFile).
    ApplyRules {
        targets: Vec<SensorTarget>,
        file_name: String,
        content: String,
    },
    /// Write alerts to a CSV or JSON-lines file.
    Export {
        path: PathBuf,
        items: Vec<ExportItem>,
    },
    /// Put text on the terminal's clipboard (OSC 52).
    Clipboard(String),
    /// Show text in `$PAGER` (the runner suspends the UI meanwhile).
    Pager(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreWrite {
    /// New alerts; ids are assigned by the store (answered by `AppEvent::Stored`).
    Insert(Vec<AlertRecord>),
    SetState {
        ids: Vec<i64>,
        state: TriageState,
    },
    AddNote {
        ids: Vec<i64>,
        time_ns: i64,
        text: String,
    },
    AddSilence(Silence),
}

/// Why a full record is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordPurpose {
    Detail,
    Exception,
    Clipboard,
    Pager,
}

/// One alert to export: the list's copy, and whether the store has the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportItem {
    pub alert: AlertRecord,
    pub shed: bool,
    pub state: TriageState,
    pub notes: Vec<String>,
}
