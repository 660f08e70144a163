//! What the detection loop shares with the gRPC API: the current rule set
//! (swapped atomically on reload), probe health and counters, and the
//! `SensorInfo` answers built from them.

use super::rules_source::RulesSource;
use crate::api::SensorInfo;
use crate::metrics::SensorCounters;
use crate::rules::RuleSet;
use falco_proto::v1::{
    GetStatsResponse, GetVersionResponse, PutRulesFileRequest, PutRulesFileResponse,
    ResponseRecord, RuleInfo, RunActionRequest,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// Runs a response action requested through the API (wired to the responder).
pub type ActionRunner =
    Box<dyn Fn(&RunActionRequest) -> Result<ResponseRecord, tonic::Status> + Send + Sync>;

/// State shared between the detection loop and the API.
pub struct Shared {
    rules: RwLock<Arc<RuleSet>>,
    generation: AtomicU64,
    source: RulesSource,
    counters: Arc<SensorCounters>,
    kernel: String,
    health: Mutex<String>,
    /// Serialises reloads (SIGHUP, file watch, PutRulesFile).
    reload_lock: Mutex<()>,
    actions: OnceLock<ActionRunner>,
}

impl Shared {
    pub fn new(
        rules: Arc<RuleSet>,
        source: RulesSource,
        counters: Arc<SensorCounters>,
        kernel: String,
    ) -> Self {
        Shared {
            rules: RwLock::new(rules),
            generation: AtomicU64::new(0),
            source,
            counters,
            kernel,
            health: Mutex::new("ok".to_string()),
            reload_lock: Mutex::new(()),
            actions: OnceLock::new(),
        }
    }

    /// The rule set in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        match self.rules.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Bumped on every successful reload; the detection loop compares it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn set_health(&self, health: impl Into<String>) {
        if let Ok(mut h) = self.health.lock() {
            *h = health.into();
        }
    }

    /// Reloads every rules file. On success the new set replaces the old one
    /// atomically; on failure the old set keeps running and the error is
    /// returned (and counted).
    pub fn reload(&self) -> Result<Arc<RuleSet>, String> {
        let _serial = self.reload_lock.lock();
        self.reload_locked()
    }

    fn reload_locked(&self) -> Result<Arc<RuleSet>, String> {
        match self.source.load() {
            Ok(loaded) => {
                let set = Arc::new(loaded.ruleset);
                match self.rules.write() {
                    Ok(mut g) => *g = set.clone(),
                    Err(poisoned) => *poisoned.into_inner() = set.clone(),
                }
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.counters.rule_reloads.fetch_add(1, Ordering::Relaxed);
                for w in &loaded.warnings {
                    tracing::warn!("rules: {w}");
                }
                Ok(set)
            }
            Err(e) => {
                self.counters
                    .rule_reload_failures
                    .fetch_add(1, Ordering::Relaxed);
                Err(e.to_string())
            }
        }
    }

    /// Enables `RunAction` (set once the responder runs, when it accepts
    /// manual actions).
    pub fn set_action_runner(&self, runner: ActionRunner) {
        if self.actions.set(runner).is_err() {
            tracing::warn!("action runner already set; keeping the first");
        }
    }

    pub fn source(&self) -> &RulesSource {
        &self.source
    }
}

/// A rules file name PutRulesFile accepts: a plain `*.yaml` name, no path.
fn safe_rules_file_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && (name.ends_with(".yaml") || name.ends_with(".yml"))
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then_some(name)
}

fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}

impl SensorInfo for Shared {
    fn fill_stats(&self, stats: &mut GetStatsResponse) {
        let rules = self.rules();
        let (mut loaded, mut enabled) = (0u32, 0u32);
        for r in rules.rules() {
            loaded += 1;
            if r.enabled() {
                enabled += 1;
            }
        }
        stats.rules_loaded = loaded;
        stats.rules_enabled = enabled;
    }

    fn rules(&self) -> Vec<RuleInfo> {
        self.rules()
            .rules()
            .map(|r| RuleInfo {
                name: r.name().to_string(),
                priority: r.priority() as i32,
                tags: r.tags().to_vec(),
                enabled: r.enabled(),
                source_file: r.source_file().to_string(),
                desc: r.desc().to_string(),
                source: r.source().to_string(),
            })
            .collect()
    }

