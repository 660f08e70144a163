//! Syntax tree of a Falco condition, as written (macros and list names not
//! yet expanded). Spans are byte offsets into the condition text.

/// Byte range in the condition text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A bare identifier that is not followed by an operator: a macro.
    Macro {
        name: String,
        span: Span,
    },
    Check(Check),
}

/// `<lhs> <op> <rhs>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub lhs: FieldExpr,
    pub op: Op,
    pub rhs: Rhs,
    pub span: Span,
}

/// A field reference, possibly wrapped in transformers.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    Field(FieldRef),
    Transform(Transformer, Box<FieldExpr>),
}

impl FieldExpr {
    /// The field under any transformers.
    pub fn field(&self) -> &FieldRef {
        match self {
            FieldExpr::Field(f) => f,
            FieldExpr::Transform(_, inner) => inner.field(),
        }
    }
}

/// `proc.aname[2]`: name `proc.aname`, arg `2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub name: String,
    pub arg: Option<String>,
    pub span: Span,
}

impl std::fmt::Display for FieldRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.arg {
            Some(a) => write!(f, "{}[{}]", self.name, a),
            None => f.write_str(&self.name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transformer {
    ToLower,
    ToUpper,
    B64,
    Basename,
    Len,
}

impl Transformer {
    pub fn from_name(name: &str) -> Option<Transformer> {
        Some(match name {
            "tolower" => Transformer::ToLower,
            "toupper" => Transformer::ToUpper,
            "b64" => Transformer::B64,
            "basename" => Transformer::Basename,
            "len" => Transformer::Len,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    PMatch,
    In,
    Intersects,
    Exists,
    Regex,
}

impl Op {
    /// Word operators by name (symbol operators are scanned separately).
    pub fn from_word(w: &str) -> Option<Op> {
        Some(match w {
            "contains" => Op::Contains,
            "icontains" => Op::IContains,
            "bcontains" => Op::BContains,
            "startswith" => Op::StartsWith,
            "bstartswith" => Op::BStartsWith,
            "endswith" => Op::EndsWith,
            "glob" => Op::Glob,
            "iglob" => Op::IGlob,
            "pmatch" => Op::PMatch,
            "in" => Op::In,
            "intersects" => Op::Intersects,
            "exists" => Op::Exists,
            "regex" => Op::Regex,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::BContains => "bcontains",
            Op::StartsWith => "startswith",
            Op::BStartsWith => "bstartswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::PMatch => "pmatch",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::Exists => "exists",
            Op::Regex => "regex",
        }
    }

    /// Operators whose right-hand side is a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }
}

/// A literal as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    pub text: String,
    /// Quoted literals are never taken as list names.
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// `exists` has no right-hand side.
    None,
    Value(Literal),
    /// `(a, b, c)`: bare items may name lists, expanded at compile time.
    List(Vec<Literal>),
    /// `in some_list` without parentheses.
    ListRef(Literal),
    /// `val(other.field)`: compare with another field of the same event.
    Field(FieldExpr),
}
