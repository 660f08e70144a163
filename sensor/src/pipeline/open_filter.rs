//! Derives the kernel open prefilter ([`OpenFilter`]) from the loaded rules:
//! an open is worth sending only if its path could satisfy some enabled open
//! rule. A rule contributes paths only when its condition, specialised to the
//! open event type, implies a path constraint the kernel can check (a prefix
//! or an exact last component); any other open rule, or any reader of the
//! whole fd table, forces a full capture. See docs/probes.md.

use super::detector::FD_TABLE_READERS;
use crate::event::EventType;
use crate::probe::{MAX_OPEN_BASENAMES, MAX_OPEN_PREFIX_LEN, MAX_OPEN_PREFIXES, OpenFilter};
use crate::rules::RuleSet;
use crate::rules::pred::{CheckPred, Operand, Pred, StrOp, Test};
use std::collections::BTreeSet;
use std::fmt;

/// The event types the prefilter applies to.
pub const OPEN_TYPES: &[EventType] = &[
    EventType::Open,
    EventType::Openat,
    EventType::Openat2,
    EventType::Creat,
];

/// Fields whose value depends on fds the process opened earlier, so every
/// open must reach the fd table.
const FD_TABLE_FIELDS: &[&str] = &[
    "fd.types",
    "proc.stdin.type",
    "proc.stdout.type",
    "proc.stderr.type",
    "proc.stdin.name",
    "proc.stdout.name",
    "proc.stderr.name",
];

/// Why no filter can be used: every open is captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullCapture {
    /// A rule on open events whose condition does not imply a path the
    /// kernel can check.
    Unconstrained { rule: String, event_type: EventType },
    /// A rule tests fd fields on fd-number events (close, sendto, dup...)
    /// that a file fd could satisfy, so the fd table needs every open.
    FdTable { rule: String, event_type: EventType },
    /// A rule reads a field computed from the whole fd table.
    FdTableField { rule: String, field: String },
    /// More paths than the kernel tables hold.
    TooManyPaths { prefixes: usize, basenames: usize },
}

impl fmt::Display for FullCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FullCapture::Unconstrained { rule, event_type } => write!(
                f,
                "rule `{rule}` on {} events has no fd.name/fd.directory/fd.filename constraint the kernel can check",
                event_type.name()
            ),
            FullCapture::FdTable { rule, event_type } => write!(
                f,
                "rule `{rule}` reads the fd table on {} events",
                event_type.name()
            ),
            FullCapture::FdTableField { rule, field } => {
                write!(
                    f,
                    "rule `{rule}` reads `{field}`, which needs every open fd"
                )
            }
            FullCapture::TooManyPaths {
                prefixes,
                basenames,
            } => write!(
                f,
                "{prefixes} prefixes and {basenames} basenames exceed the kernel's {MAX_OPEN_PREFIXES} and {MAX_OPEN_BASENAMES}"
            ),
        }
    }
}

/// The filter for `rules`, or why every open must be captured. With no
/// open rule at all the filter has no paths: only the opens the kernel
/// always passes (relative, unnormalised, directories) reach the state
/// tracker, which is all it needs when no rule reads the fd table.
pub fn derive(rules: &RuleSet) -> Result<OpenFilter, FullCapture> {
    for rule in rules.rules().filter(|r| r.enabled()) {
        if let Some((field, _)) = rule
            .fields()
            .iter()
            .find(|(_, spec)| FD_TABLE_FIELDS.contains(&spec.info().name))
        {
            return Err(FullCapture::FdTableField {
                rule: rule.name().to_string(),
                field: field.clone(),
            });
        }
    }
    // fchdir only needs directories, which the kernel always passes.
    for &t in FD_TABLE_READERS.iter().filter(|t| **t != EventType::Fchdir) {
        for (rule, pred) in rules.conditions_for(t) {
            if mentions_fd_field(pred) && !implies_not_file(pred) {
                return Err(FullCapture::FdTable {
                    rule: rule.name().to_string(),
                    event_type: t,
                });
            }
        }
    }
    let mut paths = PathSet::default();
    for &t in OPEN_TYPES {
        for (rule, pred) in rules.conditions_for(t) {
            match constraint(pred) {
                Some(p) => paths.union(p),
                None => {
                    return Err(FullCapture::Unconstrained {
                        rule: rule.name().to_string(),
                        event_type: t,
                    });
                }
            }
        }
    }
    paths.into_filter()
}

