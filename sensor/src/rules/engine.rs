//! The rule set: enabled rules indexed by the event types their
//! conditions can match, evaluation of events against the bucket for their
//! type, output rendering and alert building. Compiling loaded definitions
//! into a set is `link.rs`; exceptions become conditions in `exceptions.rs`.

use super::cache::CachedView;
use super::error::{LoadWarning, Location};
use super::loader::FileCounts;
use super::output::{self, OutputFormat};
use super::pred::{Memo, Pred};
use super::typeset::TypeSet;
use crate::event::{Event, EventType};
use crate::rules::fields::FieldSpec;
use crate::state::StateView;
use falco_proto::v1::Priority;
use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which matching rules fire for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleMatching {
    /// Falco's default: only the first matching rule in load order.
    #[default]
    First,
    /// Every matching rule.
    All,
}

/// How rules are selected and alerts limited.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Rules disabled by exact name.
    pub disabled_rules: Vec<String>,
    /// Rules disabled when they carry any of these tags.
    pub disabled_tags: Vec<String>,
    /// Rules enabled by exact name, even when disabled in their file or by tag.
    pub enabled_rules: Vec<String>,
    /// Rules less severe than this are not loaded into the index.
    pub min_priority: Priority,
    pub rule_matching: RuleMatching,
    /// Per-rule alert rate limit in alerts per second; 0 disables throttling.
    pub rate: f64,
    /// Token bucket size for `rate`.
    pub max_burst: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            disabled_rules: Vec::new(),
            disabled_tags: Vec::new(),
            enabled_rules: Vec::new(),
            min_priority: Priority::Debug,
            rule_matching: RuleMatching::First,
            rate: 0.0,
            max_burst: 1000,
        }
    }
}

/// Counts for `validate` and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// Distinct rules, macros and lists after all files were applied.
    pub rules: usize,
    pub macros: usize,
    pub lists: usize,
    /// Rules in the evaluation index (enabled, `syscall` source, priority kept).
    pub enabled_rules: usize,
    /// Items per file, as written (appends and overrides count too).
    pub files: Vec<FileCounts>,
}

/// A successful load.
pub struct LoadedRules {
    pub ruleset: RuleSet,
    pub warnings: Vec<LoadWarning>,
    pub summary: LoadSummary,
}

/// Index of a rule in [`RuleSet`] (load order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u32);

/// A rule that matched an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMatch {
    pub rule: RuleId,
    pub priority: Priority,
}

pub(super) struct Bucket {
    pub(super) tokens: f64,
    pub(super) last_ns: u64,
}

/// A rule's condition specialised to one event type.
pub(super) struct TypedRule {
    pub(super) rule: u32,
    pub(super) pred: Pred,
    /// [`Pred::guard`]: when that macro is already known false for the
    /// event, the rule is skipped without walking its condition.
    pub(super) guard: Option<u32>,
}

/// One compiled rule.
pub(super) struct CompiledRule {
    pub(super) name: String,
    pub(super) desc: String,
    pub(super) priority: Priority,
    pub(super) tags: Vec<String>,
    pub(super) source: String,
    pub(super) source_file: String,
    pub(super) location: Location,
    pub(super) enabled: bool,
    pub(super) pred: Pred,
    pub(super) types: TypeSet,
    pub(super) output_format: String,
    pub(super) output: OutputFormat,
    /// Every field referenced by output and condition, as written.
    pub(super) fields: Vec<(String, FieldSpec)>,
    pub(super) bucket: Option<Mutex<Bucket>>,
    pub(super) throttled: AtomicU64,
}

/// Read-only view of a compiled rule, for alert building and listings.
#[derive(Clone, Copy)]
pub struct CompiledRuleView<'a> {
    rule: &'a CompiledRule,
}

