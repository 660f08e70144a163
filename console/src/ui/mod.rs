//! Rendering: every view is a pure function of `State` (`impl Widget for &State`).
//! No I/O and no store queries happen here.

pub mod alerts;
pub mod detail;
pub mod header;
pub mod overlay;
pub mod pod;
pub mod rules;
pub mod sensors;

use crate::app::State;
use chrono::{DateTime, Local, Utc};
use falco_proto::v1::Priority;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;

/// Colors that disappear under NO_COLOR; emphasis (bold, reverse) stays.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn priority(&self, p: Priority) -> Style {
        match p {
            Priority::Emergency | Priority::Alert | Priority::Critical => {
                self.fg(Color::Red).add_modifier(Modifier::BOLD)
            }
            Priority::Error => self.fg(Color::LightRed),
            Priority::Warning => self.fg(Color::Yellow),
            Priority::Notice => self.fg(Color::Cyan),
            Priority::Informational => self.fg(Color::Green),
            Priority::Debug | Priority::Unspecified => self.fg(Color::DarkGray),
        }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        self.fg(Color::DarkGray)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
}

/// Short fixed-width priority label for tables.
pub fn priority_short(p: Priority) -> &'static str {
    match p {
        Priority::Emergency => "EMERG",
        Priority::Alert => "ALERT",
        Priority::Critical => "CRIT",
        Priority::Error => "ERROR",
        Priority::Warning => "WARN",
        Priority::Notice => "NOTICE",
        Priority::Informational => "INFO",
        Priority::Debug => "DEBUG",
        Priority::Unspecified => "-",
    }
}

pub fn clock(app: &State, time_ns: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_nanos(time_ns);
    if app.utc {
        t.format("%H:%M:%S").to_string()
    } else {
        t.with_timezone(&Local).format("%H:%M:%S").to_string()
    }
}

pub fn full_time(app: &State, time_ns: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_nanos(time_ns);
    if app.utc {
        t.format("%Y-%m-%d %H:%M:%S%.9f UTC").to_string()
    } else {
        t.with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S%.9f %:z")
            .to_string()
    }
}

/// A centered rectangle of at most `w`x`h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

impl Widget for &State {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let theme = Theme { color: self.color };
        let [head, body, foot] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(area);
        header::render(self, theme, head, buf);
        if let Some(c) = self.registry.get(self.view()) {
            c.render(self, theme, body, buf);
        }
        header::footer(self, theme, foot, buf);
        overlay::render(self, theme, area, buf);
    }
}

/// Rows of the body available for a table with a one-line header, used by
/// the main loop for page up/down.
pub fn page_size(total_height: u16) -> usize {
    total_height.saturating_sub(2 + 1 + 1 + 1) as usize
}
