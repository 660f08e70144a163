//! Key bindings as data: every view's keys live in one table, which both the
//! dispatcher and the `?` help overlay read, so help can never drift from behaviour.

use crate::app::View;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Back,
    Help,
    Command,
    Filter,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Enter,
    Mark,
    Ack,
    Resolve,
    FalsePositive,
    Note,
    Silence,
    Exception,
    Pod,
    Describe,
    Logs,
    PodEvents,
    PodAlerts,
    DeletePod,
    Follow,
    Pause,
    PriorityUp,
    PriorityDown,
    FilterRule,
    FilterNamespace,
    FilterPod,
    FilterNode,
    CycleState,
    ClearFilters,
    CycleSort,
    Group,
    ToggleSilenced,
}

/// A key with the modifiers that matter (shift is part of the char).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}
const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}
const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

impl Key {
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            other => format!("{other:?}").to_lowercase(),
        };
        if self.ctrl {
            format!("ctrl-{base}")
        } else {
            base
        }
    }

    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ev_ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        if self.ctrl != ev_ctrl {
            return false;
        }
        match (self.code, ev.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => a == b,
            (a, b) => a == b,
        }
    }
}

#[derive(Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

impl Binding {
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join("/")
    }
}

macro_rules! b {
    ([$($k:expr),+], $a:ident, $h:expr) => {
        Binding { keys: &[$($k),+], action: Action::$a, help: $h }
    };
}

/// Keys that work in every view.
pub static GLOBAL: &[Binding] = &[
    b!([ch('q'), ctrl('c')], Quit, "quit"),
    b!([code(KeyCode::Esc)], Back, "back / close"),
    b!([ch('?')], Help, "this help"),
    b!([ch(':')], Command, "command mode"),
    b!([ch('j'), code(KeyCode::Down)], Down, "down"),
    b!([ch('k'), code(KeyCode::Up)], Up, "up"),
    b!([ctrl('f'), code(KeyCode::PageDown)], PageDown, "page down"),
    b!([ctrl('b'), code(KeyCode::PageUp)], PageUp, "page up"),
    b!([ch('g'), code(KeyCode::Home)], Top, "top"),
    b!([ch('G'), code(KeyCode::End)], Bottom, "bottom"),
];

const TRIAGE: [Binding; 6] = [
    b!([ch('a')], Ack, "acknowledge"),
    b!([ch('r')], Resolve, "resolve"),
    b!([ch('f')], FalsePositive, "mark false positive"),
    b!([ch('n')], Note, "add a note"),
    b!([ch('s')], Silence, "silence rule for a scope"),
    b!([ch('x')], Exception, "draft a Falco exception"),
];

pub static ALERTS: &[Binding] = &[
    b!([code(KeyCode::Enter)], Enter, "alert detail"),
    b!([ch('d')], Describe, "describe (= alert detail)"),
    b!([ch('l')], Logs, "logs of the alert's pod"),
    b!([ch('/')], Filter, "free-text filter"),
    b!([ch(' ')], Mark, "select (multi-selection)"),
    TRIAGE[0],
    TRIAGE[1],
    TRIAGE[2],
    TRIAGE[3],
    TRIAGE[4],
    TRIAGE[5],
    b!([ch('p')], Pod, "pod drilldown"),
    b!([ch('F')], Follow, "follow newest on/off"),
    b!([ch('P')], Pause, "pause/resume live list"),
    b!([ch('>')], PriorityUp, "raise min priority"),
    b!([ch('<')], PriorityDown, "lower min priority"),
    b!([ch('R')], FilterRule, "toggle rule filter"),
    b!([ch('N')], FilterNamespace, "toggle namespace filter"),
    b!([ch('O')], FilterPod, "toggle pod filter"),
    b!([ch('H')], FilterNode, "toggle node filter"),
    b!([ch('t')], CycleState, "cycle state filter"),
    b!([ch('c')], ClearFilters, "clear all filters"),
    b!([ch('o')], CycleSort, "sort: time/priority/rule"),
    b!([ch('z')], Group, "group repeated alerts"),
    b!([ch('S')], ToggleSilenced, "show/hide silenced"),
];

pub static DETAIL: &[Binding] = &[
    b!([ch('p')], Pod, "pod drilldown"),
    b!([ch('l')], Logs, "logs of the alert's pod"),
    TRIAGE[0],
    TRIAGE[1],
    TRIAGE[2],
    TRIAGE[3],
    TRIAGE[4],
    TRIAGE[5],
];

pub static RULES: &[Binding] = &[b!([code(KeyCode::Enter)], Enter, "alerts of this rule")];

pub static SENSORS: &[Binding] = &[];

pub static POD: &[Binding] = &[
    b!([ch('d')], Describe, "describe"),
    b!([ch('e')], PodEvents, "Kubernetes events"),
    b!([ch('l')], Logs, "container log tail"),
    b!([ch('A')], PodAlerts, "every alert of this pod"),
    b!([code(KeyCode::Enter)], Enter, "alert detail (alerts tab)"),
    b!([ctrl('d')], DeletePod, "delete pod (asks first)"),
];

/// The view's own bindings (shown first in help), then the global ones.
pub fn view_bindings(view: View) -> &'static [Binding] {
    match view {
        View::Alerts => ALERTS,
        View::Detail => DETAIL,
        View::Rules => RULES,
        View::Sensors => SENSORS,
        View::Pod => POD,
    }
}

/// The action bound to `ev` in `view`, if any.
pub fn lookup(view: View, ev: &KeyEvent) -> Option<Action> {
    view_bindings(view)
        .iter()
        .chain(GLOBAL.iter())
        .find(|b| b.keys.iter().any(|k| k.matches(ev)))
        .map(|b| b.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_a_view() {
        for view in [
            View::Alerts,
            View::Detail,
            View::Rules,
            View::Sensors,
            View::Pod,
        ] {
            let mut seen = Vec::new();
            for b in view_bindings(view).iter().chain(GLOBAL.iter()) {
                for k in b.keys {
                    assert!(!seen.contains(k), "{view:?}: {} bound twice", k.label());
                    seen.push(*k);
                }
            }
        }
    }

    #[test]
    fn lookup_respects_ctrl() {
        let d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::NONE);
        let cd = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(lookup(View::Pod, &d), Some(Action::Describe));
        assert_eq!(lookup(View::Pod, &cd), Some(Action::DeletePod));
        assert_eq!(lookup(View::Alerts, &cd), None);
    }
}
