//! Which alerts a view shows: free text plus quick filters. Shared by the
//! alerts view and `falco-console tail`.

use crate::alert::AlertRecord;
use crate::triage::TriageState;
use falco_proto::v1::Priority;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Lowercased free text matched against rule, output, node, pod, image, command, user, tags.
    pub text: String,
    /// Minimum priority; `Unspecified` admits all.
    pub min_priority: Priority,
    pub rule: Option<String>,
    pub namespace: Option<String>,
    /// `namespace/pod`.
    pub pod: Option<String>,
    pub node: Option<String>,
    pub state: Option<TriageState>,
    /// Field terms (`k8s.ns.name=prod*`): the alert's value of each field
    /// must match its glob (case-insensitive).
    pub fields: Vec<(String, String)>,
    /// `!`: show the alerts the text and field terms do *not* match.
    pub invert: bool,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// `hay` is the alert's precomputed lowercase haystack (see `AlertRecord::haystack`).
    pub fn matches(&self, a: &AlertRecord, state: TriageState, hay: &str) -> bool {
        a.priority().at_least(self.min_priority)
            && self.rule.as_ref().is_none_or(|r| *r == a.rule)
            && self.namespace.as_ref().is_none_or(|n| *n == a.namespace)
            && self.pod.as_ref().is_none_or(|p| *p == a.pod_ref())
            && self.node.as_ref().is_none_or(|n| *n == a.hostname)
            && self.state.is_none_or(|s| s == state)
            && self.typed_matches(a, hay)
    }

    /// The free-text and field terms, inverted by `!`.
    fn typed_matches(&self, a: &AlertRecord, hay: &str) -> bool {
        if self.text.is_empty() && self.fields.is_empty() {
            return true;
        }
        let m = self.text.split_whitespace().all(|w| hay.contains(w))
            && self
                .fields
                .iter()
                .all(|(name, glob)| glob_match(glob, &field_value(a, name).to_lowercase()));
        m != self.invert
    }

    /// Sets the filter from what was typed at the `/` prompt: words, field
    /// terms (`name=glob`, the name has a dot), and a leading `!` inverting
    /// them. Returns whether the new filter can only be stricter than the old
    /// (more of the same word typed), which lets the list filter its rows.
    pub fn set_input(&mut self, typed: &str) -> bool {
        let typed = typed.to_lowercase();
        let (invert, rest) = match typed.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, typed.as_str()),
        };
        let mut words = Vec::new();
        let mut fields = Vec::new();
        for term in rest.split_whitespace() {
            match field_term(term) {
                Some(f) => fields.push(f),
                None => words.push(term),
            }
        }
        let text = words.join(" ");
        let narrowing = !invert
            && !self.invert
            && fields.is_empty()
            && self.fields.is_empty()
            && text.starts_with(&self.text)
            && !typed.ends_with(char::is_whitespace);
        self.text = text;
        self.fields = fields;
        self.invert = invert;
        narrowing
    }

    /// What the `/` prompt starts with: the typed part of this filter.
    pub fn input_text(&self) -> String {
        let mut parts: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !self.text.is_empty() {
            parts.push(self.text.clone());
        }
        format!("{}{}", if self.invert { "!" } else { "" }, parts.join(" "))
    }

    /// Short description for the header, e.g. `>=Warning ns=prod "curl"`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.min_priority != Priority::Unspecified {
            parts.push(format!(">={}", self.min_priority.falco_name()));
        }
        for (k, v) in [
            ("rule", &self.rule),
            ("ns", &self.namespace),
            ("pod", &self.pod),
            ("node", &self.node),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        if let Some(s) = self.state {
            parts.push(format!("state={s}"));
        }
        for (k, v) in &self.fields {
            parts.push(format!("{}{k}={v}", if self.invert { "!" } else { "" }));
        }
        if !self.text.is_empty() {
            parts.push(format!(
                "{}\"{}\"",
                if self.invert { "!" } else { "" },
                self.text
            ));
        }
        parts.join(" ")
    }

    /// The `:filter` arguments that give this filter back (saved views).
    pub fn to_args(&self) -> String {
        let q = |v: &str| {
            if v.contains(char::is_whitespace) {
                format!("\"{v}\"")
            } else {
                v.to_string()
            }
        };
        let mut parts = Vec::new();
        if self.invert {
            parts.push("!".to_string());
        }
        if self.min_priority != Priority::Unspecified {
            parts.push(format!("p={}", self.min_priority.falco_name()));
        }
        for (k, v) in [
            ("rule", &self.rule),
            ("ns", &self.namespace),
            ("pod", &self.pod),
            ("node", &self.node),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={}", q(v)));
            }
        }
        if let Some(s) = self.state {
            parts.push(format!("state={s}"));
        }
        for (k, v) in &self.fields {
            parts.push(format!("{k}={}", q(v)));
        }
        parts.extend(self.text.split_whitespace().map(str::to_string));
        parts.join(" ")
    }

    /// Parses `:filter` arguments: `key=value` terms (`priority`/`p`, `rule`,
    /// `ns`, `pod`, `node`, `state`) and free words. Rule names with spaces are
    /// quoted: `rule="Terminal shell in container"`. Empty input clears.
    pub fn parse(args: &str) -> Result<Filter, String> {
        let mut f = Filter::default();
        let mut words = Vec::new();
        for term in split_terms(args) {
            if term == "!" {
                f.invert = true;
                continue;
            }
            if let Some(field) = field_term(&term.to_lowercase()) {
                f.fields.push(field);
                continue;
            }
            let Some((k, v)) = term.split_once('=') else {
                words.push(term.to_lowercase());
                continue;
            };
            let (k, v) = (k.trim_end_matches('>'), v.to_string());
            match k {
                "priority" | "p" | "prio" => {
                    f.min_priority = v.parse::<Priority>().map_err(|e| e.to_string())?;
                }
                "rule" => f.rule = Some(v),
                "ns" | "namespace" => f.namespace = Some(v),
                "pod" => f.pod = Some(v),
                "node" | "host" => f.node = Some(v),
                "state" => {
                    f.state = Some(TriageState::parse(&v).ok_or_else(|| {
                        format!("unknown state {v:?} (new, ack, resolved, false-pos)")
                    })?);
                }
                other => {
                    return Err(format!(
                        "unknown filter key {other:?} (priority, rule, ns, pod, node, state)"
                    ));
                }
            }
        }
        f.text = words.join(" ");
        Ok(f)
    }
}

