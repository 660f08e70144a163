//! The console's state and its transitions. Everything here is pure: events
//! (keys, alerts, source news, results of effects) change the state and may
//! record [`Effect`]s; nothing here spawns a task or touches SQLite,
//! Kubernetes, files or the terminal. The [`Runner`](super::Runner) does that.
//!
//! Views read `State` to draw and never mutate it. View-specific key handling
//! lives in the components (`crate::components`); the shared operations they
//! call (triage, filters, navigation of the alert list) live here.

use super::effect::{Effect, ExportItem, RecordPurpose, StoreWrite};
use crate::alert::AlertRecord;
use crate::components::{Registry, View};
use crate::event::{AppEvent, Event, InsertFailed, SensorUpdate, SensorUpdateKind, StoredBatch};
use crate::exception::{ExceptionDraft, SENSOR_FILE_NAME};
use crate::filter::Filter;
use crate::keys::{self, Action};
use crate::kube::PodDetails;
use crate::source::SensorTarget;
use crate::store::StoredAlert;
use crate::triage::{Silence, SilenceScope, TriageState};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_proto::v1::{GetStatsResponse, GetVersionResponse, Priority};
use rustc_hash::FxHashMap as FastMap;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Time,
    Priority,
    Rule,
}

impl SortKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Time => "time",
            SortKey::Priority => "priority",
            SortKey::Rule => "rule",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Command,
    Note,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help,
    Input { kind: InputKind, buffer: String },
    ConfirmDelete { namespace: String, pod: String },
    Silence { scope: usize, duration: usize },
    Exception(ExceptionDraft),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodTab {
    Describe,
    Events,
    Logs,
    Alerts,
}

/// The pod drilldown: what is shown while and after loading.
#[derive(Debug, Clone, PartialEq)]
pub struct PodView {
    pub namespace: String,
    pub name: String,
    pub container: String,
    pub details: Option<Box<PodDetails>>,
    pub error: Option<String>,
    pub tab: PodTab,
    pub scroll: usize,
    /// Indices into `State::entries` of this pod's alerts, oldest first.
    pub alerts: Vec<usize>,
}

/// One sensor (or file) source as the sensors view shows it.
#[derive(Debug, Clone, Default)]
pub struct SensorStatus {
    pub name: String,
    pub state: String,
    pub error: Option<String>,
    pub version: Option<GetVersionResponse>,
    pub stats: Option<GetStatsResponse>,
    /// Events and alerts per second from the last two stats samples.
    pub event_rate: f64,
    pub alert_rate: f64,
    stats_at_ns: i64,
    /// Sensor clock minus ours at the last heartbeat, and how many alerts the
    /// sensor has assigned that we have not received yet.
    pub lag_ms: Option<i64>,
    pub backlog: Option<u64>,
    pub received: u64,
    pub last_seq: u64,
    pub gaps: Vec<String>,
}

/// An alert in memory with its triage and the precomputed filter haystack.
/// With a store attached, `alert` is the list view's copy (see
/// [`AlertRecord::shed_detail`]) and the full record is read back on demand
/// ([`Effect::LoadRecord`]): 100,000 full records would cost ~3 KB each.
#[derive(Debug, Clone)]
pub struct Entry {
    pub alert: AlertRecord,
    /// `alert` lacks its detail-only parts; the store has them.
    pub shed: bool,
    pub state: TriageState,
    pub notes: Vec<String>,
    hay: String,
    /// Hash of (rule, namespace, pod, command): what grouping compares, so a
    /// rebuild never touches the strings. 64 bits make a false merge among
    /// 100,000 alerts a one-in-billions event.
    group_key: u64,
}

/// A visible line of the alerts view: one alert, or a group of repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The newest member (what the row shows).
    pub entry: usize,
    /// Index into `State::groups` when grouped; ungrouped rows need no allocation.
    pub group: Option<usize>,
}

