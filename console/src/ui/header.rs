//! The two header lines (where you are) and the footer (message or key hints).

use super::Theme;
use crate::app::{App, View};
use crate::sanitize::sanitize;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

pub fn render(app: &App, t: Theme, area: Rect, buf: &mut Buffer) {
    let up = app
        .sensors
        .iter()
        .filter(|s| s.state.starts_with("connected") || s.state.starts_with("loaded"))
        .count();
    let mut first = vec![
        Span::styled(" falco-console ", t.title()),
        Span::raw("│ "),
        Span::raw(app.origin.clone()),
    ];
    if !app.sensors.is_empty() {
        first.push(Span::raw(format!(
            " │ sources {up}/{} up",
            app.sensors.len()
        )));
    }
    if !app.silences.is_empty() {
        first.push(Span::raw(format!(" │ {} silences", app.silences.len())));
    }
    Line::from(first).render(Rect { height: 1, ..area }, buf);

    let crumbs: Vec<String> = app
        .views
        .iter()
        .map(|v| format!("<{}>", v.title()))
        .collect();
    let (total, visible, new) = app.counts();
    let mut second = vec![Span::styled(format!(" {}", crumbs.join(" ")), t.key())];
    if app.view() == View::Alerts || app.view() == View::Rules {
        second.push(Span::raw(format!(" {visible}/{total} alerts, {new} new")));
        let f = app.filter.describe();
        if !f.is_empty() {
            second.push(Span::raw(" │ filter: "));
            second.push(Span::styled(f, t.fg(ratatui::style::Color::Yellow)));
        }
    }
    if app.view() == View::Alerts {
        let mut flags = Vec::new();
        if app.paused {
            flags.push(format!("PAUSED +{}", app.held));
        } else if app.follow {
            flags.push("follow".to_string());
        }
        if app.sort != crate::app::SortKey::Time {
            flags.push(format!("sort:{}", app.sort.as_str()));
        }
        if app.group {
            flags.push("grouped".into());
        }
        if app.show_silenced {
            flags.push("+silenced".into());
        }
        if !app.marked.is_empty() {
            flags.push(format!("{} selected", app.marked.len()));
        }
        if !flags.is_empty() {
            second.push(Span::raw(format!(" │ {}", flags.join(" "))));
        }
    }
    Line::from(second).render(
        Rect {
            y: area.y + 1,
            height: 1,
            ..area
        },
        buf,
    );
}

pub fn footer(app: &App, t: Theme, area: Rect, buf: &mut Buffer) {
    if let Some(m) = &app.message {
        Line::from(Span::styled(
            format!(" {}", sanitize(m)),
            t.fg(ratatui::style::Color::Yellow),
        ))
        .render(area, buf);
        return;
    }
    let hints: &[(&str, &str)] = match app.view() {
        View::Alerts => &[
            ("?", "help"),
            ("/", "filter"),
            (":", "cmd"),
            ("enter", "detail"),
            ("a/r/f", "triage"),
            ("s", "silence"),
            ("p", "pod"),
            ("q", "quit"),
        ],
        View::Detail => &[
            ("esc", "back"),
            ("p", "pod"),
            ("a/r/f/n", "triage"),
            ("x", "exception"),
            ("?", "help"),
        ],
        View::Rules => &[("enter", "alerts of rule"), ("esc", "back"), ("?", "help")],
        View::Sensors => &[("esc", "back"), (":", "cmd"), ("?", "help")],
        View::Pod => &[
            ("d", "describe"),
            ("e", "events"),
            ("l", "logs"),
            ("A", "alerts"),
            ("ctrl-d", "delete"),
            ("esc", "back"),
        ],
    };
    let mut spans = vec![Span::raw(" ")];
    for (k, what) in hints {
        spans.push(Span::styled(*k, t.key()));
        spans.push(Span::styled(format!(" {what}  "), t.dim()));
    }
    Line::from(spans).render(area, buf);
}