impl<'a> CompiledRuleView<'a> {
    pub fn name(&self) -> &'a str {
        &self.rule.name
    }
    pub fn desc(&self) -> &'a str {
        &self.rule.desc
    }
    pub fn priority(&self) -> Priority {
        self.rule.priority
    }
    pub fn tags(&self) -> &'a [String] {
        &self.rule.tags
    }
    /// Event source (`syscall`).
    pub fn source(&self) -> &'a str {
        &self.rule.source
    }
    /// The file that defined the rule.
    pub fn source_file(&self) -> &'a str {
        &self.rule.source_file
    }
    /// Where the rule is defined (`file:line:col` of its name).
    pub fn location(&self) -> &'a Location {
        &self.rule.location
    }
    pub fn enabled(&self) -> bool {
        self.rule.enabled
    }
    /// The output format as written (with `%container.info` not yet expanded).
    pub fn output_format(&self) -> &'a str {
        &self.rule.output_format
    }
    /// The event types the rule can match.
    pub fn event_types(&self) -> BTreeSet<EventType> {
        self.rule.types.iter().collect()
    }
    /// Every field referenced by the output and the condition, as written
    /// (`proc.aname[2]`), with its resolved spec; output fields first.
    pub fn fields(&self) -> &'a [(String, FieldSpec)] {
        &self.rule.fields
    }
    /// The output with fields substituted.
    pub fn render_output(&self, ev: &Event, st: &dyn StateView) -> String {
        let mut s = String::with_capacity(256);
        self.rule.output.render(ev, st, &mut s);
        s
    }
    /// `(field, rendered value)` for every field of [`Self::fields`];
    /// `<NA>` for missing values.
    pub fn output_fields(&self, ev: &Event, st: &dyn StateView) -> Vec<(String, String)> {
        self.rule
            .fields
            .iter()
            .map(|(name, spec)| {
                let mut v = String::new();
                output::render_field(spec, ev, st, &mut v);
                (name.clone(), v)
            })
            .collect()
    }
    /// Alerts suppressed by the rate limit so far.
    pub fn throttled(&self) -> u64 {
        self.rule.throttled.load(Ordering::Relaxed)
    }
}

/// What `rules()` lists (the ListRules API).
pub type RuleInfoView<'a> = CompiledRuleView<'a>;

/// Compiled, indexed rules.
pub struct RuleSet {
    pub(super) rules: Vec<CompiledRule>,
    /// Per event type id, the enabled rules that can match it, in load
    /// order, each with its condition specialized to that type.
    pub(super) by_type: Vec<Box<[TypedRule]>>,
    pub(super) matching: RuleMatching,
    pub(super) rate: f64,
    pub(super) max_burst: f64,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .field("matching", &self.matching)
            .finish()
    }
}

impl RuleSet {
    /// The event types some enabled rule can match: the kernel interest set.
    pub fn event_types(&self) -> BTreeSet<EventType> {
        EventType::ALL
            .iter()
            .copied()
            .filter(|t| {
                self.by_type
                    .get(usize::from(t.id()))
                    .is_some_and(|b| !b.is_empty())
            })
            .collect()
    }

    /// Whether some enabled rule can match events of type `t`.
    pub fn watches(&self, t: EventType) -> bool {
        self.by_type
            .get(usize::from(t.id()))
            .is_some_and(|b| !b.is_empty())
    }

    /// The enabled rules that can match events of type `t`, each with its
    /// condition specialised to `t` (what [`Self::evaluate`] runs), for
    /// analyses such as the kernel open prefilter's derivation.
    pub fn conditions_for(
        &self,
        t: EventType,
    ) -> impl Iterator<Item = (CompiledRuleView<'_>, &Pred)> {
        self.by_type
            .get(usize::from(t.id()))
            .into_iter()
            .flat_map(|b| b.iter())
            .filter_map(|t| Some((self.rule(RuleId(t.rule))?, &t.pred)))
    }

