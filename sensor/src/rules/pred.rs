//! The compiled form of a condition: a tree of typed predicates whose
//! literals were parsed, lists hashed, globs and regexes compiled at load
//! time. Evaluation extracts field values through `fields::extract` and
//! never allocates unless a transformer or `val()` needs a computed value.
//!
//! Missing values (docs/rule-language.md, "Missing values"): a field with
//! no value (Falco prints `<NA>`) makes every comparison false, `!=`
//! included, and `exists` false; an empty list and a `val()` operand with
//! no value count as missing too. The one way to name a missing value is
//! the literal `<NA>` after `=`, `in` or `intersects` (the compiler drops
//! it from the literals and sets [`CheckPred::on_missing`]), so
//! `not proc.name in ("<NA>","N/A")` means "the name is known". A present
//! value whose text is `<NA>` is an ordinary string and never equals it.
//!
//! A list value (`proc.aname` without an index) matches when any element
//! matches, except `in` on list-typed fields which requires every element
//! to be in the set.

use super::ast::{Op, Transformer};
use super::glob::Glob;
use super::typeset::TypeSet;
use crate::event::Event;
use crate::rules::fields::{self, FieldSpec, FieldType, Value};
use crate::state::StateView;
use std::borrow::Cow;
use std::collections::HashSet;
use std::mem::MaybeUninit;
use std::net::IpAddr;

/// List and path-prefix lookups hash the same short strings for many
/// rules on every event: FxHash takes 8 bytes per step where FNV-1a took
/// one, and DoS resistance buys nothing for sets fixed at load time.
pub type FastSet<T> = HashSet<T, rustc_hash::FxBuildHasher>;

#[derive(Debug, Clone)]
pub enum Pred {
    True,
    False,
    And(Box<[Pred]>),
    Or(Box<[Pred]>),
    Not(Box<Pred>),
    /// `evt.type = x`, `evt.type in (...)`, `evt.type != x` as a bit set.
    EvtType(TypeSet),
    Check(Box<CheckPred>),
    /// A macro's body: its result is computed once per event and reused by
    /// every rule that uses the macro (slot numbers are per macro name).
    Memo(u32, Box<Pred>),
}

/// Per-event scratch space, on the stack so evaluation does not allocate:
/// macro results (two bits per slot: known, value) and the values of
/// fields already extracted for this event, so a field many rules test
/// (`fd.name`, `proc.name`) is extracted once. Slots past the capacities
/// are simply not cached.
pub struct Memo<'a> {
    known: [u64; MEMO_WORDS],
    value: [u64; MEMO_WORDS],
    /// Field slot -> 1 + index into `values` (0: not extracted yet).
    field_pos: [u8; FIELD_SLOTS],
    /// Only the first `nvalues` entries are initialised: an event reads a
    /// handful of fields, and initialising and dropping every entry per
    /// event cost more than the extractions it saved.
    values: [MaybeUninit<Option<Value<'a>>>; FIELD_CACHE],
    nvalues: usize,
}

const MEMO_WORDS: usize = 32;
/// Field slots with a direct-mapped cache entry; fields past it are
/// extracted every time.
const FIELD_SLOTS: usize = 256;
/// Distinct fields cached per event.
const FIELD_CACHE: usize = 32;

/// Operand slot meaning "do not cache" (transformed operands).
pub const NO_SLOT: u16 = u16::MAX;

