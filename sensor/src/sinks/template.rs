//! Message templates for chat and e-mail sinks, written with Falco's field
//! names: `%rule`, `%priority`, `%output`, `%proc.cmdline`, `%k8s.pod.name`,
//! `%container.mount.dest[/proc*]` ... Parsed once at start (a bad template
//! fails the start naming the key); rendered per alert with the sink's own
//! escape function, which is applied to every value taken from the alert and
//! never to the template's literal text (that is trusted config).

use super::aggregate::Item;
use super::format::rfc3339_ns;

/// Names that are alert properties rather than output fields.
const ALERT_NAMES: &[&str] = &[
    "rule", "priority", "output", "hostname", "source", "cluster", "time", "tags", "count", "seq",
];

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

impl Template {
    /// Parses `text`. `%%` is a literal `%`; `%name` a field, where a name
    /// is letters, digits, `_` and `.` (a trailing `.` ends the sentence, not
    /// the name), optionally followed by a `[argument]`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('%') {
            lit.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                lit.push('%');
                rest = tail;
                continue;
            }
            let mut len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(after.len());
            if after[..len].ends_with('.') && !after[len..].starts_with('[') {
                len = after[..len].trim_end_matches('.').len();
            }
            if len == 0 {
                let offset = text.len() - rest.len() + at;
                return Err(format!(
                    "`%` at byte {offset} is not followed by a field name (write `%%` for a literal %)"
                ));
            }
            if after[len..].starts_with('[') {
                match after[len..].find(']') {
                    Some(close) => len += close + 1,
                    None => return Err(format!("unclosed `[` after %{}", &after[..len])),
                }
            }
            if !lit.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut lit)));
            }
            parts.push(Part::Field(after[..len].to_string()));
            rest = &after[len..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template { parts })
    }

    /// The field names the template uses, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Renders for one alert (or aggregated group); every value goes
    /// through `escape`. A field the alert does not carry renders as `<NA>`,
    /// as in Falco's output.
    pub fn render(&self, item: &Item, escape: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(name) => out.push_str(&escape(&value(item, name))),
            }
        }
        out
    }
}

fn value(item: &Item, name: &str) -> String {
    let a = &item.alert;
    if ALERT_NAMES.contains(&name) {
        return match name {
            "rule" => a.rule.clone(),
            "priority" => a.priority().falco_name().to_string(),
            "output" => a.output.clone(),
            "hostname" => a.hostname.clone(),
            "source" => a.source.clone(),
            "cluster" => a.cluster.clone(),
            "time" => rfc3339_ns(a.time_ns),
            "tags" => a.tags.join(","),
            "count" => item.count.to_string(),
            _ => a.seq.to_string(),
        };
    }
    a.output_fields
        .get(name)
        .cloned()
        .unwrap_or_else(|| "<NA>".to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use falco_proto::v1::{Alert, Priority};
    use std::sync::Arc;

    fn item() -> Item {
        Item::single(Arc::new(Alert {
            rule: "Shell <b>".into(),
            priority: Priority::Critical as i32,
            tags: vec!["T1059".into(), "shell".into()],
            output_fields: [
                ("proc.cmdline".to_string(), "bash -c 'x'".to_string()),
                (
                    "container.mount.dest[/proc*]".to_string(),
                    "/proc".to_string(),
                ),
            ]
            .into(),
            ..Default::default()
        }))
    }

    #[test]
    fn renders_fields_with_the_sinks_escaping() {
        let t =
            Template::parse("[%priority] %rule: %proc.cmdline on %k8s.pod.name. 100%% sure, %tags")
                .unwrap();
        let out = t.render(&item(), |v| v.replace('<', "&lt;"));
        assert_eq!(
            out,
            "[Critical] Shell &lt;b>: bash -c 'x' on &lt;NA>. 100% sure, T1059,shell"
        );
        // The escape applies to values only, never to the template's text.
        let t = Template::parse("<%rule>").unwrap();
        assert_eq!(
            t.render(&item(), |v| v.replace('<', "&lt;")),
            "<Shell &lt;b>>"
        );
    }

    #[test]
    fn bracket_arguments_and_field_list() {
        let t = Template::parse("%container.mount.dest[/proc*] by %proc.cmdline").unwrap();
        assert_eq!(
            t.fields().collect::<Vec<_>>(),
            ["container.mount.dest[/proc*]", "proc.cmdline"]
        );
        assert_eq!(t.render(&item(), str::to_string), "/proc by bash -c 'x'");
    }

    #[test]
    fn bad_templates_are_explained() {
        let err = Template::parse("100% sure").unwrap_err();
        assert!(err.contains("byte 3") && err.contains("%%"), "{err}");
        let err = Template::parse("%fd.name[/etc").unwrap_err();
        assert!(err.contains("unclosed"), "{err}");
        assert_eq!(
            Template::parse("").unwrap().render(&item(), str::to_string),
            ""
        );
    }
}
