//! `falco-sensor validate [--config FILE] [-r FILE...]`: checks the config
//! file as `run` loads it (every section, the response policies included,
//! errors at `file:line:column`), then loads and compiles the rules files in
//! order and prints what was loaded, every warning and the first error.

use super::ValidateArgs;
use crate::config::Config;
use crate::pipeline::rules_source::{RulesSource, load_options};
use crate::rules::{LoadOptions, LoadedRules};
use std::process::ExitCode;

/// Runs the subcommand; the exit code is non-zero when loading fails.
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut out = String::new();
    let ok = report(args, &mut out);
    print!("{out}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds the report text; false when loading failed.
pub fn report(args: &ValidateArgs, out: &mut String) -> bool {
    use std::fmt::Write;
    let fail = |out: &mut String, e: &dyn std::fmt::Display| {
        let _ = writeln!(out, "error: {e}");
        let _ = writeln!(out, "1 error");
        let _ = writeln!(out, "FAILED");
        false
    };
    let source = match &args.config {
        Some(path) => match Config::load(Some(path), &[]) {
            Ok(cfg) => {
                let _ = writeln!(out, "Config {}: OK", path.display());
                if args.rules.is_empty() {
                    RulesSource::from_config(&cfg.rules)
                } else {
                    RulesSource::from_files(args.rules.clone(), load_options(&cfg.rules))
                }
            }
            Err(e) => return fail(out, &e),
        },
        None => RulesSource::from_files(args.rules.clone(), LoadOptions::default()),
    };
    let loaded: Result<LoadedRules, _> = source.load();
    match loaded {
        Ok(loaded) => {
            let s = &loaded.summary;
            for w in &loaded.warnings {
                let _ = writeln!(out, "warning: {w}");
            }
            let _ = writeln!(out, "Files:");
            for f in &s.files {
                let _ = writeln!(
                    out,
                    "  {}: {} rules, {} macros, {} lists",
                    f.file, f.rules, f.macros, f.lists
                );
            }
            let _ = writeln!(
                out,
                "Loaded {} rules ({} enabled), {} macros, {} lists",
                s.rules, s.enabled_rules, s.macros, s.lists
            );
            let _ = writeln!(out, "0 errors, {} warnings", loaded.warnings.len());
            let _ = writeln!(out, "OK");
            true
        }
        Err(e) => fail(out, &e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn summary_counts_and_warnings_for_valid_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            &dir,
            "a.yaml",
            "- list: l\n  items: [/etc/passwd]\n- list: unused\n  items: []\n- macro: m\n  condition: evt.type = openat\n- rule: r\n  desc: d\n  condition: m and fd.name in (l)\n  output: o\n  priority: WARNING\n",
        );
        let b = write(
            &dir,
            "b.yaml",
            "- rule: r\n  enabled: false\n- rule: s\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n",
        );
        let mut out = String::new();
        assert!(report(
            &ValidateArgs {
                rules: vec![a, b],
                config: None
            },
            &mut out
        ));
        assert!(out.contains("a.yaml: 1 rules, 1 macros, 2 lists"), "{out}");
        assert!(out.contains("b.yaml: 2 rules, 0 macros, 0 lists"), "{out}");
        assert!(
            out.contains("Loaded 2 rules (1 enabled), 1 macros, 2 lists"),
            "{out}"
        );
        assert!(out.contains("0 errors, 2 warnings"), "{out}");
        assert!(
            out.contains("list \"unused\": list is not referenced"),
            "{out}"
        );
        assert!(
            out.contains("b.yaml:3:9: rule \"s\": condition does not restrict evt.type"),
            "{out}"
        );
    }

    #[test]
    fn errors_fail_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            &dir,
            "bad.yaml",
            "- rule: r\n  desc: d\n  condition: evt.type = open and proc.nam = x\n  output: o\n  priority: WARNING\n",
        );
        let mut out = String::new();
        assert!(!report(
            &ValidateArgs {
                rules: vec![a],
                config: None
            },
            &mut out
        ));
        assert!(
            out.contains("bad.yaml:3:34: rule \"r\": unknown field"),
            "{out}"
        );
        assert!(out.contains("FAILED"));
        let mut out = String::new();
        let missing = dir.path().join("nope.yaml");
        assert!(!report(
            &ValidateArgs {
                rules: vec![missing],
                config: None
            },
            &mut out
        ));
        assert!(out.contains("nope.yaml"), "{out}");
    }

    #[test]
    fn config_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let rules = write(
            &dir,
            "r.yaml",
            "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: WARNING\n",
        );
        let cfg = write(
            &dir,
            "sensor.yaml",
            "cluster: c\nresponse:\n  mode: ips\n  policies:\n    - name: kill\n      actions: []\n",
        );
        let mut out = String::new();
        let args = ValidateArgs {
            rules: vec![rules.clone()],
            config: Some(cfg.clone()),
        };
        assert!(!report(&args, &mut out));
        let want = format!(
            "error: {}:5:7: config key response.policies[0] (\"kill\"): actions must name at least one action",
            cfg.display()
        );
        assert!(out.contains(&want), "{out}");
        // Unknown action names fail in the typed parse, with the line too.
        std::fs::write(
            &cfg,
            "response:\n  policies:\n    - name: kill\n      actions: [nuke]\n",
        )
        .unwrap();
        let mut out = String::new();
        assert!(!report(&args, &mut out));
        assert!(out.contains(&format!("{}:4:", cfg.display())), "{out}");
        assert!(out.contains("nuke"), "{out}");
        std::fs::write(&cfg, "response:\n  mode: ips\n").unwrap();
        let mut out = String::new();
        assert!(report(&args, &mut out), "{out}");
        assert!(out.contains("Config ") && out.contains(": OK"), "{out}");
    }
}