impl<'a> Memo<'a> {
    pub fn new() -> Memo<'a> {
        Memo {
            known: [0; MEMO_WORDS],
            value: [0; MEMO_WORDS],
            field_pos: [0; FIELD_SLOTS],
            values: [const { MaybeUninit::uninit() }; FIELD_CACHE],
            nvalues: 0,
        }
    }

    /// The operand's value for this event, extracted at most once;
    /// `Err(())` when the operand cannot be cached (caller extracts).
    fn field(
        &mut self,
        op: &Operand,
        ev: &'a Event,
        st: &'a dyn StateView,
    ) -> Result<Option<&Value<'a>>, ()> {
        let slot = usize::from(op.slot);
        let Some(pos) = self.field_pos.get(slot).copied() else {
            return Err(());
        };
        let idx = if pos != 0 {
            usize::from(pos) - 1
        } else if self.nvalues < FIELD_CACHE {
            let i = self.nvalues;
            self.values[i].write(fields::extract(&op.spec, ev, st));
            self.nvalues += 1;
            // i < FIELD_CACHE (32) always fits a u8.
            self.field_pos[slot] = (i + 1) as u8;
            i
        } else {
            return Err(());
        };
        debug_assert!(idx < self.nvalues);
        // SAFETY: `field_pos` only holds indices of entries written above,
        // all below `nvalues`, and entries are never moved out or dropped
        // before `Memo` itself.
        Ok(unsafe { self.values[idx].assume_init_ref() }.as_ref())
    }

    /// Whether macro `slot` was computed for this event and is false.
    pub fn known_false(&self, slot: u32) -> bool {
        self.get(slot) == Some(false)
    }

    fn get(&self, slot: u32) -> Option<bool> {
        let (w, b) = ((slot / 64) as usize, slot % 64);
        let known = self.known.get(w)?;
        if known & (1 << b) == 0 {
            return None;
        }
        Some(self.value[w] & (1 << b) != 0)
    }

    fn set(&mut self, slot: u32, v: bool) {
        let (w, b) = ((slot / 64) as usize, slot % 64);
        if w < MEMO_WORDS {
            self.known[w] |= 1 << b;
            if v {
                self.value[w] |= 1 << b;
            }
        }
    }
}

impl Drop for Memo<'_> {
    fn drop(&mut self) {
        for v in &mut self.values[..self.nvalues] {
            // SAFETY: the first `nvalues` entries were initialised by
            // `field` and are dropped exactly once, here.
            unsafe { v.assume_init_drop() };
        }
    }
}

impl Default for Memo<'_> {
    fn default() -> Self {
        Memo::new()
    }
}

/// A field, as transformers see it.
#[derive(Debug, Clone)]
pub struct Operand {
    pub spec: FieldSpec,
    /// Applied innermost first.
    pub transforms: Vec<Transformer>,
    /// The field's type after the transformers.
    pub ftype: FieldType,
    /// Per-event value cache slot ([`NO_SLOT`] when transformed).
    pub slot: u16,
}

#[derive(Debug, Clone)]
pub struct CheckPred {
    pub lhs: Operand,
    pub test: Test,
    /// `!=`: the test is `=`, inverted when a value is present.
    pub negate: bool,
    /// `in` on a list-typed field: every element must be in the set.
    pub all_elements: bool,
    /// The result when the value is missing: true only for `= <NA>` and
    /// `in`/`intersects` lists holding `<NA>`.
    pub on_missing: bool,
}

/// An IPv4/IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                (u32::from(n) & mask) == (u32::from(a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                (u128::from(n) & mask) == (u128::from(a) & mask)
            }
            (IpAddr::V4(n), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a4| {
                IpNet {
                    addr: IpAddr::V4(n),
                    prefix: self.prefix,
                }
                .contains(IpAddr::V4(a4))
            }),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }

    /// `10.0.0.0/8`, `::1`, `192.168.1.1` (a host is a /32 or /128).
    pub fn parse(s: &str) -> Option<IpNet> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => {
                let p: u8 = p.trim().parse().ok()?;
                if p > max {
                    return None;
                }
                p
            }
            None => max,
        };
        Some(IpNet { addr, prefix })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    Eq,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn from_op(op: Op) -> Option<Cmp> {
        Some(match op {
            Op::Eq | Op::Ne => Cmp::Eq,
            Op::Lt => Cmp::Lt,
            Op::Le => Cmp::Le,
            Op::Gt => Cmp::Gt,
            Op::Ge => Cmp::Ge,
            _ => return None,
        })
    }

    fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Test {
    Exists,
    /// `= <NA>` / `!= <NA>`: no present value matches (whether the value
    /// is missing is [`CheckPred::on_missing`]'s business).
    Never,
    Str {
        op: StrOp,
        lit: Box<str>,
    },
    /// `in` with string literals; also `intersects`.
    StrIn(FastSet<Box<str>>),
    /// Path-prefix match: the value is one of the paths or below one.
    PMatch(FastSet<Box<str>>),
    Glob(Glob),
    Regex(regex::Regex),
    Num {
        cmp: Cmp,
        lit: i128,
    },
    NumIn(Vec<i128>),
    Bool(bool),
    Ip(Vec<IpNet>),
    BContains(Vec<u8>),
    BStartsWith(Vec<u8>),
    /// `val(other)`: compared with another field of the same event.
    Field {
        cmp: Cmp,
        op: StrOp,
        rhs: Operand,
    },
}

