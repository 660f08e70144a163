//! The console's update side, in three parts:
//!
//! - [`State`] (`state.rs`): everything the views show and every transition,
//!   pure: events in, state and [`Effect`]s out;
//! - [`Effect`] (`effect.rs`): what a transition asks the outside world to do;
//! - [`Runner`] (`runner.rs`): performs effects (SQLite, Kubernetes, gRPC,
//!   files, the terminal) and feeds their results back as events.
//!
//! [`App`] puts a state and a runner together for the UI loop and for tests
//! that want effects performed; it dereferences to the state.

mod effect;
mod runner;
mod state;

pub use effect::{Effect, ExportItem, RecordPurpose, StoreWrite};
pub use runner::Runner;
pub use state::{
    Entry, InputKind, Overlay, PodTab, PodView, Row, SensorStatus, SortKey, State, step_priority,
    toggle,
};

pub use crate::components::View;

use crate::event::{AppEvent, Event};
use crate::kube::Kube;
use crate::store::Store;
use std::ops::{Deref, DerefMut};
use tokio::sync::mpsc;

/// A state and the runner that performs its effects.
pub struct App {
    pub state: State,
    pub runner: Runner,
}

impl Deref for App {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl DerefMut for App {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

impl App {
    pub fn new(origin: &str, now_ns: i64) -> Self {
        App {
            state: State::new(origin, now_ns),
            runner: Runner::default(),
        }
    }

    /// Loads history, triage and silences from the store and keeps it for writes.
    pub fn attach_store(&mut self, store: Store) -> Result<(), crate::store::StoreError> {
        self.runner.attach_store(store, &mut self.state)
    }

    /// Kubernetes access for the pod drilldown and delete.
    pub fn set_kube(&mut self, kube: Option<Kube>) {
        self.state.kube_available = kube.is_some();
        self.runner.kube = kube;
    }

    /// Where background work (pod loads, rule pushes) reports back.
    pub fn set_sender(&mut self, tx: mpsc::Sender<Event>) {
        self.runner.tx = Some(tx);
    }

    /// Performs the effects the state recorded, and those their results
    /// record in turn, until none are left.
    pub fn run_effects(&mut self) {
        loop {
            let effects = self.state.take_effects();
            if effects.is_empty() {
                return;
            }
            for e in effects {
                for ev in self.runner.run(e) {
                    self.state.on_app_event(ev);
                }
            }
        }
    }

    /// Applies one event and performs what it asked for. Returns whether
    /// the screen needs a redraw.
    pub fn handle(&mut self, ev: Event) -> bool {
        if matches!(ev, Event::Tick) {
            self.state.now_ns = now_ns();
        }
        let redraw = self.state.handle(ev);
        self.run_effects();
        redraw
    }

    pub fn on_key(&mut self, k: crossterm::event::KeyEvent) {
        self.state.on_key(k);
        self.run_effects();
    }

    pub fn on_app_event(&mut self, e: AppEvent) {
        self.state.on_app_event(e);
        self.run_effects();
    }

    pub fn flush(&mut self) {
        self.state.flush();
        self.run_effects();
    }

    pub fn run_command(&mut self, line: &str) {
        self.state.run_command(line);
        self.run_effects();
    }

    pub fn add_note(&mut self, text: &str) {
        self.state.add_note(text);
        self.run_effects();
    }

    pub fn act(&mut self, action: crate::keys::Action) {
        self.state.act(action);
        self.run_effects();
    }
}

impl ratatui::widgets::Widget for &App {
    fn render(self, area: ratatui::layout::Rect, buf: &mut ratatui::buffer::Buffer) {
        (&self.state).render(area, buf);
    }
}

pub fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}
