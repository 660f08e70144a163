//! A YAML document as a tree of nodes that remember where they start in the
//! file, so load errors can point at `file:line:column`. Built from
//! yaml-rust2's marked event stream; scalars keep their source text (Falco
//! reads list items and keys as strings whatever they look like).

use std::collections::HashMap;
use yaml_rust2::parser::{Event as YamlEvent, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// 1-based line and column of a node in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
    /// Byte offset in the source.
    pub offset: usize,
}

impl Mark {
    fn from_marker(m: Marker) -> Mark {
        Mark {
            line: m.line(),
            col: m.col() + 1,
            offset: m.index(),
        }
    }
}

/// How a scalar was written; decides whether `true`/`null` are keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    Quoted,
    Block,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(String, ScalarStyle),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub mark: Mark,
}

impl Node {
    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a plain `null`/`~`/empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(s, ScalarStyle::Plain) if s.is_empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")
    }

    /// A YAML boolean (`true`/`false` in their usual spellings).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            NodeKind::Scalar(s, ScalarStyle::Plain) => match s.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The number of nodes in this tree (a mapping entry is two).
    pub fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar(..) => 0,
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(entries) => entries.iter().map(|(k, v)| k.size() + v.size()).sum(),
        }
    }

    /// A short name of the node's kind for error messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(..) if self.is_null() => "null",
            NodeKind::Scalar(..) => "scalar",
            NodeKind::Seq(_) => "sequence",
            NodeKind::Map(_) => "mapping",
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub mark: Mark,
    pub message: String,
}

/// Deepest nesting accepted; deeper documents are rejected rather than risk
/// the stack on hostile input.
const MAX_DEPTH: usize = 256;

/// Nodes that aliases may copy into a document, at least: enough for any
/// file that uses anchors to share a few lists.
const MIN_ALIAS_NODES: usize = 16_384;

/// ... and at most, whatever the file's size: about 100 MB of copies.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// How many nodes aliases may copy into a document parsed from `src`: the
/// file's size in bytes, within [`MIN_ALIAS_NODES`]..=[`MAX_ALIAS_NODES`].
/// An alias is written in a few bytes but copies its whole anchor, so
/// nested aliases (`&a1 [*a0, *a0, ...]`, then `&a2 [*a1, ...]`) grow the
/// tree exponentially; this keeps the tree within a small multiple of the
/// file (every node written takes at least one byte) on the loader path
/// that serves `validate`, hot reload and `PutRulesFile` alike.
pub fn alias_budget(src: &str) -> usize {
    src.len().clamp(MIN_ALIAS_NODES, MAX_ALIAS_NODES)
}

/// Parses one YAML document (the first, if several) into a node tree.
/// `Ok(None)` for an empty document.
///
/// libyaml (which Falco uses) accepts a flow sequence closed by a `]` at
/// the indentation of its key, as upstream rules files do; yaml-rust2
/// rejects it. On an indentation error the document is parsed again with
/// such closing-bracket-only lines indented like the line before them,
/// which changes no value and no position outside those lines.
pub fn parse(src: &str) -> Result<Option<Node>, YamlError> {
    match parse_strict(src) {
        Err(e) if e.message.contains("indentation") => {
            let relaxed = indent_closing_brackets(src);
            if relaxed == src {
                return Err(e);
            }
            parse_strict(&relaxed).map_err(|_| e)
        }
        other => other,
    }
}

fn indent_closing_brackets(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut prev_indent = 0usize;
    for line in src.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim();
        let indent = body.len() - body.trim_start().len();
        let closing_only = !trimmed.is_empty()
            && trimmed
                .trim_end_matches(',')
                .chars()
                .all(|c| c == ']' || c == '}' || c == ' ');
        if closing_only {
            let want = prev_indent.max(indent + 1);
            out.extend(std::iter::repeat_n(' ', want));
            out.push_str(line.trim_start());
            continue;
        }
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            prev_indent = indent;
        }
        out.push_str(line);
    }
    out
}