impl Pred {
    /// Evaluates the predicate for one event.
    pub fn eval<'a>(&self, ev: &'a Event, st: &'a dyn StateView, memo: &mut Memo<'a>) -> bool {
        match self {
            Pred::True => true,
            Pred::False => false,
            Pred::And(items) => items.iter().all(|p| p.eval_child(ev, st, memo)),
            Pred::Or(items) => items.iter().any(|p| p.eval_child(ev, st, memo)),
            Pred::Not(inner) => !inner.eval_child(ev, st, memo),
            Pred::EvtType(set) => set.contains(ev.etype),
            Pred::Check(c) => c.eval(ev, st, memo),
            Pred::Memo(slot, inner) => match memo.get(*slot) {
                Some(v) => v,
                None => {
                    let v = inner.eval(ev, st, memo);
                    memo.set(*slot, v);
                    v
                }
            },
        }
    }

    /// [`Self::eval`] for a child node, answering a macro already computed
    /// for this event without a call: most of an event's rules stop at a
    /// shared macro (`open_write`, `spawned_process`) another rule computed.
    #[inline(always)]
    fn eval_child<'a>(&self, ev: &'a Event, st: &'a dyn StateView, memo: &mut Memo<'a>) -> bool {
        if let Pred::Memo(slot, _) = self
            && let Some(v) = memo.get(*slot)
        {
            return v;
        }
        self.eval(ev, st, memo)
    }

    /// A macro slot whose value `false` makes this predicate false: the
    /// first conjunct's macro. The rule loop checks it before evaluating.
    pub fn guard(&self) -> Option<u32> {
        match self {
            Pred::Memo(slot, inner) => inner.guard().or(Some(*slot)),
            Pred::And(items) => items.first()?.guard(),
            _ => None,
        }
    }

    /// The predicate for events of type `t` only: `evt.type` checks become
    /// constants, which then fold away (most of a rule's macros test
    /// event types, so this prunes most of the tree).
    pub fn specialize(&self, t: crate::event::EventType) -> Pred {
        match self {
            Pred::EvtType(set) => {
                if set.contains(t) {
                    Pred::True
                } else {
                    Pred::False
                }
            }
            Pred::And(items) => Pred::And(items.iter().map(|p| p.specialize(t)).collect()),
            Pred::Or(items) => Pred::Or(items.iter().map(|p| p.specialize(t)).collect()),
            Pred::Not(inner) => Pred::Not(Box::new(inner.specialize(t))),
            Pred::Memo(slot, inner) => Pred::Memo(*slot, Box::new(inner.specialize(t))),
            Pred::True | Pred::False | Pred::Check(_) => self.clone(),
        }
    }

    /// Moves the checks that compute a value (rendered syscall arguments,
    /// command lines, transformers, regexes, field-to-field comparisons)
    /// behind their cheap siblings in every `and`/`or`, keeping the order
    /// otherwise. Conditions have no side effects, so the result is the
    /// same; an event rejected by a cheap check never pays for the costly
    /// one (e.g. `evt.arg.flags contains O_CREAT and fd.directory = /dev`
    /// renders the flags of every open otherwise).
    pub fn costly_last(self) -> Pred {
        let reorder = |items: Box<[Pred]>| -> Box<[Pred]> {
            let (cheap, costly): (Vec<Pred>, Vec<Pred>) = items
                .into_vec()
                .into_iter()
                .map(Pred::costly_last)
                .partition(|p| !p.is_costly());
            cheap.into_iter().chain(costly).collect()
        };
        match self {
            Pred::And(items) => Pred::And(reorder(items)),
            Pred::Or(items) => Pred::Or(reorder(items)),
            Pred::Not(inner) => Pred::Not(Box::new(inner.costly_last())),
            Pred::Memo(slot, inner) => Pred::Memo(slot, Box::new(inner.costly_last())),
            other => other,
        }
    }

    fn is_costly(&self) -> bool {
        match self {
            Pred::Check(c) => c.is_costly(),
            Pred::Not(inner) => inner.is_costly(),
            _ => false,
        }
    }

    /// Folds constants, flattens nested `and`/`or`, removes double
    /// negation and memo wrappers around constants.
    pub fn simplify(self) -> Pred {
        match self {
            Pred::Not(inner) => match inner.simplify() {
                Pred::True => Pred::False,
                Pred::False => Pred::True,
                Pred::Not(x) => *x,
                other => Pred::Not(Box::new(other)),
            },
            Pred::Memo(slot, inner) => match inner.simplify() {
                c @ (Pred::True | Pred::False | Pred::EvtType(_)) => c,
                other => Pred::Memo(slot, Box::new(other)),
            },
            Pred::And(items) => {
                let mut out = Vec::with_capacity(items.len());
                for p in items.into_vec() {
                    match p.simplify() {
                        Pred::True => {}
                        Pred::False => return Pred::False,
                        Pred::And(inner) => out.extend(inner.into_vec()),
                        other => out.push(other),
                    }
                }
                match out.len() {
                    0 => Pred::True,
                    1 => out.pop().unwrap_or(Pred::True),
                    _ => Pred::And(out.into_boxed_slice()),
                }
            }
            Pred::Or(items) => {
                let mut out = Vec::with_capacity(items.len());
                for p in items.into_vec() {
                    match p.simplify() {
                        Pred::False => {}
                        Pred::True => return Pred::True,
                        Pred::Or(inner) => out.extend(inner.into_vec()),
                        other => out.push(other),
                    }
                }
                match out.len() {
                    0 => Pred::False,
                    1 => out.pop().unwrap_or(Pred::False),
                    _ => Pred::Or(out.into_boxed_slice()),
                }
            }
            other => other,
        }
    }
}

