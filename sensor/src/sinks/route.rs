//! Routing: which alerts one sink takes. Every condition that is set must
//! hold (rules, tags, sources, namespaces, priority range), and no exclusion
//! may match. Lists are globs (`*`, `?`, `[a-z]`, as in Falco's `glob`),
//! compiled once; an empty list places no condition.

use crate::config::{ForwardConfig, RoutingConfig};
use crate::rules::glob::Glob;
use falco_proto::v1::{Alert, Priority};

/// One sink's compiled routing settings.
#[derive(Debug, Clone)]
pub struct Route {
    min_priority: Priority,
    max_priority: Priority,
    rules: Globs,
    exclude_rules: Globs,
    tags: Globs,
    exclude_tags: Globs,
    sources: Globs,
    exclude_sources: Globs,
    namespaces: Globs,
    exclude_namespaces: Globs,
}

#[derive(Debug, Clone, Default)]
struct Globs(Vec<Glob>);

impl Globs {
    fn new(patterns: &[String]) -> Globs {
        Globs(patterns.iter().map(|p| Glob::new(p, false)).collect())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn any(&self, text: &str) -> bool {
        self.0.iter().any(|g| g.matches(text))
    }

    fn any_of<'a>(&self, mut texts: impl Iterator<Item = &'a str>) -> bool {
        texts.any(|t| self.any(t))
    }
}

impl Route {
    /// The route of a sink: `forward.min_priority` is its lower priority
    /// bound, `forward.routing` the rest.
    pub fn from_config(fwd: &ForwardConfig) -> Route {
        Route::new(fwd.min_priority, &fwd.routing)
    }

    pub fn new(min_priority: Priority, r: &RoutingConfig) -> Route {
        Route {
            min_priority,
            max_priority: r.max_priority,
            rules: Globs::new(&r.rules),
            exclude_rules: Globs::new(&r.exclude_rules),
            tags: Globs::new(&r.tags),
            exclude_tags: Globs::new(&r.exclude_tags),
            sources: Globs::new(&r.sources),
            exclude_sources: Globs::new(&r.exclude_sources),
            namespaces: Globs::new(&r.namespaces),
            exclude_namespaces: Globs::new(&r.exclude_namespaces),
        }
    }

    /// True when nothing but the minimum priority is set (the bus then skips
    /// the glob checks entirely).
    pub fn is_priority_only(&self) -> bool {
        self.max_priority == Priority::Emergency
            && [
                &self.rules,
                &self.exclude_rules,
                &self.tags,
                &self.exclude_tags,
                &self.sources,
                &self.exclude_sources,
                &self.namespaces,
                &self.exclude_namespaces,
            ]
            .iter()
            .all(|g| g.is_empty())
    }

    pub fn min_priority(&self) -> Priority {
        self.min_priority
    }

