//! Server-side Subscribe filters.

use falco_proto::v1::{Alert, Priority, SubscribeRequest};
use std::collections::HashSet;

/// Which alerts a subscriber wants. Empty sets admit everything.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub min_priority: Priority,
    pub rules: HashSet<String>,
    /// Kubernetes namespaces; "" stands for alerts tied to no namespace.
    pub namespaces: HashSet<String>,
}

impl AlertFilter {
    pub fn from_request(req: &SubscribeRequest) -> AlertFilter {
        AlertFilter {
            min_priority: req.min_priority(),
            rules: req.rules.iter().cloned().collect(),
            namespaces: req.namespaces.iter().cloned().collect(),
        }
    }

    pub fn admits(&self, alert: &Alert) -> bool {
        alert.priority().at_least(self.min_priority)
            && (self.rules.is_empty() || self.rules.contains(&alert.rule))
            && (self.namespaces.is_empty() || self.namespaces.contains(namespace_of(alert)))
    }
}

/// The alert's namespace, "" when it has none (host processes, bare containers).
pub fn namespace_of(alert: &Alert) -> &str {
    if let Some(k) = &alert.kubernetes
        && !k.namespace.is_empty()
    {
        return &k.namespace;
    }
    match alert.output_fields.get("k8s.ns.name").map(String::as_str) {
        Some("<NA>") | None => "",
        Some(ns) => ns,
    }
}