impl Operand {
    /// The operand's value, transformers applied.
    pub fn value<'a>(&self, ev: &'a Event, st: &'a dyn StateView) -> Option<Value<'a>> {
        let mut v = fields::extract(&self.spec, ev, st)?;
        for t in &self.transforms {
            v = transform(*t, v)?;
        }
        Some(v)
    }
}

fn transform(t: Transformer, v: Value<'_>) -> Option<Value<'_>> {
    use base64::Engine as _;
    if let Value::List(items) = v {
        if t == Transformer::Len {
            return Some(Value::UInt(items.len() as u64));
        }
        return Some(Value::List(
            items.into_iter().filter_map(|i| transform(t, i)).collect(),
        ));
    }
    Some(match t {
        Transformer::Len => match &v {
            Value::Str(s) => Value::UInt(s.len() as u64),
            Value::Bytes(b) => Value::UInt(b.len() as u64),
            _ => return None,
        },
        Transformer::ToLower => match v {
            Value::Str(s) if s.bytes().any(|b| b.is_ascii_uppercase()) => {
                Value::Str(Cow::Owned(s.to_ascii_lowercase()))
            }
            other @ Value::Str(_) => other,
            _ => return None,
        },
        Transformer::ToUpper => match v {
            Value::Str(s) if s.bytes().any(|b| b.is_ascii_lowercase()) => {
                Value::Str(Cow::Owned(s.to_ascii_uppercase()))
            }
            other @ Value::Str(_) => other,
            _ => return None,
        },
        Transformer::Basename => match v {
            Value::Str(Cow::Borrowed(s)) => {
                Value::Str(Cow::Borrowed(s.rsplit('/').next().unwrap_or(s)))
            }
            Value::Str(Cow::Owned(s)) => {
                Value::Str(Cow::Owned(s.rsplit('/').next().unwrap_or(&s).to_string()))
            }
            _ => return None,
        },
        Transformer::B64 => {
            let raw: &[u8] = match &v {
                Value::Str(s) => s.as_bytes(),
                Value::Bytes(b) => b,
                _ => return None,
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(raw.trim_ascii())
                .ok()?;
            match String::from_utf8(decoded) {
                Ok(s) => Value::Str(Cow::Owned(s)),
                Err(e) => Value::Bytes(Cow::Owned(e.into_bytes())),
            }
        }
    })
}

/// Fields whose value is computed per event (and may allocate) rather
/// than read from the event or the state.
const COMPUTED_FIELDS: &[&str] = &[
    "evt.arg",
    "evt.args",
    "evt.rawarg",
    "evt.info",
    "proc.cmdline",
    "proc.pcmdline",
    "proc.acmdline",
];

impl CheckPred {
    fn is_costly(&self) -> bool {
        !self.lhs.transforms.is_empty()
            || matches!(self.test, Test::Regex(_) | Test::Field { .. })
            || COMPUTED_FIELDS.contains(&self.lhs.spec.info().name)
    }

    fn eval<'a>(&self, ev: &'a Event, st: &'a dyn StateView, memo: &mut Memo<'a>) -> bool {
        if let Ok(cached) = memo.field(&self.lhs, ev, st) {
            return match cached {
                Some(v) => self.test_value(v, ev, st),
                None => self.on_missing,
            };
        }
        match self.lhs.value(ev, st) {
            Some(v) => self.test_value(&v, ev, st),
            None => self.on_missing,
        }
    }

    fn test_value(&self, v: &Value<'_>, ev: &Event, st: &dyn StateView) -> bool {
        if is_empty_list(v) {
            // Nothing to compare: as missing as no value at all.
            return self.on_missing;
        }
        if let Test::Exists = self.test {
            return true;
        }
        // `val(other)` is read once, not per element; when it has no value
        // the check is false whatever the operator, `!=` included.
        let rhs = match &self.test {
            Test::Field { rhs, .. } => match rhs.value(ev, st) {
                Some(r) if !is_empty_list(&r) => Some(r),
                _ => return false,
            },
            _ => None,
        };
        let one = |i: &Value<'_>| match (&self.test, &rhs) {
            (Test::Field { cmp, op, .. }, Some(r)) => compare_values(i, r, *cmp, *op),
            (test, _) => test.matches(i),
        };
        let hit = match v {
            Value::List(items) => {
                if self.all_elements {
                    items.iter().all(one)
                } else {
                    items.iter().any(one)
                }
            }
            single => one(single),
        };
        hit != self.negate
    }
}

