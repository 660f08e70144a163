//! Rule output formats: `%field`, `%field[arg]` and `%(field)` tokens are
//! resolved once at load time and substituted per alert, `<NA>` standing
//! for missing values as in Falco. `%container.info` expands to the
//! container id and name.

use crate::event::Event;
use crate::rules::fields::{self, FieldError, FieldSpec};
use crate::state::StateView;

/// What `%container.info` stands for (Falco's default expansion).
const CONTAINER_INFO: &str = "container_id=%container.id container_name=%container.name";

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Field(usize),
}

/// A compiled output format.
#[derive(Debug, Clone, Default)]
pub struct OutputFormat {
    parts: Vec<Part>,
    /// Each distinct field as written (`proc.aname[2]`) and its resolved spec.
    fields: Vec<(String, FieldSpec)>,
}

/// A field in an output format that does not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError {
    /// Byte offset of the `%` in the format.
    pub offset: usize,
    pub error: FieldError,
}

fn is_field_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

impl OutputFormat {
    pub fn compile(format: &str) -> Result<OutputFormat, OutputError> {
        // YAML block scalars (`output: >`) end with a newline that Falco
        // does not print; surrounding whitespace is never part of an output.
        let format = format.trim();
        let expanded;
        let format = if format.contains("%container.info") {
            expanded = format.replace("%container.info", CONTAINER_INFO);
            expanded.as_str()
        } else {
            format
        };
        let b = format.as_bytes();
        let mut out = OutputFormat::default();
        let mut text = String::new();
        let mut i = 0;
        while i < b.len() {
            let Some(rel) = format[i..].find('%') else {
                text.push_str(&format[i..]);
                break;
            };
            text.push_str(&format[i..i + rel]);
            let pct = i + rel;
            let (token, next) = if b.get(pct + 1) == Some(&b'(') {
                match format[pct + 2..].find(')') {
                    Some(close) => (&format[pct + 2..pct + 2 + close], pct + 3 + close),
                    None => ("", pct + 1),
                }
            } else {
                let mut j = pct + 1;
                while j < b.len() && is_field_char(b[j]) {
                    j += 1;
                }
                if j < b.len() && b[j] == b'[' && j > pct + 1 {
                    match format[j..].find(']') {
                        Some(close) => j += close + 1,
                        None => j = b.len(),
                    }
                }
                (&format[pct + 1..j], j)
            };
            let token = token.trim();
            if token.is_empty() || !token.as_bytes()[0].is_ascii_alphabetic() {
                // A lone '%' (e.g. "100%") is text.
                text.push('%');
                i = pct + 1;
                continue;
            }
            if !text.is_empty() {
                out.parts.push(Part::Text(std::mem::take(&mut text)));
            }
            let (name, arg) = match token.split_once('[') {
                Some((n, rest)) => (n, Some(rest.trim_end_matches(']'))),
                None => (token, None),
            };
            let spec =
                fields::resolve(name, arg).map_err(|error| OutputError { offset: pct, error })?;
            let idx = match out.fields.iter().position(|(n, _)| n == token) {
                Some(idx) => idx,
                None => {
                    out.fields.push((token.to_string(), spec));
                    out.fields.len() - 1
                }
            };
            out.parts.push(Part::Field(idx));
            i = next;
        }
        if !text.is_empty() {
            out.parts.push(Part::Text(text));
        }
        Ok(out)
    }

    /// The distinct fields of the format, as written and resolved.
    pub fn fields(&self) -> &[(String, FieldSpec)] {
        &self.fields
    }

    /// Renders the output for one event.
    pub fn render(&self, ev: &Event, st: &dyn StateView, out: &mut String) {
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(idx) => render_field(&self.fields[*idx].1, ev, st, out),
            }
        }
    }
}

/// Renders one field's value, `<NA>` when missing.
pub fn render_field(spec: &FieldSpec, ev: &Event, st: &dyn StateView, out: &mut String) {
    match fields::extract(spec, ev, st) {
        Some(v) => fields::render(&v, out),
        None => out.push_str("<NA>"),
    }
}
