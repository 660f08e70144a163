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
    let mut lines = vec![Line::from(Span::styled(
        format!("keys of <{}>", view.title()),
        t.title(),
    ))];
    let entry = |b: &keys::Binding| {
        Line::from(vec![
            Span::styled(format!("  {:<16}", b.keys_label()), t.key()),
            Span::raw(b.help),
        ])
    };
    lines.extend(own.iter().map(entry));
    lines.push(Line::from(Span::styled("everywhere", t.title())));
    lines.extend(keys::GLOBAL.iter().map(entry));
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        t.dim().add_modifier(Modifier::ITALIC),
    )));
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, 72, h);
    Clear.render(r, buf);
    Paragraph::new(lines)
        .block(Block::bordered().title(" Help "))
        .render(r, buf);
}
