//! Linking: compiles the loaded definitions (rules, macros, lists, in load
//! order) into a [`RuleSet`], applying enabled/disabled selections and
//! exceptions, and reports where a definition fails.

use super::compile::{self, CompileError, CompileErrorKind, Context, MacroBody};
use super::engine::{
    Bucket, CompiledRule, LoadOptions, LoadSummary, LoadedRules, RuleSet, TypedRule,
};
use super::error::{ErrorKind, ItemKind, LoadError, LoadWarning, Location, WarningCode};
use super::exceptions::exception_expr;
use super::loader::{self, Defs, RuleDef};
use super::output::OutputFormat;
use super::parse::{self, ParseError};
use super::pred::Pred;
use crate::event::EventType;
use crate::rules::fields::{self, FieldSpec};
use falco_proto::v1::Priority;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

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