pub struct State {
    pub entries: Vec<Entry>,
    by_id: HashMap<i64, usize>,
    pub rows: Vec<Row>,
    /// Members of grouped rows (see `Row::group`).
    pub groups: Vec<Vec<usize>>,
    rows_dirty: bool,
    /// The last filter change only made it stricter (see `prepare`).
    narrowing: bool,
    pub cursor: usize,
    pub marked: HashSet<i64>,
    pub views: Vec<View>,
    pub filter: Filter,
    pub sort: SortKey,
    pub follow: bool,
    pub paused: bool,
    /// Alerts that arrived while paused (shown as a count, listed on resume).
    pub held: usize,
    pub group: bool,
    pub show_silenced: bool,
    pub silences: Vec<Silence>,
    pub overlay: Overlay,
    pub message: Option<String>,
    pub sensors: Vec<SensorStatus>,
    pub targets: Vec<SensorTarget>,
    /// What the header says we are connected to (context, sensors, file).
    pub origin: String,
    pub pod: Option<PodView>,
    pub detail: Option<usize>,
    /// Full record of the `detail` entry, read when the view opened.
    detail_full: Option<AlertRecord>,
    pub detail_scroll: usize,
    pub rules_cursor: usize,
    pub now_ns: i64,
    pub color: bool,
    pub utc: bool,
    pub quit: bool,
    pub exceptions_path: PathBuf,
    /// A store keeps the alerts: new ones go through it for their ids, and
    /// entries keep only the list view's part of their record.
    pub has_store: bool,
    /// Kubernetes is reachable (pod drilldown, delete).
    pub kube_available: bool,
    /// `--readonly`: nothing is written to sensors or the cluster.
    pub readonly: bool,
    pending: Vec<AlertRecord>,
    next_mem_id: i64,
    /// Rows per page, from the last render (for page up/down).
    pub page: usize,
    /// Untriaged alerts in memory, kept current so the header costs nothing.
    new_count: usize,
    /// Every view and what it binds; see `components`.
    pub registry: Arc<Registry>,
    effects: Vec<Effect>,
}

impl State {
    pub fn new(origin: &str, now_ns: i64) -> Self {
        State {
            entries: Vec::new(),
            by_id: HashMap::new(),
            rows: Vec::new(),
            groups: Vec::new(),
            rows_dirty: false,
            narrowing: false,
            cursor: 0,
            marked: HashSet::new(),
            views: vec![View::Alerts],
            filter: Filter::default(),
            sort: SortKey::Time,
            follow: true,
            paused: false,
            held: 0,
            group: false,
            show_silenced: false,
            silences: Vec::new(),
            overlay: Overlay::None,
            message: None,
            sensors: Vec::new(),
            targets: Vec::new(),
            origin: origin.to_string(),
            pod: None,
            detail: None,
            detail_full: None,
            detail_scroll: 0,
            rules_cursor: 0,
            now_ns,
            color: true,
            utc: false,
            quit: false,
            exceptions_path: PathBuf::from(SENSOR_FILE_NAME),
            has_store: false,
            kube_available: false,
            readonly: false,
            pending: Vec::new(),
            next_mem_id: 1,
            page: 10,
            new_count: 0,
            registry: Arc::new(Registry::standard()),
            effects: Vec::new(),
        }
    }

    /// Records an effect for the runner.
    pub fn emit(&mut self, e: Effect) {
        self.effects.push(e);
    }

    /// The effects recorded since the last call, oldest first.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Applies `ev` and returns the effects it asked for: the state machine's
    /// whole interface for tests.
    pub fn update(&mut self, ev: Event) -> Vec<Effect> {
        self.handle(ev);
        self.take_effects()
    }

    /// Adds one stored alert (history loading streams them one at a time).
    pub fn load_one(&mut self, a: StoredAlert) {
        self.push_entry(a.alert, a.state, a.notes, true);
        self.rows_dirty = true;
    }

    pub fn view(&self) -> View {
        self.views.last().copied().unwrap_or(View::Alerts)
    }

    /// `shed`: the store holds the full record, keep only the list view's part.
    fn push_entry(
        &mut self,
        mut alert: AlertRecord,
        state: TriageState,
        notes: Vec<String>,
        shed: bool,
    ) {
        let hay = alert.haystack();
        if shed {
            alert.shed_detail();
        }
        let group_key = {
            use std::hash::{Hash, Hasher};
            let mut h = rustc_hash::FxHasher::default();
            (&alert.rule, &alert.namespace, &alert.pod, &alert.cmdline).hash(&mut h);
            h.finish()
        };
        if state == TriageState::New {
            self.new_count += 1;
        }
        self.by_id.insert(alert.id, self.entries.len());
        self.entries.push(Entry {
            alert,
            shed,
            state,
            notes,
            hay,
            group_key,
        });
    }

    /// Queues an alert; `flush` stores and shows it.
    pub fn push_alert(&mut self, a: AlertRecord) {
        self.pending.push(a);
    }

    /// Alerts received but not yet stored and shown.
    pub fn pending(&self) -> &[AlertRecord] {
        &self.pending
    }

