//! Things drawn over the current view: help, prompts, silence and exception editors.

use super::{Theme, centered};
use crate::app::{App, InputKind, Overlay};
use crate::keys;
use crate::triage::{SILENCE_DURATIONS, SilenceScope};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

pub fn render(app: &App, t: Theme, area: Rect, buf: &mut Buffer) {
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help(app, t, area, buf),
        Overlay::Input { kind, buffer } => {
            let prompt = match kind {
                InputKind::Filter => "/",
                InputKind::Command => ":",
                InputKind::Note => "note: ",
            };
            let row = Rect {
                y: area.y + area.height.saturating_sub(1),
                height: 1,
                ..area
            };
            Clear.render(row, buf);
            Line::from(vec![
                Span::styled(prompt, t.key()),
                Span::raw(crate::sanitize::sanitize(buffer).into_owned()),
                Span::styled("█", t.dim()),
            ])
            .render(row, buf);
        }
        Overlay::ConfirmDelete { namespace, pod } => {
            let r = centered(area, 50, 5);
            Clear.render(r, buf);
            Paragraph::new(vec![
                Line::from(format!("Delete pod {namespace}/{pod}?")),
                Line::from(vec![
                    Span::styled("y", t.key()),
                    Span::raw(" delete   "),
                    Span::styled("any other key", t.key()),
                    Span::raw(" cancel"),
                ]),
            ])
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Confirm "))
            .render(r, buf);
        }
        Overlay::Silence { scope, duration } => {
            let targets = app.triage_targets();
            let sample = targets.first().map(|&i| &app.entries[i].alert);
            let r = centered(area, 70, 10);
            Clear.render(r, buf);
            let mut lines = vec![Line::from(format!(
                "Silence {} alert(s) of rule {}",
                targets.len(),
                sample.map(|a| a.rule.as_str()).unwrap_or("-")
            ))];
            for (i, s) in SilenceScope::ALL.iter().enumerate() {
                let value = sample.map(|a| s.value_of(a)).unwrap_or_default();
                let label = match s {
                    SilenceScope::Rule => "rule everywhere".to_string(),
                    other => format!("{} = {value}", other.as_str()),
                };
                let line = Line::from(format!(" {} {label}", if i == *scope { ">" } else { " " }));
                lines.push(if i == *scope {
                    line.style(t.selected())
                } else {
                    line
                });
            }
            lines.push(Line::from(format!(
                "expires in {}",
                SILENCE_DURATIONS[*duration].0
            )));
            lines.push(Line::from(vec![
                Span::styled("j/k", t.key()),
                Span::raw(" scope  "),
                Span::styled("e", t.key()),
                Span::raw(" expiry  "),
                Span::styled("enter", t.key()),
                Span::raw(" silence  "),
                Span::styled("esc", t.key()),
                Span::raw(" cancel"),
            ]));
            Paragraph::new(lines)
                .block(Block::bordered().title(" Silence "))
                .render(r, buf);
        }
        Overlay::Exception(d) => {
            let r = centered(area, 100, 22);
            Clear.render(r, buf);
            let mut lines = vec![Line::from(format!("Exception for rule {}", d.rule))];
            for (i, f) in d.fields.iter().enumerate() {
                let line = Line::from(format!(
                    " [{}] {} = {}",
                    if f.keep { "x" } else { " " },
                    f.name,
                    f.value
                ));
                lines.push(if i == d.cursor {
                    line.style(t.selected())
                } else {
                    line
                });
            }
            lines.push(Line::from(Span::styled("preview:", t.dim())));
            match d.yaml(1) {
                Ok(y) => lines.extend(y.lines().map(|l| Line::from(l.to_string()))),
                Err(e) => lines.push(Line::from(e)),
            }
            lines.push(Line::from(format!("file: {}", d.path.display())));
            let appliers = app.action_targets().len();
            let mut keys = vec![
                Span::styled("space", t.key()),
                Span::raw(" keep/drop  "),
                Span::styled("w", t.key()),
                Span::raw(" write file  "),
            ];
            if appliers > 0 {
                keys.push(Span::styled("A", t.key()));
                keys.push(Span::raw(format!(
                    " write + apply to {appliers} sensor(s)  "
                )));
            }
            keys.push(Span::styled("esc", t.key()));
            keys.push(Span::raw(" cancel"));
            lines.push(Line::from(keys));
            Paragraph::new(lines)
                .block(Block::bordered().title(" Draft exception (x) "))
                .render(r, buf);
        }
    }
}

fn help(app: &App, t: Theme, area: Rect, buf: &mut Buffer) {
    let view = app.view();
    let own = keys::view_bindings(view);
    let entries: Vec<&keys::Binding> = own.iter().chain(keys::GLOBAL.iter()).collect();
    // Two columns when one would not fit (the alerts view at 80x24).
    let rows_avail = area.height.saturating_sub(4) as usize;
    let cols = if entries.len() > rows_avail { 2 } else { 1 };
    let per_col = entries.len().div_ceil(cols);
    let width = if cols == 2 { area.width.min(120) } else { 72 };
    let col_w = (width.saturating_sub(2) as usize) / cols;
    let cell = |b: &keys::Binding| {
        let label = format!(" {:<11} ", b.keys_label());
        let room = col_w.saturating_sub(label.chars().count() + 1);
        let help: String = b.help.chars().take(room).collect();
        vec![
            Span::styled(label, t.key()),
            Span::raw(format!("{help:<room$} ")),
        ]
    };
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "keys of <{}> (then keys that work everywhere)",
            view.title()
        ),
        t.title(),
    ))];
    for r in 0..per_col {
        let mut spans = Vec::new();
        for c in 0..cols {
            if let Some(b) = entries.get(c * per_col + r) {
                spans.extend(cell(b));
            }
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        t.dim().add_modifier(Modifier::ITALIC),
    )));
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, width, h);
    Clear.render(r, buf);
    Paragraph::new(lines)
        .block(Block::bordered().title(" Help "))
        .render(r, buf);
}
