//! Pod drilldown: describe, events, log tail and every alert of the pod.

use super::{Theme, clock, priority_short};
use crate::app::{PodTab, State};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

pub fn render(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    let Some(p) = &app.pod else {
        return;
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(format!(" Pod {}/{} ", p.namespace, p.name)).style(t.title()));
    let inner = block.inner(area);
    block.render(area, buf);
    let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let mut spans = Vec::new();
    for (tab, key, label) in [
        (PodTab::Describe, "d", "describe"),
        (PodTab::Events, "e", "events"),
        (PodTab::Logs, "l", "logs"),
        (PodTab::Alerts, "A", "alerts"),
    ] {
        let style = if tab == p.tab { t.selected() } else { t.dim() };
        spans.push(Span::styled(format!(" {key}:{label} "), style));
        spans.push(Span::raw(" "));
    }
    Line::from(spans).render(tabs, buf);

    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &p.error {
        lines.push(Line::from(Span::styled(e.clone(), t.fg(Color::Red))));
    }
    let d = p.details.as_deref();
    match p.tab {
        PodTab::Describe => match d {
            None if p.error.is_none() => lines.push(Line::from("loading...")),
            None => {}
            Some(d) => {
                let kv = |k: &str, v: String| {
                    Line::from(vec![
                        Span::styled(format!("{k:>12}: "), t.dim()),
                        Span::raw(v),
                    ])
                };
                lines.push(kv("status", d.phase.clone()));
                lines.push(kv("node", d.node.clone()));
                lines.push(kv("pod ip", d.pod_ip.clone()));
                lines.push(kv("started", d.start_time.clone()));
                lines.push(kv("owner", d.owners.join(", ")));
                lines.push(Line::from(Span::styled("containers", t.title())));
                for c in &d.containers {
                    lines.push(Line::from(format!(
                        "  {} {}  {}  ready={} restarts={}",
                        c.name, c.image, c.state, c.ready, c.restarts
                    )));
                }
                lines.push(Line::from(Span::styled("labels", t.title())));
                for (k, v) in &d.labels {
                    lines.push(Line::from(format!("  {k}={v}")));
                }
                lines.push(Line::from(Span::styled("annotations", t.title())));
                for (k, v) in &d.annotations {
                    lines.push(Line::from(format!("  {k}={v}")));
                }
                for e in &d.partial_errors {
                    lines.push(Line::from(Span::styled(e.clone(), t.fg(Color::Red))));
                }
            }
        },
        PodTab::Events => {
            for e in d.map(|d| d.events.as_slice()).unwrap_or_default() {
                let style = if e.kind == "Warning" {
                    t.fg(Color::Yellow)
                } else {
                    ratatui::style::Style::new()
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{} ", e.time), t.dim()),
                    Span::styled(format!("{} {} ×{}: ", e.kind, e.reason, e.count), style),
                    Span::raw(e.message.clone()),
                ]));
            }
            if d.is_some_and(|d| d.events.is_empty()) {
                lines.push(Line::from(Span::styled("no recent events", t.dim())));
            }
        }
        PodTab::Logs => {
            if let Some(d) = d {
                lines.push(Line::from(Span::styled(
                    format!("last {} lines of {}", d.logs.len(), d.log_container),
                    t.dim(),
                )));
                for l in &d.logs {
                    lines.push(Line::from(l.clone()));
                }
            }
        }
        PodTab::Alerts => {
            lines.push(Line::from(Span::styled(
                format!("{} alerts of this pod (enter: detail)", p.alerts.len()),
                t.dim(),
            )));
            for (n, &i) in p.alerts.iter().enumerate() {
                let e = &app.entries[i];
                let a = &e.alert;
                let line = Line::from(vec![
                    Span::raw(format!("{} ", clock(app, a.time_ns))),
                    Span::styled(
                        format!("{:<6} ", priority_short(a.priority())),
                        t.priority(a.priority()),
                    ),
                    Span::raw(format!("{}  {}  {}", a.rule, a.cmdline, e.state)),
                ]);
                lines.push(if n == p.scroll {
                    line.style(t.selected().add_modifier(Modifier::BOLD))
                } else {
                    line
                });
            }
        }
    }
    let scroll = match p.tab {
        // The alerts list keeps the selected line visible instead of scrolling by line.
        PodTab::Alerts => (p.scroll + 2).saturating_sub(body.height as usize),
        _ => p.scroll,
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll.min(u16::MAX as usize) as u16, 0))
        .render(body, buf);
}
