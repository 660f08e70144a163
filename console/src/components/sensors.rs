//! Every source and its health (`:sensors`).

use super::{Component, View};
use crate::app::State;
use crate::keys::{Action, Binding};
use crate::ui::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

pub struct Sensors;

impl Component for Sensors {
    fn view(&self) -> View {
        View::Sensors
    }

    fn bindings(&self) -> &'static [Binding] {
        &[]
    }

    fn commands(&self) -> &'static [&'static str] {
        &["sensors", "s"]
    }

    fn on_action(&self, _st: &mut State, _action: Action) -> bool {
        false
    }

    fn render(&self, st: &State, theme: Theme, area: Rect, buf: &mut Buffer) {
        crate::ui::sensors::render(st, theme, area, buf)
    }
}
