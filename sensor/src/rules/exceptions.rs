//! Exception desugaring: an `exceptions:` entry of a rule becomes the
//! condition it stands for, which the linker appends as `and not (...)`.

use super::ast::{Check, Expr, FieldExpr, Literal, Op, Rhs, Span};
use super::loader::ExceptionDef;
use super::parse;
use super::yaml::{Node, NodeKind};

/// Builds the condition an exception stands for: `(f1 c1 v1 and f2 c2 v2) or ...`.
pub(super) fn exception_expr(ex: &ExceptionDef) -> Result<Expr, String> {
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