    /// Appends the rules matching `ev` to `out` (only the first in load
    /// order with [`RuleMatching::First`]). Allocation-free unless a
    /// condition uses a transformer, `val()` or a computed field.
    pub fn evaluate(&self, ev: &Event, st: &dyn StateView, out: &mut Vec<RuleMatch>) {
        // Most events of a typical mix (close, clone, exit) have no rule:
        // skip setting up the per-event caches for them.
        let Some(bucket) = self
            .by_type
            .get(usize::from(ev.etype.id()))
            .filter(|b| !b.is_empty())
        else {
            return;
        };
        let st = CachedView::new(st);
        let mut memo = Memo::new();
        for TypedRule {
            rule: ri,
            pred,
            guard,
        } in bucket.iter()
        {
            let ri = *ri;
            if guard.is_some_and(|g| memo.known_false(g)) {
                continue;
            }
            let rule = &self.rules[ri as usize];
            if !pred.eval(ev, &st, &mut memo) {
                continue;
            }
            if self.allow(rule, ev.ts_ns) {
                out.push(RuleMatch {
                    rule: RuleId(ri),
                    priority: rule.priority,
                });
            }
            if self.matching == RuleMatching::First {
                return;
            }
        }
    }

    /// Token bucket per rule, clocked by event time so replay behaves like live.
    fn allow(&self, rule: &CompiledRule, now_ns: u64) -> bool {
        let Some(bucket) = &rule.bucket else {
            return true;
        };
        let Ok(mut b) = bucket.lock() else {
            return true;
        };
        let elapsed = now_ns.saturating_sub(b.last_ns) as f64 / 1e9;
        b.last_ns = b.last_ns.max(now_ns);
        b.tokens = (b.tokens + elapsed * self.rate).min(self.max_burst);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            rule.throttled.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// The rule with this id.
    pub fn rule(&self, id: RuleId) -> Option<CompiledRuleView<'_>> {
        self.rules
            .get(id.0 as usize)
            .map(|rule| CompiledRuleView { rule })
    }

    /// A rule by name.
    pub fn rule_by_name(&self, name: &str) -> Option<CompiledRuleView<'_>> {
        self.rules
            .iter()
            .find(|r| r.name == name)
            .map(|rule| CompiledRuleView { rule })
    }

    /// Every `syscall` rule in load order, enabled or not.
    pub fn rules(&self) -> impl Iterator<Item = RuleInfoView<'_>> {
        self.rules.iter().map(|rule| CompiledRuleView { rule })
    }

    /// The matched rule's output with fields substituted.
    pub fn render_output(&self, m: &RuleMatch, ev: &Event, st: &dyn StateView) -> String {
        self.rule(m.rule)
            .map(|r| r.render_output(ev, st))
            .unwrap_or_default()
    }

    /// The typed alert for a match (`seq` 0 and `hostname` empty: the
    /// alert bus fills them); the only place alerts are built, used by the
    /// detector. `None` when the match names no rule of this set.
    pub fn build_alert(
        &self,
        m: &RuleMatch,
        ev: &Event,
        st: &dyn StateView,
    ) -> Option<falco_proto::v1::Alert> {
        let r = self.rule(m.rule)?;
        let rule = super::alert::AlertRule {
            name: r.name(),
            priority: r.priority(),
            tags: r.tags(),
            output: r.render_output(ev, st),
            output_fields: r.output_fields(ev, st),
        };
        Some(super::alert::build_alert(&rule, ev, st))
    }

    /// `(field, value)` for every field of the matched rule's output and condition.
    pub fn output_fields(
        &self,
        m: &RuleMatch,
        ev: &Event,
        st: &dyn StateView,
    ) -> Vec<(String, String)> {
        self.rule(m.rule)
            .map(|r| r.output_fields(ev, st))
            .unwrap_or_default()
    }
}

/// Names of rules for `disabled_rules` checks in tests and the CLI.
pub fn rule_names(rs: &RuleSet) -> HashSet<&str> {
    rs.rules.iter().map(|r| r.name.as_str()).collect()
}
