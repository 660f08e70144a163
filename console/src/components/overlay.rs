//! Overlays: prompts and editors drawn over a view. Like views, each has its
//! keys as data ([`bindings`]), which its key handling, the footer and help read.

use crate::app::{Effect, InputKind, Overlay, State};
use crate::b;
use crate::keys::{self, Action as A, Binding, ch, code, ctrl};
use crate::triage::{SILENCE_DURATIONS, SilenceScope};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

static HELP: &[Binding] = &[];

static INPUT: &[Binding] = &[
    b!([code(KeyCode::Enter)], A::Accept, "accept", "accept"),
    b!(
        [code(KeyCode::Esc)],
        A::Cancel,
        "cancel (a filter is dropped)",
        "cancel"
    ),
    b!([ctrl('c')], A::Cancel, "cancel, keep what was typed"),
    b!(
        [code(KeyCode::Backspace)],
        A::DeleteChar,
        "delete a character"
    ),
];

static CONFIRM: &[Binding] = &[
    b!([ch('y'), ch('Y')], A::Confirm, "delete", "delete"),
    b!(
        [code(KeyCode::Esc)],
        A::Cancel,
        "cancel (any other key too)",
        "cancel"
    ),
];

static SILENCE: &[Binding] = &[
    b!(
        [ch('j'), code(KeyCode::Down)],
        A::Down,
        "next scope",
        "scope"
    ),
    b!([ch('k'), code(KeyCode::Up)], A::Up, "previous scope"),
    b!(
        [ch('e'), code(KeyCode::Tab)],
        A::NextOption,
        "next expiry",
        "expiry"
    ),
    b!([code(KeyCode::Enter)], A::Accept, "silence", "silence"),
    b!([code(KeyCode::Esc), ch('q')], A::Cancel, "cancel", "cancel"),
];

static EXCEPTION: &[Binding] = &[
    b!([ch('j'), code(KeyCode::Down)], A::Down, "next field"),
    b!([ch('k'), code(KeyCode::Up)], A::Up, "previous field"),
    b!([ch(' ')], A::Toggle, "keep/drop the field", "keep/drop"),
    b!(
        [ch('w')],
        A::WriteFile,
        "write the rules file",
        "write file"
    ),
    b!(
        [ch('A')],
        A::WriteApply,
        "write + apply to sensors that allow actions",
        "write + apply"
    ),
    b!([code(KeyCode::Esc), ch('q')], A::Cancel, "cancel", "cancel"),
];

/// Every overlay's name and keys (help and the docs check list them).
pub fn all() -> [(&'static str, &'static [Binding]); 5] {
    [
        ("help", HELP),
        ("prompt (/ : n)", INPUT),
        ("delete confirmation", CONFIRM),
        ("silence (s)", SILENCE),
        ("exception draft (x)", EXCEPTION),
    ]
}

/// The keys of the open overlay.
pub fn bindings(o: &Overlay) -> &'static [Binding] {
    match o {
        Overlay::None | Overlay::Help => HELP,
        Overlay::Input { .. } => INPUT,
        Overlay::ConfirmDelete { .. } => CONFIRM,
        Overlay::Silence { .. } => SILENCE,
        Overlay::Exception(_) => EXCEPTION,
    }
}

/// A key while an overlay is open.
pub fn on_key(st: &mut State, k: KeyEvent) {
    let action = keys::lookup(bindings(&st.overlay), &k);
    match &mut st.overlay {
        Overlay::None => {}
        Overlay::Help => st.overlay = Overlay::None,
        Overlay::Input { .. } => on_input(st, action, k),
        Overlay::ConfirmDelete { .. } => {
            let Overlay::ConfirmDelete { namespace, pod } =
                std::mem::replace(&mut st.overlay, Overlay::None)
            else {
                return;
            };
            if action != Some(A::Confirm) {
                st.message = Some("delete cancelled".into());
                return;
            }
            st.message = Some(format!("deleting pod {namespace}/{pod}..."));
            st.emit(Effect::DeletePod {
                namespace,
                name: pod,
            });
        }
        Overlay::Silence { scope, duration } => {
            let n = SilenceScope::ALL.len();
            match action {
                Some(A::Down) => *scope = (*scope + 1) % n,
                Some(A::Up) => *scope = (*scope + n - 1) % n,
                Some(A::NextOption) => *duration = (*duration + 1) % SILENCE_DURATIONS.len(),
                Some(A::Accept) => {
                    let (s, d) = (SilenceScope::ALL[*scope], SILENCE_DURATIONS[*duration].1);
                    st.overlay = Overlay::None;
                    st.silence(s, d);
                }
                Some(A::Cancel) => st.overlay = Overlay::None,
                _ => {}
            }
        }
        Overlay::Exception(d) => match action {
            Some(A::Down) => d.cursor = (d.cursor + 1).min(d.fields.len().saturating_sub(1)),
            Some(A::Up) => d.cursor = d.cursor.saturating_sub(1),
            Some(A::Toggle) => d.toggle(),
            Some(a @ (A::WriteFile | A::WriteApply)) => {
                let draft = d.clone();
                st.write_exception(draft, a == A::WriteApply);
            }
            Some(A::Cancel) => st.overlay = Overlay::None,
            _ => {}
        },
    }
}

fn on_input(st: &mut State, action: Option<A>, k: KeyEvent) {
    let Overlay::Input { kind, buffer } = &mut st.overlay else {
        return;
    };
    let kind = *kind;
    match action {
        Some(A::Cancel) if k.code == KeyCode::Esc => {
            st.overlay = Overlay::None;
            if kind == InputKind::Filter {
                st.filter.set_input("");
                st.refilter();
            }
        }
        Some(A::Cancel) => st.overlay = Overlay::None,
        Some(A::Accept) => {
            let text = std::mem::take(buffer);
            st.overlay = Overlay::None;
            match kind {
                InputKind::Filter => {}
                InputKind::Command => st.run_command(&text),
                InputKind::Note => st.add_note(&text),
            }
        }
        Some(A::DeleteChar) => {
            buffer.pop();
            if kind == InputKind::Filter {
                let text = buffer.clone();
                st.filter.set_input(&text);
                st.refilter();
            }
        }
        _ => {
            let KeyCode::Char(c) = k.code else {
                return;
            };
            if k.modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
            {
                return;
            }
            buffer.push(c);
            if kind == InputKind::Filter {
                // filter as you type, like k9s
                let text = buffer.clone();
                let narrowing = st.filter.set_input(&text) && !c.is_whitespace();
                st.refilter_narrowing(narrowing);
            }
        }
    }
}
