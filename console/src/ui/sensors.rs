//! Per-source connection state, version, rules, rates, drops, lag and gaps.

use super::Theme;
use crate::app::State;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget, Wrap};

pub fn render(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    let [top, bottom] = Layout::vertical([
        Constraint::Length(app.sensors.len() as u16 + 2),
        Constraint::Min(0),
    ])
    .areas(area);
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(format!(" Sources ({}) ", app.sensors.len())).style(t.title()));
    let inner = block.inner(top);
    block.render(top, buf);
    let wide = area.width >= 110;
    let rows: Vec<Row> = app
        .sensors
        .iter()
        .map(|s| {
            let v = s.version.as_ref();
            let st = s.stats.as_ref();
            let state_style = if s.state.starts_with("connected") || s.state.starts_with("loaded") {
                t.fg(Color::Green)
            } else {
                t.fg(Color::Red)
            };
            let mut cells = vec![
                Cell::from(s.name.clone()),
                Cell::from(s.state.clone()).style(state_style),
            ];
            if wide {
                cells.push(
                    v.map(|v| format!("{} {}", v.version, v.health))
                        .unwrap_or_default()
                        .into(),
                );
                cells.push(v.map(|v| v.hostname.clone()).unwrap_or_default().into());
            }
            cells.extend([
                st.map(|s| format!("{}/{}", s.rules_enabled, s.rules_loaded))
                    .unwrap_or_default()
                    .into(),
                format!("{:.0}", s.event_rate).into(),
                format!("{:.1}", s.alert_rate).into(),
                st.map(|s| (s.kernel_drops + s.userspace_drops).to_string())
                    .unwrap_or_default()
                    .into(),
                s.lag_ms.map(human_ms).unwrap_or_default().into(),
            ]);
            if wide {
                cells.push(s.backlog.map(|b| b.to_string()).unwrap_or_default().into());
                cells.push(s.received.to_string().into());
            }
            cells.push(s.gaps.len().to_string().into());
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![Constraint::Fill(2), Constraint::Fill(2)];
    let mut header = vec!["SOURCE", "STATE"];
    if wide {
        widths.extend([Constraint::Fill(1), Constraint::Fill(1)]);
        header.extend(["VERSION", "NODE"]);
    }
    widths.extend([
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
    ]);
    header.extend(["RULES", "EV/s", "AL/s", "DROPS", "LAG"]);
    if wide {
        widths.extend([Constraint::Length(6), Constraint::Length(6)]);
        header.extend(["BEHIND", "RECV"]);
    }
    widths.push(Constraint::Length(4));
    header.push("GAPS");
    Table::new(rows, widths)
        .header(Row::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
        .render(inner, buf);

    let mut lines = Vec::new();
    for s in &app.sensors {
        if let Some(e) = &s.error {
            lines.push(Line::from(vec![
                Span::styled(format!("{}: ", s.name), t.dim()),
                Span::styled(e.clone(), t.fg(Color::Red)),
            ]));
        }
        for g in s.gaps.iter().rev().take(5) {
            lines.push(Line::from(vec![
                Span::styled(format!("{}: ", s.name), t.dim()),
                Span::styled(g.clone(), t.fg(Color::Yellow)),
            ]));
        }
    }
    if !lines.is_empty() {
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::TOP)
                    .title(" Errors and gaps "),
            )
            .render(bottom, buf);
    }
}

/// Compact duration for the LAG column: 40ms, 2.5s, 12m, 3h, 9d.
fn human_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    let body = match a {
        0..1_000 => format!("{a}ms"),
        1_000..60_000 => format!("{:.1}s", a as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m", a / 60_000),
        3_600_000..86_400_000 => format!("{}h", a / 3_600_000),
        _ => format!("{}d", a / 86_400_000),
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_ms() {
        assert_eq!(super::human_ms(40), "40ms");
        assert_eq!(super::human_ms(2_500), "2.5s");
        assert_eq!(super::human_ms(-720_000), "-12m");
        assert_eq!(super::human_ms(10 * 86_400_000), "10d");
    }
}
