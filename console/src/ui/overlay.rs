//! Things drawn over the current view: help, prompts, silence and exception editors.

use super::{Theme, centered};
use crate::app::{InputKind, Overlay, State};
use crate::components::overlay;
use crate::keys;
use crate::triage::{SILENCE_DURATIONS, SilenceScope};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

pub fn render(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
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
            lines.push(key_line(t, &app.overlay, true));
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
            lines.push(key_line(t, &app.overlay, appliers > 0 && !app.readonly));
            if appliers > 0 && !app.readonly {
                lines.push(Line::from(Span::styled(
                    format!("A applies to {appliers} sensor(s)"),
                    t.dim(),
                )));
            }
            Paragraph::new(lines)
                .block(Block::bordered().title(" Draft exception (x) "))
                .render(r, buf);
        }
    }
}

/// The open overlay's keys from its bindings; `with_writes` false leaves out
/// the ones that write outside (read-only, or nobody to apply to).
fn key_line(t: Theme, o: &Overlay, with_writes: bool) -> Line<'static> {
    let mut spans = Vec::new();
    for b in overlay::bindings(o) {
        let Some(hint) = b.hint else { continue };
        if !with_writes && crate::components::writes_outside(b.action) {
            continue;
        }
        spans.push(Span::styled(
            b.keys.first().map(|k| k.label()).unwrap_or_default(),
            t.key(),
        ));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    Line::from(spans)
}

/// Help: the current view's keys, the global ones, and (when there is room)
/// every overlay's, all from the bindings the dispatcher uses.
fn help(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    let view = app.view();
    let own = app
        .registry
        .get(view)
        .map(|c| c.bindings())
        .unwrap_or_default();
    enum Item<'a> {
        Key(&'a keys::Binding),
        Section(&'static str),
    }
    let mut entries: Vec<Item> = own
        .iter()
        .chain(keys::GLOBAL.iter())
        .map(Item::Key)
        .collect();
    let overlay_rows: usize = overlay::all()
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(_, b)| b.len() + 1)
        .sum();
    // Two columns when one would not fit (the alerts view at 80x24).
    let rows_avail = area.height.saturating_sub(4) as usize;
    if (entries.len() + overlay_rows).div_ceil(2) <= rows_avail {
        for (name, b) in overlay::all() {
            if !b.is_empty() {
                entries.push(Item::Section(name));
                entries.extend(b.iter().map(Item::Key));
            }
        }
    }
    let cols = if entries.len() > rows_avail { 2 } else { 1 };
    let per_col = entries.len().div_ceil(cols);
    let width = if cols == 2 { area.width.min(120) } else { 72 };
    let col_w = (width.saturating_sub(2) as usize) / cols;
    let cell = |item: &Item| match item {
        Item::Key(b) => {
            let label = format!(" {:<11} ", b.keys_label());
            let room = col_w.saturating_sub(label.chars().count() + 1);
            let help: String = b.help.chars().take(room).collect();
            vec![
                Span::styled(label, t.key()),
                Span::raw(format!("{help:<room$} ")),
            ]
        }
        Item::Section(name) => {
            let text: String = format!(" in {name}:").chars().take(col_w).collect();
            vec![Span::styled(format!("{text:<col_w$}"), t.title())]
        }
    };
    // At 80x24 the alerts view's keys fill the screen: drop the title and
    // closing lines rather than keys.
    let framed = per_col + 2 + 2 <= area.height as usize;
    let mut lines = Vec::new();
    if framed {
        lines.push(Line::from(Span::styled(
            format!(
                "keys of <{}> (then keys that work everywhere)",
                view.title()
            ),
            t.title(),
        )));
    }
    for r in 0..per_col {
        let mut spans = Vec::new();
        for c in 0..cols {
            if let Some(b) = entries.get(c * per_col + r) {
                spans.extend(cell(b));
            }
        }
        lines.push(Line::from(spans));
    }
    if framed {
        lines.push(Line::from(Span::styled(
            "any key closes this help",
            t.dim().add_modifier(Modifier::ITALIC),
        )));
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, width, h);
    Clear.render(r, buf);
    Paragraph::new(lines)
        .block(Block::bordered().title(" Help "))
        .render(r, buf);
}