fn is_empty_list(v: &Value<'_>) -> bool {
    matches!(v, Value::List(items) if items.is_empty())
}

fn as_text<'v>(v: &'v Value<'_>) -> Option<&'v str> {
    match v {
        Value::Str(s) => Some(s),
        Value::Bytes(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

fn as_num(v: &Value<'_>) -> Option<i128> {
    match v {
        Value::Int(n) => Some(i128::from(*n)),
        Value::UInt(n) => Some(i128::from(*n)),
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Str(s) => parse_int(s),
        _ => None,
    }
}

/// Decimal or `0x` hexadecimal, optionally negative.
pub fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let n = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i128::from_str_radix(hex, 16).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<i128>().ok()?
    };
    Some(if neg { -n } else { n })
}

/// ASCII case-insensitive substring search.
pub fn icontains(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    if n.len() > h.len() {
        return false;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

pub fn str_op(op: StrOp, s: &str, lit: &str) -> bool {
    match op {
        StrOp::Eq => s == lit,
        StrOp::Contains => s.contains(lit),
        StrOp::IContains => icontains(s, lit),
        StrOp::StartsWith => s.starts_with(lit),
        StrOp::EndsWith => s.ends_with(lit),
    }
}

/// Whether `path` equals one of `prefixes` or lies below one of them.
pub fn pmatch(prefixes: &FastSet<Box<str>>, path: &str) -> bool {
    if prefixes.contains(path) {
        return true;
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed != path && prefixes.contains(trimmed) {
        return true;
    }
    if prefixes.contains("/") && path.starts_with('/') {
        return true;
    }
    trimmed
        .match_indices('/')
        .filter(|(i, _)| *i > 0)
        .any(|(i, _)| prefixes.contains(&trimmed[..i]))
}

impl Test {
    /// Applies the test to one present value. `val()` comparisons are
    /// [`CheckPred`]'s (they need the event), so [`Test::Field`] is false here.
    pub fn matches(&self, v: &Value<'_>) -> bool {
        match self {
            Test::Exists => true,
            Test::Never => false,
            Test::Str { op, lit } => as_text(v).is_some_and(|s| str_op(*op, s, lit)),
            Test::StrIn(set) => match v {
                Value::Str(s) => set.contains(s.as_ref()),
                other => {
                    let mut buf = String::new();
                    fields::render(other, &mut buf);
                    set.contains(buf.as_str())
                }
            },
            Test::PMatch(set) => as_text(v).is_some_and(|s| pmatch(set, s)),
            Test::Glob(g) => as_text(v).is_some_and(|s| g.matches(s)),
            Test::Regex(r) => as_text(v).is_some_and(|s| r.is_match(s)),
            Test::Num { cmp, lit } => as_num(v).is_some_and(|n| cmp.apply(n, *lit)),
            Test::NumIn(lits) => as_num(v).is_some_and(|n| lits.contains(&n)),
            Test::Bool(b) => match v {
                Value::Bool(x) => x == b,
                other => as_num(other).is_some_and(|n| (n != 0) == *b),
            },
            Test::Ip(nets) => match v {
                Value::Ip(ip) => nets.iter().any(|n| n.contains(*ip)),
                Value::Str(s) => s
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| nets.iter().any(|n| n.contains(ip))),
                _ => false,
            },
            Test::BContains(needle) => bytes_of(v).is_some_and(|b| {
                needle.is_empty() || b.windows(needle.len()).any(|w| w == needle.as_slice())
            }),
            Test::BStartsWith(prefix) => bytes_of(v).is_some_and(|b| b.starts_with(prefix)),
            Test::Field { .. } => false,
        }
    }
}

fn bytes_of<'v>(v: &'v Value<'_>) -> Option<&'v [u8]> {
    match v {
        Value::Bytes(b) => Some(b),
        Value::Str(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// Field-to-field comparison: numerically when both sides are numbers,
/// otherwise on their rendered text.
fn compare_values(a: &Value<'_>, b: &Value<'_>, cmp: Cmp, op: StrOp) -> bool {
    if let Value::List(items) = b {
        return items.iter().any(|i| compare_values(a, i, cmp, op));
    }
    let numeric = |v: &Value<'_>| matches!(v, Value::Int(_) | Value::UInt(_));
    if numeric(a) && numeric(b) {
        return match (as_num(a), as_num(b)) {
            (Some(x), Some(y)) => cmp.apply(x, y),
            _ => false,
        };
    }
    let text = |v: &Value<'_>| -> Cow<'static, str> {
        let mut s = String::new();
        fields::render(v, &mut s);
        Cow::Owned(s)
    };
    let (sa, sb) = (text(a), text(b));
    if cmp == Cmp::Eq {
        str_op(op, &sa, &sb)
    } else {
        cmp.apply(sa.as_ref(), sb.as_ref())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pmatch_is_path_prefix_not_string_prefix() {
        let set: FastSet<Box<str>> = ["/etc", "/usr/bin/"]
            .iter()
            .map(|s| Box::from(s.trim_end_matches('/')))
            .collect();
        assert!(pmatch(&set, "/etc"));
        assert!(pmatch(&set, "/etc/"));
        assert!(pmatch(&set, "/etc/passwd"));
        assert!(pmatch(&set, "/usr/bin/ls"));
        assert!(!pmatch(&set, "/etcfoo"));
        assert!(!pmatch(&set, "/usr"));
        assert!(!pmatch(&set, ""));
    }

    #[test]
    fn ip_networks() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.1.2.3".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.2.3".parse().unwrap()));
        let h = IpNet::parse("192.168.1.1").unwrap();
        assert!(h.contains("192.168.1.1".parse().unwrap()));
        assert!(!h.contains("192.168.1.2".parse().unwrap()));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("nope").is_none());
    }

    #[test]
    fn numbers_parse_decimal_hex_negative() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("1e3"), None);
        assert_eq!(parse_int("abc"), None);
    }

    #[test]
    fn icontains_folds_ascii_case() {
        assert!(icontains("Hello World", "WORLD"));
        assert!(icontains("abc", ""));
        assert!(!icontains("ab", "abc"));
    }
}
