//! Which policy, if any, applies to an alert.

use super::config::PolicyConfig;
use falco_proto::v1::{Alert, Priority};

/// The first policy (in config order) whose every set criterion matches.
pub fn first_match<'a>(policies: &'a [PolicyConfig], alert: &Alert) -> Option<&'a PolicyConfig> {
    policies.iter().find(|p| matches(p, alert))
}

/// Criteria combine with AND; the values inside one list with OR; an empty
/// list does not restrict.
pub fn matches(policy: &PolicyConfig, alert: &Alert) -> bool {
    let priority = Priority::try_from(alert.priority).unwrap_or(Priority::Unspecified);
    if priority == Priority::Unspecified || !priority.at_least(policy.min_priority) {
        return false;
    }
    if !policy.rules.is_empty() && !policy.rules.contains(&alert.rule) {
        return false;
    }
    if !policy.tags.is_empty() && !policy.tags.iter().any(|t| alert.tags.contains(t)) {
        return false;
    }
    if !policy.namespaces.is_empty() {
        let ns = alert
            .kubernetes
            .as_ref()
            .map(|k| k.namespace.as_str())
            .filter(|ns| !ns.is_empty())
            .or_else(|| alert.output_fields.get("k8s.ns.name").map(String::as_str))
            .unwrap_or("");
        if !policy.namespaces.iter().any(|n| n == ns) {
            return false;
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors
mod tests {
    use super::*;
    use crate::respond::config::{Action, ResponseConfig};
    use falco_proto::v1::KubernetesContext;

    fn policies(yaml: &str) -> Vec<PolicyConfig> {
        let cfg: ResponseConfig = serde_yaml::from_str(yaml).unwrap();
        cfg.policies
    }

    fn alert(priority: Priority, rule: &str, tags: &[&str], ns: &str) -> Alert {
        Alert {
            priority: priority as i32,
            rule: rule.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            kubernetes: Some(KubernetesContext {
                namespace: ns.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn priority_threshold() {
        let p = policies("policies: [{name: p, actions: [kill-process]}]");
        assert!(matches(&p[0], &alert(Priority::Critical, "r", &[], "a")));
        assert!(matches(&p[0], &alert(Priority::Emergency, "r", &[], "a")));
        assert!(!matches(&p[0], &alert(Priority::Error, "r", &[], "a")));
        assert!(!matches(
            &p[0],
            &alert(Priority::Unspecified, "r", &[], "a")
        ));
    }

    #[test]
    fn rules_tags_namespaces_combine_with_and() {
        let p = policies(
            r#"policies:
  - {name: p, min_priority: notice, rules: [A, B], tags: [t1, t2], namespaces: [prod], actions: [label-pod]}"#,
        );
        let p = &p[0];
        assert!(matches(
            p,
            &alert(Priority::Notice, "B", &["x", "t2"], "prod")
        ));
        assert!(!matches(p, &alert(Priority::Notice, "C", &["t2"], "prod")));
        assert!(!matches(p, &alert(Priority::Notice, "A", &["x"], "prod")));
        assert!(!matches(p, &alert(Priority::Notice, "A", &["t1"], "dev")));
        assert!(!matches(
            p,
            &alert(Priority::Informational, "A", &["t1"], "prod")
        ));
    }

    #[test]
    fn namespace_from_output_fields() {
        let p = policies("policies: [{name: p, namespaces: [prod], actions: [delete-pod]}]");
        let mut a = Alert {
            priority: Priority::Critical as i32,
            ..Default::default()
        };
        assert!(!matches(&p[0], &a));
        a.output_fields.insert("k8s.ns.name".into(), "prod".into());
        assert!(matches(&p[0], &a));
    }

    #[test]
    fn first_matching_policy_wins() {
        let p = policies(
            r#"policies:
  - {name: narrow, rules: [A], actions: [delete-pod]}
  - {name: broad, actions: [label-pod]}"#,
        );
        let a = alert(Priority::Critical, "A", &[], "x");
        assert_eq!(first_match(&p, &a).unwrap().name, "narrow");
        let b = alert(Priority::Critical, "B", &[], "x");
        let m = first_match(&p, &b).unwrap();
        assert_eq!((m.name.as_str(), m.actions[0]), ("broad", Action::LabelPod));
        assert!(first_match(&p, &alert(Priority::Warning, "A", &[], "x")).is_none());
    }
}
