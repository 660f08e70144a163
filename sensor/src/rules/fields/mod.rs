//! Rule fields (`proc.name`, `fd.name`, `evt.arg.flags`, ...): the registry of
//! supported fields with their types and descriptions, resolution of a field
//! name (and optional argument) at rule-compile time, and extraction of a
//! field's value from an event plus the sensor state at evaluation time.
//!
//! Contract used by the condition compiler and the output renderer:
//! - [`resolve`] runs once per field reference when rules load; it fails with
//!   [`FieldError`] for unknown fields or bad arguments.
//! - [`extract`] runs per event and must not allocate on the common path
//!   (borrow from the event or state; `Cow::Owned` only when a value has to
//!   be computed, e.g. `proc.cmdline` or flag names).
//! - `None` from [`extract`] means the value is missing: Falco renders it as
//!   `<NA>`; every comparison with it is false, `exists` too, and only the
//!   literal `<NA>` after `=`/`in` matches it (see `pred`). No extractor
//!   returns the text `<NA>` for a value it does not have.
//! - [`render_field`] prints a value the way Falco's outputs do (ancestor
//!   fields without an index as a space-separated list); [`render`] is the
//!   type-only rendering.
//!
//! Layout: `registry` (the table), `evt`, `process` (proc/thread/user/group),
//! `fd` (fd and fs.path), `container` (container and k8s), `flags` (symbolic
//! names of flags, modes and codes), `doc` (list-fields text, docs/fields.md).

mod container;
pub mod doc;
mod evt;
mod fd;
mod flags;
mod process;
mod registry;

use crate::event::Event;
use crate::state::{StateView, ThreadInfo};
use registry::{KEYS, REGISTRY};
use std::borrow::Cow;
use std::net::IpAddr;

/// The type of a field's value, which decides which operators apply and how
/// literals in conditions are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text (`charbuf` / `fspath` / `fsrelpath` in Falco).
    Str,
    /// Signed integer (`int64`, `errno`, `fd`, `pid`).
    Int,
    /// Unsigned integer (`uint64`, `uint32`, `port`, `mode`, `flags` as numbers).
    UInt,
    /// Boolean (rendered `true`/`false`).
    Bool,
    /// IP address; literals may be networks in CIDR form for `in`/`=`.
    Ip,
    /// Network (CIDR), e.g. `fd.net`.
    IpNet,
    /// Duration / relative time in ns (`reltime`).
    RelTime,
    /// Absolute time in ns (`abstime`).
    AbsTime,
    /// Raw bytes (`bytebuf`, e.g. `evt.buffer`).
    Bytes,
    /// A list of strings (`proc.aname` without index is special-cased by
    /// the compiler; `fd.types`, `k8s.pod.labels`, `container.mounts`).
    StrList,
}

/// Whether and how a field takes an argument in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// No argument: `proc.name`.
    None,
    /// Optional numeric index: `proc.aname` or `proc.aname[2]`.
    OptionalIndex,
    /// Required numeric index: `evt.arg[0]`.
    RequiredIndex,
    /// Required key: `evt.arg.flags` (written with a dot) or `evt.arg[flags]`,
    /// `container.mount.dest[/etc]`, `k8s.pod.label[app]`.
    RequiredKey,
    /// Optional key.
    OptionalKey,
}

/// Static description of one supported field.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    /// Full name, e.g. `proc.aname`. For `evt.arg.<name>` style fields the
    /// registry holds `evt.arg` with [`ArgKind::RequiredKey`].
    pub name: &'static str,
    pub ftype: FieldType,
    pub arg: ArgKind,
    /// One-line description for `falco-sensor list-fields`.
    pub desc: &'static str,
}

/// Index into [`registry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldId(pub u16);

/// The argument of a resolved field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldArg {
    Index(usize),
    Key(String),
}

/// A field reference resolved at compile time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    pub id: FieldId,
    pub arg: Option<FieldArg>,
}

