//! The tuning side of the state: the `:noise` ranking, exception drafts and
//! their previews and application, saved views, exports.

use super::State;
use crate::app::effect::{Effect, ExportItem, StoreWrite};
use crate::app::{Overlay, SortKey};
use crate::components::View;
use crate::exception::{ExceptionDraft, SENSOR_FILE_NAME};
use crate::filter::Filter;
use crate::source::SensorTarget;
use crate::store::{ExceptionPreview, NoiseBy, NoiseQuery, NoiseReport, SavedView};
use std::path::PathBuf;

/// Windows the `:noise` ranking offers (`[` and `]` step through them).
pub const NOISE_WINDOWS: [(&str, i64); 5] = [
    ("15m", 15 * 60),
    ("1h", 3600),
    ("6h", 6 * 3600),
    ("24h", 24 * 3600),
    ("7d", 7 * 24 * 3600),
];

/// The `:noise` view: which window and grouping, and the last answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseState {
    /// Index into [`NOISE_WINDOWS`].
    pub window: usize,
    pub by: NoiseBy,
    pub cursor: usize,
    pub report: Option<NoiseReport>,
    pub error: Option<String>,
    /// When the ranking was last asked for (it refreshes while shown).
    pub asked_ns: i64,
}

impl Default for NoiseState {
    fn default() -> Self {
        NoiseState {
            window: 1,
            by: NoiseBy::Image,
            cursor: 0,
            report: None,
            error: None,
            asked_ns: 0,
        }
    }
}

/// How often the shown `:noise` ranking is asked for again.
pub(super) const NOISE_REFRESH_NS: i64 = 10_000_000_000;

/// What the exception being drafted would have silenced in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub rule: String,
    pub fields: Vec<(String, String)>,
    pub result: Result<ExceptionPreview, String>,
}

impl State {
    /// Opens the exception editor on `draft` and asks what it would silence.
    pub fn open_exception(&mut self, draft: ExceptionDraft) {
        self.overlay = Overlay::Exception(draft);
        self.preview = None;
        self.request_preview();
    }

    /// Asks the store which stored alerts the open draft matches.
    pub fn request_preview(&mut self) {
        let Overlay::Exception(d) = &self.overlay else {
            return;
        };
        if !self.has_store {
            return;
        }
        let (rule, fields) = (d.rule.clone(), d.kept_fields());
        self.emit(Effect::PreviewException { rule, fields });
    }

    /// Asks for the `:noise` ranking with the current window and grouping.
    pub fn query_noise(&mut self) {
        self.noise.asked_ns = self.now_ns;
        if !self.has_store {
            self.noise.error = Some("the noise ranking needs the store".into());
            return;
        }
        self.emit(Effect::QueryNoise(NoiseQuery {
            now_ns: self.now_ns,
            window_s: NOISE_WINDOWS[self.noise.window].1,
            by: self.noise.by,
            limit: 200,
        }));
    }

    /// `:view` (list), `:view NAME` (switch to it, or save the current
    /// filter, sort and grouping under a new name), `:view save NAME`.
    pub(super) fn saved_view_command(&mut self, args: &str) {
        let (save, name) = match args.split_once(' ') {
            Some(("save", name)) => (true, name.trim()),
            _ => (false, args),
        };
        if name.is_empty() {
            let names: Vec<&str> = self.saved_views.iter().map(|v| v.name.as_str()).collect();
            self.message = Some(if names.is_empty() {
                "no saved views: :view NAME saves the current filter, sort and grouping".into()
            } else {
                format!("saved views: {}", names.join(", "))
            });
            return;
        }
        let existing = self.saved_views.iter().find(|v| v.name == name).cloned();
        match existing.filter(|_| !save) {
            Some(v) => match Filter::parse(&v.filter) {
                Ok(f) => {
                    self.filter = f;
                    self.sort = match v.sort.as_str() {
                        "priority" => SortKey::Priority,
                        "rule" => SortKey::Rule,
                        _ => SortKey::Time,
                    };
                    self.group = v.grouped;
                    self.follow = self.sort == SortKey::Time;
                    self.active_view = Some(v.name.clone());
                    self.switch_view(View::Alerts);
                    self.refilter();
                    self.message = Some(format!("view {}", v.name));
                }
                Err(e) => self.message = Some(format!("view {}: {e}", v.name)),
            },
            None => {
                let v = SavedView {
                    name: name.to_string(),
                    filter: self.filter.to_args(),
                    sort: self.sort.as_str().to_string(),
                    grouped: self.group,
                };
                self.saved_views.retain(|x| x.name != v.name);
                self.saved_views.push(v.clone());
                self.saved_views.sort_by(|a, b| a.name.cmp(&b.name));
                self.active_view = Some(v.name.clone());
                self.message = Some(format!("saved view {} ({})", v.name, v.filter));
                if self.has_store {
                    self.emit(Effect::StoreWrite(StoreWrite::SaveView(v)));
                }
            }
        }
    }

    /// Sensors that accept PutRulesFile (GetVersion.actions_enabled), from
    /// `--sensor` and Kubernetes discovery alike.
    pub fn action_targets(&self) -> Vec<SensorTarget> {
        self.targets
            .iter()
            .filter(|t| {
                self.sensors.iter().any(|s| {
                    s.name == t.name && s.version.as_ref().is_some_and(|v| v.actions_enabled)
                })
            })
            .cloned()
            .collect()
    }

    /// Writes the exception draft (and with `apply`, sends it to sensors).
    pub fn write_exception(&mut self, draft: ExceptionDraft, apply: bool) {
        if apply && self.readonly {
            self.message = Some("read-only: exceptions are not applied (w writes the file)".into());
            return;
        }
        if let Err(e) = draft.yaml(1) {
            self.message = Some(e.to_string());
            return;
        }
        self.emit(Effect::WriteException { draft, apply });
    }

    pub(super) fn apply_rules(&mut self, content: String) {
        let targets = self.action_targets();
        if targets.is_empty() || self.readonly {
            self.message = Some(format!(
                "exception written to {}; no connected sensor allows actions, ship the file yourself",
                self.exceptions_path.display()
            ));
            return;
        }
        self.emit(Effect::ApplyRules {
            targets,
            file_name: SENSOR_FILE_NAME.to_string(),
            content,
        });
    }

    pub(super) fn export(&mut self, path: &str) {
        if path.is_empty() {
            self.message = Some("usage: :export FILE (.csv for CSV, JSON lines otherwise)".into());
            return;
        }
        let expanded = match path.strip_prefix("~/") {
            Some(rest) => dirs::home_dir()
                .map(|h| h.join(rest))
                .unwrap_or(path.into()),
            None => PathBuf::from(path),
        };
        let items = self
            .rows
            .iter()
            .flat_map(|r| self.members(r).iter())
            .map(|&i| {
                let e = &self.entries[i];
                ExportItem {
                    alert: e.alert.clone(),
                    shed: e.shed,
                    state: e.state,
                    notes: e.notes.clone(),
                }
            })
            .collect();
        self.emit(Effect::Export {
            path: expanded,
            items,
        });
    }
}