/// Whether the condition reads any `fd.*` field (which, on fd-number
/// events, comes from the fd table).
fn mentions_fd_field(p: &Pred) -> bool {
    match p {
        Pred::True | Pred::False | Pred::EvtType(_) => false,
        Pred::And(xs) | Pred::Or(xs) => xs.iter().any(mentions_fd_field),
        Pred::Not(x) | Pred::Memo(_, x) => mentions_fd_field(x),
        Pred::Check(c) => {
            let is_fd = |o: &Operand| o.spec.info().name.starts_with("fd.");
            is_fd(&c.lhs) || matches!(&c.test, Test::Field { rhs, .. } if is_fd(rhs))
        }
    }
}

/// Whether the condition implies the fd is not a file or directory (e.g.
/// `fd.typechar in (4, 6)`): then a file open the filter drops cannot
/// change whether it holds, only what a file fd's output fields show.
fn implies_not_file(p: &Pred) -> bool {
    match p {
        Pred::False => true,
        Pred::True | Pred::Not(_) | Pred::EvtType(_) => false,
        Pred::Memo(_, x) => implies_not_file(x),
        Pred::And(xs) => xs.iter().any(implies_not_file),
        Pred::Or(xs) => xs.iter().all(implies_not_file),
        Pred::Check(c) => {
            if c.negate || !c.lhs.transforms.is_empty() || c.lhs.spec.arg.is_some() {
                return false;
            }
            let file_kinds: &[&str] = match c.lhs.spec.info().name {
                "fd.typechar" => &["f", "d"],
                "fd.type" => &["file", "directory"],
                _ => return false,
            };
            match &c.test {
                Test::Str { op: StrOp::Eq, lit } => !file_kinds.contains(&&**lit),
                Test::StrIn(items) => items.iter().all(|l| !file_kinds.contains(&&**l)),
                _ => false,
            }
        }
    }
}

/// Paths an open must have for a condition to hold: starts with one of
/// `prefixes`, or its last component is one of `basenames`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct PathSet {
    prefixes: BTreeSet<String>,
    basenames: BTreeSet<String>,
}

impl PathSet {
    fn union(&mut self, other: PathSet) {
        self.prefixes.extend(other.prefixes);
        self.basenames.extend(other.basenames);
    }

    fn len(&self) -> usize {
        self.prefixes.len() + self.basenames.len()
    }

    /// Fits the set into the kernel tables, only ever widening it: long
    /// prefixes are cut, prefixes under another are dropped, and while
    /// there are too many the longest are cut back to their parent
    /// directory.
    fn into_filter(self) -> Result<OpenFilter, FullCapture> {
        let mut prefixes: BTreeSet<String> = self
            .prefixes
            .into_iter()
            .map(|p| cut(&p, MAX_OPEN_PREFIX_LEN).to_string())
            .collect();
        loop {
            prefixes = minimal(&prefixes);
            if prefixes.len() <= MAX_OPEN_PREFIXES {
                break;
            }
            let Some(longest) = prefixes.iter().max_by_key(|p| p.len()).cloned() else {
                break;
            };
            let parent = parent_dir(&longest);
            prefixes.remove(&longest);
            prefixes.insert(parent);
        }
        if self.basenames.len() > MAX_OPEN_BASENAMES {
            return Err(FullCapture::TooManyPaths {
                prefixes: prefixes.len(),
                basenames: self.basenames.len(),
            });
        }
        Ok(OpenFilter {
            prefixes: prefixes.into_iter().collect(),
            basenames: self.basenames.into_iter().collect(),
        })
    }
}