    /// Does this sink take `alert`?
    pub fn admits(&self, alert: &Alert) -> bool {
        let p = alert.priority();
        if !p.at_least(self.min_priority) || !self.max_priority.at_least(p) {
            return false;
        }
        // Same definition as the gRPC subscriber filter: "" when none.
        let ns = crate::bus::namespace_of(alert);
        let tags = || alert.tags.iter().map(String::as_str);
        let selected = (self.rules.is_empty() || self.rules.any(&alert.rule))
            && (self.tags.is_empty() || self.tags.any_of(tags()))
            && (self.sources.is_empty() || self.sources.any(&alert.source))
            && (self.namespaces.is_empty() || self.namespaces.any(ns));
        selected
            && !self.exclude_rules.any(&alert.rule)
            && !self.exclude_tags.any_of(tags())
            && !self.exclude_sources.any(&alert.source)
            && !self.exclude_namespaces.any(ns)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use falco_proto::v1::KubernetesContext;

    fn alert(rule: &str, p: Priority, tags: &[&str], source: &str, ns: &str) -> Alert {
        Alert {
            rule: rule.into(),
            priority: p as i32,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            source: source.into(),
            kubernetes: (!ns.is_empty()).then(|| KubernetesContext {
                namespace: ns.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn routing(yaml: &str) -> RoutingConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn routing_table() {
        let shell = alert(
            "Terminal shell in container",
            Priority::Notice,
            &["T1059", "mitre_execution", "shell"],
            "syscall",
            "prod-eu",
        );
        let write = alert(
            "Write below etc",
            Priority::Error,
            &["filesystem"],
            "syscall",
            "",
        );
        let audit = alert(
            "K8s Secret Get",
            Priority::Warning,
            &["k8s"],
            "k8s_audit",
            "kube-system",
        );
        let all = [&shell, &write, &audit];
        // (routing yaml, min priority, which of [shell, write, audit] pass)
        let cases: &[(&str, Priority, [bool; 3])] = &[
            ("{}", Priority::Debug, [true, true, true]),
            ("{}", Priority::Warning, [false, true, true]),
            (
                "{max_priority: Warning}",
                Priority::Debug,
                [true, false, true],
            ),
            (
                "{rules: ['Terminal*']}",
                Priority::Debug,
                [true, false, false],
            ),
            (
                "{rules: ['Write below etc', 'K8s*']}",
                Priority::Debug,
                [false, true, true],
            ),
            (
                "{exclude_rules: ['*shell*']}",
                Priority::Debug,
                [false, true, true],
            ),
            ("{tags: [T1059]}", Priority::Debug, [true, false, false]),
            (
                "{tags: ['mitre_*', filesystem]}",
                Priority::Debug,
                [true, true, false],
            ),
            (
                "{exclude_tags: [k8s, filesystem]}",
                Priority::Debug,
                [true, false, false],
            ),
            (
                "{sources: [k8s_audit]}",
                Priority::Debug,
                [false, false, true],
            ),
            (
                "{exclude_sources: [k8s_audit]}",
                Priority::Debug,
                [true, true, false],
            ),
            (
                "{namespaces: ['prod-*']}",
                Priority::Debug,
                [true, false, false],
            ),
            ("{namespaces: ['']}", Priority::Debug, [false, true, false]),
            (
                "{exclude_namespaces: ['kube-*']}",
                Priority::Debug,
                [true, true, false],
            ),
            // The issue's example: T1059 from prod-* to the paging sink...
            (
                "{tags: [T1059], namespaces: ['prod-*']}",
                Priority::Debug,
                [true, false, false],
            ),
            // ...and everything else to the log store.
            (
                "{exclude_tags: [T1059]}",
                Priority::Debug,
                [false, true, true],
            ),
            // An exclusion wins over a selection.
            (
                "{rules: ['*'], exclude_namespaces: ['prod-*']}",
                Priority::Debug,
                [false, true, true],
            ),
        ];
        for (yaml, min, expected) in cases {
            let route = Route::new(*min, &routing(yaml));
            let got: Vec<bool> = all.iter().map(|a| route.admits(a)).collect();
            assert_eq!(&got, expected, "routing {yaml} min {min:?}");
        }
    }

    #[test]
    fn priority_only_is_detected() {
        assert!(Route::new(Priority::Warning, &routing("{}")).is_priority_only());
        assert!(!Route::new(Priority::Debug, &routing("{tags: [x]}")).is_priority_only());
        assert!(!Route::new(Priority::Debug, &routing("{max_priority: Error}")).is_priority_only());
    }

    #[test]
    fn namespace_from_output_fields_when_no_k8s_context() {
        let mut a = alert("r", Priority::Notice, &[], "syscall", "");
        a.output_fields
            .insert("k8s.ns.name".into(), "prod-us".into());
        let route = Route::new(Priority::Debug, &routing("{namespaces: ['prod-*']}"));
        assert!(route.admits(&a));
        a.output_fields.insert("k8s.ns.name".into(), "<NA>".into());
        assert!(!route.admits(&a));
    }
}
