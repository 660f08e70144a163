//! Detection of one event: state first, then the rules, then alerts. Shared
//! by `run` (live), `replay` (recorded files) and the engine benchmark, so
//! all three measure and behave the same.

use crate::event::{Event, EventType};
use crate::rules::alert::{AlertRule, build_alert};
use crate::rules::{RuleMatch, RuleSet};
use crate::state::{FD_EVENT_TYPES, REQUIRED_EVENT_TYPES, StateTracker};
use falco_proto::v1::Alert;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Event types whose fd-related fields come from the fd table (the event
/// itself carries only an fd number), so the table must be kept current.
pub const FD_TABLE_READERS: &[EventType] = &[
    EventType::Sendto,
    EventType::Sendmsg,
    EventType::Recvfrom,
    EventType::Recvmsg,
    EventType::Dup,
    EventType::Dup2,
    EventType::Dup3,
    EventType::Fchmod,
    EventType::Fchdir,
    EventType::Listen,
    EventType::Close,
    EventType::Fcntl,
];

/// The event types the kernel must send for `rules`: what the rules can
/// match, what the state tracker always needs, and the fd-table events when
/// some RULE reads fds by number. The tracker's own needs (e.g. `fchdir`)
/// do not pull in every open and close: without a rule that needs it, the
/// fd table comes from /proc seeding and the opens the rules capture.
pub fn interest(rules: &RuleSet) -> BTreeSet<EventType> {
    let mut set = rules.event_types();
    let reads_fd_table = set.iter().any(|t| FD_TABLE_READERS.contains(t));
    set.extend(REQUIRED_EVENT_TYPES.iter().copied());
    if reads_fd_table {
        set.extend(FD_EVENT_TYPES.iter().copied());
    }
    set
}

/// Runs events through the state tracker and a rule set.
pub struct Detector {
    rules: Arc<RuleSet>,
    state: StateTracker,
    matches: Vec<RuleMatch>,
}

impl Detector {
    pub fn new(rules: Arc<RuleSet>, state: StateTracker) -> Self {
        Detector {
            rules,
            state,
            matches: Vec::with_capacity(4),
        }
    }

    /// Replaces the rule set (hot reload); state is kept.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.rules = rules;
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    pub fn state(&self) -> &StateTracker {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut StateTracker {
        &mut self.state
    }

    /// Applies `ev` to the state, evaluates the rules and hands every alert
    /// to `emit`. Returns the number of alerts.
    pub fn process(&mut self, ev: &mut Event, mut emit: impl FnMut(Alert)) -> usize {
        self.state.apply(ev);
        self.matches.clear();
        self.rules.evaluate(ev, &self.state, &mut self.matches);
        let mut emitted = 0;
        for m in &self.matches {
            let Some(rule) = self.rules.rule(m.rule) else {
                continue;
            };
            let alert_rule = AlertRule {
                name: rule.name(),
                priority: rule.priority(),
                tags: rule.tags(),
                output: rule.render_output(ev, &self.state),
                output_fields: rule.output_fields(ev, &self.state),
            };
            emit(build_alert(&alert_rule, ev, &self.state));
            emitted += 1;
        }
        self.state.finish(ev);
        emitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{LoadOptions, load_sources};

    fn set_for(condition: &str) -> BTreeSet<EventType> {
        let yaml = format!(
            "- rule: r\n  desc: d\n  condition: {condition}\n  output: o\n  priority: NOTICE\n"
        );
        let loaded =
            load_sources(&[("t.yaml".into(), yaml)], &LoadOptions::default()).expect("rules load");
        interest(&loaded.ruleset)
    }

    #[test]
    fn tracker_needs_alone_do_not_capture_every_open_and_close() {
        let set = set_for("evt.type = execve and proc.name = x");
        assert!(set.contains(&EventType::Execve));
        assert!(set.contains(&EventType::Fchdir), "the tracker follows cwd");
        assert!(set.contains(&EventType::Procexit));
        assert!(!set.contains(&EventType::Close));
        assert!(!set.contains(&EventType::Openat));
    }

    #[test]
    fn a_rule_reading_fds_by_number_brings_the_fd_table_events() {
        let set = set_for("evt.type = sendto and fd.sport = 53");
        assert!(set.contains(&EventType::Sendto));
        assert!(set.contains(&EventType::Close));
        assert!(set.contains(&EventType::Openat));
        assert!(set.contains(&EventType::Connect));
    }
}
