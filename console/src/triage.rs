//! Triage vocabulary: an alert's state and the silences that hide alerts.

use crate::alert::AlertRecord;
use std::fmt;

/// Where an alert is in the operator's workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TriageState {
    #[default]
    New,
    Acknowledged,
    Resolved,
    FalsePositive,
}

impl TriageState {
    pub const ALL: [TriageState; 4] = [
        TriageState::New,
        TriageState::Acknowledged,
        TriageState::Resolved,
        TriageState::FalsePositive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriageState::New => "new",
            TriageState::Acknowledged => "ack",
            TriageState::Resolved => "resolved",
            TriageState::FalsePositive => "false-pos",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "new" => Some(TriageState::New),
            "ack" | "acknowledged" => Some(TriageState::Acknowledged),
            "resolved" => Some(TriageState::Resolved),
            "false-pos" | "fp" | "false-positive" => Some(TriageState::FalsePositive),
            _ => None,
        }
    }
}

impl fmt::Display for TriageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a silence covers besides its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceScope {
    /// The rule everywhere.
    Rule,
    Namespace,
    Pod,
    Image,
}

impl SilenceScope {
    pub const ALL: [SilenceScope; 4] = [
        SilenceScope::Namespace,
        SilenceScope::Pod,
        SilenceScope::Image,
        SilenceScope::Rule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SilenceScope::Rule => "rule",
            SilenceScope::Namespace => "namespace",
            SilenceScope::Pod => "pod",
            SilenceScope::Image => "image",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The alert's value for this scope (`ns/pod` for pods).
    pub fn value_of(self, a: &AlertRecord) -> String {
        match self {
            SilenceScope::Rule => String::new(),
            SilenceScope::Namespace => a.namespace.clone(),
            SilenceScope::Pod => a.pod_ref(),
            SilenceScope::Image => a.image.clone(),
        }
    }
}

/// "Hide alerts of `rule` in `scope = value` until `expires_ns`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: i64,
    pub rule: String,
    pub scope: SilenceScope,
    pub value: String,
    pub expires_ns: i64,
}

impl Silence {
    pub fn for_alert(a: &AlertRecord, scope: SilenceScope, expires_ns: i64) -> Self {
        Silence {
            id: 0,
            rule: a.rule.clone(),
            scope,
            value: scope.value_of(a),
            expires_ns,
        }
    }

    pub fn matches(&self, a: &AlertRecord, now_ns: i64) -> bool {
        now_ns < self.expires_ns && a.rule == self.rule && self.scope.value_of(a) == self.value
    }

    pub fn describe(&self) -> String {
        match self.scope {
            SilenceScope::Rule => self.rule.clone(),
            s => format!("{} [{}={}]", self.rule, s.as_str(), self.value),
        }
    }
}

/// Expiry choices offered by the silence prompt, in seconds.
pub const SILENCE_DURATIONS: [(&str, i64); 4] = [
    ("1h", 3600),
    ("8h", 8 * 3600),
    ("24h", 24 * 3600),
    ("7d", 7 * 24 * 3600),
];
