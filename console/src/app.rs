//! Application state and the small methods that change it. Background tasks only
//! send `Event`s; `App::handle` applies them. Views read `App` and never mutate it.

use crate::alert::AlertRecord;
use crate::event::{AppEvent, Event, SensorUpdate, SensorUpdateKind};
use crate::exception::{ExceptionDraft, SENSOR_FILE_NAME};
use crate::filter::Filter;
use crate::keys::{self, Action};
use crate::kube::{Kube, PodDetails};
use crate::source::{SensorClient, SensorTarget};
use crate::store::{Store, StoredAlert};
use crate::triage::{SILENCE_DURATIONS, Silence, SilenceScope, TriageState};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_proto::v1::{GetStatsResponse, GetVersionResponse, Priority};
use rustc_hash::FxHashMap as FastMap;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Alerts,
    Detail,
    Rules,
    Sensors,
    Pod,
}

impl View {
    pub fn title(self) -> &'static str {
        match self {
            View::Alerts => "alerts",
            View::Detail => "detail",
            View::Rules => "rules",
            View::Sensors => "sensors",
            View::Pod => "pod",
        }
    }
}

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
    /// Indices into `App::entries` of this pod's alerts, oldest first.
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
/// [`AlertRecord::shed_detail`]) and [`App::full_alert`] reads the rest back:
/// 100,000 full records would cost ~3 KB each.
#[derive(Debug, Clone)]
pub struct Entry {
    pub alert: AlertRecord,
    /// `alert` lacks its detail-only parts; the store has them.
    shed: bool,
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
    /// Index into `App::groups` when grouped; ungrouped rows need no allocation.
    pub group: Option<usize>,
}

pub struct App {
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
    pub store: Option<Store>,
    pending: Vec<AlertRecord>,
    next_mem_id: i64,
    pub kube: Option<Kube>,
    pub tx: Option<mpsc::Sender<Event>>,
    /// Rows per page, from the last render (for page up/down).
    pub page: usize,
    /// Untriaged alerts in memory, kept current so the header costs nothing.
    new_count: usize,
}

impl App {
    pub fn new(origin: &str, now_ns: i64) -> Self {
        App {
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
            store: None,
            pending: Vec::new(),
            next_mem_id: 1,
            kube: None,
            tx: None,
            page: 10,
            new_count: 0,
        }
    }

