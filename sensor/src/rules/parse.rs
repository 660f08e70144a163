//! Parser for Falco conditions: `or` binds loosest, then `and`, then `not`;
//! a check is a field (optionally transformed) followed by an operator and
//! a value, a list or `val(field)`; a bare identifier alone is a macro.

use super::ast::{Check, Expr, FieldExpr, FieldRef, Literal, Op, Rhs, Span, Transformer};

/// A syntax error at a byte offset of the condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at offset {offset}")]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

/// Nesting bound (parentheses, `not`, transformers) so that hostile input
/// cannot exhaust the stack.
const MAX_DEPTH: usize = 200;

/// Parses a whole condition.
pub fn parse_condition(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.pos >= p.b.len() {
        return Err(p.err("empty condition"));
    }
    let e = p.or_expr()?;
    p.skip_ws();
    if p.pos < p.b.len() {
        return Err(p.err(&format!("unexpected {:?}", p.snippet())));
    }
    Ok(e)
}

/// A list item as written in YAML may itself be quoted for the condition
/// language (`'"sh -c"'`): strip those quotes and unescape like a quoted
/// literal; anything else is taken as written.
pub fn unquote_item(text: &str) -> (String, bool) {
    let t = text.trim();
    let quoted = t.len() >= 2
        && ((t.starts_with('"') && t.ends_with('"')) || (t.starts_with('\'') && t.ends_with('\'')));
    if quoted {
        let mut p = Parser {
            src: t,
            b: t.as_bytes(),
            pos: 0,
            depth: 0,
        };
        if let Ok(lit) = p.literal()
            && p.pos == t.len()
        {
            return (lit.text, true);
        }
    }
    (t.to_string(), false)
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-'
}

fn is_bare_value_char(c: u8) -> bool {
    !(c.is_ascii_whitespace() || matches!(c, b'(' | b')' | b',' | b'"' | b'\''))
}

impl<'a> Parser<'a> {
    fn err(&self, message: &str) -> ParseError {
        ParseError {
            offset: self.pos,
            message: message.to_string(),
        }
    }

    fn snippet(&self) -> String {
        self.src
            .get(self.pos..)
            .unwrap_or("")
            .chars()
            .take(24)
            .collect()
    }

