//! Where the rules come from and when they changed: the configured files and
//! directories (or the embedded default ruleset), then the writable
//! directory that `PutRulesFile` fills. Loading always compiles the whole
//! set, so a reload either replaces everything or nothing.

use crate::config::{RuleMatchingMode, RulesConfig};
use crate::rules::defaults::{DEFAULT_RULES_NAME, default_rules_yaml};
use crate::rules::{LoadError, LoadOptions, LoadedRules, RuleMatching, load_sources};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Why rules could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulesSourceError {
    #[error("rules path {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// The rule files to load, in order, and how to load them.
#[derive(Debug, Clone)]
pub struct RulesSource {
    configured: Vec<PathBuf>,
    writable_dir: Option<PathBuf>,
    options: LoadOptions,
}

/// Modification times of every file a load read, to notice edits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint(Vec<(PathBuf, Option<SystemTime>)>);

impl RulesSource {
    pub fn from_config(cfg: &RulesConfig) -> Self {
        RulesSource {
            configured: cfg.files.clone(),
            writable_dir: Some(cfg.writable_dir.clone()),
            options: load_options(cfg),
        }
    }

    /// Rules from explicit files only (e.g. `replay -r`), no writable dir.
    pub fn from_files(files: Vec<PathBuf>, options: LoadOptions) -> Self {
        RulesSource {
            configured: files,
            writable_dir: None,
            options,
        }
    }

    pub fn options(&self) -> &LoadOptions {
        &self.options
    }

    /// The writable directory for `PutRulesFile`, if any.
    pub fn writable_dir(&self) -> Option<&Path> {
        self.writable_dir.as_deref()
    }

    /// Every file a load reads, in order (directories expanded to their
    /// `*.yaml`/`*.yml` files sorted by name). Empty when only the embedded
    /// default ruleset applies.
    pub fn files(&self) -> Result<Vec<PathBuf>, RulesSourceError> {
        let mut out = Vec::new();
        for p in &self.configured {
            if p.is_dir() {
                out.extend(yaml_files_in(p)?);
            } else {
                out.push(p.clone());
            }
        }
        if let Some(dir) = &self.writable_dir
            && dir.is_dir()
        {
            out.extend(yaml_files_in(dir)?);
        }
        Ok(out)
    }

    /// Loads and compiles the whole set.
    pub fn load(&self) -> Result<LoadedRules, RulesSourceError> {
        let mut sources = Vec::new();
        if self.configured.is_empty() {
            sources.push((
                DEFAULT_RULES_NAME.to_string(),
                default_rules_yaml().to_string(),
            ));
        }
        for path in self.files()? {
            let text = std::fs::read_to_string(&path).map_err(|source| RulesSourceError::Io {
                path: path.clone(),
                source,
            })?;
            sources.push((path.display().to_string(), text));
        }
        Ok(load_sources(&sources, &self.options)?)
    }

    /// Current modification times of the files (and directories, so added
    /// or removed files count as a change).
    pub fn fingerprint(&self) -> Fingerprint {
        let mut entries: Vec<PathBuf> = self.configured.clone();
        entries.extend(self.writable_dir.clone());
        if let Ok(files) = self.files() {
            entries.extend(files);
        }
        Fingerprint(
            entries
                .into_iter()
                .map(|p| {
                    let m = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                    (p, m)
                })
                .collect(),
        )
    }
}

fn yaml_files_in(dir: &Path) -> Result<Vec<PathBuf>, RulesSourceError> {
    let rd = std::fs::read_dir(dir).map_err(|source| RulesSourceError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Engine options from the `rules:` config section.
pub fn load_options(cfg: &RulesConfig) -> LoadOptions {
    LoadOptions {
        disabled_rules: cfg.disabled_rules.clone(),
        disabled_tags: cfg.disabled_tags.clone(),
        enabled_rules: cfg.enabled_rules.clone(),
        min_priority: cfg.min_priority,
        rule_matching: match cfg.rule_matching {
            RuleMatchingMode::First => RuleMatching::First,
            RuleMatchingMode::All => RuleMatching::All,
        },
        ..LoadOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str) -> String {
        format!(
            "- rule: {name}\n  desc: d\n  condition: evt.type = execve and proc.name = {name}\n  output: o %proc.name\n  priority: WARNING\n"
        )
    }

    #[test]
    fn directories_expand_sorted_and_writable_dir_loads_last() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf.d");
        let writable = dir.path().join("rules.d");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(&writable).unwrap();
        std::fs::write(conf.join("b.yaml"), rule("b")).unwrap();
        std::fs::write(conf.join("a.yml"), rule("a")).unwrap();
        std::fs::write(conf.join("notes.txt"), "not rules").unwrap();
        std::fs::write(writable.join("tuning.yaml"), rule("t")).unwrap();
        let cfg = RulesConfig {
            files: vec![conf.clone()],
            writable_dir: writable.clone(),
            ..RulesConfig::default()
        };
        let src = RulesSource::from_config(&cfg);
        let files = src.files().unwrap();
        assert_eq!(
            files,
            vec![conf.join("a.yml"), conf.join("b.yaml"), writable.join("tuning.yaml")]
        );
        let loaded = src.load().unwrap();
        let names: Vec<_> = loaded.ruleset.rules().map(|r| r.name().to_string()).collect();
        assert_eq!(names, vec!["a", "b", "t"]);
    }

    #[test]
    fn no_configured_files_means_embedded_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RulesConfig {
            writable_dir: dir.path().join("absent"),
            ..RulesConfig::default()
        };
        let loaded = RulesSource::from_config(&cfg).load().unwrap();
        assert!(
            loaded
                .ruleset
                .rules()
                .any(|r| r.name() == "Terminal shell in container")
        );
    }

    #[test]
    fn fingerprint_changes_when_a_file_is_added() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), rule("a")).unwrap();
        let src = RulesSource::from_files(vec![dir.path().to_path_buf()], LoadOptions::default());
        let before = src.fingerprint();
        assert_eq!(before, src.fingerprint());
        std::fs::write(dir.path().join("b.yaml"), rule("b")).unwrap();
        assert_ne!(before, src.fingerprint());
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, "- rule: x\n  condition: evt.type = = \n").unwrap();
        let err = match RulesSource::from_files(vec![f], LoadOptions::default()).load() {
            Ok(_) => panic!("a broken file loaded"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("bad.yaml"), "{err}");
    }
}