    /// Loads history, triage and silences from the store and keeps it for writes.
    pub fn attach_store(&mut self, mut store: Store) -> Result<(), crate::store::StoreError> {
        self.silences = store.silences(self.now_ns)?;
        // Entries pushed before the store was attached keep their full records.
        store.load_each(
            |StoredAlert {
                 alert,
                 state,
                 notes,
             }| self.push_entry(alert, state, notes, true),
        )?;
        self.store = Some(store);
        self.rows_dirty = true;
        self.prepare();
        Ok(())
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

    /// Stores queued alerts in one transaction and adds the new ones to the view.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.pending);
        let stored = self.store.is_some();
        match &mut self.store {
            Some(store) => {
                if let Err(e) = store.insert(&mut batch) {
                    self.message = Some(e.to_string());
                    return;
                }
            }
            None => {
                for a in &mut batch {
                    a.id = self.next_mem_id;
                    self.next_mem_id += 1;
                }
            }
        }
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
        if let Some(store) = &mut self.store {
            match store.enforce_retention() {
                Ok(dropped) if !dropped.is_empty() => self.drop_ids(&dropped),
                Ok(_) => {}
                Err(e) => self.message = Some(e.to_string()),
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

    fn refilter(&mut self) {
        self.rows_dirty = true;
        self.prepare();
    }

    /// The alert under the cursor in the current view.
    pub fn current_alert(&self) -> Option<&AlertRecord> {
        self.current_entry().map(|i| &self.entries[i].alert)
    }

    /// Entry `idx` with every part of its record: read back from the store
    /// when the entry keeps only the list view's part. A store error is said
    /// in the message line and the list view's part stands in.
    pub fn full_alert(&mut self, idx: usize) -> Option<AlertRecord> {
        let res = self.read_full(idx)?;
        Some(res.unwrap_or_else(|err| {
            self.message = Some(err.to_string());
            self.entries[idx].alert.clone()
        }))
    }

    fn read_full(&self, idx: usize) -> Option<Result<AlertRecord, crate::store::StoreError>> {
        let e = self.entries.get(idx)?;
        let stored = match (&self.store, e.shed) {
            (Some(store), true) => store.get(e.alert.id).transpose(),
            _ => None,
        };
        Some(stored.unwrap_or_else(|| Ok(e.alert.clone())))
    }

    /// The alert the detail view shows, with every part of its record.
    pub fn detail_alert(&self) -> Option<&AlertRecord> {
        let idx = self.detail?;
        self.detail_full
            .as_ref()
            .filter(|a| self.entries.get(idx).is_some_and(|e| e.alert.id == a.id))
            .or_else(|| self.entries.get(idx).map(|e| &e.alert))
    }

    fn open_detail(&mut self, idx: usize) {
        self.detail_full = self.full_alert(idx);
        self.detail = Some(idx);
        self.detail_scroll = 0;
        self.push_view(View::Detail);
    }

    fn current_entry(&self) -> Option<usize> {
        match self.view() {
            View::Detail => self.detail,
            View::Pod => {
                let p = self.pod.as_ref()?;
                (p.tab == PodTab::Alerts).then(|| p.alerts.get(p.scroll).copied())?
            }
            _ => self.rows.get(self.cursor).map(|r| r.entry),
        }
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

    pub fn set_state(&mut self, state: TriageState) {
        let targets = self.triage_targets();
        if targets.is_empty() {
            return;
        }
        let ids: Vec<i64> = targets.iter().map(|&i| self.entries[i].alert.id).collect();
        if let Some(store) = &mut self.store
            && let Err(e) = store.set_state(&ids, state)
        {
            self.message = Some(e.to_string());
            return;
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
        if let Some(store) = &mut self.store
            && let Err(e) = store.add_note(&ids, self.now_ns, text)
        {
            self.message = Some(e.to_string());
            return;
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
            let mut s = Silence::for_alert(&self.entries[i].alert, scope, expires);
            if self
                .silences
                .iter()
                .any(|x| x.rule == s.rule && x.scope == s.scope && x.value == s.value)
            {
                continue;
            }
            if let Some(store) = &mut self.store {
                match store.add_silence(&s) {
                    Ok(id) => s.id = id,
                    Err(e) => {
                        self.message = Some(e.to_string());
                        return;
                    }
                }
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

    fn push_view(&mut self, v: View) {
        if self.view() != v {
            self.views.push(v);
        }
    }

    /// Replaces the view stack (used by `:` commands, like k9s).
    fn switch_view(&mut self, v: View) {
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

    /// Applies one event. Returns whether the screen needs a redraw.
    pub fn handle(&mut self, ev: Event) -> bool {
        match ev {
            Event::Tick => {
                self.now_ns = now_ns();
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
            AppEvent::RulesApplied(r) => {
                self.message = Some(match r {
                    Ok(m) => m,
                    Err(e) => e,
                });
            }
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

    fn move_cursor(&mut self, delta: isize) {
        let (pos, len): (&mut usize, usize) = match self.view() {
            View::Alerts => (&mut self.cursor, self.rows.len()),
            View::Detail => (&mut self.detail_scroll, usize::MAX / 2),
            View::Rules => {
                let rules: std::collections::HashSet<&str> =
                    self.row_alerts().map(|a| a.rule.as_str()).collect();
                let n = rules.len();
                (&mut self.rules_cursor, n)
            }
            View::Sensors => return,
            View::Pod => match &mut self.pod {
                Some(p) => {
                    let len = match p.tab {
                        PodTab::Alerts => p.alerts.len(),
                        _ => usize::MAX / 2,
                    };
                    (&mut p.scroll, len)
                }
                None => return,
            },
        };
        let max = len.saturating_sub(1);
        *pos = (*pos as isize + delta).clamp(0, max as isize) as usize;
        if self.view() == View::Alerts {
            self.follow = self.cursor + 1 >= self.rows.len() && delta > 0 && self.follow;
        }
    }

    pub fn on_key(&mut self, k: KeyEvent) {
        // Terminals send "esc, then a key" typed quickly as alt+key; k9s users
        // press esc a lot, so treat it as the two keys it was.
        if k.modifiers.contains(KeyModifiers::ALT) && matches!(k.code, KeyCode::Char(_)) {
            self.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
            return self.on_key(KeyEvent::new(k.code, k.modifiers - KeyModifiers::ALT));
        }
        self.message = None;
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::Help => {
                self.overlay = Overlay::None;
                return;
            }
            Overlay::Input { .. } => return self.on_input_key(k),
            Overlay::ConfirmDelete { .. } => return self.on_confirm_key(k),
            Overlay::Silence { .. } => return self.on_silence_key(k),
            Overlay::Exception(_) => return self.on_exception_key(k),
        }
        if let Some(action) = keys::lookup(self.view(), &k) {
            self.act(action);
        }
    }

    pub fn act(&mut self, action: Action) {
        let page = self.page.max(1) as isize;
        match action {
            Action::Quit => self.quit = true,
            Action::Back => self.back(),
            Action::Help => self.overlay = Overlay::Help,
            Action::Command => self.open_input(InputKind::Command, ""),
            Action::Filter => {
                let text = self.filter.text.clone();
                self.open_input(InputKind::Filter, &text)
            }
            Action::Up => self.move_cursor(-1),
            Action::Down => self.move_cursor(1),
            Action::PageUp => self.move_cursor(-page),
            Action::PageDown => self.move_cursor(page),
            Action::Top => {
                self.follow = false;
                self.move_cursor(isize::MIN / 2)
            }
            Action::Bottom => {
                self.move_cursor(isize::MAX / 2);
                if self.view() == View::Alerts {
                    self.follow = true;
                }
            }
            Action::Enter => self.enter(),
            Action::Mark => {
                if let Some(id) = self.current_alert().map(|a| a.id)
                    && !self.marked.remove(&id)
                {
                    self.marked.insert(id);
                }
                self.move_cursor(1);
            }
            Action::Ack => self.set_state(TriageState::Acknowledged),
            Action::Resolve => self.set_state(TriageState::Resolved),
            Action::FalsePositive => self.set_state(TriageState::FalsePositive),
            Action::Note => {
                if !self.triage_targets().is_empty() {
                    self.open_input(InputKind::Note, "")
                }
            }
            Action::Silence => {
                if !self.triage_targets().is_empty() {
                    self.overlay = Overlay::Silence {
                        scope: 0,
                        duration: 0,
                    }
                }
            }
            Action::Exception => {
                if let Some(a) = self.current_entry().and_then(|i| self.full_alert(i)) {
                    self.overlay =
                        Overlay::Exception(ExceptionDraft::from_alert(&a, &self.exceptions_path));
                }
            }
            Action::Pod => self.open_pod_of_current(),
            Action::Describe if self.view() == View::Pod => self.pod_tab(PodTab::Describe),
            Action::Describe => self.enter(),
            Action::PodEvents => self.pod_tab(PodTab::Events),
            Action::Logs if self.view() == View::Pod => self.pod_tab(PodTab::Logs),
            Action::Logs => {
                self.open_pod_of_current();
                if self.view() == View::Pod && self.kube.is_some() {
                    self.pod_tab(PodTab::Logs);
                }
            }
            Action::PodAlerts => self.pod_tab(PodTab::Alerts),
            Action::DeletePod => {
                if let Some(p) = &self.pod {
                    self.overlay = Overlay::ConfirmDelete {
                        namespace: p.namespace.clone(),
                        pod: p.name.clone(),
                    };
                }
            }
            Action::Follow => {
                self.follow = !self.follow;
                if self.follow {
                    self.cursor = self.rows.len().saturating_sub(1);
                }
            }
            Action::Pause => {
                self.paused = !self.paused;
                if !self.paused {
                    self.held = 0;
                    self.rows_dirty = true;
                }
            }
            Action::PriorityUp | Action::PriorityDown => {
                let all = Priority::all();
                // index 8 stands for "no threshold" (Unspecified)
                let cur = all
                    .iter()
                    .position(|p| *p == self.filter.min_priority)
                    .unwrap_or(8);
                let next = if action == Action::PriorityUp {
                    cur.saturating_sub(1)
                } else {
                    (cur + 1).min(8)
                };
                self.filter.min_priority = all.get(next).copied().unwrap_or(Priority::Unspecified);
                self.refilter();
            }
            Action::FilterRule => {
                let v = self.current_alert().map(|a| a.rule.clone());
                toggle(&mut self.filter.rule, v);
                self.refilter();
            }
            Action::FilterNamespace => {
                let v = self.current_alert().map(|a| a.namespace.clone());
                toggle(&mut self.filter.namespace, v);
                self.refilter();
            }
            Action::FilterPod => {
                let v = self.current_alert().map(|a| a.pod_ref());
                toggle(&mut self.filter.pod, v);
                self.refilter();
            }
            Action::FilterNode => {
                let v = self.current_alert().map(|a| a.hostname.clone());
                toggle(&mut self.filter.node, v);
                self.refilter();
            }
            Action::CycleState => {
                self.filter.state = match self.filter.state {
                    None => Some(TriageState::New),
                    Some(s) => TriageState::ALL
                        .iter()
                        .position(|x| *x == s)
                        .and_then(|i| TriageState::ALL.get(i + 1).copied()),
                };
                self.refilter();
            }
            Action::ClearFilters => {
                self.filter = Filter::default();
                self.refilter();
            }
            Action::CycleSort => {
                self.sort = match self.sort {
                    SortKey::Time => SortKey::Priority,
                    SortKey::Priority => SortKey::Rule,
                    SortKey::Rule => SortKey::Time,
                };
                self.follow = self.sort == SortKey::Time && self.follow;
                self.refilter();
            }
            Action::Group => {
                self.group = !self.group;
                self.refilter();
            }
            Action::ToggleSilenced => {
                self.show_silenced = !self.show_silenced;
                self.refilter();
            }
        }
    }

    fn enter(&mut self) {
        match self.view() {
            View::Alerts => {
                if let Some(entry) = self.rows.get(self.cursor).map(|r| r.entry) {
                    self.open_detail(entry);
                }
            }
            View::Rules => {
                let stats = crate::stats::compute(self.row_alerts(), self.now_ns);
                if let Some(r) = stats.rules.get(self.rules_cursor) {
                    self.filter.rule = Some(r.rule.clone());
                    self.follow = true;
                    self.switch_view(View::Alerts);
                    self.refilter();
                }
            }
            View::Pod => {
                if let Some(i) = self.current_entry() {
                    self.open_detail(i);
                }
            }
            View::Detail | View::Sensors => {}
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

    fn pod_tab(&mut self, tab: PodTab) {
        if let Some(p) = &mut self.pod {
            p.tab = tab;
            p.scroll = 0;
        }
    }

    fn open_pod_of_current(&mut self) {
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

    /// Opens the drilldown for a pod and starts loading it in the background.
    pub fn open_pod(&mut self, namespace: &str, name: &str, container: &str) {
        let alerts: Vec<usize> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.alert.namespace == namespace && e.alert.pod == name)
            .map(|(i, _)| i)
            .collect();
        let error = if self.kube.is_none() {
            Some("no Kubernetes access: start with --kube or a kubeconfig; showing stored alerts only".into())
        } else {
            None
        };
        self.pod = Some(PodView {
            namespace: namespace.to_string(),
            name: name.to_string(),
            container: container.to_string(),
            details: None,
            error,
            tab: if self.kube.is_some() {
                PodTab::Describe
            } else {
                PodTab::Alerts
            },
            scroll: 0,
            alerts,
        });
        self.push_view(View::Pod);
        self.reload_pod();
    }

    fn reload_pod(&self) {
        let (Some(kube), Some(tx), Some(p)) = (self.kube.clone(), self.tx.clone(), &self.pod)
        else {
            return;
        };
        let (ns, name, container) = (p.namespace.clone(), p.name.clone(), p.container.clone());
        tokio::spawn(async move {
            let c = (!container.is_empty()).then_some(container.as_str());
            let r = crate::kube::load_pod(&kube, &ns, &name, c)
                .await
                .map(Box::new)
                .map_err(|e| e.to_string());
            let _ = tx.send(Event::App(AppEvent::Pod(r))).await;
        });
    }

    fn open_input(&mut self, kind: InputKind, initial: &str) {
        self.overlay = Overlay::Input {
            kind,
            buffer: initial.to_string(),
        };
    }

    fn on_input_key(&mut self, k: KeyEvent) {
        let Overlay::Input { kind, buffer } = &mut self.overlay else {
            return;
        };
        let kind = *kind;
        match k.code {
            KeyCode::Esc => {
                self.overlay = Overlay::None;
                if kind == InputKind::Filter {
                    self.filter.text.clear();
                    self.refilter();
                }
            }
            KeyCode::Enter => {
                let text = std::mem::take(buffer);
                self.overlay = Overlay::None;
                match kind {
                    InputKind::Filter => {}
                    InputKind::Command => self.run_command(&text),
                    InputKind::Note => self.add_note(&text),
                }
            }
            KeyCode::Backspace => {
                buffer.pop();
                if kind == InputKind::Filter {
                    self.filter.text = buffer.to_lowercase();
                    self.refilter();
                }
            }
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                self.overlay = Overlay::None;
            }
            KeyCode::Char(c) => {
                buffer.push(c);
                if kind == InputKind::Filter {
                    // filter as you type, like k9s
                    let text = buffer.to_lowercase();
                    // Appending to the last word keeps every word a substring test
                    // that is at least as strict: only visible rows can still match.
                    self.narrowing = !self.rows_dirty
                        && text.starts_with(&self.filter.text)
                        && !c.is_whitespace();
                    self.filter.text = text;
                    self.refilter();
                }
            }
            _ => {}
        }
    }

    /// Runs a `:` command.
    pub fn run_command(&mut self, line: &str) {
        let line = line.trim().trim_start_matches(':');
        let (cmd, args) = line.split_once(' ').unwrap_or((line, ""));
        let args = args.trim();
        match cmd {
            "alerts" | "a" => self.switch_view(View::Alerts),
            "rules" | "stats" | "r" => self.switch_view(View::Rules),
            "sensors" | "s" => self.switch_view(View::Sensors),
            "pods" | "pod" | "po" => {
                if let Some((ns, name)) = args.split_once('/') {
                    self.open_pod(ns, name, "");
                } else if self.current_alert().is_some_and(|a| !a.pod.is_empty()) {
                    self.open_pod_of_current();
                } else {
                    self.message =
                        Some("usage: :pods NAMESPACE/POD (or select an alert from a pod)".into());
                }
            }
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
                self.message = Some(format!(
                    "unknown command :{other} (alerts, rules, pods, sensors, filter, export, quit)"
                ))
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
        // Full records, read one at a time: exporting never holds them all.
        let mut failed = None;
        let items = self
            .rows
            .iter()
            .flat_map(|r| self.members(r).iter())
            .map(|&i| {
                let e = &self.entries[i];
                let a = match self.read_full(i) {
                    Some(Ok(a)) => a,
                    Some(Err(err)) => {
                        failed.get_or_insert(err);
                        e.alert.clone()
                    }
                    None => e.alert.clone(),
                };
                (a, e.state, e.notes.as_slice())
            });
        let written = crate::store::export(&expanded, items);
        if let Some(err) = failed {
            self.message = Some(format!("export {}: {err}", expanded.display()));
            return;
        }
        self.message = Some(match written {
            Ok(n) => format!("exported {n} alerts to {}", expanded.display()),
            Err(e) => format!("export {}: {e}", expanded.display()),
        });
    }

    fn on_confirm_key(&mut self, k: KeyEvent) {
        let Overlay::ConfirmDelete { namespace, pod } =
            std::mem::replace(&mut self.overlay, Overlay::None)
        else {
            return;
        };
        if !matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            self.message = Some("delete cancelled".into());
            return;
        }
        let (Some(kube), Some(tx)) = (self.kube.clone(), self.tx.clone()) else {
            self.message = Some("no Kubernetes access (--kube or a kubeconfig needed)".into());
            return;
        };
        self.message = Some(format!("deleting pod {namespace}/{pod}..."));
        tokio::spawn(async move {
            let r = crate::kube::delete_pod(&kube, &namespace, &pod)
                .await
                .map(|_| format!("{namespace}/{pod}"))
                .map_err(|e| e.to_string());
            let _ = tx.send(Event::App(AppEvent::PodDeleted(r))).await;
        });
    }

    fn on_silence_key(&mut self, k: KeyEvent) {
        let Overlay::Silence { scope, duration } = &mut self.overlay else {
            return;
        };
        match k.code {
            KeyCode::Char('j') | KeyCode::Down => *scope = (*scope + 1) % SilenceScope::ALL.len(),
            KeyCode::Char('k') | KeyCode::Up => {
                *scope = (*scope + SilenceScope::ALL.len() - 1) % SilenceScope::ALL.len()
            }
            KeyCode::Char('e') | KeyCode::Tab => {
                *duration = (*duration + 1) % SILENCE_DURATIONS.len()
            }
            KeyCode::Enter => {
                let (s, d) = (SilenceScope::ALL[*scope], SILENCE_DURATIONS[*duration].1);
                self.overlay = Overlay::None;
                self.silence(s, d);
            }
            KeyCode::Esc | KeyCode::Char('q') => self.overlay = Overlay::None,
            _ => {}
        }
    }

    /// Sensors that accept PutRulesFile (GetVersion.actions_enabled).
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

    fn on_exception_key(&mut self, k: KeyEvent) {
        let Overlay::Exception(d) = &mut self.overlay else {
            return;
        };
        match k.code {
            KeyCode::Char('j') | KeyCode::Down => {
                d.cursor = (d.cursor + 1).min(d.fields.len().saturating_sub(1))
            }
            KeyCode::Char('k') | KeyCode::Up => d.cursor = d.cursor.saturating_sub(1),
            KeyCode::Char(' ') => d.toggle(),
            KeyCode::Char('w') | KeyCode::Char('A') => {
                let apply = k.code == KeyCode::Char('A');
                match d.write() {
                    Ok(content) => {
                        let path = d.path.display().to_string();
                        self.overlay = Overlay::None;
                        self.message = Some(format!("exception written to {path}"));
                        if apply {
                            self.apply_rules(content);
                        }
                    }
                    Err(e) => self.message = Some(e),
                }
            }
            KeyCode::Esc | KeyCode::Char('q') => self.overlay = Overlay::None,
            _ => {}
        }
    }

    fn apply_rules(&mut self, content: String) {
        let targets = self.action_targets();
        let Some(tx) = self.tx.clone().filter(|_| !targets.is_empty()) else {
            self.message = Some(format!(
                "exception written to {}; no connected sensor allows actions, ship the file yourself",
                self.exceptions_path.display()
            ));
            return;
        };
        for t in targets {
            let tx = tx.clone();
            let content = content.clone();
            tokio::spawn(async move {
                let r = match SensorClient::connect(&t).await {
                    Ok(mut c) => match c.put_rules_file(SENSOR_FILE_NAME, &content).await {
                        Ok(resp) if resp.applied => Ok(format!("{}: rules reloaded", t.name)),
                        Ok(resp) => Err(crate::sanitize::sanitized(&format!(
                            "{}: rejected: {}",
                            t.name,
                            resp.errors.join("; ")
                        ))),
                        Err(e) => Err(e.to_string()),
                    },
                    Err(e) => Err(e.to_string()),
                };
                let _ = tx.send(Event::App(AppEvent::RulesApplied(r))).await;
            });
        }
    }

    /// Counts for the header: total in memory, visible, new (untriaged).
    pub fn counts(&self) -> (usize, usize, usize) {
        let visible = self.rows.iter().map(|r| self.members(r).len()).sum();
        (self.entries.len(), visible, self.new_count)
    }
}

fn toggle(slot: &mut Option<String>, value: Option<String>) {
    *slot = match (slot.take(), value) {
        (Some(_), _) => None,
        (None, v) => v,
    };
}

pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}
