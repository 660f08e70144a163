//! Reads rules files: YAML lists of `rule`, `macro`, `list`,
//! `required_engine_version` and `required_plugin_versions` items, applied
//! in order across files so later files extend earlier ones (`append`,
//! `override`, redefinition, enable/disable by name). The result is the set
//! of definitions the compiler turns into a [`super::RuleSet`].

use super::error::{ErrorKind, ItemKind, LoadError, LoadWarning, Location, WarningCode};
use super::yaml::{self, Mark, Node, NodeKind, ScalarStyle};
use falco_proto::v1::Priority;
use std::collections::HashMap;
use std::sync::Arc;

/// One piece of a (possibly appended) condition and where it came from,
/// so that an offset in the combined text maps back to file:line:col.
#[derive(Debug, Clone)]
pub struct CondPiece {
    /// Start of this piece in the combined condition text.
    pub start: usize,
    pub file: Arc<str>,
    pub src: Arc<str>,
    pub mark: Mark,
    pub style: ScalarStyle,
    pub text_len: usize,
}

/// A condition text with the origin of each appended piece.
#[derive(Debug, Clone, Default)]
pub struct Cond {
    pub text: String,
    pub pieces: Vec<CondPiece>,
}

impl Cond {
    fn from_node(node: &Node, text: String, file: &Arc<str>, src: &Arc<str>) -> Cond {
        let style = match &node.kind {
            NodeKind::Scalar(_, s) => *s,
            _ => ScalarStyle::Plain,
        };
        Cond {
            pieces: vec![CondPiece {
                start: 0,
                file: file.clone(),
                src: src.clone(),
                mark: node.mark,
                style,
                text_len: text.len(),
            }],
            text,
        }
    }

    fn append(&mut self, other: Cond) {
        let base = if self.text.is_empty() {
            0
        } else {
            self.text.push(' ');
            self.text.len()
        };
        self.text.push_str(&other.text);
        for mut p in other.pieces {
            p.start += base;
            self.pieces.push(p);
        }
    }

    /// Maps a byte offset of the combined text to a file position. Scalars
    /// lose indentation and line breaks when YAML folds them, so the offset
    /// is mapped by counting words, which folding keeps intact.
    pub fn locate(&self, offset: usize) -> Location {
        let Some(piece) = self.pieces.iter().rev().find(|p| p.start <= offset) else {
            return Location {
                file: Arc::from(""),
                line: 0,
                col: 0,
            };
        };
        let local = (offset - piece.start).min(piece.text_len);
        let text = &self.text[piece.start..piece.start + piece.text_len];
        let (word_idx, intra) = word_position(text, local);
        let src: &str = &piece.src;
        let mut pos = piece.mark.offset.min(src.len());
        // Block scalars are marked at their first content character,
        // quoted ones at the opening quote.
        if piece.style == ScalarStyle::Quoted {
            pos = (pos + 1).min(src.len());
        }
        let found = nth_word_start(&src[pos..], word_idx).map_or(pos, |w| pos + w);
        let byte = (found + intra).min(src.len());
        let (line, col) = line_col(src, byte);
        Location {
            file: piece.file.clone(),
            line,
            col,
        }
    }
}

/// Which whitespace-separated word `offset` falls in, and how far into it.
fn word_position(text: &str, offset: usize) -> (usize, usize) {
    let b = text.as_bytes();
    let mut word = 0usize;
    let mut start = 0usize;
    let mut seen_word = false;
    let mut i = 0;
    while i < b.len() && i <= offset {
        let ws = b[i].is_ascii_whitespace();
        let prev_ws = i == 0 || b[i - 1].is_ascii_whitespace();
        if !ws && prev_ws {
            if seen_word {
                word += 1;
            }
            seen_word = true;
            start = i;
        }
        i += 1;
    }
    (word, offset.saturating_sub(start))
}

fn nth_word_start(s: &str, n: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut count = 0usize;
    for i in 0..b.len() {
        if !b[i].is_ascii_whitespace() && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            if count == n {
                return Some(i);
            }
            count += 1;
        }
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, byte: usize) -> (usize, usize) {
    let byte = floor_char_boundary(src, byte.min(src.len()));
    let before = &src[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, src[line_start..byte].chars().count() + 1)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone)]