/// `name=glob` with a dotted field name (`k8s.ns.name=prod*`).
fn field_term(term: &str) -> Option<(String, String)> {
    let (k, v) = term.split_once('=')?;
    (k.contains('.') && !k.starts_with('.') && !k.ends_with('.'))
        .then(|| (k.to_string(), v.to_string()))
}

/// An alert's value of a Falco field name: the list view's copy keeps the
/// common ones as members; others come from the output fields when present.
pub fn field_value<'a>(a: &'a AlertRecord, name: &str) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow::Borrowed;
    match name {
        "k8s.ns.name" => Borrowed(&a.namespace),
        "k8s.pod.name" => Borrowed(&a.pod),
        "container.image.repository" | "container.image" => Borrowed(&a.image),
        "container.name" => Borrowed(&a.container_name),
        "container.id" => Borrowed(&a.container_id),
        "proc.name" => Borrowed(&a.proc_name),
        "proc.cmdline" => Borrowed(&a.cmdline),
        "user.name" => Borrowed(&a.user),
        "evt.hostname" | "hostname" => Borrowed(&a.hostname),
        "falco.rule" | "rule" => Borrowed(&a.rule),
        other => std::borrow::Cow::Owned(crate::alert::field(&a.fields, other)),
    }
}

/// `*` matches any run of characters, `?` one; everything else is literal.
pub fn glob_match(glob: &str, s: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), s.chars().collect());
    let (mut gi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ti));
            gi += 1;
        } else if let Some((sg, st)) = star {
            gi = sg + 1;
            ti = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

/// Splits on whitespace, keeping `"quoted parts"` together (quotes removed).
fn split_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> AlertRecord {
        AlertRecord {
            rule: "Terminal shell in container".into(),
            priority: Priority::Warning as i32,
            namespace: "prod".into(),
            pod: "api-0".into(),
            hostname: "node-1".into(),
            cmdline: "bash -i".into(),
            ..Default::default()
        }
    }

    #[test]
    fn parse_and_match() {
        let a = alert();
        let hay = a.haystack();
        let f =
            Filter::parse(r#"p>=notice rule="Terminal shell in container" ns=prod BASH"#).unwrap();
        assert_eq!(f.min_priority, Priority::Notice);
        assert_eq!(f.text, "bash");
        assert!(f.matches(&a, TriageState::New, &hay));
        assert!(
            !Filter::parse("p=error")
                .unwrap()
                .matches(&a, TriageState::New, &hay)
        );
        assert!(
            !Filter::parse("pod=prod/api-1")
                .unwrap()
                .matches(&a, TriageState::New, &hay)
        );
        assert!(
            Filter::parse("pod=prod/api-0 node=node-1")
                .unwrap()
                .matches(&a, TriageState::New, &hay)
        );
        let st = Filter::parse("state=ack").unwrap();
        assert!(!st.matches(&a, TriageState::New, &hay));
        assert!(st.matches(&a, TriageState::Acknowledged, &hay));
        assert!(
            !Filter::parse("zsh")
                .unwrap()
                .matches(&a, TriageState::New, &hay)
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("prod*", "prod-eu"));
        assert!(glob_match("*-eu", "prod-eu"));
        assert!(glob_match("p?od", "prod"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("prod*", "staging"));
        assert!(!glob_match("prod", "prod-eu"));
    }

    #[test]
    fn typed_inverted_and_field_terms() {
        let a = alert();
        let hay = a.haystack();
        let mut f = Filter::default();
        f.set_input("k8s.ns.name=pro*");
        assert_eq!(f.fields, vec![("k8s.ns.name".into(), "pro*".into())]);
        assert!(f.matches(&a, TriageState::New, &hay));
        f.set_input("k8s.ns.name=staging*");
        assert!(!f.matches(&a, TriageState::New, &hay));
        f.set_input("!k8s.ns.name=staging*");
        assert!(f.matches(&a, TriageState::New, &hay), "inverted");
        f.set_input("!bash");
        assert!(f.invert);
        assert!(!f.matches(&a, TriageState::New, &hay));
        assert_eq!(f.input_text(), "!bash");
        f.set_input("proc.cmdline=BASH*");
        assert!(f.matches(&a, TriageState::New, &hay), "case-insensitive");
        // saved views round-trip through the :filter syntax
        let f =
            Filter::parse(r#"! p=warning rule="Terminal shell in container" k8s.ns.name=prod* sh"#)
                .unwrap();
        assert!(f.invert);
        assert_eq!(Filter::parse(&f.to_args()).unwrap(), f);
    }

    #[test]
    fn parse_errors_name_the_term() {
        assert!(Filter::parse("color=red").unwrap_err().contains("color"));
        assert!(Filter::parse("p=loud").unwrap_err().contains("loud"));
        assert!(Filter::parse("").unwrap().is_empty());
    }
}
