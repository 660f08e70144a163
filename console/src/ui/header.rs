//! The two header lines (where you are) and the footer (message or key hints).

use super::Theme;
use crate::app::{State, View};
use crate::sanitize::sanitize;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

pub fn render(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    let up = app
        .sensors
        .iter()
        .filter(|s| {
            s.state.starts_with("connected")
                || s.state.starts_with("loaded")
                || (s.state.starts_with("found") && s.error.is_none())
        })
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
    if app.readonly {
        first.push(Span::raw(" │ "));
        first.push(Span::styled(
            "READ-ONLY",
            t.fg(ratatui::style::Color::Yellow)
                .add_modifier(ratatui::style::Modifier::BOLD),
        ));
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
            flags.push(format!("{} marked", app.marked.len()));
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

pub fn footer(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    if let Some(m) = &app.message {
        Line::from(Span::styled(
            format!(" {}", sanitize(m)),
            t.fg(ratatui::style::Color::Yellow),
        ))
        .render(area, buf);
        return;
    }
    let hints = footer_hints(app);
    let mut spans = vec![Span::raw(" ")];
    for (k, what) in &hints {
        spans.push(Span::styled(k.as_str(), t.key()));
        spans.push(Span::styled(format!(" {what}  "), t.dim()));
    }
    Line::from(spans).render(area, buf);
}

/// The footer's key hints, from the bindings of what has the keys: the open
/// overlay, else the current view, then the global keys that have a hint.
pub fn footer_hints(app: &State) -> Vec<(String, &'static str)> {
    let first_key =
        |b: &crate::keys::Binding| b.keys.first().map(|k| k.label()).unwrap_or_default();
    if app.overlay != crate::app::Overlay::None {
        if app.overlay == crate::app::Overlay::Help {
            return vec![("any key".into(), "close")];
        }
        let can_write = !app.readonly && !app.action_targets().is_empty();
        return crate::components::overlay::bindings(&app.overlay)
            .iter()
            .filter(|b| can_write || !crate::components::writes_outside(b.action))
            .filter_map(|b| Some((first_key(b), b.hint?)))
            .collect();
    }
    let own = app
        .registry
        .get(app.view())
        .map(|c| c.bindings())
        .unwrap_or_default();
    let global = |help: bool| {
        crate::keys::GLOBAL
            .iter()
            .filter(move |b| (b.action == crate::keys::Action::Help) == help)
            .filter_map(|b| Some((first_key(b), b.hint?)))
    };
    // help first: whatever is cut off at 80 columns, `?` shows it all
    let mut hints: Vec<(String, &'static str)> = global(true).collect();
    hints.extend(
        own.iter()
            .filter(|b| !(app.readonly && crate::components::writes_outside(b.action)))
            .filter_map(|b| Some((first_key(b), b.hint?))),
    );
    if app.views.len() > 1 {
        hints.push(("esc".into(), "back"));
    }
    hints.extend(global(false));
    hints
}