/// The longest prefix of `s` of at most `max` bytes on a char boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `/a/b/c` -> `/a/b/`, `/a/b/` -> `/a/`, `/a` -> `/`.
fn parent_dir(p: &str) -> String {
    let trimmed = p.strip_suffix('/').unwrap_or(p);
    match trimmed.rfind('/') {
        Some(i) => trimmed[..=i].to_string(),
        None => "/".to_string(),
    }
}

/// Drops every prefix another one already covers.
fn minimal(prefixes: &BTreeSet<String>) -> BTreeSet<String> {
    prefixes
        .iter()
        .filter(|p| {
            !prefixes
                .iter()
                .any(|q| q.len() < p.len() && p.starts_with(q.as_str()))
        })
        .cloned()
        .collect()
}

/// A path set the condition implies, or `None` when it implies none the
/// kernel can check (always a safe answer).
fn constraint(p: &Pred) -> Option<PathSet> {
    match p {
        // A condition that never holds needs no opens.
        Pred::False => Some(PathSet::default()),
        Pred::True | Pred::Not(_) | Pred::EvtType(_) => None,
        Pred::Memo(_, inner) => constraint(inner),
        // Any constraining conjunct bounds the whole; take the narrowest.
        Pred::And(xs) => xs.iter().filter_map(constraint).min_by_key(PathSet::len),
        // Every branch must be bounded.
        Pred::Or(xs) => {
            let mut all = PathSet::default();
            for x in xs.iter() {
                all.union(constraint(x)?);
            }
            Some(all)
        }
        Pred::Check(c) => check_constraint(c),
    }
}

/// Which path part a field tests on open events.
enum PathPart {
    /// `fd.name`: the whole absolute path.
    Name,
    /// `fd.directory`: the parent directory, or the path itself for a directory.
    Directory,
    /// `fd.filename`: the last component.
    Filename,
}

fn check_constraint(c: &CheckPred) -> Option<PathSet> {
    if c.negate || !c.lhs.transforms.is_empty() || c.lhs.spec.arg.is_some() || c.all_elements {
        return None;
    }
    let part = match c.lhs.spec.info().name {
        "fd.name" => PathPart::Name,
        "fd.directory" => PathPart::Directory,
        "fd.filename" => PathPart::Filename,
        _ => return None,
    };
    let mut set = PathSet::default();
    let mut add = |lit: &str, is_prefix: bool| -> Option<()> {
        match part {
            // An exact name is its own prefix. A relative literal never
            // matches a resolved path, but is not worth reasoning about.
            PathPart::Name if lit.starts_with('/') => {
                set.prefixes.insert(lit.to_string());
            }
            // The directory itself or anything below it, hence no `/`.
            PathPart::Directory if !is_prefix && lit.starts_with('/') => {
                set.prefixes.insert(lit.to_string());
            }
            PathPart::Filename if !is_prefix && !lit.is_empty() && !lit.contains('/') => {
                set.basenames.insert(lit.to_string());
            }
            _ => return None,
        }
        Some(())
    };
    match &c.test {
        Test::Str { op: StrOp::Eq, lit } => add(lit, false)?,
        Test::Str {
            op: StrOp::StartsWith,
            lit,
        } if matches!(part, PathPart::Name) => add(lit, true)?,
        Test::StrIn(items) => {
            for lit in items.iter() {
                add(lit, false)?;
            }
        }
        Test::PMatch(items) if matches!(part, PathPart::Name) => {
            for lit in items.iter() {
                // `/etc/` may also match `/etc` itself: the shorter prefix.
                let lit = match lit.strip_suffix('/') {
                    Some(l) if !l.is_empty() => l,
                    _ => lit,
                };
                add(lit, true)?;
            }
        }
        _ => return None,
    }
    Some(set)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "open_filter_tests.rs"]
mod tests;