    /// Sends queued alerts to the store in one batch (their ids come back with
    /// `AppEvent::Stored`), or numbers and shows them when there is no store.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.pending);
        if self.has_store {
            self.emit(Effect::StoreWrite(StoreWrite::Insert(batch)));
            return;
        }
        for a in &mut batch {
            a.id = self.next_mem_id;
            self.next_mem_id += 1;
        }
        self.show_new(batch);
    }

    fn on_stored(&mut self, r: Result<StoredBatch, InsertFailed>) {
        match r {
            Ok(b) => {
                self.show_new(b.alerts);
                if !b.dropped.is_empty() {
                    self.drop_ids(&b.dropped);
                }
                if let Some(e) = b.retention_error {
                    self.message = Some(e);
                }
            }
            Err(InsertFailed { mut batch, error }) => {
                // Keep the batch (ahead of what arrived since) for the next flush.
                self.message = Some(error);
                batch.append(&mut self.pending);
                self.pending = batch;
            }
        }
    }

    /// Adds alerts with ids to the entries (id 0: a duplicate the store skipped).
    fn show_new(&mut self, batch: Vec<AlertRecord>) {
        let stored = self.has_store;
        let fast = self.sort == SortKey::Time && !self.group && !self.paused && !self.rows_dirty;
        for a in batch.into_iter().filter(|a| a.id != 0) {
            let newest = self.rows.last().is_none_or(|r| {
                let last = &self.entries[r.entry].alert;
                (last.time_ns, last.id) <= (a.time_ns, a.id)
            });
            self.push_entry(a, TriageState::New, Vec::new(), stored);
            let idx = self.entries.len() - 1;
            if self.paused {
                self.held += 1;
            } else if fast && newest {
                if self.visible(idx) {
                    self.rows.push(Row {
                        entry: idx,
                        group: None,
                    });
                }
            } else {
                self.rows_dirty = true;
            }
        }
        if self.follow && !self.paused && !self.rows_dirty {
            self.cursor = self.rows.len().saturating_sub(1);
        }
    }

    fn drop_ids(&mut self, ids: &[i64]) {
        let gone: HashSet<i64> = ids.iter().copied().collect();
        self.entries.retain(|e| !gone.contains(&e.alert.id));
        self.new_count = self
            .entries
            .iter()
            .filter(|e| e.state == TriageState::New)
            .count();
        self.by_id = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.alert.id, i))
            .collect();
        self.marked.retain(|id| !gone.contains(id));
        self.detail = None;
        self.detail_full = None;
        self.views.retain(|v| *v != View::Detail);
        if let Some(p) = &mut self.pod {
            p.alerts = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.alert.namespace == p.namespace && e.alert.pod == p.name)
                .map(|(i, _)| i)
                .collect();
            p.scroll = p.scroll.min(p.alerts.len().saturating_sub(1));
        }
        // Row indices point into `entries`, which just shifted: rebuild now,
        // even while paused, so nothing renders a stale index.
        self.rebuild_rows();
        self.rows_dirty = false;
        self.cursor = self.cursor.min(self.rows.len().saturating_sub(1));
    }

    fn silenced(&self, e: &Entry) -> bool {
        self.silences
            .iter()
            .any(|s| s.matches(&e.alert, self.now_ns))
    }

    pub fn is_silenced(&self, idx: usize) -> bool {
        self.entries.get(idx).is_some_and(|e| self.silenced(e))
    }

    fn visible(&self, idx: usize) -> bool {
        let e = &self.entries[idx];
        self.filter.matches(&e.alert, e.state, &e.hay) && (self.show_silenced || !self.silenced(e))
    }

    /// Rebuilds the visible rows if something changed; call before drawing.
    pub fn prepare(&mut self) {
        if self.paused {
            // Whatever happens while paused, rebuild fully on resume.
            self.narrowing = false;
            return;
        }
        if !self.rows_dirty {
            return;
        }
        self.rows_dirty = false;
        let keep_id = self.current_alert().map(|a| a.id);
        if std::mem::take(&mut self.narrowing) && !self.group {
            // The filter only got stricter (typing more text): every match is
            // among the rows already shown, and their order does not change.
            let rows = std::mem::take(&mut self.rows);
            self.rows = rows.into_iter().filter(|r| self.visible(r.entry)).collect();
        } else {
            self.rebuild_rows();
        }
        self.cursor = if self.follow {
            self.rows.len().saturating_sub(1)
        } else {
            keep_id
                .and_then(|id| {
                    self.rows
                        .iter()
                        .position(|r| self.entries[r.entry].alert.id == id)
                })
                .unwrap_or_else(|| self.cursor.min(self.rows.len().saturating_sub(1)))
        };
    }

    fn rebuild_rows(&mut self) {
        let visible: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.visible(i))
            .collect();
        let rows: Vec<Row> = if self.group {
            let mut index: FastMap<u64, usize> = FastMap::default();
            let mut rows: Vec<Row> = Vec::new();
            let mut groups: Vec<Vec<usize>> = Vec::new();
            for i in visible {
                let key = self.entries[i].group_key;
                match index.get(&key) {
                    Some(&r) => {
                        let row = &mut rows[r];
                        groups[r].push(i);
                        let (cur, a) = (&self.entries[row.entry].alert, &self.entries[i].alert);
                        if (cur.time_ns, cur.id) < (a.time_ns, a.id) {
                            row.entry = i;
                        }
                    }
                    None => {
                        index.insert(key, rows.len());
                        rows.push(Row {
                            entry: i,
                            group: Some(groups.len()),
                        });
                        groups.push(vec![i]);
                    }
                }
            }
            self.groups = groups;
            rows
        } else {
            visible
                .into_iter()
                .map(|i| Row {
                    entry: i,
                    group: None,
                })
                .collect()
        };
        if !self.group {
            self.groups.clear();
        }
        // Sort compact keys rather than rows: comparing through `entries` would
        // chase a pointer per comparison, which dominates with 100k alerts.
        let e = &self.entries;
        let rule_rank: FastMap<&str, i64> = if self.sort == SortKey::Rule {
            let mut names: Vec<&str> = rows
                .iter()
                .map(|r| e[r.entry].alert.rule.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            names
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n, i as i64))
                .collect()
        } else {
            FastMap::default()
        };
        let mut keyed: Vec<(i64, i64, i64, usize)> = rows
            .iter()
            .enumerate()
            .map(|(pos, r)| {
                let a = &e[r.entry].alert;
                let major = match self.sort {
                    SortKey::Time => 0,
                    SortKey::Priority => -i64::from(a.priority().severity()),
                    SortKey::Rule => rule_rank.get(a.rule.as_str()).copied().unwrap_or_default(),
                };
                (major, a.time_ns, a.id, pos)
            })
            .collect();
        keyed.sort_unstable();
        let mut slots: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
        self.rows = keyed
            .into_iter()
            .filter_map(|(.., pos)| slots[pos].take())
            .collect();
    }

    pub fn refilter(&mut self) {
        self.rows_dirty = true;
        self.prepare();
    }

    /// The filter changed only by getting stricter (see `prepare`).
    pub fn refilter_narrowing(&mut self, narrowing: bool) {
        self.narrowing = narrowing && !self.rows_dirty;
        self.refilter();
    }

    /// The alert under the cursor in the current view.
    pub fn current_alert(&self) -> Option<&AlertRecord> {
        self.current_entry().map(|i| &self.entries[i].alert)
    }

    /// The entry under the cursor in the current view.
    pub fn current_entry(&self) -> Option<usize> {
        match self.view() {
            View::Detail => self.detail,
            View::Pod => {
                let p = self.pod.as_ref()?;
                (p.tab == PodTab::Alerts).then(|| p.alerts.get(p.scroll).copied())?
            }
            _ => self.rows.get(self.cursor).map(|r| r.entry),
        }
    }

    /// The alert the detail view shows, with every part of its record.
    pub fn detail_alert(&self) -> Option<&AlertRecord> {
        let idx = self.detail?;
        self.detail_full
            .as_ref()
            .filter(|a| self.entries.get(idx).is_some_and(|e| e.alert.id == a.id))
            .or_else(|| self.entries.get(idx).map(|e| &e.alert))
    }

    /// Does `purpose` with entry `idx`'s full record: at once when memory has
    /// it, else after the store read it back (`AppEvent::Record`).
    pub fn with_full_record(&mut self, idx: usize, purpose: RecordPurpose) {
        let Some(e) = self.entries.get(idx) else {
            return;
        };
        if e.shed && self.has_store {
            let id = e.alert.id;
            self.emit(Effect::LoadRecord { id, purpose });
        } else {
            let a = e.alert.clone();
            self.on_record(purpose, a);
        }
    }

    fn on_record(&mut self, purpose: RecordPurpose, a: AlertRecord) {
        match purpose {
            RecordPurpose::Detail => {
                if self
                    .detail
                    .and_then(|i| self.entries.get(i))
                    .map(|e| e.alert.id)
                    == Some(a.id)
                {
                    self.detail_full = Some(a);
                }
            }
            RecordPurpose::Exception => {
                self.overlay =
                    Overlay::Exception(ExceptionDraft::from_alert(&a, &self.exceptions_path));
            }
            RecordPurpose::Clipboard => {
                let json =
                    crate::sanitize::json_safe(&serde_json::to_string(&a).unwrap_or_default());
                self.message = Some(format!("copied alert #{} as JSON", a.seq));
                self.emit(Effect::Clipboard(json));
            }
            RecordPurpose::Pager => {
                let json = crate::sanitize::json_safe(
                    &serde_json::to_string_pretty(&a).unwrap_or_default(),
                );
                self.emit(Effect::Pager(json));
            }
        }
    }

    pub fn open_detail(&mut self, idx: usize) {
        self.detail_full = None;
        self.detail = Some(idx);
        self.detail_scroll = 0;
        self.push_view(View::Detail);
        self.with_full_record(idx, RecordPurpose::Detail);
    }

    /// Entry indices a triage action applies to: the marked alerts, else every
    /// member of the row under the cursor (a grouped row acts on all its repeats).
    pub fn triage_targets(&self) -> Vec<usize> {
        if !self.marked.is_empty() && self.view() == View::Alerts {
            let mut v: Vec<usize> = self
                .marked
                .iter()
                .filter_map(|id| self.by_id.get(id).copied())
                .collect();
            v.sort_unstable();
            return v;
        }
        if self.view() == View::Alerts {
            return self
                .rows
                .get(self.cursor)
                .map(|r| self.members(r).to_vec())
                .unwrap_or_default();
        }
        self.current_entry().into_iter().collect()
    }

    /// Sets the triage state of the targeted alerts (and persists it).
    pub fn set_state(&mut self, state: TriageState) {
        let targets = self.triage_targets();
        if targets.is_empty() {
            return;
        }
        let ids: Vec<i64> = targets.iter().map(|&i| self.entries[i].alert.id).collect();
        if self.has_store {
            self.emit(Effect::StoreWrite(StoreWrite::SetState { ids, state }));
        }
        for &i in &targets {
            let old = std::mem::replace(&mut self.entries[i].state, state);
            if old == TriageState::New && state != TriageState::New {
                self.new_count -= 1;
            } else if old != TriageState::New && state == TriageState::New {
                self.new_count += 1;
            }
        }
        self.marked.clear();
        self.message = Some(format!("{} alert(s) marked {state}", targets.len()));
        if self.filter.state.is_some() {
            self.refilter();
        }
    }

    pub fn add_note(&mut self, text: &str) {
        let text = text.trim();
        let targets = self.triage_targets();
        if text.is_empty() || targets.is_empty() {
            return;
        }
        let ids: Vec<i64> = targets.iter().map(|&i| self.entries[i].alert.id).collect();
        if self.has_store {
            self.emit(Effect::StoreWrite(StoreWrite::AddNote {
                ids,
                time_ns: self.now_ns,
                text: text.to_string(),
            }));
        }
        for &i in &targets {
            self.entries[i].notes.push(text.to_string());
        }
        self.marked.clear();
        self.message = Some(format!("note added to {} alert(s)", targets.len()));
    }

    /// Silences the rule of every targeted alert for the chosen scope and expiry.
    pub fn silence(&mut self, scope: SilenceScope, seconds: i64) {
        let targets = self.triage_targets();
        let expires = self.now_ns + seconds * 1_000_000_000;
        let mut added = 0;
        for i in targets {
            let s = Silence::for_alert(&self.entries[i].alert, scope, expires);
            if self
                .silences
                .iter()
                .any(|x| x.rule == s.rule && x.scope == s.scope && x.value == s.value)
            {
                continue;
            }
            if self.has_store {
                self.emit(Effect::StoreWrite(StoreWrite::AddSilence(s.clone())));
            }
            self.message = Some(format!("silenced {}", s.describe()));
            self.silences.push(s);
            added += 1;
        }
        if added > 1 {
            self.message = Some(format!("{added} silences added"));
        }
        self.marked.clear();
        self.refilter();
    }

    pub fn push_view(&mut self, v: View) {
        if self.view() != v {
            self.views.push(v);
        }
    }

    /// Replaces the view stack (used by `:` commands, like k9s).
    pub fn switch_view(&mut self, v: View) {
        self.views = vec![View::Alerts];
        self.push_view(v);
    }

    fn back(&mut self) {
        if self.views.len() > 1 {
            self.views.pop();
        } else if !self.marked.is_empty() {
            self.marked.clear();
        } else if !self.filter.is_empty() {
            self.filter = Filter::default();
            self.refilter();
        }
    }

    /// Applies one event. Returns whether the screen needs a redraw. `Tick`
    /// expects `now_ns` to be current (the caller owns the clock).
    pub fn handle(&mut self, ev: Event) -> bool {
        match ev {
            Event::Tick => {
                self.flush();
                self.prepare();
                true
            }
            Event::Key(k) => {
                self.on_key(k);
                self.prepare();
                true
            }
            Event::Resize(..) => true,
            Event::Quit => {
                self.quit = true;
                false
            }
            Event::App(e) => {
                self.on_app_event(e);
                false
            }
        }
    }

    pub fn on_app_event(&mut self, e: AppEvent) {
        match e {
            AppEvent::Alert(a) => {
                if let Some(s) = self.sensors.iter_mut().find(|s| {
                    s.version
                        .as_ref()
                        .is_some_and(|v| v.sensor_id == a.sensor || s.name == a.sensor)
                        || s.name == a.sensor
                }) {
                    s.received += 1;
                    s.last_seq = s.last_seq.max(a.seq);
                }
                self.push_alert(*a);
            }
            AppEvent::Sensor(u) => self.on_sensor(u),
            AppEvent::Pod(r) => {
                if let Some(p) = &mut self.pod {
                    match r {
                        Ok(d) if d.name == p.name && d.namespace == p.namespace => {
                            p.details = Some(d);
                            p.error = None;
                        }
                        Ok(_) => {}
                        Err(e) => p.error = Some(e),
                    }
                }
            }
            AppEvent::PodDeleted(r) => {
                self.message = Some(match r {
                    Ok(p) => format!("pod {p} deleted"),
                    Err(e) => format!("delete failed: {e}"),
                });
            }
            AppEvent::RulesApplied(r) | AppEvent::Done(r) => {
                self.message = Some(match r {
                    Ok(m) => m,
                    Err(e) => e,
                });
            }
            AppEvent::Target(t) => {
                if !self.targets.iter().any(|x| x.name == t.name) {
                    self.targets.push(*t);
                }
            }
            AppEvent::Stored(r) => self.on_stored(r),
            AppEvent::Record {
                id,
                purpose,
                result,
            } => match result {
                Ok(Some(a)) => self.on_record(purpose, *a),
                Ok(None) => self.message = Some(format!("alert {id} is no longer stored")),
                Err(e) => {
                    // The list view's part stands in for the full record.
                    self.message = Some(e);
                    if let Some(&i) = self.by_id.get(&id) {
                        let a = self.entries[i].alert.clone();
                        self.on_record(purpose, a);
                    }
                }
            },
            AppEvent::ExceptionWritten { result, apply } => match result {
                Ok((path, content)) => {
                    self.overlay = Overlay::None;
                    self.message = Some(format!("exception written to {path}"));
                    if apply {
                        self.apply_rules(content);
                    }
                }
                Err(e) => self.message = Some(e),
            },
        }
    }

    fn sensor_mut(&mut self, name: &str) -> &mut SensorStatus {
        let pos = match self.sensors.iter().position(|s| s.name == name) {
            Some(p) => p,
            None => {
                self.sensors.push(SensorStatus {
                    name: name.to_string(),
                    ..Default::default()
                });
                self.sensors.len() - 1
            }
        };
        &mut self.sensors[pos]
    }

    fn on_sensor(&mut self, u: SensorUpdate) {
        let now = self.now_ns;
        let mut message = None;
        let s = self.sensor_mut(&u.source);
        match u.kind {
            SensorUpdateKind::Connecting { attempt } => {
                s.state = if attempt > 1 {
                    format!("reconnecting (#{attempt})")
                } else {
                    "connecting".into()
                };
            }
            SensorUpdateKind::Connected {
                version,
                resumed_from,
            } => {
                s.state = "connected".into();
                s.error = None;
                if resumed_from > 0 {
                    s.state = format!("connected (resumed after #{resumed_from})");
                }
                s.version = Some(*version);
            }
            SensorUpdateKind::Disconnected { error, retry_in_ms } => {
                s.state = format!("down, retry in {:.1}s", retry_in_ms as f64 / 1000.0);
                s.error = Some(error);
            }
            SensorUpdateKind::Gap {
                first,
                last,
                reason,
            } => {
                let text = format!("gap: alerts #{first}..#{last} lost ({reason})");
                message = Some(format!("{}: {text}", u.source));
                s.gaps.push(text);
            }
            SensorUpdateKind::Detached { reason } => {
                s.state = "detached, resuming".into();
                s.error = Some(reason);
            }
            SensorUpdateKind::Heartbeat { time_ns, last_seq } => {
                s.lag_ms = Some((now - time_ns) / 1_000_000);
                s.backlog = Some(last_seq.saturating_sub(s.last_seq));
            }
            SensorUpdateKind::Stats(st) => {
                if let Some(prev) = &s.stats {
                    let dt = (now - s.stats_at_ns) as f64 / 1e9;
                    if dt > 0.0 {
                        s.event_rate = st.events_seen.saturating_sub(prev.events_seen) as f64 / dt;
                        s.alert_rate = st.last_seq.saturating_sub(prev.last_seq) as f64 / dt;
                    }
                }
                s.stats_at_ns = now;
                s.stats = Some(*st);
            }
            SensorUpdateKind::Discovered { pods } => {
                if pods == 0 {
                    s.state = "found no sensor pods".into();
                    s.error = Some("no running sensor pods matched".into());
                } else {
                    s.state = format!("found {pods} sensor pod(s)");
                    s.error = None;
                }
            }
            SensorUpdateKind::FileLoaded { alerts, errors } => {
                s.state = format!("loaded {alerts} alerts");
                if let Some(first) = errors.first() {
                    s.error = Some(format!("{} bad line(s), first: {first}", errors.len()));
                    s.gaps = errors;
                }
            }
        }
        if message.is_some() {
            self.message = message;
        }
    }

    /// Dispatches a key: to the open overlay, else to the current view's
    /// component, then to the keys that work everywhere.
    pub fn on_key(&mut self, k: KeyEvent) {
        // Terminals send "esc, then a key" typed quickly as alt+key; k9s users
        // press esc a lot, so treat it as the two keys it was.
        if k.modifiers.contains(KeyModifiers::ALT) && matches!(k.code, KeyCode::Char(_)) {
            self.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
            return self.on_key(KeyEvent::new(k.code, k.modifiers - KeyModifiers::ALT));
        }
        self.message = None;
        if self.overlay != Overlay::None {
            return crate::components::overlay::on_key(self, k);
        }
        let Some(c) = self.registry.get(self.view()) else {
            return;
        };
        if let Some(action) =
            keys::lookup(c.bindings(), &k).or_else(|| keys::lookup(keys::GLOBAL, &k))
        {
            self.act(action);
        }
    }

    /// Performs `action` in the current view: its component first, then the
    /// actions every view shares.
    pub fn act(&mut self, action: Action) {
        let registry = self.registry.clone();
        if let Some(c) = registry.get(self.view())
            && c.on_action(self, action)
        {
            return;
        }
        let page = self.page.max(1) as isize;
        let scroll = |st: &mut State, delta: isize| {
            if let Some(c) = registry.get(st.view()) {
                c.move_by(st, delta);
            }
        };
        match action {
            Action::Quit => self.quit = true,
            Action::Back => self.back(),
            Action::Help => self.overlay = Overlay::Help,
            Action::Command => self.open_input(InputKind::Command, ""),
            Action::Up => scroll(self, -1),
            Action::Down => scroll(self, 1),
            Action::PageUp => scroll(self, -page),
            Action::PageDown => scroll(self, page),
            Action::Top => scroll(self, isize::MIN / 2),
            Action::Bottom => scroll(self, isize::MAX / 2),
            Action::Ack => self.set_state(TriageState::Acknowledged),
            Action::Resolve => self.set_state(TriageState::Resolved),
            Action::FalsePositive => self.set_state(TriageState::FalsePositive),
            Action::Note if !self.triage_targets().is_empty() => {
                self.open_input(InputKind::Note, "")
            }
            Action::Silence if !self.triage_targets().is_empty() => {
                self.overlay = Overlay::Silence {
                    scope: 0,
                    duration: 0,
                }
            }
            Action::Exception => {
                if let Some(i) = self.current_entry() {
                    self.with_full_record(i, RecordPurpose::Exception);
                }
            }
            Action::CopyJson => {
                if let Some(i) = self.current_entry() {
                    self.with_full_record(i, RecordPurpose::Clipboard);
                }
            }
            Action::Pager => {
                if let Some(i) = self.current_entry() {
                    self.with_full_record(i, RecordPurpose::Pager);
                }
            }
            Action::Pod => self.open_pod_of_current(),
            Action::Logs => {
                self.open_pod_of_current();
                if self.view() == View::Pod && self.kube_available {
                    self.pod_tab(PodTab::Logs);
                }
            }
            _ => {}
        }
    }

    /// Entry indices a row stands for, oldest first.
    pub fn members<'a>(&'a self, row: &'a Row) -> &'a [usize] {
        match row.group.and_then(|g| self.groups.get(g)) {
            Some(m) => m,
            None => std::slice::from_ref(&row.entry),
        }
    }

    /// Every alert the current filter shows (group members included).
    pub fn row_alerts(&self) -> impl Iterator<Item = &AlertRecord> {
        self.rows
            .iter()
            .flat_map(|r| self.members(r).iter())
            .map(|&i| &self.entries[i].alert)
    }

    pub fn pod_tab(&mut self, tab: PodTab) {
        if let Some(p) = &mut self.pod {
            p.tab = tab;
            p.scroll = 0;
        }
    }

    pub fn open_pod_of_current(&mut self) {
        let Some(a) = self.current_alert() else {
            return;
        };
        if a.pod.is_empty() {
            self.message = Some("this alert is not from a pod".into());
            return;
        }
        let (ns, name, container) = (a.namespace.clone(), a.pod.clone(), a.container_name.clone());
        self.open_pod(&ns, &name, &container);
    }

    /// Opens the drilldown for a pod and asks for it to be loaded.
    pub fn open_pod(&mut self, namespace: &str, name: &str, container: &str) {
        let alerts: Vec<usize> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.alert.namespace == namespace && e.alert.pod == name)
            .map(|(i, _)| i)
            .collect();
        let error = if self.kube_available {
            None
        } else {
            Some("no Kubernetes access: start with --kube or a kubeconfig; showing stored alerts only".into())
        };
        self.pod = Some(PodView {
            namespace: namespace.to_string(),
            name: name.to_string(),
            container: container.to_string(),
            details: None,
            error,
            tab: if self.kube_available {
                PodTab::Describe
            } else {
                PodTab::Alerts
            },
            scroll: 0,
            alerts,
        });
        self.push_view(View::Pod);
        if self.kube_available {
            self.emit(Effect::LoadPod {
                namespace: namespace.to_string(),
                name: name.to_string(),
                container: container.to_string(),
            });
        }
    }

    pub fn open_input(&mut self, kind: InputKind, initial: &str) {
        self.overlay = Overlay::Input {
            kind,
            buffer: initial.to_string(),
        };
    }

    /// Runs a `:` command: a registered view's name opens it; the rest are
    /// commands of their own.
    pub fn run_command(&mut self, line: &str) {
        let line = line.trim().trim_start_matches(':');
        let (cmd, args) = line.split_once(' ').unwrap_or((line, ""));
        let args = args.trim();
        let registry = self.registry.clone();
        if let Some(c) = registry.by_command(cmd) {
            return c.open(self, args);
        }
        match cmd {
            "filter" | "f" => match Filter::parse(args) {
                Ok(f) => {
                    self.filter = f;
                    self.switch_view(View::Alerts);
                    self.refilter();
                }
                Err(e) => self.message = Some(format!(":filter: {e}")),
            },
            "export" | "e" => self.export(args),
            "q" | "quit" => self.quit = true,
            "" => {}
            other => {
                let mut names: Vec<&str> = registry.commands().collect();
                names.extend(["filter", "export", "quit"]);
                self.message = Some(format!("unknown command :{other} ({})", names.join(", ")))
            }
        }
    }

    fn export(&mut self, path: &str) {
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

    fn apply_rules(&mut self, content: String) {
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

    /// Counts for the header: total in memory, visible, new (untriaged).
    pub fn counts(&self) -> (usize, usize, usize) {
        let visible = self.rows.iter().map(|r| self.members(r).len()).sum();
        (self.entries.len(), visible, self.new_count)
    }
}

/// Turns a quick filter on with `value`, or off when it is on.
pub fn toggle(slot: &mut Option<String>, value: Option<String>) {
    *slot = match (slot.take(), value) {
        (Some(_), _) => None,
        (None, v) => v,
    };
}

/// The next priority threshold up (`up`) or down; `Unspecified` is "all".
pub fn step_priority(cur: Priority, up: bool) -> Priority {
    let all = Priority::all();
    // index 8 stands for "no threshold" (Unspecified)
    let pos = all.iter().position(|p| *p == cur).unwrap_or(8);
    let next = if up {
        pos.saturating_sub(1)
    } else {
        (pos + 1).min(8)
    };
    all.get(next).copied().unwrap_or(Priority::Unspecified)
}
