//! Views as components. A component is one view: its key bindings (as data,
//! which help, the footer and the docs check read), its key handling, how it
//! opens from a `:` command, and how it draws. Overlays (prompts drawn over a
//! view) are in [`overlay`], with their bindings as data too.
//!
//! Adding a view: write `components/<name>.rs` with a type implementing
//! [`Component`], and add one line to [`Registry::standard`].

pub mod alerts;
pub mod detail;
pub mod overlay;
pub mod pod;
pub mod rules;
pub mod sensors;

use crate::app::State;
use crate::keys::{Action, Binding};
use crate::ui::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use std::sync::Arc;

/// A view's identity: its name, as shown in the breadcrumbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct View(pub &'static str);

// The built-in views, spelled like enum variants (`View::Alerts`) so code
// reads the same as before views became open-ended.
#[allow(non_upper_case_globals)]
impl View {
    pub const Alerts: View = View("alerts");
    pub const Detail: View = View("detail");
    pub const Rules: View = View("rules");
    pub const Sensors: View = View("sensors");
    pub const Pod: View = View("pod");

    pub fn title(self) -> &'static str {
        self.0
    }
}

pub trait Component: Send + Sync {
    fn view(&self) -> View;

    /// Keys of this view, shown first in help; they take precedence over the
    /// keys that work everywhere (`keys::GLOBAL`).
    fn bindings(&self) -> &'static [Binding];

    /// `:` commands that open this view (none for views reached by drilling in).
    fn commands(&self) -> &'static [&'static str] {
        &[]
    }

    /// Opens the view from a `:` command with its arguments.
    fn open(&self, st: &mut State, _args: &str) {
        st.switch_view(self.view());
    }

    /// Handles `action` in this view; `false` leaves it to the shared handling
    /// (quit, back, help, triage, ... and `move_by` for the movement keys).
    fn on_action(&self, st: &mut State, action: Action) -> bool;

    /// Moves this view's cursor or scroll position by `delta` lines
    /// (`isize::MIN / 2` and `isize::MAX / 2` for top and bottom).
    fn move_by(&self, _st: &mut State, _delta: isize) {}

    fn render(&self, st: &State, theme: Theme, area: Rect, buf: &mut Buffer);
}

/// Every view the console knows, looked up by name or `:` command.
#[derive(Clone, Default)]
pub struct Registry {
    components: Vec<Arc<dyn Component>>,
}

impl Registry {
    /// The console's views. A new view is one line here.
    pub fn standard() -> Self {
        let mut r = Registry::default();
        r.register(alerts::Alerts);
        r.register(detail::Detail);
        r.register(rules::Rules);
        r.register(sensors::Sensors);
        r.register(pod::Pod);
        r
    }

    /// Adds a view (replacing one of the same name).
    pub fn register(&mut self, c: impl Component + 'static) {
        let c: Arc<dyn Component> = Arc::new(c);
        self.components.retain(|x| x.view() != c.view());
        self.components.push(c);
    }

    pub fn get(&self, v: View) -> Option<Arc<dyn Component>> {
        self.components.iter().find(|c| c.view() == v).cloned()
    }

    pub fn by_command(&self, cmd: &str) -> Option<Arc<dyn Component>> {
        self.components
            .iter()
            .find(|c| c.commands().contains(&cmd))
            .cloned()
    }

    /// The first `:` command of each view that has one.
    pub fn commands(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.components
            .iter()
            .filter_map(|c| c.commands().first().copied())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Component>> {
        self.components.iter()
    }
}

impl State {
    /// Adds a view to this console (see [`Registry::register`]).
    pub fn register(&mut self, c: impl Component + 'static) {
        let mut r = (*self.registry).clone();
        r.register(c);
        self.registry = Arc::new(r);
    }
}

/// Moves `pos` by `delta` within `0..len`.
pub fn step(pos: &mut usize, delta: isize, len: usize) {
    let max = len.saturating_sub(1);
    *pos = (*pos as isize).saturating_add(delta).clamp(0, max as isize) as usize;
}

/// Actions that write to sensors or the cluster: `--readonly` refuses them
/// (and the footer does not offer them).
pub fn writes_outside(a: Action) -> bool {
    matches!(a, Action::DeletePod | Action::WriteApply)
}

/// Markdown tables of every key: the global ones, each registered view's,
/// each overlay's. docs/console.md embeds this text (a test keeps it equal).
pub fn key_reference(registry: &Registry) -> String {
    fn table(out: &mut String, title: &str, bindings: &[Binding]) {
        out.push_str(&format!(
            "\n#### {title}\n\n| key | action |\n| --- | --- |\n"
        ));
        for b in bindings {
            let keys: Vec<String> = b.keys.iter().map(|k| format!("`{}`", k.label())).collect();
            out.push_str(&format!(
                "| {} | {} |\n",
                keys.join(" "),
                b.help.replace('|', "\\|")
            ));
        }
    }
    let mut out = String::new();
    table(&mut out, "Everywhere", crate::keys::GLOBAL);
    for c in registry.iter() {
        let title = match c.commands().first() {
            Some(cmd) => format!("<{}> (`:{cmd}`)", c.view().title()),
            None => format!("<{}>", c.view().title()),
        };
        if c.bindings().is_empty() {
            out.push_str(&format!(
                "\n#### {title}\n\nOnly the keys that work everywhere.\n"
            ));
        } else {
            table(&mut out, &title, c.bindings());
        }
    }
    for (name, b) in overlay::all() {
        if !b.is_empty() {
            table(&mut out, &format!("In the {name}"), b);
        }
    }
    out
}