pub struct ListDef {
    pub name: String,
    pub items: Vec<String>,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct MacroDef {
    pub name: String,
    pub condition: Cond,
    pub location: Location,
}

/// An exception: a tuple of fields compared with each of `values`.
#[derive(Debug, Clone)]
pub struct ExceptionDef {
    pub name: String,
    pub fields: Vec<String>,
    /// `fields` was a single field rather than a tuple.
    pub single: bool,
    pub comps: Vec<String>,
    pub values: Vec<Node>,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct RuleDef {
    pub name: String,
    pub desc: String,
    pub condition: Cond,
    pub output: String,
    pub output_location: Location,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub source: String,
    pub exceptions: Vec<ExceptionDef>,
    pub warn_evttypes: bool,
    pub skip_if_unknown_filter: bool,
    pub location: Location,
}

/// Items defined by one file, for the load summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCounts {
    pub file: String,
    pub rules: usize,
    pub macros: usize,
    pub lists: usize,
}

/// Every definition after all files were applied, in definition order.
#[derive(Debug, Default)]
pub struct Defs {
    pub lists: Vec<ListDef>,
    pub macros: Vec<MacroDef>,
    pub rules: Vec<RuleDef>,
    list_idx: HashMap<String, usize>,
    macro_idx: HashMap<String, usize>,
    rule_idx: HashMap<String, usize>,
    pub warnings: Vec<LoadWarning>,
    pub files: Vec<FileCounts>,
}

const RULE_KEYS: &[&str] = &[
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "tags",
    "enabled",
    "source",
    "exceptions",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "append",
    "override",
    "capture",
    "capture_duration",
];

/// Applies one file's items to `defs`.
pub fn load_file(defs: &mut Defs, file: &str, text: &str) -> Result<(), LoadError> {
    let file: Arc<str> = Arc::from(file);
    let src: Arc<str> = Arc::from(text);
    let mut counts = FileCounts {
        file: file.to_string(),
        ..FileCounts::default()
    };
    let root = yaml::parse(text).map_err(|e| LoadError {
        location: Location {
            file: file.clone(),
            line: e.mark.line,
            col: e.mark.col,
        },
        item: ItemKind::File,
        name: String::new(),
        kind: ErrorKind::Yaml(e.message),
    })?;
    let items = match root {
        None => Vec::new(),
        Some(n) if n.is_null() => Vec::new(),
        Some(Node {
            kind: NodeKind::Seq(items),
            ..
        }) => items,
        Some(other) => {
            return Err(LoadError {
                location: loc(&file, other.mark),
                item: ItemKind::File,
                name: String::new(),
                kind: ErrorKind::Schema(format!(
                    "a rules file must be a list of items, found a {}",
                    other.kind_name()
                )),
            });
        }
    };
    let mut cx = FileCx {
        defs,
        file: &file,
        src: &src,
    };
    for item in &items {
        cx.item(item, &mut counts)?;
    }
    defs.files.push(counts);
    Ok(())
}

fn loc(file: &Arc<str>, m: Mark) -> Location {
    Location {
        file: file.clone(),
        line: m.line,
        col: m.col,
    }
}

struct FileCx<'a> {
    defs: &'a mut Defs,
    file: &'a Arc<str>,
    src: &'a Arc<str>,
}

/// Error-building context for one item.
struct ItemCx {
    file: Arc<str>,
    kind: ItemKind,
    name: String,
}

impl ItemCx {
    fn err(&self, mark: Mark, kind: ErrorKind) -> LoadError {
        LoadError {
            location: loc(&self.file, mark),
            item: self.kind,
            name: self.name.clone(),
            kind,
        }
    }

    fn schema(&self, mark: Mark, msg: impl Into<String>) -> LoadError {
        self.err(mark, ErrorKind::Schema(msg.into()))
    }

    fn string(&self, node: &Node, key: &str) -> Result<String, LoadError> {
        match &node.kind {
            NodeKind::Scalar(s, _) if !node.is_null() => Ok(s.clone()),
            NodeKind::Scalar(..) => Ok(String::new()),
            _ => Err(self.schema(
                node.mark,
                format!("{key:?} must be a string, found a {}", node.kind_name()),
            )),
        }
    }

