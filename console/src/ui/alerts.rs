//! The live alerts table. Only the rows on screen are built, so drawing costs
//! the same with 100 or 100,000 alerts.

use super::{Theme, clock, priority_short};
use crate::app::State;
use crate::triage::TriageState;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, StatefulWidget, Table, TableState, Widget};

/// First row to show so that `cursor` is visible in a window of `height` rows.
pub fn window_start(cursor: usize, height: usize) -> usize {
    if height == 0 {
        return 0;
    }
    (cursor + 1).saturating_sub(height)
}

fn state_style(t: Theme, s: TriageState) -> ratatui::style::Style {
    match s {
        TriageState::New => t.fg(Color::White).add_modifier(Modifier::BOLD),
        TriageState::Acknowledged => t.fg(Color::Yellow),
        TriageState::Resolved => t.fg(Color::Green),
        TriageState::FalsePositive => t.dim(),
    }
}

pub fn render(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    let wide = area.width >= 110;
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(" Alerts ").style(t.title()));
    let inner = block.inner(area);
    block.render(area, buf);
    if app.rows.is_empty() {
        let text = if app.entries.is_empty() {
            " no alerts yet; waiting for sources (:sensors shows their state)"
        } else {
            " no alert matches the filter (c clears it, esc too)"
        };
        Line::from(Span::styled(text, t.dim())).render(inner, buf);
        return;
    }
    let height = inner.height.saturating_sub(1) as usize;
    let start = window_start(app.cursor, height);
    let end = (start + height).min(app.rows.len());

    let mut header = vec!["", "TIME", "PRI", "RULE"];
    if wide {
        header.push("NODE");
    }
    header.push("NAMESPACE/POD");
    if wide {
        header.push("CONTAINER");
    }
    header.push("COMMAND");
    if wide {
        header.push("USER");
    }
    header.push("STATE");

    let rows: Vec<Row> = app.rows[start..end]
        .iter()
        .map(|r| {
            let e = &app.entries[r.entry];
            let a = &e.alert;
            let mark = if app.marked.contains(&a.id) {
                "●"
            } else {
                " "
            };
            let silenced = app.is_silenced(r.entry);
            let n = app.members(r).len();
            let count = if n > 1 {
                format!("×{n} ")
            } else {
                String::new()
            };
            let mut cells = vec![
                Cell::from(mark),
                Cell::from(clock(app, a.time_ns)),
                Cell::from(priority_short(a.priority())).style(t.priority(a.priority())),
                Cell::from(Line::from(vec![
                    Span::styled(count, t.key()),
                    Span::raw(a.rule.as_str()),
                ])),
            ];
            if wide {
                cells.push(Cell::from(a.hostname.as_str()));
            }
            let pod = if a.pod.is_empty() {
                "(host)".to_string()
            } else {
                a.pod_ref()
            };
            cells.push(Cell::from(pod));
            if wide {
                cells.push(Cell::from(a.container_name.as_str()));
            }
            cells.push(Cell::from(a.cmdline.as_str()));
            if wide {
                cells.push(Cell::from(a.user.as_str()));
            }
            let state = if silenced {
                "silenced"
            } else {
                e.state.as_str()
            };
            cells.push(Cell::from(state).style(if silenced {
                t.dim()
            } else {
                state_style(t, e.state)
            }));
            Row::new(cells)
        })
        .collect();

    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(1),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Fill(5),
            Constraint::Fill(1),
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Fill(2),
            Constraint::Length(6),
            Constraint::Length(9),
        ]
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(9),
        ]
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
        .column_spacing(1)
        .row_highlight_style(t.selected());
    let mut state = TableState::default().with_selected(Some(app.cursor - start));
    StatefulWidget::render(table, inner, buf, &mut state);
}
