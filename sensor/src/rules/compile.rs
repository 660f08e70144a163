//! Compiles parsed conditions into [`Pred`] trees: expands macros (with
//! recursion detection) and named lists (nested lists expand), resolves
//! fields through the field registry, parses literals per field type and
//! checks that each operator applies to its field's type.

use super::ast::{Check, Expr, FieldExpr, Literal, Op, Rhs, Transformer};
use super::glob::Glob;
use super::parse::unquote_item;
use super::pred::{CheckPred, Cmp, FastSet, IpNet, NO_SLOT, Operand, Pred, StrOp, Test};
use super::typeset::TypeSet;
use crate::event::EventType;
use crate::rules::fields::{self, FieldError, FieldType};
use std::collections::{HashMap, HashSet};

/// The literal that names a missing value after `=`, `!=`, `in` and
/// `intersects` (what Falco prints for one); see [`CheckPred::on_missing`].
const MISSING: &str = "<NA>";

/// Macro nesting bound: keeps compile and evaluation recursion (and so the
/// stack of whatever thread evaluates rules) small on hostile files.
const MAX_MACRO_DEPTH: usize = 32;

/// What a compile error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileErrorKind {
    UnknownField(String),
    UnknownMacro(String),
    UnknownList(String),
    BadOperator(String),
    BadValue(String),
    Recursion(String),
}

/// A compile error at a byte offset of a condition: of the rule's own
/// condition, or of the macro named in `in_macro` when it comes from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub in_macro: Option<String>,
    pub offset: usize,
    pub kind: CompileErrorKind,
}

/// A macro, parsed once.
#[derive(Debug, Clone)]
pub struct MacroBody {
    pub expr: Expr,
}

/// Definitions conditions are compiled against; records which macros and
/// lists were used, for Falco's "unused" warnings.
pub struct Context<'a> {
    pub macros: &'a HashMap<String, MacroBody>,
    pub lists: &'a HashMap<String, Vec<String>>,
    pub used_macros: HashSet<String>,
    pub used_lists: HashSet<String>,
    /// Event type names in conditions that this sensor never captures.
    pub unknown_evttypes: Vec<String>,
    /// Every field (as written, `name[arg]`) referenced, in first-use order.
    pub fields_seen: Vec<String>,
    /// Memo slot of each macro used so far.
    memo_slots: HashMap<String, u32>,
    /// Value cache slot of each untransformed field.
    field_slots: HashMap<fields::FieldSpec, u16>,
}

impl<'a> Context<'a> {
    pub fn new(
        macros: &'a HashMap<String, MacroBody>,
        lists: &'a HashMap<String, Vec<String>>,
    ) -> Self {
        Context {
            macros,
            lists,
            used_macros: HashSet::new(),
            used_lists: HashSet::new(),
            unknown_evttypes: Vec::new(),
            fields_seen: Vec::new(),
            memo_slots: HashMap::new(),
            field_slots: HashMap::new(),
        }
    }

    /// Compiles `expr`; `fields_seen` and `unknown_evttypes` are reset first.
    pub fn compile(&mut self, expr: &Expr) -> Result<Pred, CompileError> {
        self.fields_seen.clear();
        self.unknown_evttypes.clear();
        let mut stack = Vec::new();
        self.expr(expr, &mut stack)
    }

