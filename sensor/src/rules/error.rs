//! Load errors and warnings: each names the file, line and column, the item
//! (rule, macro or list and its name) and what is wrong.

use std::fmt;
use std::sync::Arc;

/// A position in a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// The kind of YAML item an error or warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Rule,
    Macro,
    List,
    RequiredEngineVersion,
    RequiredPluginVersions,
    /// The file itself (e.g. not a YAML list).
    File,
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemKind::Rule => "rule",
            ItemKind::Macro => "macro",
            ItemKind::List => "list",
            ItemKind::RequiredEngineVersion => "required_engine_version",
            ItemKind::RequiredPluginVersions => "required_plugin_versions",
            ItemKind::File => "file",
        })
    }
}

/// What went wrong while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Io(String),
    Yaml(String),
    /// The item's shape is wrong: missing key, wrong value type, unknown key.
    Schema(String),
    /// The condition does not parse.
    Syntax(String),
    UnknownField(String),
    UnknownMacro(String),
    UnknownList(String),
    /// An operator that does not apply to the field's type, or a literal
    /// that does not parse as the field's type.
    BadOperator(String),
    /// Append / override of an item that was never defined.
    Undefined(String),
    /// A macro that (indirectly) references itself.
    Recursion(String),
    /// A regex or other literal that does not compile.
    BadValue(String),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(m) => write!(f, "cannot read: {m}"),
            ErrorKind::Yaml(m) => write!(f, "YAML error: {m}"),
            ErrorKind::Schema(m) => write!(f, "{m}"),
            ErrorKind::Syntax(m) => write!(f, "condition syntax error: {m}"),
            ErrorKind::UnknownField(m) => write!(f, "unknown field: {m}"),
            ErrorKind::UnknownMacro(m) => write!(f, "undefined macro {m:?}"),
            ErrorKind::UnknownList(m) => write!(f, "undefined list {m:?}"),
            ErrorKind::BadOperator(m) => write!(f, "{m}"),
            ErrorKind::Undefined(m) => write!(f, "{m}"),
            ErrorKind::Recursion(m) => write!(f, "macro recursion: {m}"),
            ErrorKind::BadValue(m) => write!(f, "{m}"),
        }
    }
}

/// A load error: stops loading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub location: Location,
    pub item: ItemKind,
    /// Name of the rule / macro / list, empty when not known.
    pub name: String,
    pub kind: ErrorKind,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "{}: {}: {}", self.location, self.item, self.kind)
        } else {
            write!(
                f,
                "{}: {} {:?}: {}",
                self.location, self.item, self.name, self.kind
            )
        }
    }
}

/// Why a warning was raised (mirrors what Falco warns about).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningCode {
    /// The rule's condition does not restrict `evt.type`: it runs on every event.
    NoEvtTypeRestriction,
    UnusedList,
    UnusedMacro,
    /// A rule whose `source` is not `syscall`: accepted and skipped.
    UnsupportedSource,
    /// An event type named in a condition that this sensor never captures.
    UnknownEventType,
    /// A rule skipped because of an unknown field with `skip-if-unknown-filter`.
    SkippedUnknownFilter,
    /// An unknown top-level key in an item that Falco ignores.
    UnknownKey,
    /// `priority` not among the 8 levels, read leniently.
    Priority,
}

/// A non-fatal finding while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadWarning {
    pub location: Location,
    pub item: ItemKind,
    pub name: String,
    pub code: WarningCode,
    pub message: String,
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {:?}: {}",
            self.location, self.item, self.name, self.message
        )
    }
}