impl FieldSpec {
    /// The static description of the field.
    pub fn info(&self) -> &'static FieldInfo {
        &registry()[usize::from(self.id.0)]
    }
}

/// A field value extracted from one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Ip(IpAddr),
    Bytes(Cow<'a, [u8]>),
    List(Vec<Value<'a>>),
}

/// Why a field reference could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("unknown field {0:?}")]
    Unknown(String),
    #[error("field {field:?} does not take an argument")]
    UnexpectedArg { field: String },
    #[error("field {field:?} requires an argument")]
    MissingArg { field: String },
    #[error("field {field:?}: bad argument {arg:?}: {why}")]
    BadArg {
        field: String,
        arg: String,
        why: String,
    },
}

/// Every supported field, in the order `list-fields` prints them.
pub fn registry() -> &'static [FieldInfo] {
    REGISTRY
}

/// Resolves `name` (as written in a rule, e.g. `proc.aname`, `evt.arg.flags`,
/// `fd.types`) and its bracket argument (e.g. `Some("2")` for `proc.aname[2]`).
///
/// Keyed fields also accept the dotted form: `evt.arg.flags` is `evt.arg`
/// with key `flags`, `k8s.pod.label.app` is `k8s.pod.label[app]`. For keyed
/// fields a purely numeric argument is a position (`evt.arg[0]`,
/// `container.mount.dest[1]`).
pub fn resolve(name: &str, arg: Option<&str>) -> Result<FieldSpec, FieldError> {
    let (idx, arg) = match REGISTRY.iter().position(|f| f.name == name) {
        Some(idx) => (idx, arg),
        None => dotted_key(name, arg)?,
    };
    let info = &REGISTRY[idx];
    let id = u16::try_from(idx).map_err(|_| FieldError::Unknown(name.to_string()))?;
    let arg = match (info.arg, arg) {
        (ArgKind::None, None) => None,
        (ArgKind::None, Some(_)) => {
            return Err(FieldError::UnexpectedArg {
                field: name.to_string(),
            });
        }
        (ArgKind::RequiredIndex | ArgKind::RequiredKey, None) => {
            return Err(FieldError::MissingArg {
                field: name.to_string(),
            });
        }
        (ArgKind::OptionalIndex | ArgKind::OptionalKey, None) => None,
        (ArgKind::OptionalIndex | ArgKind::RequiredIndex, Some(a)) => {
            let n = a.trim().parse::<usize>().map_err(|_| FieldError::BadArg {
                field: info.name.to_string(),
                arg: a.to_string(),
                why: "expected a non-negative number".to_string(),
            })?;
            Some(FieldArg::Index(n))
        }
        (ArgKind::OptionalKey | ArgKind::RequiredKey, Some(a)) => {
            let a = a.trim();
            if a.is_empty() {
                return Err(FieldError::BadArg {
                    field: info.name.to_string(),
                    arg: a.to_string(),
                    why: "empty argument".to_string(),
                });
            }
            match a.parse::<usize>() {
                Ok(n) => Some(FieldArg::Index(n)),
                Err(_) => Some(FieldArg::Key(a.to_string())),
            }
        }
    };
    Ok(FieldSpec {
        id: FieldId(id),
        arg,
    })
}

/// Fields that Falco also accepts with the key after a dot.
const DOTTED_KEY_FIELDS: &[&str] = &["evt.arg", "evt.rawarg", "k8s.pod.label"];

/// `evt.arg.flags` style names: the keyed field that is a dotted prefix of
/// `name` takes the rest as its key.
fn dotted_key<'n>(
    name: &'n str,
    arg: Option<&'n str>,
) -> Result<(usize, Option<&'n str>), FieldError> {
    let unknown = || FieldError::Unknown(name.to_string());
    let (idx, key) = REGISTRY
        .iter()
        .enumerate()
        .filter(|(_, f)| DOTTED_KEY_FIELDS.contains(&f.name))
        .filter_map(|(i, f)| {
            let rest = name.strip_prefix(f.name)?.strip_prefix('.')?;
            Some((i, rest))
        })
        .max_by_key(|(i, _)| REGISTRY[*i].name.len())
        .ok_or_else(unknown)?;
    if arg.is_some() || key.is_empty() {
        return Err(unknown());
    }
    Ok((idx, Some(key)))
}