    fn skip_ws(&mut self) {
        while self.pos < self.b.len() && self.b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// The identifier-like word at the cursor, without consuming it.
    fn peek_word(&self) -> &'a str {
        let start = self.pos;
        let mut end = start;
        if end < self.b.len() && is_ident_start(self.b[end]) {
            end += 1;
            while end < self.b.len() && is_ident_char(self.b[end]) {
                end += 1;
            }
        }
        &self.src[start..end]
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("expression nested too deeply"));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and_expr()?];
        loop {
            self.skip_ws();
            if self.peek_word() == "or" {
                self.pos += 2;
                items.push(self.and_expr()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.not_expr()?];
        loop {
            self.skip_ws();
            if self.peek_word() == "and" {
                self.pos += 3;
                items.push(self.not_expr()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        if self.peek_word() == "not" {
            self.pos += 3;
            self.enter()?;
            let inner = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.err("expected a check, a macro or '(' but the condition ended")),
            Some(b'(') => {
                self.pos += 1;
                self.enter()?;
                let e = self.or_expr()?;
                self.depth -= 1;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.err("expected ')'"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(c) if is_ident_start(c) => self.check_or_macro(),
            Some(_) => Err(self.err(&format!(
                "expected a field, a macro or '(' but found {:?}",
                self.snippet()
            ))),
        }
    }

    fn check_or_macro(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        let word = self.peek_word();
        if matches!(word, "and" | "or") {
            return Err(self.err(&format!("unexpected keyword {word:?}")));
        }
        // A transformer call or a field/macro name.
        let lhs = if Transformer::from_name(word).is_some()
            && self.b.get(self.pos + word.len()) == Some(&b'(')
        {
            self.field_expr()?
        } else {
            self.pos += word.len();
            let after_name = self.pos;
            if self.peek() == Some(b'[') {
                let arg = self.bracket_arg()?;
                FieldExpr::Field(FieldRef {
                    name: word.to_string(),
                    arg: Some(arg),
                    span: Span {
                        start,
                        end: self.pos,
                    },
                })
            } else {
                let save = self.pos;
                self.skip_ws();
                if self.at_operator().is_none() {
                    self.pos = save;
                    return Ok(Expr::Macro {
                        name: word.to_string(),
                        span: Span {
                            start,
                            end: after_name,
                        },
                    });
                }
                self.pos = save;
                FieldExpr::Field(FieldRef {
                    name: word.to_string(),
                    arg: None,
                    span: Span {
                        start,
                        end: after_name,
                    },
                })
            }
        };
        self.skip_ws();
        let op_pos = self.pos;
        let Some((op, len)) = self.at_operator() else {
            return Err(self.err(&format!(
                "expected an operator after {:?}",
                lhs.field().to_string()
            )));
        };
        self.pos += len;
        let rhs = if op == Op::Exists {
            Rhs::None
        } else if op.takes_list() {
            self.list_rhs()?
        } else {
            self.value_rhs()?
        };
        let _ = op_pos;
        Ok(Expr::Check(Check {
            lhs,
            op,
            rhs,
            span: Span {
                start,
                end: self.pos,
            },
        }))
    }

    /// `tolower(fd.name)`, `basename(tolower(x.y))` or a plain field.
    fn field_expr(&mut self) -> Result<FieldExpr, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let word = self.peek_word();
        if word.is_empty() {
            return Err(self.err("expected a field name"));
        }
        self.pos += word.len();
        if let Some(t) = Transformer::from_name(word)
            && self.peek() == Some(b'(')
        {
            self.pos += 1;
            self.enter()?;
            let inner = self.field_expr()?;
            self.depth -= 1;
            self.skip_ws();
            if self.peek() != Some(b')') {
                return Err(self.err(&format!("expected ')' to close {word}(")));
            }
            self.pos += 1;
            return Ok(FieldExpr::Transform(t, Box::new(inner)));
        }
        let arg = if self.peek() == Some(b'[') {
            Some(self.bracket_arg()?)
        } else {
            None
        };
        Ok(FieldExpr::Field(FieldRef {
            name: word.to_string(),
            arg,
            span: Span {
                start,
                end: self.pos,
            },
        }))
    }

    /// `[...]` after a field name; the argument is everything up to `]`.
    fn bracket_arg(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let rest = &self.src[self.pos..];
        match rest.find(']') {
            Some(i) => {
                let arg = rest[..i].to_string();
                self.pos += i + 1;
                Ok(arg)
            }
            None => {
                self.pos = open;
                Err(self.err("unclosed '[' in field argument"))
            }
        }
    }

    /// The operator at the cursor and its length.
    fn at_operator(&self) -> Option<(Op, usize)> {
        let rest = &self.b[self.pos.min(self.b.len())..];
        let sym = |s: &[u8]| rest.starts_with(s);
        if sym(b"==") {
            return Some((Op::Eq, 2));
        }
        if sym(b"!=") {
            return Some((Op::Ne, 2));
        }
        if sym(b"<=") {
            return Some((Op::Le, 2));
        }
        if sym(b">=") {
            return Some((Op::Ge, 2));
        }
        if sym(b"=") {
            return Some((Op::Eq, 1));
        }
        if sym(b"<") {
            return Some((Op::Lt, 1));
        }
        if sym(b">") {
            return Some((Op::Gt, 1));
        }
        let word = self.peek_word();
        Op::from_word(word).map(|op| (op, word.len()))
    }

    fn value_rhs(&mut self) -> Result<Rhs, ParseError> {
        self.skip_ws();
        if self.peek_word() == "val" && self.b.get(self.pos + 3) == Some(&b'(') {
            self.pos += 4;
            let f = self.field_expr()?;
            self.skip_ws();
            if self.peek() != Some(b')') {
                return Err(self.err("expected ')' to close val("));
            }
            self.pos += 1;
            return Ok(Rhs::Field(f));
        }
        Ok(Rhs::Value(self.literal()?))
    }

    fn list_rhs(&mut self) -> Result<Rhs, ParseError> {
        self.skip_ws();
        if self.peek() != Some(b'(') {
            let word = self.peek_word();
            if !word.is_empty() {
                let start = self.pos;
                self.pos += word.len();
                return Ok(Rhs::ListRef(Literal {
                    text: word.to_string(),
                    quoted: false,
                    span: Span {
                        start,
                        end: self.pos,
                    },
                }));
            }
            return Err(self.err("expected '(' to start a list"));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(Rhs::List(items));
        }
        loop {
            items.push(self.literal()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Rhs::List(items));
                }
                _ => return Err(self.err("expected ',' or ')' in list")),
            }
        }
    }

    /// A quoted or bare value.
    fn literal(&mut self) -> Result<Literal, ParseError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                self.pos += 1;
                let mut text = String::new();
                loop {
                    let Some(c) = self.src[self.pos..].chars().next() else {
                        self.pos = start;
                        return Err(self.err("unterminated string"));
                    };
                    self.pos += c.len_utf8();
                    if c as u32 == u32::from(q) {
                        break;
                    }
                    if c == '\\' {
                        let Some(e) = self.src[self.pos..].chars().next() else {
                            self.pos = start;
                            return Err(self.err("unterminated string"));
                        };
                        self.pos += e.len_utf8();
                        match e {
                            'n' => text.push('\n'),
                            't' => text.push('\t'),
                            'r' => text.push('\r'),
                            '\\' => text.push('\\'),
                            '"' => text.push('"'),
                            '\'' => text.push('\''),
                            other => {
                                // Unknown escapes stay as written so regexes
                                // like "\." keep their meaning.
                                text.push('\\');
                                text.push(other);
                            }
                        }
                    } else {
                        text.push(c);
                    }
                }
                Ok(Literal {
                    text,
                    quoted: true,
                    span: Span {
                        start,
                        end: self.pos,
                    },
                })
            }
            Some(c) if is_bare_value_char(c) => {
                while self.pos < self.b.len() && is_bare_value_char(self.b[self.pos]) {
                    self.pos += 1;
                }
                Ok(Literal {
                    text: self.src[start..self.pos].to_string(),
                    quoted: false,
                    span: Span {
                        start,
                        end: self.pos,
                    },
                })
            }
            _ => Err(self.err("expected a value")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(e: &Expr) -> &Check {
        match e {
            Expr::Check(c) => c,
            other => panic!("not a check: {other:?}"),
        }
    }

    #[test]
    fn precedence_or_and_not() {
        let e = parse_condition("a or b and not c").unwrap();
        let Expr::Or(items) = &e else { panic!("{e:?}") };
        assert!(matches!(&items[0], Expr::Macro { name, .. } if name == "a"));
        let Expr::And(and) = &items[1] else { panic!() };
        assert!(matches!(&and[1], Expr::Not(inner) if matches!(**inner, Expr::Macro{..})));
    }

    #[test]
    fn operators_values_and_lists() {
        let e = parse_condition("proc.name=bash").unwrap();
        let c = check(&e);
        assert_eq!(c.lhs.field().name, "proc.name");
        assert_eq!(c.op, Op::Eq);
        assert!(matches!(&c.rhs, Rhs::Value(l) if l.text == "bash" && !l.quoted));

        let e = parse_condition("fd.name in (/etc/passwd, \"a b\", shell_binaries)").unwrap();
        let Rhs::List(items) = &check(&e).rhs else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].text, "a b");
        assert!(items[1].quoted);

        let e = parse_condition("fd.name in ()").unwrap();
        assert!(matches!(&check(&e).rhs, Rhs::List(v) if v.is_empty()));

        for (src, op) in [
            ("evt.rawres >= 0", Op::Ge),
            ("evt.rawres<=0", Op::Le),
            ("evt.rawres != 0", Op::Ne),
            ("evt.rawres == 0", Op::Eq),
            ("fd.name glob '/etc/*'", Op::Glob),
            ("fd.name pmatch (/etc)", Op::PMatch),
            ("k8s.ns.name exists", Op::Exists),
            ("fd.types intersects (ipv4)", Op::Intersects),
            ("proc.cmdline regex '^a.*$'", Op::Regex),
        ] {
            assert_eq!(check(&parse_condition(src).unwrap()).op, op, "{src}");
        }
    }

    #[test]
    fn field_arguments_transformers_and_val() {
        let e = parse_condition("container.mount.dest[/var/run/docker.sock] startswith /").unwrap();
        let f = check(&e).lhs.field();
        assert_eq!(f.name, "container.mount.dest");
        assert_eq!(f.arg.as_deref(), Some("/var/run/docker.sock"));

        let e = parse_condition("tolower(basename(proc.exe)) = val(proc.name)").unwrap();
        let c = check(&e);
        assert!(
            matches!(&c.lhs, FieldExpr::Transform(Transformer::ToLower, inner)
            if matches!(**inner, FieldExpr::Transform(Transformer::Basename, _)))
        );
        assert!(matches!(&c.rhs, Rhs::Field(FieldExpr::Field(f)) if f.name == "proc.name"));

        let e = parse_condition("proc.aname[2] in (sh, bash)").unwrap();
        assert_eq!(check(&e).lhs.field().arg.as_deref(), Some("2"));
    }

    #[test]
    fn quoted_escapes() {
        let e = parse_condition(r#"proc.cmdline contains "a\"b\\c\.d""#).unwrap();
        let Rhs::Value(l) = &check(&e).rhs else {
            panic!()
        };
        assert_eq!(l.text, "a\"b\\c\\.d");
    }

    #[test]
    fn errors_have_offsets() {
        let err = parse_condition("proc.name = bash and (").unwrap_err();
        assert_eq!(err.offset, 22);
        let err = parse_condition("proc.name in (a, b").unwrap_err();
        assert_eq!(err.offset, 18);
        let err = parse_condition("proc.name = 'abc").unwrap_err();
        assert_eq!(err.offset, 12);
        assert!(parse_condition("").is_err());
        assert!(parse_condition("a and").is_err());
        assert!(parse_condition("a b").is_err());
        assert!(parse_condition("proc.name[1").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = "(".repeat(10_000);
        assert!(parse_condition(&src).is_err());
        let src = "not ".repeat(10_000) + "a";
        assert!(parse_condition(&src).is_err());
    }
}
