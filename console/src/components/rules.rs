//! Per-rule statistics (`:rules`): counts, rates, sparklines, top namespaces.

use super::{Component, View, step};
use crate::app::State;
use crate::b;
use crate::keys::{Action as A, Binding, code};
use crate::ui::Theme;
use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

pub struct Rules;

static BINDINGS: &[Binding] = &[b!(
    [code(KeyCode::Enter)],
    A::Enter,
    "alerts of this rule",
    "alerts of rule"
)];

impl Component for Rules {
    fn view(&self) -> View {
        View::Rules
    }

    fn bindings(&self) -> &'static [Binding] {
        BINDINGS
    }

    fn commands(&self) -> &'static [&'static str] {
        &["rules", "stats", "r"]
    }

    fn on_action(&self, st: &mut State, action: A) -> bool {
        if action != A::Enter {
            return false;
        }
        let stats = crate::stats::compute(st.row_alerts(), st.now_ns);
        if let Some(r) = stats.rules.get(st.rules_cursor) {
            st.filter.rule = Some(r.rule.clone());
            st.follow = true;
            st.switch_view(View::Alerts);
            st.refilter();
        }
        true
    }

    fn move_by(&self, st: &mut State, delta: isize) {
        let n = st
            .row_alerts()
            .map(|a| a.rule.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len();
        step(&mut st.rules_cursor, delta, n);
    }

    fn render(&self, st: &State, theme: Theme, area: Rect, buf: &mut Buffer) {
        crate::ui::rules::render(st, theme, area, buf)
    }
}
