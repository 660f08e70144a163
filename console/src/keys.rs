//! Keys as data. A [`Binding`] ties keys to an [`Action`] with a help text and
//! an optional footer hint; components and overlays publish their bindings
//! (see `components`), and the dispatcher, the `?` help, the footer and the
//! docs check all read those same tables, so they cannot drift apart.
//!
//! This module knows nothing about views: it is the vocabulary they share.

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
    MarkAll,
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
    /// Next (`forward`) or previous alert at least as severe as `min` (lnav's e/w).
    Jump {
        forward: bool,
        min: falco_proto::v1::Priority,
    },
    CopyJson,
    Pager,
    // Overlay actions.
    Accept,
    Cancel,
    DeleteChar,
    Toggle,
    NextOption,
    WriteFile,
    WriteApply,
    Preview,
    Confirm,
    /// An action private to one component (e.g. a test's dummy view): the
    /// component that binds it handles it.
    Local(&'static str),
}

/// A key with the modifiers that matter (shift is part of the char).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

pub const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}
pub const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}
pub const fn code(code: KeyCode) -> Key {
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
            KeyCode::Tab => "tab".into(),
            KeyCode::Backspace => "backspace".into(),
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
        self.ctrl == ev_ctrl && self.code == ev.code
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
    /// Short label for the footer; bindings without one only show in help.
    pub hint: Option<&'static str>,
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

/// `b!([keys], Action, "help")` or `b!([keys], Action, "help", "hint")`.
#[macro_export]
macro_rules! b {
    ([$($k:expr),+], $a:expr, $h:expr) => {
        $crate::keys::Binding { keys: &[$($k),+], action: $a, help: $h, hint: None }
    };
    ([$($k:expr),+], $a:expr, $h:expr, $hint:expr) => {
        $crate::keys::Binding { keys: &[$($k),+], action: $a, help: $h, hint: Some($hint) }
    };
}

use Action as A;

/// Keys that work in every view (after the view's own, which may override them).
pub static GLOBAL: &[Binding] = &[
    b!([ch('q'), ctrl('c')], A::Quit, "quit", "quit"),
    b!([code(KeyCode::Esc)], A::Back, "back / close"),
    b!([ch('?')], A::Help, "this help", "help"),
    b!([ch(':')], A::Command, "command mode", "cmd"),
    b!([ch('j'), code(KeyCode::Down)], A::Down, "down"),
    b!([ch('k'), code(KeyCode::Up)], A::Up, "up"),
    b!(
        [ctrl('f'), code(KeyCode::PageDown)],
        A::PageDown,
        "page down"
    ),
    b!([ctrl('b'), code(KeyCode::PageUp)], A::PageUp, "page up"),
    b!([ch('g'), code(KeyCode::Home)], A::Top, "top"),
    b!([ch('G'), code(KeyCode::End)], A::Bottom, "bottom"),
];

/// Triage keys shared by the views that show alerts.
pub const TRIAGE: [Binding; 8] = [
    b!([ch('a')], A::Ack, "acknowledge", "ack"),
    b!([ch('r')], A::Resolve, "resolve"),
    b!([ch('f')], A::FalsePositive, "mark false positive"),
    b!([ch('n')], A::Note, "add a note"),
    b!([ch('s')], A::Silence, "silence rule for a scope", "silence"),
    b!(
        [ch('x')],
        A::Exception,
        "draft a Falco exception",
        "exception"
    ),
    b!([ch('y')], A::CopyJson, "copy as JSON (OSC 52)"),
    b!([ch('v')], A::Pager, "JSON in $PAGER"),
];

/// The first binding of `bindings` that `ev` triggers.
pub fn lookup(bindings: &[Binding], ev: &KeyEvent) -> Option<Action> {
    bindings
        .iter()
        .find(|b| b.keys.iter().any(|k| k.matches(ev)))
        .map(|b| b.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_respects_ctrl() {
        let d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::NONE);
        let cd = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        const TABLE: [Binding; 2] = [
            b!([ch('d')], A::Describe, "describe"),
            b!([ctrl('d')], A::DeletePod, "delete"),
        ];
        assert_eq!(lookup(&TABLE, &d), Some(A::Describe));
        assert_eq!(lookup(&TABLE, &cd), Some(A::DeletePod));
        assert_eq!(lookup(&TABLE[..1], &cd), None);
    }
}
