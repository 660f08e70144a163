//! The project's own default ruleset, embedded in the binary. It is loaded
//! when no rules file is configured; `docs/rules.md` describes every rule
//! and how to tune it.

/// File name the embedded ruleset is reported under (errors, `ListRules`).
pub const DEFAULT_RULES_NAME: &str = "falco-sensor_rules.yaml";

const DEFAULT_RULES: &str = include_str!("falco-sensor_rules.yaml");

/// The default ruleset's YAML text.
pub fn default_rules_yaml() -> &'static str {
    DEFAULT_RULES
}

#[cfg(test)]
mod tests;
