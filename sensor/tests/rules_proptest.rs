//! Property tests: the condition parser and the rules loader never panic,
//! whatever the input, and accept what they print back.

use falco_sensor::rules::parse::parse_condition;
use falco_sensor::rules::{LoadOptions, load_sources};
use proptest::prelude::*;

/// Tokens of the condition language, to reach deep parser states more
/// often than uniformly random text does.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("and".to_string()),
        Just("or".to_string()),
        Just("not".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(",".to_string()),
        Just("=".to_string()),
        Just("!=".to_string()),
        Just("<=".to_string()),
        Just("in".to_string()),
        Just("pmatch".to_string()),
        Just("exists".to_string()),
        Just("glob".to_string()),
        Just("regex".to_string()),
        Just("val(".to_string()),
        Just("tolower(".to_string()),
        Just("proc.name".to_string()),
        Just("proc.aname[2]".to_string()),
        Just("fd.name".to_string()),
        Just("evt.type".to_string()),
        Just("evt.arg.flags".to_string()),
        Just("\"quoted \\\" str\"".to_string()),
        Just("'x".to_string()),
        Just("[".to_string()),
        Just("some_macro".to_string()),
        "[a-z/._*?\\[\\]-]{1,8}",
        "\\PC{0,4}",
    ]
}

fn condition() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..24).prop_map(|t| t.join(" "))
}

const PRELUDE: &str =
    "- list: l\n  items: [a, b]\n- macro: some_macro\n  condition: evt.type = open\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics_on_tokens(src in condition()) {
        let _ = parse_condition(&src);
    }

    #[test]
    fn parser_never_panics_on_any_text(src in "\\PC{0,64}") {
        let _ = parse_condition(&src);
    }

    #[test]
    fn loader_never_panics_on_generated_rules(cond in condition(), out in "[%a-z.() \\[\\]]{0,24}", prio in "[A-Za-z]{0,8}") {
        let yaml = format!(
            "{PRELUDE}- rule: r\n  desc: d\n  condition: {}\n  output: {}\n  priority: {prio}\n",
            serde_yaml::to_string(&cond).unwrap().trim_end(),
            serde_yaml::to_string(&out).unwrap().trim_end(),
        );
        let _ = load_sources(&[("p.yaml".into(), yaml)], &LoadOptions::default());
    }

    #[test]
    fn loader_never_panics_on_any_text(text in "\\PC{0,256}") {
        let _ = load_sources(&[("p.yaml".into(), text)], &LoadOptions::default());
    }

    #[test]
    fn loader_never_panics_on_yaml_shaped_text(lines in prop::collection::vec(
        prop_oneof![
            Just("- rule: r".to_string()),
            Just("- macro: m".to_string()),
            Just("- list: l".to_string()),
            Just("  condition: evt.type = open and m".to_string()),
            Just("  items: [a, l, \"b\"]".to_string()),
            Just("  append: true".to_string()),
            Just("  override:".to_string()),
            Just("    condition: append".to_string()),
            Just("    items: replace".to_string()),
            Just("  output: x %proc.name".to_string()),
            Just("  priority: WARNING".to_string()),
            Just("  desc: d".to_string()),
            Just("  exceptions:".to_string()),
            Just("    - name: e".to_string()),
            Just("      fields: [proc.name, fd.name]".to_string()),
            Just("      values: [[a, b], [c]]".to_string()),
            Just("  ]".to_string()),
            "[ a-z:\\[\\]{}&*!|>'\"-]{0,20}",
        ],
        0..20,
    )) {
        let _ = load_sources(&[("p.yaml".into(), lines.join("\n"))], &LoadOptions::default());
    }
}