/// Extracts a field's value; `None` is Falco's `<NA>`.
///
/// Value variants per [`FieldType`]: `Str` → [`Value::Str`], `Int` →
/// [`Value::Int`], `UInt`/`RelTime`/`AbsTime` → [`Value::UInt`] (ns for
/// times), `Bool` → [`Value::Bool`], `Ip`/`IpNet` → [`Value::Ip`] (the
/// compiler tests `IpNet` fields for membership in the literal network),
/// `Bytes` → [`Value::Bytes`], `StrList` → [`Value::List`] of strings.
///
/// Fields that stand for several values at once give a [`Value::List`]; a
/// comparison holds when it holds for any element (Falco's semantics):
/// `proc.aname` and the other ancestor fields without an index (every
/// ancestor above the process), `fd.ip`/`fd.net`/`fd.port` (both ends of
/// the connection), `fd.types`, `k8s.pod.labels`. `evt.rawarg` gives
/// [`Value::Str`] for text arguments.
pub fn extract<'a>(spec: &FieldSpec, ev: &'a Event, state: &'a dyn StateView) -> Option<Value<'a>> {
    let idx = usize::from(spec.id.0);
    let key = *KEYS.get(idx)?;
    let cx = Cx::new(ev, state);
    let arg = spec.arg.as_ref();
    match REGISTRY[idx].name.as_bytes().first()? {
        b'e' | b's' => evt::extract(key, arg, &cx),
        b'p' | b't' | b'u' | b'g' => process::extract(key, arg, &cx),
        b'f' => fd::extract(key, arg, &cx),
        b'c' | b'k' => container::extract(key, arg, &cx),
        _ => None,
    }
}

/// What extraction reads: the event, the state, and the event's thread.
pub(crate) struct Cx<'a> {
    pub ev: &'a Event,
    pub st: &'a dyn StateView,
    /// The calling thread as the state knows it (its process's main thread
    /// when the thread itself is unknown).
    pub th: Option<&'a ThreadInfo>,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(ev: &'a Event, st: &'a dyn StateView) -> Self {
        let th = st.thread(ev.task.tid).or_else(|| st.process(ev.task.pid));
        Cx { ev, st, th }
    }
}

/// A borrowed string value.
pub(crate) fn str_value(s: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(s))
}

/// Renders a value as Falco prints it in outputs (`<NA>` is the caller's
/// job): numbers in decimal, booleans as `true`/`false`, IPs in their usual
/// text form, lists as `(a,b)`, byte buffers with non-printable bytes as `.`.
pub fn render(value: &Value<'_>, out: &mut String) {
    use std::fmt::Write;
    match value {
        Value::Str(s) => out.push_str(s),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::UInt(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Ip(ip) => {
            let _ = write!(out, "{ip}");
        }
        Value::Bytes(b) => {
            for &c in b.iter() {
                out.push(if c.is_ascii_graphic() || c == b' ' {
                    char::from(c)
                } else {
                    '.'
                });
            }
        }
        Value::List(items) => {
            out.push('(');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(v, out);
            }
            out.push(')');
        }
    }
}

/// Renders the value of a specific field: like [`render`], except that
/// ancestor fields used without an index (`%proc.aname`, `%proc.apid`...)
/// print every ancestor separated by spaces, as Falco does.
pub fn render_field(spec: &FieldSpec, value: &Value<'_>, out: &mut String) {
    let info = spec.info();
    match value {
        Value::List(items)
            if info.arg == ArgKind::OptionalIndex && info.ftype != FieldType::StrList =>
        {
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                render(v, out);
            }
        }
        _ => render(value, out),
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod upstream_tests;

#[cfg(test)]
mod upstream_missing_tests;