    fn expr(&mut self, e: &Expr, stack: &mut Vec<String>) -> Result<Pred, CompileError> {
        let in_macro = stack.last().cloned();
        match e {
            Expr::And(items) => Ok(Pred::And(
                items
                    .iter()
                    .map(|i| self.expr(i, stack))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_boxed_slice(),
            )),
            Expr::Or(items) => Ok(Pred::Or(
                items
                    .iter()
                    .map(|i| self.expr(i, stack))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_boxed_slice(),
            )),
            Expr::Not(inner) => Ok(Pred::Not(Box::new(self.expr(inner, stack)?))),
            Expr::Macro { name, span } => {
                let err = |kind| CompileError {
                    in_macro: in_macro.clone(),
                    offset: span.start,
                    kind,
                };
                let Some(body) = self.macros.get(name) else {
                    return Err(err(CompileErrorKind::UnknownMacro(name.clone())));
                };
                if stack.len() >= MAX_MACRO_DEPTH {
                    return Err(err(CompileErrorKind::Recursion(format!(
                        "macros nested deeper than {MAX_MACRO_DEPTH} levels at {name:?}"
                    ))));
                }
                if stack.contains(name) {
                    let mut chain = stack.clone();
                    chain.push(name.clone());
                    return Err(err(CompileErrorKind::Recursion(chain.join(" -> "))));
                }
                self.used_macros.insert(name.clone());
                stack.push(name.clone());
                let r = self.expr(&body.expr, stack);
                stack.pop();
                let next = u32::try_from(self.memo_slots.len()).unwrap_or(u32::MAX);
                let slot = *self.memo_slots.entry(name.clone()).or_insert(next);
                Ok(Pred::Memo(slot, Box::new(r?)))
            }
            Expr::Check(c) => self.check(c).map_err(|(offset, kind)| CompileError {
                in_macro,
                offset,
                kind,
            }),
        }
    }

    /// Expands list literals: bare items naming a list are replaced by the
    /// list's items, recursively.
    fn expand(
        &mut self,
        items: &[Literal],
        out: &mut Vec<String>,
    ) -> Result<(), (usize, CompileErrorKind)> {
        for lit in items {
            if !lit.quoted && self.lists.contains_key(&lit.text) {
                let mut seen = Vec::new();
                self.expand_named(&lit.text, out, &mut seen)
                    .map_err(|k| (lit.span.start, k))?;
            } else {
                out.push(lit.text.clone());
            }
        }
        Ok(())
    }

    fn expand_named(
        &mut self,
        name: &str,
        out: &mut Vec<String>,
        seen: &mut Vec<String>,
    ) -> Result<(), CompileErrorKind> {
        if seen.iter().any(|s| s == name) {
            seen.push(name.to_string());
            return Err(CompileErrorKind::Recursion(format!(
                "list {}",
                seen.join(" -> ")
            )));
        }
        let Some(items) = self.lists.get(name) else {
            return Err(CompileErrorKind::UnknownList(name.to_string()));
        };
        self.used_lists.insert(name.to_string());
        seen.push(name.to_string());
        for item in items {
            let (text, quoted) = unquote_item(item);
            if !quoted && self.lists.contains_key(&text) {
                self.expand_named(&text, out, seen)?;
            } else {
                out.push(text);
            }
        }
        seen.pop();
        Ok(())
    }

    fn operand(&mut self, fe: &FieldExpr) -> Result<Operand, (usize, CompileErrorKind)> {
        let f = fe.field();
        let spec = fields::resolve(&f.name, f.arg.as_deref()).map_err(|e| {
            let msg = match &e {
                FieldError::Unknown(_) => format!("{:?}", f.to_string()),
                other => other.to_string(),
            };
            (f.span.start, CompileErrorKind::UnknownField(msg))
        })?;
        let written = f.to_string();
        if !self.fields_seen.contains(&written) {
            self.fields_seen.push(written);
        }
        let mut transforms = Vec::new();
        collect_transforms(fe, &mut transforms);
        let mut ftype = spec.info().ftype;
        for t in &transforms {
            ftype = match t {
                Transformer::Len => FieldType::UInt,
                _ => FieldType::Str,
            };
        }
        let slot = if transforms.is_empty() {
            let next = u16::try_from(self.field_slots.len()).unwrap_or(NO_SLOT);
            *self.field_slots.entry(spec.clone()).or_insert(next)
        } else {
            NO_SLOT
        };
        Ok(Operand {
            spec,
            transforms,
            ftype,
            slot,
        })
    }

