//! Falco priority names and ordering for the wire `Priority` enum.

use crate::v1::Priority;
use std::fmt;
use std::str::FromStr;

/// Falco's priority names, most severe first, as written in rule files.
pub const PRIORITY_NAMES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

const ALL: [Priority; 8] = [
    Priority::Emergency,
    Priority::Alert,
    Priority::Critical,
    Priority::Error,
    Priority::Warning,
    Priority::Notice,
    Priority::Informational,
    Priority::Debug,
];

/// A priority name that is not one of Falco's eight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown priority {0:?} (expected one of Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug)"
)]
pub struct ParsePriorityError(pub String);

impl Priority {
    /// Every priority, most severe first.
    pub fn all() -> [Priority; 8] {
        ALL
    }

    /// Severity rank: 7 for Emergency down to 0 for Debug; -1 for Unspecified.
    /// Higher is more severe, so `a.severity() >= min.severity()` filters.
    pub fn severity(self) -> i32 {
        match self {
            Priority::Unspecified => -1,
            other => 8 - other as i32,
        }
    }

    /// Whether this priority is at least as severe as `min` (Unspecified `min` admits all).
    pub fn at_least(self, min: Priority) -> bool {
        min == Priority::Unspecified || self.severity() >= min.severity()
    }

    /// Falco's name, e.g. "Critical".
    pub fn falco_name(self) -> &'static str {
        match self {
            Priority::Unspecified => "Unspecified",
            other => PRIORITY_NAMES[other as usize - 1],
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.falco_name())
    }
}

impl FromStr for Priority {
    type Err = ParsePriorityError;

    /// Parses Falco's names case-insensitively, plus the aliases Falco accepts
    /// ("info" for Informational, "warn" for Warning, "emerg", "crit", "err").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let p = match lower.as_str() {
            "emergency" | "emerg" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" | "crit" => Priority::Critical,
            "error" | "err" => Priority::Error,
            "warning" | "warn" => Priority::Warning,
            "notice" => Priority::Notice,
            "informational" | "info" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return Err(ParsePriorityError(s.to_string())),
        };
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order() {
        for p in Priority::all() {
            assert_eq!(p.falco_name().parse::<Priority>(), Ok(p));
        }
        assert!(Priority::Critical.at_least(Priority::Warning));
        assert!(!Priority::Notice.at_least(Priority::Warning));
        assert!(Priority::Debug.at_least(Priority::Unspecified));
        assert_eq!("INFO".parse::<Priority>(), Ok(Priority::Informational));
        assert!("loud".parse::<Priority>().is_err());
    }
}
