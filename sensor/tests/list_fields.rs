//! `falco-sensor list-fields` prints every registered field with its type,
//! grouped by class; `falco-sensor default-rules` prints the embedded ruleset.

use falco_sensor::rules::fields::{doc, registry};
use std::process::Command;

#[test]
fn list_fields_prints_every_field_grouped_by_class() {
    let out = Command::new(env!("CARGO_BIN_EXE_falco-sensor"))
        .arg("list-fields")
        .output()
        .expect("run falco-sensor list-fields");
    assert!(out.status.success(), "exit status {:?}", out.status);
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut last_header = 0;
    for (class, _) in doc::CLASSES {
        let header = format!("{class}: ");
        let pos = text
            .find(&format!("\n{header}"))
            .map(|p| p + 1)
            .or_else(|| text.starts_with(&header).then_some(0))
            .unwrap_or_else(|| panic!("no header for class {class}"));
        assert!(pos >= last_header, "class {class} out of order");
        last_header = pos;
    }
    for f in registry() {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&doc::syntax(f)))
            .unwrap_or_else(|| panic!("{} is not listed", f.name));
        assert!(
            line.contains(f.ftype.name()),
            "{}: no type in {line:?}",
            f.name
        );
        assert!(
            line.contains(f.desc),
            "{}: no description in {line:?}",
            f.name
        );
    }
    assert!(text.contains("proc.aname[N]?"));
    assert!(text.contains("evt.arg.NAME / evt.arg[N]"));
}

#[test]
fn default_rules_prints_the_embedded_ruleset_and_it_validates() {
    let out = Command::new(env!("CARGO_BIN_EXE_falco-sensor"))
        .arg("default-rules")
        .output()
        .expect("run falco-sensor default-rules");
    assert!(out.status.success(), "exit status {:?}", out.status);
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    assert_eq!(text, falco_sensor::rules::default_rules_yaml());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("falco-sensor_rules.yaml");
    std::fs::write(&file, &text).expect("write rules");
    let v = Command::new(env!("CARGO_BIN_EXE_falco-sensor"))
        .arg("validate")
        .arg("-r")
        .arg(&file)
        .output()
        .expect("run validate");
    assert!(
        v.status.success(),
        "the printed default rules do not validate: {}",
        String::from_utf8_lossy(&v.stdout)
    );
}
