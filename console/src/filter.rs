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
            && (self.text.is_empty() || self.text.split_whitespace().all(|w| hay.contains(w)))
    }

    /// Sets the filter from what was typed at the `/` prompt. Returns whether
    /// the new filter can only be stricter than the old (more text typed).
    pub fn set_input(&mut self, typed: &str) -> bool {
        let text = typed.to_lowercase();
        let narrowing = text.starts_with(&self.text);
        self.text = text;
        narrowing
    }

    /// What the `/` prompt starts with: the typed part of this filter.
    pub fn input_text(&self) -> String {
        self.text.clone()
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
        if !self.text.is_empty() {
            parts.push(format!("\"{}\"", self.text));
        }
        parts.join(" ")
    }

    /// Parses `:filter` arguments: `key=value` terms (`priority`/`p`, `rule`,
    /// `ns`, `pod`, `node`, `state`) and free words. Rule names with spaces are
    /// quoted: `rule="Terminal shell in container"`. Empty input clears.
    pub fn parse(args: &str) -> Result<Filter, String> {
        let mut f = Filter::default();
        let mut words = Vec::new();
        for term in split_terms(args) {
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
    fn parse_errors_name_the_term() {
        assert!(Filter::parse("color=red").unwrap_err().contains("color"));
        assert!(Filter::parse("p=loud").unwrap_err().contains("loud"));
        assert!(Filter::parse("").unwrap().is_empty());
    }
}