    fn version(&self) -> GetVersionResponse {
        GetVersionResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            kernel: self.kernel.clone(),
            health: self
                .health
                .lock()
                .map(|h| h.clone())
                .unwrap_or_else(|_| "unknown".to_string()),
            actions_enabled: self.actions.get().is_some(),
            ..GetVersionResponse::default()
        }
    }

    fn run_action(&self, req: RunActionRequest) -> Result<ResponseRecord, tonic::Status> {
        match self.actions.get() {
            Some(run) => run(&req),
            None => Err(tonic::Status::failed_precondition(
                "this sensor has no responder configured",
            )),
        }
    }

    fn put_rules_file(&self, req: PutRulesFileRequest) -> PutRulesFileResponse {
        let refuse = |msg: String| PutRulesFileResponse {
            applied: false,
            errors: vec![msg],
            warnings: Vec::new(),
        };
        let Some(name) = safe_rules_file_name(&req.name) else {
            return refuse(format!(
                "rules file name {:?} must be a plain name ending in .yaml (letters, digits, - _ .)",
                req.name
            ));
        };
        let Some(dir) = self.source.writable_dir().map(Path::to_path_buf) else {
            return refuse("this sensor has no writable rules directory".to_string());
        };
        let _serial = self.reload_lock.lock();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return refuse(format!("rules.writable_dir {}: {e}", dir.display()));
        }
        let path: PathBuf = dir.join(name);
        let previous = std::fs::read_to_string(&path).ok();
        if let Err(e) = write_atomically(&path, &req.content) {
            return refuse(format!("{}: {e}", path.display()));
        }
        match self.reload_locked() {
            Ok(_) => PutRulesFileResponse {
                applied: true,
                errors: Vec::new(),
                warnings: Vec::new(),
            },
            Err(err) => {
                // Put the directory back as it was so a restart loads the old set.
                let restore = match &previous {
                    Some(old) => write_atomically(&path, old),
                    None => std::fs::remove_file(&path),
                };
                let mut errors = vec![err];
                if let Err(e) = restore {
                    errors.push(format!("restoring {}: {e}", path.display()));
                }
                PutRulesFileResponse {
                    applied: false,
                    errors,
                    warnings: Vec::new(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RulesConfig;

    fn shared(dir: &Path) -> Shared {
        let cfg = RulesConfig {
            writable_dir: dir.join("rules.d"),
            ..RulesConfig::default()
        };
        let source = RulesSource::from_config(&cfg);
        let rules = Arc::new(source.load().unwrap().ruleset);
        Shared::new(rules, source, SensorCounters::new(), "6.x".into())
    }

    #[test]
    fn put_rules_file_applies_a_good_file_and_bumps_generation() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let before = s.generation();
        let resp = s.put_rules_file(PutRulesFileRequest {
            name: "tuning.yaml".into(),
            content: "- rule: Extra\n  desc: d\n  condition: evt.type = execve and proc.name = zz\n  output: o\n  priority: NOTICE\n".into(),
        });
        assert!(resp.applied, "{:?}", resp.errors);
        assert_eq!(s.generation(), before + 1);
        assert!(SensorInfo::rules(&s).iter().any(|r| r.name == "Extra"));
    }

    #[test]
    fn put_rules_file_with_errors_keeps_old_set_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let before = s.generation();
        let resp = s.put_rules_file(PutRulesFileRequest {
            name: "broken.yaml".into(),
            content: "- rule: Bad\n  desc: d\n  condition: no.such.field = 1\n  output: o\n  priority: NOTICE\n".into(),
        });
        assert!(!resp.applied);
        assert!(resp.errors[0].contains("no.such.field"), "{:?}", resp.errors);
        assert_eq!(s.generation(), before);
        assert!(!dir.path().join("rules.d/broken.yaml").exists());
        assert_eq!(s.counters.rule_reload_failures.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn put_rules_file_rejects_path_names() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        for bad in ["../x.yaml", "/etc/x.yaml", "x.txt", ".hidden.yaml", ""] {
            let resp = s.put_rules_file(PutRulesFileRequest {
                name: bad.into(),
                content: String::new(),
            });
            assert!(!resp.applied, "{bad} accepted");
        }
    }
}
