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
/// some rule reads fds by number.
pub fn interest(rules: &RuleSet) -> BTreeSet<EventType> {
    let mut set = rules.event_types();
    set.extend(REQUIRED_EVENT_TYPES.iter().copied());
    if set.iter().any(|t| FD_TABLE_READERS.contains(t)) {
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
