//! Whether the kernel should copy each exec's environment: derived from the
//! rules like the interest set, so a rule on `proc.env` works without
//! configuration and a rule set without one does not pay for the copy.
//! `probe.capture_env` can force it on or off (see docs/config.md).

use crate::config::CaptureEnv;
use crate::rules::RuleSet;

/// Fields whose value comes from the environment captured at exec.
pub const ENV_FIELDS: &[&str] = &["proc.env"];

/// What the probe does with environments for one rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvCapture {
    /// Copy the environment at exec.
    pub on: bool,
    /// Enabled rules that read an environment field (condition or output),
    /// in load order.
    pub readers: Vec<String>,
    pub setting: CaptureEnv,
}

impl EnvCapture {
    /// Decides for `rules` under `setting`.
    pub fn derive(rules: &RuleSet, setting: CaptureEnv) -> Self {
        let readers = env_readers(rules);
        let on = match setting {
            CaptureEnv::Auto => !readers.is_empty(),
            CaptureEnv::On => true,
            CaptureEnv::Off => false,
        };
        EnvCapture {
            on,
            readers,
            setting,
        }
    }

    /// The load-time warning when rules need environments the probe will
    /// not capture: names the rules and the setting that turned it off.
    pub fn warning(&self) -> Option<String> {
        if self.on || self.readers.is_empty() {
            return None;
        }
        Some(format!(
            "probe.capture_env is false, so proc.env is empty: {} will not match on the environment \
             and show <NA> for it: {}; remove the setting (default auto) or set it to true",
            if self.readers.len() == 1 {
                "this rule"
            } else {
                "these rules"
            },
            self.readers.join(", ")
        ))
    }

    /// One line for the log saying what was decided and why.
    pub fn describe(&self) -> String {
        match (self.setting, self.on) {
            (CaptureEnv::On, _) => "environment capture on: probe.capture_env is true".to_string(),
            (CaptureEnv::Off, _) => {
                "environment capture off: probe.capture_env is false".to_string()
            }
            (CaptureEnv::Auto, true) => format!(
                "environment capture on: rules read proc.env: {}",
                self.readers.join(", ")
            ),
            (CaptureEnv::Auto, false) => {
                "environment capture off: no enabled rule reads proc.env".to_string()
            }
        }
    }
}

/// The enabled rules that read an environment field, in load order.
pub fn env_readers(rules: &RuleSet) -> Vec<String> {
    rules
        .rules()
        .filter(|r| r.enabled())
        .filter(|r| {
            r.fields()
                .iter()
                .any(|(_, spec)| ENV_FIELDS.contains(&spec.info().name))
        })
        .map(|r| r.name().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::defaults::{DEFAULT_RULES_NAME, default_rules_yaml};
    use crate::rules::{LoadOptions, load_sources};

    fn load(sources: Vec<(String, String)>) -> RuleSet {
        load_sources(&sources, &LoadOptions::default())
            .expect("rules load")
            .ruleset
    }

    const ENV_RULE: &str = "- rule: Proxy env\n  desc: d\n  condition: evt.type = execve and proc.env[HTTP_PROXY] exists\n  output: o %proc.name\n  priority: NOTICE\n";

    #[test]
    fn auto_follows_the_rules() {
        let with = load(vec![("t.yaml".into(), ENV_RULE.into())]);
        let d = EnvCapture::derive(&with, CaptureEnv::Auto);
        assert!(d.on);
        assert_eq!(d.readers, vec!["Proxy env".to_string()]);
        assert_eq!(d.warning(), None);

        let without = load(vec![(
            "t.yaml".into(),
            ENV_RULE.replace("proc.env[HTTP_PROXY] exists", "proc.name = curl"),
        )]);
        let d = EnvCapture::derive(&without, CaptureEnv::Auto);
        assert!(!d.on);
        assert!(d.readers.is_empty());
        assert_eq!(d.warning(), None);
    }

    #[test]
    fn an_output_field_alone_also_turns_it_on() {
        let rs = load(vec![(
            "t.yaml".into(),
            ENV_RULE
                .replace("proc.env[HTTP_PROXY] exists", "proc.name = curl")
                .replace("o %proc.name", "o env=%proc.env"),
        )]);
        assert!(EnvCapture::derive(&rs, CaptureEnv::Auto).on);
    }

    #[test]
    fn disabled_rules_do_not_count() {
        let rs = load(vec![(
            "t.yaml".into(),
            format!("{ENV_RULE}  enabled: false\n"),
        )]);
        assert!(!EnvCapture::derive(&rs, CaptureEnv::Auto).on);
    }

    #[test]
    fn forced_settings_win_and_false_warns_with_rule_and_setting() {
        let rs = load(vec![("t.yaml".into(), ENV_RULE.into())]);
        assert!(EnvCapture::derive(&rs, CaptureEnv::On).on);
        let off = EnvCapture::derive(&rs, CaptureEnv::Off);
        assert!(!off.on);
        let w = off.warning().expect("a warning");
        assert!(w.contains("probe.capture_env is false"), "{w}");
        assert!(w.contains("Proxy env"), "{w}");
        let none = load(vec![(
            "t.yaml".into(),
            ENV_RULE.replace("proc.env[HTTP_PROXY] exists", "proc.name = curl"),
        )]);
        assert!(EnvCapture::derive(&none, CaptureEnv::On).on);
        assert_eq!(EnvCapture::derive(&none, CaptureEnv::Off).warning(), None);
    }

    #[test]
    fn the_default_rules_alone_do_not_capture_environments() {
        let rs = load(vec![(
            DEFAULT_RULES_NAME.to_string(),
            default_rules_yaml().to_string(),
        )]);
        let d = EnvCapture::derive(&rs, CaptureEnv::Auto);
        assert!(!d.on, "default rules read proc.env: {:?}", d.readers);
    }

    #[test]
    fn the_upstream_rulesets_turn_it_on_for_the_two_env_rules() {
        let files: Vec<_> = [
            "falco_rules.yaml",
            "falco-incubating_rules.yaml",
            "falco-sandbox_rules.yaml",
        ]
        .iter()
        .map(|n| crate::pipeline::upstream_rules(n))
        .collect();
        let stable_only = load(files[..1].to_vec());
        assert!(!EnvCapture::derive(&stable_only, CaptureEnv::Auto).on);
        let all = load(files);
        let d = EnvCapture::derive(&all, CaptureEnv::Auto);
        assert!(d.on);
        for rule in [
            "Program run with disallowed http proxy env",
            "Potential Local Privilege Escalation via Environment Variables Misuse",
        ] {
            assert!(d.readers.iter().any(|r| r == rule), "{:?}", d.readers);
        }
    }
}
