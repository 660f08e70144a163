//! Derives the kernel open prefilter ([`OpenFilter`]) from the loaded rules:
//! an open is worth sending only if it could satisfy some enabled open
//! rule. A rule contributes only when its condition, specialised to the open
//! event type, implies a constraint the kernel can check: a path prefix, a
//! substring of at least 4 bytes, an exact parent directory or last
//! component, or the process name (comm); any other open rule, or any
//! reader of the whole fd table, forces a full capture. See docs/probes.md.

use super::detector::FD_TABLE_READERS;
use crate::event::EventType;
use crate::probe::{
    COMM_LEN, MAX_OPEN_BASENAMES, MAX_OPEN_COMMS, MAX_OPEN_DIRS, MAX_OPEN_PREFIX_LEN,
    MAX_OPEN_PREFIXES, MAX_OPEN_SUBSTRINGS, MIN_OPEN_SUBSTRING_LEN, OpenFilter,
};
use crate::rules::RuleSet;
use crate::rules::analysis::{FieldTest, Shape, TextOp, TextTest};
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
    /// More entries than a kernel table holds.
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
}

impl fmt::Display for FullCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FullCapture::Unconstrained { rule, event_type } => write!(
                f,
                "rule `{rule}` on {} events has no fd.name/fd.directory/fd.filename/proc.name constraint the kernel can check",
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
            FullCapture::TooMany { what, count, max } => {
                write!(f, "{count} {what} exceed the kernel's {max}")
            }
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
        for (rule, cond) in rules.condition_shapes(t) {
            if mentions_fd_field(&cond) && !implies_not_file(&cond) {
                return Err(FullCapture::FdTable {
                    rule: rule.name().to_string(),
                    event_type: t,
                });
            }
        }
    }
    let mut paths = PathSet::default();
    // Closes of fds whose open the filter drops can only matter to rules on
    // close events that a file fd could satisfy.
    let close_filter = rules
        .condition_shapes(EventType::Close)
        .all(|(_, cond)| implies_not_file(&cond));
    for &t in OPEN_TYPES {
        for (rule, cond) in rules.condition_shapes(t) {
            match constraint(&cond) {
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
    let mut filter = paths.into_filter()?;
    filter.close_filter = close_filter;
    Ok(filter)
}

/// Whether the condition reads any `fd.*` field (which, on fd-number
/// events, comes from the fd table).
fn mentions_fd_field(p: &Shape) -> bool {
    match p {
        Shape::Opaque | Shape::Never => false,
        Shape::All(xs) | Shape::Any(xs) => xs.iter().any(mentions_fd_field),
        Shape::Not(x) => mentions_fd_field(x),
        Shape::Test(t) => {
            let is_fd = |name: &str| name.starts_with("fd.");
            is_fd(t.field) || matches!(&t.test, TextTest::Field { rhs } if is_fd(rhs))
        }
    }
}

/// Whether the condition implies the fd is not a file or directory (e.g.
/// `fd.typechar in (4, 6)`): then a file open the filter drops cannot
/// change whether it holds, only what a file fd's output fields show.
fn implies_not_file(p: &Shape) -> bool {
    match p {
        Shape::Never => true,
        Shape::Opaque | Shape::Not(_) => false,
        Shape::All(xs) => xs.iter().any(implies_not_file),
        Shape::Any(xs) => xs.iter().all(implies_not_file),
        Shape::Test(t) => {
            if !t.plain {
                return false;
            }
            let file_kinds: &[&str] = match t.field {
                "fd.typechar" => &["f", "d"],
                "fd.type" => &["file", "directory"],
                _ => return false,
            };
            match &t.test {
                TextTest::Str {
                    op: TextOp::Eq,
                    lit,
                } => !file_kinds.contains(&lit.as_str()),
                TextTest::In(items) => items.iter().all(|l| !file_kinds.contains(&l.as_str())),
                _ => false,
            }
        }
    }
}

/// What an open must have for a condition to hold: its path starts with
/// one of `prefixes`, contains one of `substrings`, lies directly in one of
/// `directories`, has its last component in `basenames`, or its thread's
/// comm is in `comms`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct PathSet {
    prefixes: BTreeSet<String>,
    basenames: BTreeSet<String>,
    substrings: BTreeSet<String>,
    directories: BTreeSet<String>,
    comms: BTreeSet<String>,
}

impl PathSet {
    fn union(&mut self, other: PathSet) {
        self.prefixes.extend(other.prefixes);
        self.basenames.extend(other.basenames);
        self.substrings.extend(other.substrings);
        self.directories.extend(other.directories);
        self.comms.extend(other.comms);
    }

    /// How many unrelated opens the set lets through, roughly: a
    /// substring's bit also matches hash collisions, and a prefix of `/`
    /// alone matches everything.
    fn cost(&self) -> usize {
        let prefixes: usize = self
            .prefixes
            .iter()
            .map(|p| if p.len() <= 1 { 10_000 } else { 1 })
            .sum();
        prefixes
            + self.basenames.len()
            + 2 * self.substrings.len()
            + self.directories.len()
            + self.comms.len()
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
        let limits = [
            ("basenames", self.basenames.len(), MAX_OPEN_BASENAMES),
            ("substrings", self.substrings.len(), MAX_OPEN_SUBSTRINGS),
            ("directories", self.directories.len(), MAX_OPEN_DIRS),
            ("process names", self.comms.len(), MAX_OPEN_COMMS),
        ];
        if let Some(&(what, count, max)) = limits.iter().find(|(_, n, max)| n > max) {
            return Err(FullCapture::TooMany { what, count, max });
        }
        Ok(OpenFilter {
            prefixes: prefixes.into_iter().collect(),
            basenames: self.basenames.into_iter().collect(),
            substrings: self.substrings.into_iter().collect(),
            directories: self.directories.into_iter().collect(),
            comms: self.comms.into_iter().collect(),
            close_filter: false,
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

/// A constraint the condition implies, or `None` when it implies none the
/// kernel can check (always a safe answer).
fn constraint(p: &Shape) -> Option<PathSet> {
    match p {
        // A condition that never holds needs no opens.
        Shape::Never => Some(PathSet::default()),
        Shape::Opaque | Shape::Not(_) => None,
        // Any constraining conjunct bounds the whole; take the narrowest.
        Shape::All(xs) => xs.iter().filter_map(constraint).min_by_key(PathSet::cost),
        // Every branch must be bounded.
        Shape::Any(xs) => {
            let mut all = PathSet::default();
            for x in xs.iter() {
                all.union(constraint(x)?);
            }
            Some(all)
        }
        Shape::Test(t) => check_constraint(t),
    }
}

/// What a field tests on open events.
#[derive(Clone, Copy)]
enum PathPart {
    /// `fd.name`, the absolute normalised path, or `fd.nameraw`, the path
    /// as the syscall got it: the kernel sees the raw path, and it filters
    /// only absolute paths in normal form, where the two are the same.
    Name,
    /// `fd.directory`: the parent directory, or the path itself for a
    /// directory (which the kernel always passes).
    Directory,
    /// `fd.filename`: the last component.
    Filename,
    /// `proc.name`: the thread's comm, as the kernel keeps it.
    Comm,
}

fn check_constraint(c: &FieldTest) -> Option<PathSet> {
    if !c.plain {
        return None;
    }
    let part = match c.field {
        "fd.name" | "fd.nameraw" => PathPart::Name,
        "fd.directory" => PathPart::Directory,
        "fd.filename" => PathPart::Filename,
        "proc.name" => PathPart::Comm,
        _ => return None,
    };
    let mut set = PathSet::default();
    match &c.test {
        TextTest::Str { op, lit } => add_literal(&mut set, part, *op, lit)?,
        TextTest::In(items) => {
            for lit in items.iter() {
                add_literal(&mut set, part, TextOp::Eq, lit)?;
            }
        }
        TextTest::PMatch(items) if matches!(part, PathPart::Name | PathPart::Directory) => {
            for lit in items.iter() {
                // `/etc/` may also match `/etc` itself: the shorter prefix.
                let lit = match lit.strip_suffix('/') {
                    Some(l) if !l.is_empty() => l,
                    _ => lit,
                };
                add_literal(&mut set, PathPart::Name, TextOp::StartsWith, lit)?;
            }
        }
        TextTest::Glob {
            starts_literal,
            literal_runs: runs,
        } if matches!(part, PathPart::Name | PathPart::Directory) => {
            match runs.first() {
                // The path (or its directory, a prefix of it) starts with
                // the glob's leading literal.
                Some(first) if *starts_literal && first.starts_with('/') && first.len() > 1 => {
                    set.prefixes.insert(first.clone());
                }
                _ => {
                    let longest = runs.iter().max_by_key(|r| r.len())?;
                    add_literal(&mut set, PathPart::Name, TextOp::Contains, longest)?;
                }
            }
        }
        _ => return None,
    }
    Some(set)
}

/// Adds what `<part> <op> lit` implies to `set`; `None` when the kernel
/// cannot check it.
fn add_literal(set: &mut PathSet, part: PathPart, op: TextOp, lit: &str) -> Option<()> {
    match (part, op) {
        // An exact name is its own prefix. A relative literal never
        // matches a resolved path, but is not worth reasoning about.
        (PathPart::Name, TextOp::Eq | TextOp::StartsWith) if lit.starts_with('/') => {
            set.prefixes.insert(lit.to_string());
        }
        // A path ending in `/name` has the last component `name`.
        (PathPart::Name, TextOp::EndsWith)
            if lit.len() > 1 && lit.starts_with('/') && !lit[1..].contains('/') =>
        {
            set.basenames.insert(lit[1..].to_string());
        }
        (PathPart::Name | PathPart::Directory | PathPart::Filename, TextOp::Contains)
        | (PathPart::Name | PathPart::Filename, TextOp::EndsWith) => substring(set, lit)?,
        (PathPart::Filename, TextOp::StartsWith) => substring(set, &format!("/{lit}"))?,
        (PathPart::Directory, TextOp::Eq) if lit.starts_with('/') => {
            set.directories.insert(lit.to_string());
        }
        // The directory is a prefix of the path.
        (PathPart::Directory, TextOp::StartsWith) if lit.starts_with('/') => {
            set.prefixes.insert(lit.to_string());
        }
        (PathPart::Filename, TextOp::Eq)
            if !lit.is_empty() && !lit.contains('/') && lit != "." && lit != ".." =>
        {
            set.basenames.insert(lit.to_string());
        }
        // comm holds the first COMM_LEN bytes of the name; a longer literal
        // never equals it, and its cut is still a superset.
        (PathPart::Comm, TextOp::Eq) if !lit.is_empty() => {
            set.comms.insert(cut(lit, COMM_LEN).to_string());
        }
        _ => return None,
    }
    Some(())
}

/// A substring of the path. The kernel tests 4-byte windows, so shorter
/// literals would need a bit per 1-3 byte sequence, which nearly every
/// path has: they cannot be checked, except those containing `../`,
/// because the kernel always passes paths with a component ending in
/// `..` before a `/`.
fn substring(set: &mut PathSet, lit: &str) -> Option<()> {
    if lit.contains("../") {
        return Some(());
    }
    if lit.len() < MIN_OPEN_SUBSTRING_LEN {
        return None;
    }
    set.substrings.insert(lit.to_string());
    Some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "open_filter_tests.rs"]
mod tests;
