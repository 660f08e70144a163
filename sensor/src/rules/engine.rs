//! The rule set: compiles loaded definitions, indexes enabled rules by the
//! event types their conditions can match, evaluates events against the
//! bucket for their type, and renders outputs.

use super::ast::{Check, Expr, FieldExpr, Literal, Op, Rhs, Span};
use super::cache::CachedView;
use super::compile::{self, CompileError, CompileErrorKind, Context, MacroBody};
use super::error::{ErrorKind, ItemKind, LoadError, LoadWarning, Location, WarningCode};
use super::loader::{self, Defs, ExceptionDef, FileCounts, RuleDef};
use super::output::{self, OutputFormat};
use super::parse::{self, ParseError};
use super::pred::{Memo, Pred};
use super::typeset::TypeSet;
use super::yaml::{Node, NodeKind};
use crate::event::{Event, EventType};
use crate::rules::fields::{self, FieldSpec};
use crate::state::StateView;
use falco_proto::v1::Priority;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
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

struct Bucket {
    tokens: f64,
    last_ns: u64,
}

/// A rule's condition specialised to one event type.
struct TypedRule {
    rule: u32,
    pred: Pred,
    /// [`Pred::guard`]: when that macro is already known false for the
    /// event, the rule is skipped without walking its condition.
    guard: Option<u32>,
}