fn parse_strict(src: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder {
        alias_budget: alias_budget(src),
        ..Builder::default()
    };
    let mut parser = Parser::new_from_str(src);
    parser.load(&mut builder, false).map_err(|e| YamlError {
        mark: Mark::from_marker(*e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root)
}

enum Open {
    Seq(Mark, usize, Vec<Node>),
    Map(Mark, usize, Vec<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    /// Anchored nodes with their sizes in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied by aliases so far, and how many may be.
    alias_nodes: usize,
    alias_budget: usize,
    error: Option<YamlError>,
    done: bool,
}

impl Builder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), node.size()));
        }
        match self.stack.last_mut() {
            Some(Open::Seq(_, _, items)) | Some(Open::Map(_, _, items)) => items.push(node),
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
                self.done = true;
            }
        }
    }

    fn fail(&mut self, mark: Mark, message: &str) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                mark,
                message: message.to_string(),
            });
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: YamlEvent, marker: Marker) {
        if self.done || self.error.is_some() {
            return;
        }
        let mark = Mark::from_marker(marker);
        match ev {
            YamlEvent::Scalar(text, style, anchor, _tag) => {
                let style = match style {
                    TScalarStyle::Plain => ScalarStyle::Plain,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => ScalarStyle::Quoted,
                    TScalarStyle::Literal | TScalarStyle::Folded => ScalarStyle::Block,
                };
                self.push_node(
                    Node {
                        kind: NodeKind::Scalar(text, style),
                        mark,
                    },
                    anchor,
                );
            }
            YamlEvent::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id) else {
                    self.fail(mark, "alias to an unknown anchor");
                    return;
                };
                let total = self.alias_nodes.saturating_add(*size);
                if total > self.alias_budget {
                    let message = format!(
                        "aliases expand to more than {} nodes (the limit is the file's size \
                         in bytes, within {MIN_ALIAS_NODES}..={MAX_ALIAS_NODES}): this alias \
                         would bring them to {total}; nested aliases grow exponentially",
                        self.alias_budget
                    );
                    self.fail(mark, &message);
                    return;
                }
                self.alias_nodes = total;
                let node = node.clone();
                self.push_node(node, 0);
            }
            YamlEvent::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(mark, "nesting too deep");
                    return;
                }
                self.stack.push(Open::Seq(mark, anchor, Vec::new()));
            }
            YamlEvent::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(mark, "nesting too deep");
                    return;
                }
                self.stack.push(Open::Map(mark, anchor, Vec::new()));
            }
            YamlEvent::SequenceEnd => {
                if let Some(Open::Seq(m, anchor, items)) = self.stack.pop() {
                    self.push_node(
                        Node {
                            kind: NodeKind::Seq(items),
                            mark: m,
                        },
                        anchor,
                    );
                }
            }
            YamlEvent::MappingEnd => {
                if let Some(Open::Map(m, anchor, items)) = self.stack.pop() {
                    // The mapping-start marker can sit past the first key;
                    // the first key's own position is where the item begins.
                    let m = items.first().map_or(m, |k| k.mark);
                    let mut entries = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        entries.push((k, v));
                    }
                    self.push_node(
                        Node {
                            kind: NodeKind::Map(entries),
                            mark: m,
                        },
                        anchor,
                    );
                }
            }
            YamlEvent::Nothing
            | YamlEvent::StreamStart
            | YamlEvent::StreamEnd
            | YamlEvent::DocumentStart
            | YamlEvent::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let src =
            "- rule: a\n  condition: >\n    evt.type = open\n- list: l\n  items: [x, \"y\"]\n";
        let root = parse(src).unwrap().unwrap();
        let NodeKind::Seq(items) = &root.kind else {
            panic!("not a sequence")
        };
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].mark.line, items[0].mark.col), (1, 3));
        let rule = items[0].get("rule").unwrap();
        assert_eq!((rule.mark.line, rule.mark.col), (1, 9));
        let list = items[1].get("items").unwrap();
        assert_eq!((list.mark.line, list.mark.col), (5, 10));
        let NodeKind::Seq(vals) = &list.kind else {
            panic!()
        };
        assert_eq!(vals[1].as_str(), Some("y"));
        assert_eq!((vals[1].mark.line, vals[1].mark.col), (5, 14));
        assert_eq!(
            items[0].get("condition").unwrap().as_str(),
            Some("evt.type = open\n")
        );
    }

    #[test]
    fn flow_sequence_closed_at_key_indentation_is_accepted_like_libyaml() {
        let src = "- list: l\n  items: [\n    a,\n    b\n  ]\n\n- list: m\n  items: [c]\n";
        let root = parse(src).unwrap().unwrap();
        let NodeKind::Seq(items) = &root.kind else {
            panic!()
        };
        assert_eq!(items.len(), 2);
        assert_eq!((items[1].mark.line, items[1].mark.col), (7, 3));
        let NodeKind::Seq(vals) = &items[0].get("items").unwrap().kind else {
            panic!()
        };
        assert_eq!(vals.len(), 2);
    }

    /// `levels` lists, each an anchored flow sequence of ten aliases to
    /// the one before (`a0` holds ten scalars): level N is 10^N scalars.
    pub(crate) fn alias_bomb(levels: usize) -> String {
        let mut src = "- list: a0\n  items: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 1..=levels {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            src.push_str(&format!("- list: a{i}\n  items: &a{i} [{refs}]\n"));
        }
        src
    }

    #[test]
    fn nested_aliases_stop_at_the_budget_with_the_alias_position() {
        let src = alias_bomb(9);
        let err = parse(&src).unwrap_err();
        assert!(
            err.message
                .contains("aliases expand to more than 16384 nodes"),
            "{err:?}"
        );
        // a1..a3 copy 110 + 1110 + 11110 nodes; a3 is 11111 nodes, so the
        // first alias in a4 (line 10) is the one past the budget.
        assert_eq!((err.mark.line, err.mark.col), (10, 15), "{err:?}");
    }

    #[test]
    fn the_alias_budget_follows_the_file_size_within_bounds() {
        assert_eq!(alias_budget("x"), MIN_ALIAS_NODES);
        assert_eq!(alias_budget(&" ".repeat(50_000)), 50_000);
        assert_eq!(alias_budget(&" ".repeat(2_000_000)), MAX_ALIAS_NODES);
    }

    #[test]
    fn a_few_aliases_within_the_budget_are_expanded() {
        let src = alias_bomb(3);
        let root = parse(&src).unwrap().unwrap();
        let NodeKind::Seq(items) = &root.kind else {
            panic!("not a sequence")
        };
        let a3 = items[3].get("items").unwrap();
        // 1 + 10 * (1 + 10 * (1 + 10 * 11)) nodes.
        assert_eq!(a3.size(), 11_111);
        let src = "- list: a\n  items: &x [b, c]\n- list: d\n  items: *x\n";
        let root = parse(src).unwrap().unwrap();
        let NodeKind::Seq(items) = &root.kind else {
            panic!("not a sequence")
        };
        assert_eq!(items[0].get("items"), items[1].get("items"));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("- rule: a\n  condition: [unclosed\n").unwrap_err();
        assert!(err.mark.line >= 2, "{err:?}");
    }
}
