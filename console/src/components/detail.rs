//! One alert with everything it carries (`enter` on a row).

use super::{Component, View, step};
use crate::app::State;
use crate::b;
use crate::keys::{Action as A, Binding, TRIAGE, ch};
use crate::ui::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

pub struct Detail;

static BINDINGS: &[Binding] = &[
    b!([ch('p')], A::Pod, "pod drilldown", "pod"),
    b!([ch('l')], A::Logs, "logs of the alert's pod"),
    TRIAGE[0],
    TRIAGE[1],
    TRIAGE[2],
    TRIAGE[3],
    TRIAGE[4],
    TRIAGE[5],
    TRIAGE[6],
    TRIAGE[7],
];

impl Component for Detail {
    fn view(&self) -> View {
        View::Detail
    }

    fn bindings(&self) -> &'static [Binding] {
        BINDINGS
    }

    fn on_action(&self, _st: &mut State, _action: A) -> bool {
        false
    }

    fn move_by(&self, st: &mut State, delta: isize) {
        step(&mut st.detail_scroll, delta, usize::MAX / 2);
    }

    fn render(&self, st: &State, theme: Theme, area: Rect, buf: &mut Buffer) {
        crate::ui::detail::render(st, theme, area, buf)
    }
}
