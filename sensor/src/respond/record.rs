//! Building audit records. Every decision, whatever its outcome, goes through
//! `record()` so it is logged exactly once with the same fields it carries.

use falco_proto::v1::ResponseRecord;

/// Outcome of one action decision, as written in `ResponseRecord.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Taken,
    DryRun,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Taken => "taken",
            Outcome::DryRun => "dry-run",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// Makes and logs a record. Control characters in `detail` (which may quote
/// process names from the event) and in `action` (a client's request) are
/// replaced so no sink or terminal sees them.
pub fn record(alert_seq: u64, action: &str, outcome: Outcome, detail: &str) -> ResponseRecord {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    let detail = clean(detail);
    let action = clean(action);
    let action = action.as_str();
    let time_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    match outcome {
        Outcome::Failed => {
            tracing::warn!(alert_seq, action, outcome = outcome.as_str(), %detail, "response")
        }
        Outcome::Taken => {
            tracing::info!(alert_seq, action, outcome = outcome.as_str(), %detail, "response")
        }
        Outcome::DryRun | Outcome::Skipped => {
            tracing::info!(alert_seq, action, outcome = outcome.as_str(), %detail, "response")
        }
    }
    ResponseRecord {
        action: action.to_string(),
        outcome: outcome.as_str().to_string(),
        detail,
        time_ns,
        alert_seq,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors
mod tests {
    use super::*;

    #[test]
    fn detail_is_sanitised() {
        let r = record(7, "kill-process", Outcome::Taken, "killed \x1b[31mevil\n");
        assert_eq!(r.detail, "killed ?[31mevil?");
        assert_eq!(record(7, "x\x07", Outcome::Failed, "").action, "x?");
        assert_eq!(r.outcome, "taken");
        assert_eq!(r.alert_seq, 7);
        assert!(r.time_ns > 0);
    }
}