    fn boolean(&self, node: &Node, key: &str) -> Result<bool, LoadError> {
        node.as_bool()
            .ok_or_else(|| self.schema(node.mark, format!("{key:?} must be true or false")))
    }

    fn string_list(&self, node: &Node, key: &str) -> Result<Vec<String>, LoadError> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().map(|i| self.string(i, key)).collect(),
            _ if node.is_null() => Ok(Vec::new()),
            _ => Err(self.schema(
                node.mark,
                format!("{key:?} must be a list, found a {}", node.kind_name()),
            )),
        }
    }
}

/// `override:` modes by key, with the key's position.
type Overrides = HashMap<String, (Mode, Mark)>;

/// `override:` for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Append,
    Replace,
}

impl FileCx<'_> {
    fn item(&mut self, node: &Node, counts: &mut FileCounts) -> Result<(), LoadError> {
        let NodeKind::Map(entries) = &node.kind else {
            return Err(LoadError {
                location: loc(self.file, node.mark),
                item: ItemKind::File,
                name: String::new(),
                kind: ErrorKind::Schema(format!(
                    "each item must be a mapping (rule, macro or list), found a {}",
                    node.kind_name()
                )),
            });
        };
        let kind = entries.iter().find_map(|(k, _)| match k.as_str() {
            Some("rule") => Some(ItemKind::Rule),
            Some("macro") => Some(ItemKind::Macro),
            Some("list") => Some(ItemKind::List),
            Some("required_engine_version") => Some(ItemKind::RequiredEngineVersion),
            Some("required_plugin_versions") => Some(ItemKind::RequiredPluginVersions),
            _ => None,
        });
        let Some(kind) = kind else {
            let keys: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
            return Err(LoadError {
                location: loc(self.file, node.mark),
                item: ItemKind::File,
                name: String::new(),
                kind: ErrorKind::Schema(format!(
                    "unknown item with keys {keys:?}: expected rule, macro, list, required_engine_version or required_plugin_versions"
                )),
            });
        };
        match kind {
            ItemKind::Rule => {
                counts.rules += 1;
                self.rule(node)
            }
            ItemKind::Macro => {
                counts.macros += 1;
                self.macro_item(node)
            }
            ItemKind::List => {
                counts.lists += 1;
                self.list(node)
            }
            // Versions are accepted: the fields Falco gets from plugins
            // (container.*) are native here.
            _ => Ok(()),
        }
    }

    /// The item's name from its kind key, and the override modes.
    fn header(
        &self,
        node: &Node,
        kind: ItemKind,
        key: &str,
        allowed: &[&str],
    ) -> Result<(ItemCx, bool, Overrides), LoadError> {
        let mut cx = ItemCx {
            file: self.file.clone(),
            kind,
            name: String::new(),
        };
        let name_node = node.get(key).unwrap_or(node);
        cx.name = cx.string(name_node, key)?;
        if cx.name.is_empty() {
            return Err(cx.schema(name_node.mark, format!("{key:?} must not be empty")));
        }
        let append = match node.get("append") {
            Some(n) => cx.boolean(n, "append")?,
            None => false,
        };
        let mut modes = HashMap::new();
        if let Some(ov) = node.get("override") {
            let NodeKind::Map(entries) = &ov.kind else {
                return Err(cx.schema(
                    ov.mark,
                    "\"override\" must be a mapping of key: append|replace",
                ));
            };
            if append {
                return Err(cx.schema(
                    ov.mark,
                    "\"override\" and \"append\" cannot be used together",
                ));
            }
            for (k, v) in entries {
                let kname = cx.string(k, "override")?;
                let mode = match v.as_str() {
                    Some("append") => Mode::Append,
                    Some("replace") => Mode::Replace,
                    _ => {
                        return Err(cx.schema(
                            v.mark,
                            format!("override of {kname:?} must be \"append\" or \"replace\""),
                        ));
                    }
                };
                if !allowed.contains(&kname.as_str())
                    || (mode == Mode::Append && matches!(kname.as_str(), "priority" | "enabled"))
                {
                    return Err(cx.schema(
                        k.mark,
                        format!("cannot override {kname:?} with {mode:?}").to_lowercase(),
                    ));
                }
                if node.get(&kname).is_none() {
                    return Err(cx.schema(
                        k.mark,
                        format!("override of {kname:?} but the item has no {kname:?} key"),
                    ));
                }
                modes.insert(kname, (mode, k.mark));
            }
        }
        Ok((cx, append, modes))
    }

    fn list(&mut self, node: &Node) -> Result<(), LoadError> {
        let (cx, append, modes) = self.header(node, ItemKind::List, "list", &["items"])?;
        for (k, _) in node_entries(node) {
            if let Some(key) = k.as_str()
                && !matches!(key, "list" | "items" | "append" | "override")
            {
                self.warn_unknown_key(&cx, k, key);
            }
        }
        let items_node = node
            .get("items")
            .ok_or_else(|| cx.schema(node.mark, "missing key \"items\""))?;
        let items = cx.string_list(items_node, "items")?;
        let location = loc(self.file, node.get("list").unwrap_or(node).mark);
        let existing = self.defs.list_idx.get(&cx.name).copied();
        let mode = if append {
            Some(Mode::Append)
        } else {
            modes.get("items").map(|m| m.0)
        };
        match (existing, mode) {
            (Some(i), Some(Mode::Append)) => self.defs.lists[i].items.extend(items),
            (Some(i), _) => {
                self.defs.lists[i].items = items;
            }
            (None, Some(_)) => {
                return Err(cx.err(
                    node.mark,
                    ErrorKind::Undefined(format!(
                        "list {:?} is appended to or overridden but was never defined",
                        cx.name
                    )),
                ));
            }
            (None, None) => {
                self.defs
                    .list_idx
                    .insert(cx.name.clone(), self.defs.lists.len());
                self.defs.lists.push(ListDef {
                    name: cx.name.clone(),
                    items,
                    location,
                });
            }
        }
        Ok(())
    }

    fn macro_item(&mut self, node: &Node) -> Result<(), LoadError> {
        let (cx, append, modes) = self.header(node, ItemKind::Macro, "macro", &["condition"])?;
        for (k, _) in node_entries(node) {
            if let Some(key) = k.as_str()
                && !matches!(
                    key,
                    "macro" | "condition" | "append" | "override" | "source"
                )
            {
                self.warn_unknown_key(&cx, k, key);
            }
        }
        let cnode = node
            .get("condition")
            .ok_or_else(|| cx.schema(node.mark, "missing key \"condition\""))?;
        let text = cx.string(cnode, "condition")?;
        let cond = Cond::from_node(cnode, text, self.file, self.src);
        let location = loc(self.file, node.get("macro").unwrap_or(node).mark);
        let existing = self.defs.macro_idx.get(&cx.name).copied();
        let mode = if append {
            Some(Mode::Append)
        } else {
            modes.get("condition").map(|m| m.0)
        };
        match (existing, mode) {
            (Some(i), Some(Mode::Append)) => self.defs.macros[i].condition.append(cond),
            (Some(i), _) => self.defs.macros[i].condition = cond,
            (None, Some(_)) => {
                return Err(cx.err(
                    node.mark,
                    ErrorKind::Undefined(format!(
                        "macro {:?} is appended to or overridden but was never defined",
                        cx.name
                    )),
                ));
            }
            (None, None) => {
                self.defs
                    .macro_idx
                    .insert(cx.name.clone(), self.defs.macros.len());
                self.defs.macros.push(MacroDef {
                    name: cx.name.clone(),
                    condition: cond,
                    location,
                });
            }
        }
        Ok(())
    }

    fn warn_unknown_key(&mut self, cx: &ItemCx, k: &Node, key: &str) {
        self.defs.warnings.push(LoadWarning {
            location: loc(self.file, k.mark),
            item: cx.kind,
            name: cx.name.clone(),
            code: WarningCode::UnknownKey,
            message: format!("unknown key {key:?} ignored"),
        });
    }

    fn rule(&mut self, node: &Node) -> Result<(), LoadError> {
        const OVERRIDABLE: &[&str] = &[
            "condition",
            "output",
            "desc",
            "priority",
            "tags",
            "exceptions",
            "enabled",
        ];
        let (cx, append, modes) = self.header(node, ItemKind::Rule, "rule", OVERRIDABLE)?;
        for (k, _) in node_entries(node) {
            if let Some(key) = k.as_str()
                && !RULE_KEYS.contains(&key)
            {
                self.warn_unknown_key(&cx, k, key);
            }
        }
        let location = loc(self.file, node.get("rule").unwrap_or(node).mark);
        let existing = self.defs.rule_idx.get(&cx.name).copied();

        // Parsed present keys.
        let desc = node.get("desc").map(|n| cx.string(n, "desc")).transpose()?;
        let cond = match node.get("condition") {
            Some(n) => Some(Cond::from_node(
                n,
                cx.string(n, "condition")?,
                self.file,
                self.src,
            )),
            None => None,
        };
        let output = match node.get("output") {
            Some(n) => Some((cx.string(n, "output")?, loc(self.file, n.mark))),
            None => None,
        };
        let priority = match node.get("priority") {
            Some(n) => {
                let s = cx.string(n, "priority")?;
                Some(parse_priority(&s).ok_or_else(|| {
                    cx.schema(
                        n.mark,
                        format!("unknown priority {s:?}: expected one of emergency, alert, critical, error, warning, notice, informational, debug"),
                    )
                })?)
            }
            None => None,
        };
        let tags = node
            .get("tags")
            .map(|n| cx.string_list(n, "tags"))
            .transpose()?;
        let enabled = node
            .get("enabled")
            .map(|n| cx.boolean(n, "enabled"))
            .transpose()?;
        let source = node
            .get("source")
            .map(|n| cx.string(n, "source"))
            .transpose()?;
        let exceptions = node
            .get("exceptions")
            .map(|n| self.exceptions(&cx, n))
            .transpose()?;
        let warn_evttypes = node
            .get("warn_evttypes")
            .map(|n| cx.boolean(n, "warn_evttypes"))
            .transpose()?;
        let skip = node
            .get("skip-if-unknown-filter")
            .map(|n| cx.boolean(n, "skip-if-unknown-filter"))
            .transpose()?;

        if append || !modes.is_empty() {
            let Some(i) = existing else {
                return Err(cx.err(
                    node.mark,
                    ErrorKind::Undefined(format!(
                        "rule {:?} is appended to or overridden but was never defined",
                        cx.name
                    )),
                ));
            };
            let mode_of = |key: &str| {
                if append {
                    Some(Mode::Append)
                } else {
                    modes.get(key).map(|m| m.0)
                }
            };
            let r = &mut self.defs.rules[i];
            if let Some(c) = cond {
                match mode_of("condition") {
                    Some(Mode::Append) => r.condition.append(c),
                    Some(Mode::Replace) => r.condition = c,
                    None => {}
                }
            }
            if let Some((o, oloc)) = output {
                match mode_of("output") {
                    Some(Mode::Append) => {
                        r.output.push(' ');
                        r.output.push_str(&o);
                    }
                    Some(Mode::Replace) => {
                        r.output = o;
                        r.output_location = oloc;
                    }
                    None => {}
                }
            }
            if let Some(d) = desc {
                match mode_of("desc") {
                    Some(Mode::Append) => {
                        r.desc.push(' ');
                        r.desc.push_str(&d);
                    }
                    Some(Mode::Replace) => r.desc = d,
                    None => {}
                }
            }
            if let Some(t) = tags {
                match mode_of("tags") {
                    Some(Mode::Append) => {
                        for tag in t {
                            if !r.tags.contains(&tag) {
                                r.tags.push(tag);
                            }
                        }
                    }
                    Some(Mode::Replace) => r.tags = t,
                    None => {}
                }
            }
            if let Some(ex) = exceptions {
                match mode_of("exceptions") {
                    Some(Mode::Append) => {
                        for e in ex {
                            match r.exceptions.iter_mut().find(|x| x.name == e.name) {
                                Some(x) => x.values.extend(e.values),
                                None => r.exceptions.push(e),
                            }
                        }
                    }
                    Some(Mode::Replace) => r.exceptions = ex,
                    None => {}
                }
            }
            if let (Some(p), Some(Mode::Replace)) = (priority, modes.get("priority").map(|m| m.0)) {
                r.priority = p;
            }
            if let Some(e) = enabled
                && (append || modes.contains_key("enabled"))
            {
                r.enabled = e;
            }
            return Ok(());
        }

        // `- rule: X` with only `enabled:` toggles an existing rule.
        if let (Some(i), Some(e), None, None) = (existing, enabled, &cond, &output) {
            self.defs.rules[i].enabled = e;
            return Ok(());
        }

        let missing = |key: &str| cx.schema(node.mark, format!("missing key {key:?}"));
        let cond = cond.ok_or_else(|| missing("condition"))?;
        let (output, output_location) = output.ok_or_else(|| missing("output"))?;
        let priority = priority.ok_or_else(|| missing("priority"))?;
        let desc = desc.ok_or_else(|| missing("desc"))?;
        let def = RuleDef {
            name: cx.name.clone(),
            desc,
            condition: cond,
            output,
            output_location,
            priority,
            tags: tags.unwrap_or_default(),
            enabled: enabled.unwrap_or(true),
            source: source.unwrap_or_else(|| "syscall".to_string()),
            exceptions: exceptions.unwrap_or_default(),
            warn_evttypes: warn_evttypes.unwrap_or(true),
            skip_if_unknown_filter: skip.unwrap_or(false),
            location,
        };
        match existing {
            // A redefinition replaces the rule in place, keeping its order.
            Some(i) => self.defs.rules[i] = def,
            None => {
                self.defs
                    .rule_idx
                    .insert(cx.name.clone(), self.defs.rules.len());
                self.defs.rules.push(def);
            }
        }
        Ok(())
    }

    fn exceptions(&self, cx: &ItemCx, node: &Node) -> Result<Vec<ExceptionDef>, LoadError> {
        let NodeKind::Seq(items) = &node.kind else {
            if node.is_null() {
                return Ok(Vec::new());
            }
            return Err(cx.schema(node.mark, "\"exceptions\" must be a list"));
        };
        let mut out = Vec::new();
        for item in items {
            if !matches!(item.kind, NodeKind::Map(_)) {
                return Err(cx.schema(item.mark, "each exception must be a mapping"));
            }
            let name_node = item
                .get("name")
                .ok_or_else(|| cx.schema(item.mark, "exception is missing key \"name\""))?;
            let name = cx.string(name_node, "name")?;
            let (fields, single) = match item.get("fields") {
                Some(
                    n @ Node {
                        kind: NodeKind::Seq(_),
                        ..
                    },
                ) => (cx.string_list(n, "fields")?, false),
                Some(n) => (vec![cx.string(n, "fields")?], true),
                None => (Vec::new(), false),
            };
            let comps = match item.get("comps") {
                Some(
                    n @ Node {
                        kind: NodeKind::Seq(_),
                        ..
                    },
                ) => cx.string_list(n, "comps")?,
                Some(n) => vec![cx.string(n, "comps")?],
                None if single => vec!["in".to_string()],
                None => vec!["=".to_string(); fields.len()],
            };
            if comps.len() != fields.len() {
                return Err(cx.schema(
                    item.mark,
                    format!(
                        "exception {name:?}: {} fields but {} comps",
                        fields.len(),
                        comps.len()
                    ),
                ));
            }
            let values = match item.get("values") {
                Some(Node {
                    kind: NodeKind::Seq(v),
                    ..
                }) => v.clone(),
                Some(n) if n.is_null() => Vec::new(),
                Some(n) => return Err(cx.schema(n.mark, "exception \"values\" must be a list")),
                None => Vec::new(),
            };
            out.push(ExceptionDef {
                name,
                fields,
                single,
                comps,
                values,
                location: loc(self.file, item.mark),
            });
        }
        Ok(out)
    }
}

fn node_entries(node: &Node) -> &[(Node, Node)] {
    match &node.kind {
        NodeKind::Map(e) => e,
        _ => &[],
    }
}

/// Falco's priority names, case-insensitive (`info` is `informational`).
pub fn parse_priority(s: &str) -> Option<Priority> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "emergency" => Priority::Emergency,
        "alert" => Priority::Alert,
        "critical" => Priority::Critical,
        "error" => Priority::Error,
        "warning" | "warn" => Priority::Warning,
        "notice" => Priority::Notice,
        "informational" | "info" => Priority::Informational,
        "debug" => Priority::Debug,
        _ => return None,
    })
}
