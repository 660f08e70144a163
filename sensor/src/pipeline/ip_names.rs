//! The host names the rules compare `fd.cip.name`, `fd.sip.name`,
//! `fd.lip.name` and `fd.rip.name` with: the names the sensor resolves in
//! the background (see `state::dns`), as Falco does. Only literal operands
//! of `=`, `!=` and `in` (lists and macros already expanded) name a host;
//! `contains`, globs and the like cannot be resolved and never match.

use crate::event::EventType;
use crate::rules::RuleSet;
use crate::rules::pred::{Pred, StrOp, Test};
use std::collections::BTreeSet;

/// The fields whose value is the name of an address.
pub const IP_NAME_FIELDS: &[&str] = &["fd.cip.name", "fd.sip.name", "fd.lip.name", "fd.rip.name"];

/// Every name an enabled rule compares an `fd.*ip.name` field with.
pub fn watched_names(rules: &RuleSet) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for &t in EventType::ALL {
        for (_, pred) in rules.conditions_for(t) {
            collect(pred, &mut names);
        }
    }
    names
}

fn collect(p: &Pred, out: &mut BTreeSet<String>) {
    match p {
        Pred::True | Pred::False | Pred::EvtType(_) => {}
        Pred::And(xs) | Pred::Or(xs) => xs.iter().for_each(|x| collect(x, out)),
        Pred::Not(x) | Pred::Memo(_, x) => collect(x, out),
        Pred::Check(c) => {
            if !IP_NAME_FIELDS.contains(&c.lhs.spec.info().name) {
                return;
            }
            let mut add = |s: &str| {
                let name = s.trim().trim_end_matches('.');
                if !name.is_empty() {
                    out.insert(name.to_string());
                }
            };
            match &c.test {
                Test::Str { op: StrOp::Eq, lit } => add(lit),
                Test::StrIn(items) => items.iter().for_each(|s| add(s)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::rules::{LoadOptions, load_sources};

    fn names_for(yaml: &str) -> BTreeSet<String> {
        let rs = load_sources(
            &[("t.yaml".into(), yaml.to_string())],
            &LoadOptions::default(),
        )
        .unwrap()
        .ruleset;
        watched_names(&rs)
    }

    fn rule(condition: &str) -> String {
        format!("- rule: r\n  desc: d\n  condition: {condition}\n  output: o\n  priority: NOTICE\n")
    }

    #[test]
    fn equality_and_in_operands_through_lists_and_macros_are_collected() {
        let yaml = format!(
            "- list: apis\n  items: [api.example, \"other.example\"]\n\
             - macro: to_api\n  condition: fd.sip.name in (apis)\n{}",
            rule(
                "evt.type = connect and (to_api or fd.rip.name = db.example or fd.cip.name != c.example or fd.lip.name = l.example)"
            )
        );
        let got = names_for(&yaml);
        let want: BTreeSet<String> = [
            "api.example",
            "other.example",
            "db.example",
            "c.example",
            "l.example",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn other_operators_other_fields_and_disabled_rules_add_nothing() {
        let yaml = rule(
            "evt.type = connect and (fd.sip.name contains api or fd.sip.name startswith x or fd.name = y.example)",
        ) + &rule("evt.type = connect and fd.sip.name = off.example")
            .replace("- rule: r", "- rule: r2")
            + "  enabled: false\n";
        assert!(names_for(&yaml).is_empty());
    }

    #[test]
    fn the_stable_ruleset_watches_the_api_server_name() {
        let (file, text) = crate::pipeline::upstream_rules("falco_rules.yaml");
        let rs = load_sources(&[(file, text)], &LoadOptions::default())
            .unwrap()
            .ruleset;
        let names = watched_names(&rs);
        assert!(
            names.contains("kubernetes.default.svc.cluster.local"),
            "{names:?}"
        );
    }
}
