//! What compiled conditions say, for code outside the rule engine that
//! reasons about rules (the kernel open prefilter in
//! `pipeline/open_filter.rs`): a condition specialised to one event type,
//! reduced to and/or of plain string tests on fields. Everything the
//! reduction does not describe is [`Shape::Opaque`], which an analysis
//! must treat as "could be anything". Keeps the predicate representation
//! (`pred.rs`) private to the engine.

use super::engine::{CompiledRuleView, RuleSet};
use super::pred::{CheckPred, Pred, StrOp, Test};
use crate::event::EventType;

/// A condition's structure as far as analyses need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Never holds.
    Never,
    /// Says nothing analyses use: always true, or an event type test.
    Opaque,
    /// The inner condition does not hold.
    Not(Box<Shape>),
    /// Every part holds.
    All(Vec<Shape>),
    /// Some part holds.
    Any(Vec<Shape>),
    /// One field test.
    Test(FieldTest),
}

/// A test of one field (`fd.name startswith /etc/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTest {
    /// The field's canonical name (`fd.name`).
    pub field: &'static str,
    /// The value tested is the field as extracted: no `!=`, no
    /// transformer, no `[argument]`, not an `in` over every element of a
    /// list. Only plain tests say something about the value.
    pub plain: bool,
    pub test: TextTest,
}

/// String comparison of a [`TextTest::Str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Eq,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
}

/// What a [`FieldTest`] checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextTest {
    /// `field <op> lit`.
    Str { op: TextOp, lit: String },
    /// `field in (items)` (also `intersects`).
    In(Vec<String>),
    /// `field pmatch (items)`: one of the paths or below one.
    PMatch(Vec<String>),
    /// `field glob pattern`: whether the pattern starts with a literal, and
    /// its literal runs in order.
    Glob {
        starts_literal: bool,
        literal_runs: Vec<String>,
    },
    /// Compared with another field (`val(other)`).
    Field { rhs: &'static str },
    /// Any other test (numbers, regexes, exists, ...).
    Other,
}

impl RuleSet {
    /// Each enabled rule's condition as it applies to events of type `t`.
    pub fn condition_shapes(
        &self,
        t: EventType,
    ) -> impl Iterator<Item = (CompiledRuleView<'_>, Shape)> {
        self.conditions_for(t)
            .map(|(rule, pred)| (rule, shape(pred)))
    }
}

fn shape(p: &Pred) -> Shape {
    match p {
        Pred::False => Shape::Never,
        Pred::True | Pred::EvtType(_) => Shape::Opaque,
        Pred::Not(inner) => Shape::Not(Box::new(shape(inner))),
        Pred::Memo(_, inner) => shape(inner),
        Pred::And(xs) => Shape::All(xs.iter().map(shape).collect()),
        Pred::Or(xs) => Shape::Any(xs.iter().map(shape).collect()),
        Pred::Check(c) => Shape::Test(field_test(c)),
    }
}

fn text_op(op: StrOp) -> TextOp {
    match op {
        StrOp::Eq => TextOp::Eq,
        StrOp::Contains => TextOp::Contains,
        StrOp::IContains => TextOp::IContains,
        StrOp::StartsWith => TextOp::StartsWith,
        StrOp::EndsWith => TextOp::EndsWith,
    }
}

fn field_test(c: &CheckPred) -> FieldTest {
    let sorted = |items: &mut dyn Iterator<Item = &Box<str>>| {
        let mut v: Vec<String> = items.map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let test = match &c.test {
        Test::Str { op, lit } => TextTest::Str {
            op: text_op(*op),
            lit: lit.to_string(),
        },
        Test::StrIn(items) => TextTest::In(sorted(&mut items.iter())),
        Test::PMatch(items) => TextTest::PMatch(sorted(&mut items.iter())),
        Test::Glob(g) => TextTest::Glob {
            starts_literal: g.starts_literal(),
            literal_runs: g.literal_runs(),
        },
        Test::Field { rhs, .. } => TextTest::Field {
            rhs: rhs.spec.info().name,
        },
        _ => TextTest::Other,
    };
    FieldTest {
        field: c.lhs.spec.info().name,
        // A check that holds on a missing value (`fd.name in (<NA>, ...)`)
        // holds for opens the kernel cannot tell apart by path: not plain.
        plain: !c.negate
            && !c.on_missing
            && c.lhs.transforms.is_empty()
            && c.lhs.spec.arg.is_none()
            && !c.all_elements,
        test,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::rules::{LoadOptions, load_sources};

    #[test]
    fn conditions_reduce_to_field_tests() {
        let yaml = "- macro: m\n  condition: fd.name startswith /etc/\n- rule: r\n  desc: d\n  condition: evt.type = openat and (m or fd.filename in (b, a)) and not proc.name = x and fd.name != /tmp\n  output: o\n  priority: WARNING\n";
        let loaded =
            load_sources(&[("t.yaml".into(), yaml.into())], &LoadOptions::default()).unwrap();
        let shapes: Vec<Shape> = loaded
            .ruleset
            .condition_shapes(EventType::Openat)
            .map(|(_, s)| s)
            .collect();
        assert_eq!(shapes.len(), 1);
        let Shape::All(parts) = &shapes[0] else {
            panic!("{:?}", shapes[0]);
        };
        let prefix = Shape::Test(FieldTest {
            field: "fd.name",
            plain: true,
            test: TextTest::Str {
                op: TextOp::StartsWith,
                lit: "/etc/".into(),
            },
        });
        let names = Shape::Test(FieldTest {
            field: "fd.filename",
            plain: true,
            test: TextTest::In(vec!["a".into(), "b".into()]),
        });
        assert!(
            parts.contains(&Shape::Any(vec![prefix, names])),
            "{parts:?}"
        );
        assert!(
            parts
                .iter()
                .any(|p| matches!(p, Shape::Not(t) if matches!(&**t, Shape::Test(t) if t.field == "proc.name"))),
            "{parts:?}"
        );
        assert!(
            parts
                .iter()
                .any(|p| matches!(p, Shape::Test(t) if t.field == "fd.name" && !t.plain)),
            "{parts:?}"
        );
        assert_eq!(
            loaded.ruleset.condition_shapes(EventType::Execve).count(),
            0
        );
    }
}