/// One compiled rule.
struct CompiledRule {
    name: String,
    desc: String,
    priority: Priority,
    tags: Vec<String>,
    source: String,
    source_file: String,
    location: Location,
    enabled: bool,
    pred: Pred,
    types: TypeSet,
    output_format: String,
    output: OutputFormat,
    /// Every field referenced by output and condition, as written.
    fields: Vec<(String, FieldSpec)>,
    bucket: Option<Mutex<Bucket>>,
    throttled: AtomicU64,
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
    rules: Vec<CompiledRule>,
    /// Per event type id, the enabled rules that can match it, in load
    /// order, each with its condition specialized to that type.
    by_type: Vec<Box<[TypedRule]>>,
    matching: RuleMatching,
    rate: f64,
    max_burst: f64,
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
    /// alert bus fills them).
    pub fn build_alert(
        &self,
        m: &RuleMatch,
        ev: &Event,
        st: &dyn StateView,
    ) -> falco_proto::v1::Alert {
        let Some(r) = self.rule(m.rule) else {
            return falco_proto::v1::Alert::default();
        };
        let rule = super::alert::AlertRule {
            name: r.name(),
            priority: r.priority(),
            tags: r.tags(),
            output: r.render_output(ev, st),
            output_fields: r.output_fields(ev, st),
        };
        super::alert::build_alert(&rule, ev, st)
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

/// Loads rules files in order.
pub fn load_files(paths: &[PathBuf], opts: &LoadOptions) -> Result<LoadedRules, LoadError> {
    let mut sources = Vec::with_capacity(paths.len());
    for p in paths {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|e| LoadError {
            location: Location {
                file: name.as_str().into(),
                line: 0,
                col: 0,
            },
            item: ItemKind::File,
            name: String::new(),
            kind: ErrorKind::Io(e.to_string()),
        })?;
        sources.push((name, text));
    }
    load_sources(&sources, opts)
}

/// Loads rules from `(name, yaml)` pairs, in order.
pub fn load_sources(
    sources: &[(String, String)],
    opts: &LoadOptions,
) -> Result<LoadedRules, LoadError> {
    let mut defs = Defs::default();
    for (name, text) in sources {
        loader::load_file(&mut defs, name, text)?;
    }
    build(defs, opts)
}

fn syntax_error(e: ParseError, cond: &loader::Cond, item: ItemKind, name: &str) -> LoadError {
    LoadError {
        location: cond.locate(e.offset),
        item,
        name: name.to_string(),
        kind: ErrorKind::Syntax(e.message),
    }
}

fn error_kind(k: CompileErrorKind) -> ErrorKind {
    match k {
        CompileErrorKind::UnknownField(m) => ErrorKind::UnknownField(m),
        CompileErrorKind::UnknownMacro(m) => ErrorKind::UnknownMacro(m),
        CompileErrorKind::UnknownList(m) => ErrorKind::UnknownList(m),
        CompileErrorKind::BadOperator(m) => ErrorKind::BadOperator(m),
        CompileErrorKind::BadValue(m) => ErrorKind::BadValue(m),
        CompileErrorKind::Recursion(m) => ErrorKind::Recursion(m),
    }
}

fn build(defs: Defs, opts: &LoadOptions) -> Result<LoadedRules, LoadError> {
    let mut warnings = defs.warnings;
    let mut macros = HashMap::new();
    let mut macro_defs = HashMap::new();
    for m in &defs.macros {
        let expr = parse::parse_condition(&m.condition.text)
            .map_err(|e| syntax_error(e, &m.condition, ItemKind::Macro, &m.name))?;
        macros.insert(m.name.clone(), MacroBody { expr });
        macro_defs.insert(m.name.clone(), m);
    }
    let lists: HashMap<String, Vec<String>> = defs
        .lists
        .iter()
        .map(|l| (l.name.clone(), l.items.clone()))
        .collect();
    let mut cx = Context::new(&macros, &lists);
    let mut rules = Vec::new();
    let throttle = opts.rate > 0.0;
    for def in &defs.rules {
        if def.source != "syscall" {
            warnings.push(LoadWarning {
                location: def.location.clone(),
                item: ItemKind::Rule,
                name: def.name.clone(),
                code: WarningCode::UnsupportedSource,
                message: format!(
                    "source {:?} is not supported by this sensor; rule skipped",
                    def.source
                ),
            });
            continue;
        }
        let compiled = match compile_rule(&mut cx, def, &macro_defs) {
            Ok(c) => c,
            Err((err, true)) if def.skip_if_unknown_filter => {
                warnings.push(LoadWarning {
                    location: err.location.clone(),
                    item: ItemKind::Rule,
                    name: def.name.clone(),
                    code: WarningCode::SkippedUnknownFilter,
                    message: format!("rule skipped (skip-if-unknown-filter): {}", err.kind),
                });
                continue;
            }
            Err((err, _)) => return Err(err),
        };
        let (pred, cond_fields) = compiled;
        for t in std::mem::take(&mut cx.unknown_evttypes) {
            warnings.push(LoadWarning {
                location: def.condition.locate(0),
                item: ItemKind::Rule,
                name: def.name.clone(),
                code: WarningCode::UnknownEventType,
                message: format!("event type {t:?} is never captured by this sensor"),
            });
        }
        let types = compile::event_types(&pred, false);
        if types.is_all() && def.warn_evttypes {
            warnings.push(LoadWarning {
                location: def.location.clone(),
                item: ItemKind::Rule,
                name: def.name.clone(),
                code: WarningCode::NoEvtTypeRestriction,
                message: "condition does not restrict evt.type: the rule runs on every event, which is slow".into(),
            });
        }
        let output = OutputFormat::compile(&def.output).map_err(|e| LoadError {
            location: def.output_location.clone(),
            item: ItemKind::Rule,
            name: def.name.clone(),
            kind: ErrorKind::UnknownField(format!("in output at offset {}: {}", e.offset, e.error)),
        })?;
        let mut all_fields: Vec<(String, FieldSpec)> = output.fields().to_vec();
        for f in cond_fields {
            if all_fields.iter().any(|(n, _)| *n == f) {
                continue;
            }
            let (name, arg) = match f.split_once('[') {
                Some((n, a)) => (n, Some(a.trim_end_matches(']'))),
                None => (f.as_str(), None),
            };
            if let Ok(spec) = fields::resolve(name, arg) {
                all_fields.push((f, spec));
            }
        }
        let enabled = rule_enabled(def, opts);
        rules.push(CompiledRule {
            name: def.name.clone(),
            desc: def.desc.clone(),
            priority: def.priority,
            tags: def.tags.clone(),
            source: def.source.clone(),
            source_file: def.location.file.to_string(),
            location: def.location.clone(),
            enabled,
            pred,
            types,
            output_format: def.output.clone(),
            output,
            fields: all_fields,
            bucket: throttle.then(|| {
                Mutex::new(Bucket {
                    tokens: f64::from(opts.max_burst.max(1)),
                    last_ns: 0,
                })
            }),
            throttled: AtomicU64::new(0),
        });
    }
    for l in &defs.lists {
        if !cx.used_lists.contains(&l.name) {
            warnings.push(LoadWarning {
                location: l.location.clone(),
                item: ItemKind::List,
                name: l.name.clone(),
                code: WarningCode::UnusedList,
                message: "list is not referenced by any rule or macro".into(),
            });
        }
    }
    for m in &defs.macros {
        if !cx.used_macros.contains(&m.name) {
            warnings.push(LoadWarning {
                location: m.location.clone(),
                item: ItemKind::Macro,
                name: m.name.clone(),
                code: WarningCode::UnusedMacro,
                message: "macro is not referenced by any rule or macro".into(),
            });
        }
    }
    let mut by_type: Vec<Vec<TypedRule>> = (0..=EventType::COUNT).map(|_| Vec::new()).collect();
    for (i, r) in rules.iter().enumerate() {
        if !r.enabled {
            continue;
        }
        let idx = u32::try_from(i).unwrap_or(u32::MAX);
        for t in r.types.iter() {
            let pred = r.pred.specialize(t).simplify().costly_last();
            if !matches!(pred, Pred::False) {
                by_type[usize::from(t.id())].push(TypedRule {
                    rule: idx,
                    guard: pred.guard(),
                    pred,
                });
            }
        }
    }
    let summary = LoadSummary {
        rules: defs.rules.len(),
        macros: defs.macros.len(),
        lists: defs.lists.len(),
        enabled_rules: rules.iter().filter(|r| r.enabled).count(),
        files: defs.files,
    };
    Ok(LoadedRules {
        ruleset: RuleSet {
            rules,
            by_type: by_type.into_iter().map(Vec::into_boxed_slice).collect(),
            matching: opts.rule_matching,
            rate: opts.rate,
            max_burst: f64::from(opts.max_burst.max(1)),
        },
        warnings,
        summary,
    })
}

fn rule_enabled(def: &RuleDef, opts: &LoadOptions) -> bool {
    if (def.priority as i32) > (opts.min_priority as i32)
        && opts.min_priority != Priority::Unspecified
    {
        return false;
    }
    if opts.enabled_rules.contains(&def.name) {
        return true;
    }
    if opts.disabled_rules.contains(&def.name) {
        return false;
    }
    if def.tags.iter().any(|t| opts.disabled_tags.contains(t)) {
        return false;
    }
    def.enabled
}

/// Compiles a rule's condition and exceptions. The bool in the error says
/// whether it was an unknown field (for `skip-if-unknown-filter`).
#[allow(clippy::type_complexity)]
fn compile_rule(
    cx: &mut Context<'_>,
    def: &RuleDef,
    macro_defs: &HashMap<String, &loader::MacroDef>,
) -> Result<(Pred, Vec<String>), (LoadError, bool)> {
    let expr = parse::parse_condition(&def.condition.text).map_err(|e| {
        (
            syntax_error(e, &def.condition, ItemKind::Rule, &def.name),
            false,
        )
    })?;
    let to_load_error = |e: CompileError| {
        let unknown_field = matches!(e.kind, CompileErrorKind::UnknownField(_));
        let (location, item, name, kind) = match &e.in_macro {
            Some(m) => {
                let location = macro_defs
                    .get(m)
                    .map(|d| d.condition.locate(e.offset))
                    .unwrap_or_else(|| def.location.clone());
                (location, ItemKind::Macro, m.clone(), error_kind(e.kind))
            }
            None => (
                def.condition.locate(e.offset),
                ItemKind::Rule,
                def.name.clone(),
                error_kind(e.kind),
            ),
        };
        (
            LoadError {
                location,
                item,
                name,
                kind,
            },
            unknown_field,
        )
    };
    let pred = cx.compile(&expr).map_err(to_load_error)?;
    let mut fields_seen = std::mem::take(&mut cx.fields_seen);
    let unknown_types = std::mem::take(&mut cx.unknown_evttypes);
    if def.exceptions.iter().all(|e| e.values.is_empty()) {
        cx.unknown_evttypes = unknown_types;
        return Ok((pred, fields_seen));
    }
    let mut excs = Vec::new();
    for ex in &def.exceptions {
        if ex.values.is_empty() {
            continue;
        }
        let exc_err = |msg: String, unknown: bool| {
            (
                LoadError {
                    location: ex.location.clone(),
                    item: ItemKind::Rule,
                    name: def.name.clone(),
                    kind: if unknown {
                        ErrorKind::UnknownField(msg)
                    } else {
                        ErrorKind::Schema(msg)
                    },
                },
                unknown,
            )
        };
        let e = exception_expr(ex).map_err(|m| exc_err(m, false))?;
        let p = cx.compile(&e).map_err(|ce| {
            let unknown = matches!(ce.kind, CompileErrorKind::UnknownField(_));
            exc_err(
                format!("exception {:?}: {}", ex.name, error_kind(ce.kind)),
                unknown,
            )
        })?;
        for f in cx.fields_seen.drain(..) {
            if !fields_seen.contains(&f) {
                fields_seen.push(f);
            }
        }
        excs.push(p);
    }
    cx.unknown_evttypes = unknown_types;
    Ok((
        Pred::And(
            vec![pred, Pred::Not(Box::new(Pred::Or(excs.into_boxed_slice())))].into_boxed_slice(),
        ),
        fields_seen,
    ))
}

/// Builds the condition an exception stands for: `(f1 c1 v1 and f2 c2 v2) or ...`.
fn exception_expr(ex: &ExceptionDef) -> Result<Expr, String> {
    let fields: Vec<FieldExpr> = ex
        .fields
        .iter()
        .map(|f| field_expr(f).map_err(|m| format!("exception {:?}: field {f:?}: {m}", ex.name)))
        .collect::<Result<_, _>>()?;
    let ops: Vec<Op> = ex
        .comps
        .iter()
        .map(|c| {
            comp_op(c).ok_or_else(|| format!("exception {:?}: unknown comparison {c:?}", ex.name))
        })
        .collect::<Result<_, _>>()?;
    let mut alternatives = Vec::new();
    if ex.single {
        let (field, op) = (&fields[0], ops[0]);
        if op.takes_list() {
            let mut items = Vec::new();
            for v in &ex.values {
                flatten_literals(v, &mut items)?;
            }
            alternatives.push(check(field, op, Rhs::List(items)));
        } else {
            for v in &ex.values {
                alternatives.push(check(field, op, scalar_rhs(v)?));
            }
        }
    } else {
        for v in &ex.values {
            let NodeKind::Seq(tuple) = &v.kind else {
                return Err(format!(
                    "exception {:?}: each value must be a list of {} items (one per field)",
                    ex.name,
                    fields.len()
                ));
            };
            if tuple.len() != fields.len() {
                return Err(format!(
                    "exception {:?}: value has {} items but there are {} fields",
                    ex.name,
                    tuple.len(),
                    fields.len()
                ));
            }
            let mut conj = Vec::new();
            for ((field, op), val) in fields.iter().zip(&ops).zip(tuple) {
                let rhs = if op.takes_list() {
                    let mut items = Vec::new();
                    flatten_literals(val, &mut items)?;
                    Rhs::List(items)
                } else {
                    scalar_rhs(val)?
                };
                conj.push(check(field, *op, rhs));
            }
            alternatives.push(Expr::And(conj));
        }
    }
    Ok(Expr::Or(alternatives))
}

fn check(field: &FieldExpr, op: Op, rhs: Rhs) -> Expr {
    Expr::Check(Check {
        lhs: field.clone(),
        op,
        rhs,
        span: Span::default(),
    })
}

fn field_expr(text: &str) -> Result<FieldExpr, String> {
    match parse::parse_condition(&format!("{text} exists")) {
        Ok(Expr::Check(c)) => Ok(c.lhs),
        Ok(_) => Err("not a field".into()),
        Err(e) => Err(e.message),
    }
}

fn comp_op(c: &str) -> Option<Op> {
    Some(match c.trim() {
        "=" | "==" => Op::Eq,
        "!=" => Op::Ne,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        other => Op::from_word(other)?,
    })
}

fn scalar_rhs(v: &Node) -> Result<Rhs, String> {
    match v.as_str() {
        Some(s) => Ok(Rhs::Value(Literal {
            text: s.to_string(),
            quoted: true,
            span: Span::default(),
        })),
        None => Err(format!(
            "line {}: expected a single value, found a {}",
            v.mark.line,
            v.kind_name()
        )),
    }
}

/// List items of an exception value: a scalar (a value or a list name) or
/// a sequence of them.
fn flatten_literals(v: &Node, out: &mut Vec<Literal>) -> Result<(), String> {
    match &v.kind {
        NodeKind::Scalar(s, _) => {
            out.push(Literal {
                text: s.clone(),
                quoted: false,
                span: Span::default(),
            });
            Ok(())
        }
        NodeKind::Seq(items) => items.iter().try_for_each(|i| flatten_literals(i, out)),
        NodeKind::Map(_) => Err(format!(
            "line {}: unexpected mapping in values",
            v.mark.line
        )),
    }
}

/// Names of rules for `disabled_rules` checks in tests and the CLI.
pub fn rule_names(rs: &RuleSet) -> HashSet<&str> {
    rs.rules.iter().map(|r| r.name.as_str()).collect()
}