    fn check(&mut self, c: &Check) -> Result<Pred, (usize, CompileErrorKind)> {
        let field = c.lhs.field();
        let bad_op = |what: String| (c.span.start, CompileErrorKind::BadOperator(what));
        if field.name == "evt.type"
            && field.arg.is_none()
            && matches!(c.lhs, FieldExpr::Field(_))
            && matches!(c.op, Op::Eq | Op::Ne | Op::In)
            && !matches!(c.rhs, Rhs::Field(_))
        {
            return self.evt_type(c);
        }
        let lhs = self.operand(&c.lhs)?;
        let ftype = lhs.ftype;
        let negate = c.op == Op::Ne;
        let all_elements = c.op == Op::In && ftype == FieldType::StrList;
        let type_name = type_name(ftype);
        let mut on_missing = false;
        let test = match (&c.rhs, c.op) {
            (Rhs::None, Op::Exists) => Test::Exists,
            (Rhs::None, _) => {
                return Err(bad_op(format!("operator {} needs a value", c.op.name())));
            }
            (Rhs::Field(other), op) => {
                let rhs = self.operand(other)?;
                let (cmp, sop) = match op {
                    Op::Contains => (Cmp::Eq, StrOp::Contains),
                    Op::IContains => (Cmp::Eq, StrOp::IContains),
                    Op::StartsWith => (Cmp::Eq, StrOp::StartsWith),
                    Op::EndsWith => (Cmp::Eq, StrOp::EndsWith),
                    other => match Cmp::from_op(other) {
                        Some(cmp) => (cmp, StrOp::Eq),
                        None => {
                            return Err(bad_op(format!(
                                "operator {} cannot compare with val()",
                                other.name()
                            )));
                        }
                    },
                };
                Test::Field { cmp, op: sop, rhs }
            }
            (Rhs::List(_) | Rhs::ListRef(_), op) => {
                let mut values = Vec::new();
                match &c.rhs {
                    Rhs::List(items) => self.expand(items, &mut values)?,
                    Rhs::ListRef(lit) => {
                        let mut seen = Vec::new();
                        self.expand_named(&lit.text, &mut values, &mut seen)
                            .map_err(|k| (lit.span.start, k))?;
                    }
                    _ => {}
                }
                if matches!(op, Op::In | Op::Intersects) {
                    let before = values.len();
                    values.retain(|v| v != MISSING);
                    on_missing = values.len() != before;
                }
                self.list_test(op, ftype, values)
                    .map_err(|m| (c.span.start, m))?
            }
            (Rhs::Value(lit), op @ (Op::Eq | Op::Ne)) if lit.text == MISSING => {
                on_missing = op == Op::Eq;
                Test::Never
            }
            (Rhs::Value(lit), op) => self.value_test(op, ftype, &lit.text).map_err(|m| {
                // A wrong operator is the check's fault, a bad literal the value's.
                let at = match m {
                    CompileErrorKind::BadOperator(_) => c.span.start,
                    _ => lit.span.start,
                };
                (at, m)
            })?,
        };
        if let (Test::Exists, false) = (&test, c.op == Op::Exists) {
            return Err(bad_op(format!("operator {} on {type_name}", c.op.name())));
        }
        Ok(Pred::Check(Box::new(CheckPred {
            lhs,
            test,
            negate,
            all_elements,
            on_missing,
        })))
    }

