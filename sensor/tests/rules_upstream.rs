#![allow(clippy::unwrap_used)]
//! The three upstream Falco rulesets load unmodified, alone and together,
//! with zero errors; counts are checked against an independent reading of
//! the same YAML with serde_yaml.

use falco_sensor::rules::{LoadOptions, WarningCode, load_files};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn upstream_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat/falco-rules")
}

const FILES: &[&str] = &[
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
];

/// Distinct names of `kind` items (rule / macro / list) across files,
/// and the number of such items per file.
fn independent_counts(files: &[&str], kind: &str) -> (usize, Vec<usize>) {
    let mut names = BTreeSet::new();
    let mut per_file = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(upstream_dir().join(f)).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let mut n = 0;
        for item in doc.as_sequence().unwrap() {
            if let Some(name) = item.get(kind).and_then(|v| v.as_str()) {
                names.insert(name.to_string());
                n += 1;
            }
        }
        per_file.push(n);
    }
    (names.len(), per_file)
}

fn paths(files: &[&str]) -> Vec<PathBuf> {
    files.iter().map(|f| upstream_dir().join(f)).collect()
}

#[test]
fn all_three_upstream_rulesets_load_together() {
    let loaded = load_files(&paths(FILES), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("upstream rules failed to load: {e}"));
    let (rules, rules_per_file) = independent_counts(FILES, "rule");
    let (macros, macros_per_file) = independent_counts(FILES, "macro");
    let (lists, lists_per_file) = independent_counts(FILES, "list");
    assert!(rules > 50, "the test data looks truncated");
    assert_eq!(loaded.summary.rules, rules);
    assert_eq!(loaded.summary.macros, macros);
    assert_eq!(loaded.summary.lists, lists);
    for (i, fc) in loaded.summary.files.iter().enumerate() {
        assert!(fc.file.ends_with(FILES[i]));
        assert_eq!(fc.rules, rules_per_file[i], "{}", fc.file);
        assert_eq!(fc.macros, macros_per_file[i], "{}", fc.file);
        assert_eq!(fc.lists, lists_per_file[i], "{}", fc.file);
    }
    // Every rule is compiled and listed, in load order.
    assert_eq!(loaded.ruleset.rules().count(), rules);
    let enabled_in_yaml = loaded.ruleset.rules().filter(|r| r.enabled()).count();
    assert_eq!(loaded.summary.enabled_rules, enabled_in_yaml);
    assert!(
        enabled_in_yaml < rules,
        "some upstream rules are disabled by default"
    );
    // The interest set holds the obvious types.
    let types = loaded.ruleset.event_types();
    for t in ["execve", "openat", "connect"] {
        assert!(
            types.iter().any(|x| x.name() == t),
            "{t} missing from interest set"
        );
    }
    for w in &loaded.warnings {
        assert_ne!(w.code, WarningCode::SkippedUnknownFilter, "{w}");
    }
}

#[test]
fn each_upstream_ruleset_loads_alone() {
    for f in FILES {
        let loaded = load_files(&paths(&[f]), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{f} failed to load alone: {e}"));
        let (rules, _) = independent_counts(&[f], "rule");
        assert_eq!(loaded.summary.rules, rules, "{f}");
    }
}
