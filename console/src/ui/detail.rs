//! One alert in full: output, tags, process ancestry tree, container, pod,
//! responses, notes and every output field.

use super::{Theme, full_time};
use crate::alert::is_mitre;
use crate::app::State;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

fn kv<'a>(t: Theme, k: &'a str, v: String) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{k:>10}: "), t.dim()),
        Span::raw(v),
    ])
}

pub fn render(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    let (Some(e), Some(a)) = (
        app.detail.and_then(|i| app.entries.get(i)),
        app.detail_alert(),
    ) else {
        return;
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(format!(" Alert {}#{} ", a.sensor, a.seq)).style(t.title()));
    let inner = block.inner(area);
    block.render(area, buf);

    let mut lines: Vec<Line> = vec![
        Line::from(vec![
            Span::styled(format!("{:>10}: ", "rule"), t.dim()),
            Span::styled(
                a.rule.as_str(),
                t.fg(Color::White).add_modifier(Modifier::BOLD),
            ),
        ]),
        Line::from(vec![
            Span::styled(format!("{:>10}: ", "priority"), t.dim()),
            Span::styled(a.priority().falco_name(), t.priority(a.priority())),
            Span::styled("   state: ", t.dim()),
            Span::raw(if app.is_silenced(app.detail.unwrap_or_default()) {
                format!("{} (silenced)", e.state)
            } else {
                e.state.to_string()
            }),
        ]),
        kv(t, "time", full_time(app, a.time_ns)),
        kv(t, "node", a.hostname.clone()),
        kv(
            t,
            "source",
            format!("{} {}", a.source, a.event_type).trim().to_string(),
        ),
        kv(t, "output", a.output.clone()),
    ];
    let mut tags = vec![Span::styled(format!("{:>10}: ", "tags"), t.dim())];
    for tag in &a.tags {
        let style = if is_mitre(tag) {
            t.fg(Color::Magenta).add_modifier(Modifier::BOLD)
        } else {
            ratatui::style::Style::new()
        };
        tags.push(Span::styled(tag.as_str(), style));
        tags.push(Span::raw(" "));
    }
    lines.push(Line::from(tags));

    lines.push(Line::from(Span::styled("process", t.title())));
    lines.push(Line::from(format!(
        "  {} ({}) user={}  {}",
        a.proc_name, a.pid, a.user, a.cmdline
    )));
    for (depth, p) in a.ancestors.iter().enumerate() {
        let indent = "   ".repeat(depth);
        let pid = if p.pid > 0 {
            format!(" ({})", p.pid)
        } else {
            String::new()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {indent}└─ "), t.dim()),
            Span::raw(format!("{}{pid} {}", p.name, p.cmdline)),
        ]));
    }

    lines.push(Line::from(Span::styled("container", t.title())));
    lines.push(kv(t, "id", a.container_id.clone()));
    lines.push(kv(t, "name", a.container_name.clone()));
    lines.push(kv(
        t,
        "image",
        if a.privileged {
            format!("{} (privileged)", a.image)
        } else {
            a.image.clone()
        },
    ));
    lines.push(Line::from(Span::styled("pod", t.title())));
    lines.push(kv(
        t,
        "pod",
        if a.pod.is_empty() {
            "(none: host process)".into()
        } else {
            a.pod_ref()
        },
    ));
    if !a.responses.is_empty() {
        lines.push(Line::from(Span::styled("responses", t.title())));
        for r in &a.responses {
            lines.push(Line::from(format!("  {r}")));
        }
    }
    if !e.notes.is_empty() {
        lines.push(Line::from(Span::styled("notes", t.title())));
        for n in &e.notes {
            lines.push(Line::from(format!("  • {n}")));
        }
    }
    lines.push(Line::from(Span::styled("fields", t.title())));
    for (k, v) in &a.fields {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k}"), t.fg(Color::Cyan)),
            Span::raw(format!(" = {v}")),
        ]));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((app.detail_scroll.min(u16::MAX as usize) as u16, 0))
        .render(inner, buf);
}