    fn evt_type(&mut self, c: &Check) -> Result<Pred, (usize, CompileErrorKind)> {
        let mut names = Vec::new();
        match &c.rhs {
            Rhs::Value(lit) => names.push(lit.text.clone()),
            Rhs::List(items) => self.expand(items, &mut names)?,
            Rhs::ListRef(lit) => {
                let mut seen = Vec::new();
                self.expand_named(&lit.text, &mut names, &mut seen)
                    .map_err(|k| (lit.span.start, k))?;
            }
            Rhs::None | Rhs::Field(_) => {
                return Err((
                    c.span.start,
                    CompileErrorKind::BadOperator("evt.type needs a value".into()),
                ));
            }
        }
        if !self.fields_seen.iter().any(|f| f == "evt.type") {
            self.fields_seen.push("evt.type".into());
        }
        let mut set = TypeSet::EMPTY;
        for n in names {
            match EventType::from_name(&n) {
                Some(t) => set.insert(t),
                None => {
                    if !self.unknown_evttypes.contains(&n) {
                        self.unknown_evttypes.push(n);
                    }
                }
            }
        }
        Ok(Pred::EvtType(if c.op == Op::Ne {
            set.complement()
        } else {
            set
        }))
    }

    fn list_test(
        &self,
        op: Op,
        ftype: FieldType,
        values: Vec<String>,
    ) -> Result<Test, CompileErrorKind> {
        let bad = |why: String| CompileErrorKind::BadValue(why);
        match (op, ftype) {
            (Op::PMatch, FieldType::Str | FieldType::StrList) => Ok(Test::PMatch(
                values
                    .into_iter()
                    .map(|v| {
                        let t = v.trim_end_matches('/');
                        Box::from(if t.is_empty() { "/" } else { t })
                    })
                    .collect(),
            )),
            (Op::PMatch, t) => Err(CompileErrorKind::BadOperator(format!(
                "operator pmatch does not apply to {} fields",
                type_name(t)
            ))),
            (Op::In | Op::Intersects, FieldType::Str | FieldType::StrList | FieldType::Bytes) => {
                Ok(Test::StrIn(
                    values
                        .into_iter()
                        .map(String::into_boxed_str)
                        .collect::<FastSet<_>>(),
                ))
            }
            (
                Op::In | Op::Intersects,
                FieldType::Int | FieldType::UInt | FieldType::RelTime | FieldType::AbsTime,
            ) => values
                .iter()
                .map(|v| {
                    super::pred::parse_int(v).ok_or_else(|| bad(format!("{v:?} is not a number")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Test::NumIn),
            (Op::In | Op::Intersects, FieldType::Bool) => values
                .iter()
                .map(|v| {
                    parse_bool(v)
                        .map(i128::from)
                        .ok_or_else(|| bad(format!("{v:?} is not a boolean")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Test::NumIn),
            (Op::In | Op::Intersects, FieldType::Ip | FieldType::IpNet) => values
                .iter()
                .map(|v| {
                    IpNet::parse(v)
                        .ok_or_else(|| bad(format!("{v:?} is not an IP address or network")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Test::Ip),
            (op, t) => Err(CompileErrorKind::BadOperator(format!(
                "operator {} does not apply to {} fields",
                op.name(),
                type_name(t)
            ))),
        }
    }

    fn value_test(&self, op: Op, ftype: FieldType, v: &str) -> Result<Test, CompileErrorKind> {
        use FieldType as T;
        let bad_op = || {
            CompileErrorKind::BadOperator(format!(
                "operator {} does not apply to {} fields",
                op.name(),
                type_name(ftype)
            ))
        };
        let stringy = matches!(ftype, T::Str | T::StrList | T::Bytes);
        let numeric = matches!(ftype, T::Int | T::UInt | T::RelTime | T::AbsTime);
        let str_test = |sop| Test::Str {
            op: sop,
            lit: Box::from(v),
        };
        Ok(match op {
            Op::Eq | Op::Ne if stringy => str_test(StrOp::Eq),
            Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge if numeric => Test::Num {
                cmp: Cmp::from_op(op).ok_or_else(bad_op)?,
                lit: super::pred::parse_int(v).ok_or_else(|| {
                    CompileErrorKind::BadValue(format!(
                        "{v:?} is not a number ({} field)",
                        type_name(ftype)
                    ))
                })?,
            },
            Op::Eq | Op::Ne if ftype == T::Bool => Test::Bool(
                parse_bool(v)
                    .ok_or_else(|| CompileErrorKind::BadValue(format!("{v:?} is not a boolean")))?,
            ),
            Op::Eq | Op::Ne if matches!(ftype, T::Ip | T::IpNet) => {
                Test::Ip(vec![IpNet::parse(v).ok_or_else(|| {
                    CompileErrorKind::BadValue(format!("{v:?} is not an IP address or network"))
                })?])
            }
            Op::Contains if stringy => str_test(StrOp::Contains),
            Op::IContains if stringy => str_test(StrOp::IContains),
            Op::StartsWith if stringy => str_test(StrOp::StartsWith),
            Op::EndsWith if stringy => str_test(StrOp::EndsWith),
            Op::Glob if stringy => Test::Glob(Glob::new(v, false)),
            Op::IGlob if stringy => Test::Glob(Glob::new(v, true)),
            Op::Regex if stringy => Test::Regex(
                regex::Regex::new(&format!("^(?:{v})$"))
                    .map_err(|e| CompileErrorKind::BadValue(format!("bad regex {v:?}: {e}")))?,
            ),
            Op::BContains | Op::BStartsWith if stringy => {
                let bytes = parse_hex(v).ok_or_else(|| {
                    CompileErrorKind::BadValue(format!(
                        "{v:?} is not a hex byte string (e.g. 0a1b2c)"
                    ))
                })?;
                if op == Op::BContains {
                    Test::BContains(bytes)
                } else {
                    Test::BStartsWith(bytes)
                }
            }
            _ => return Err(bad_op()),
        })
    }
}

fn collect_transforms(fe: &FieldExpr, out: &mut Vec<Transformer>) {
    if let FieldExpr::Transform(t, inner) = fe {
        collect_transforms(inner, out);
        out.push(*t);
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "TRUE" | "True" | "1" => Some(true),
        "false" | "FALSE" | "False" | "0" => Some(false),
        _ => None,
    }
}

fn parse_hex(v: &str) -> Option<Vec<u8>> {
    let v = v.trim();
    if !v.len().is_multiple_of(2) {
        return None;
    }
    (0..v.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(v.get(i..i + 2)?, 16).ok())
        .collect()
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Str => "string",
        FieldType::Int => "integer",
        FieldType::UInt => "unsigned integer",
        FieldType::Bool => "boolean",
        FieldType::Ip => "IP address",
        FieldType::IpNet => "IP network",
        FieldType::RelTime => "relative time",
        FieldType::AbsTime => "absolute time",
        FieldType::Bytes => "byte buffer",
        FieldType::StrList => "string list",
    }
}

/// The event types a predicate can match (Falco's evttype analysis):
/// `evt.type` checks give their sets, `and`/`or` intersect/unite (swapped
/// under `not`, by De Morgan), any other check allows every type.
pub fn event_types(p: &Pred, negated: bool) -> TypeSet {
    match p {
        Pred::True => {
            if negated {
                TypeSet::EMPTY
            } else {
                TypeSet::all()
            }
        }
        Pred::False => {
            if negated {
                TypeSet::all()
            } else {
                TypeSet::EMPTY
            }
        }
        Pred::EvtType(s) => {
            if negated {
                s.complement()
            } else {
                *s
            }
        }
        Pred::Check(_) => TypeSet::all(),
        Pred::Not(inner) => event_types(inner, !negated),
        Pred::Memo(_, inner) => event_types(inner, negated),
        Pred::And(items) | Pred::Or(items) => {
            let conj = matches!(p, Pred::And(_)) != negated;
            let mut acc = if conj { TypeSet::all() } else { TypeSet::EMPTY };
            for i in items.iter() {
                let s = event_types(i, negated);
                acc = if conj { acc.intersect(s) } else { acc.union(s) };
            }
            acc
        }
    }
}
