//! Per-rule statistics, alerts by priority and a one-hour timeline.

use super::{Theme, alerts::window_start, priority_short};
use crate::app::State;
use crate::stats;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::Line;
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Borders, Row, Sparkline, StatefulWidget, Table, TableState,
    Widget,
};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Per-minute counts (oldest first) as `width` columns whose last is the
/// current minute: buckets are summed from the newest back, and an hour
/// narrower than the width is padded on the left (before the hour).
pub fn timeline_columns(values: &[u64], width: usize) -> Vec<u64> {
    if values.is_empty() || width == 0 {
        return Vec::new();
    }
    let per = values.len().div_ceil(width);
    let sums: Vec<u64> = values.rchunks(per).map(|c| c.iter().sum()).collect();
    let mut cols = vec![0; width.saturating_sub(sums.len())];
    cols.extend(sums.into_iter().rev());
    cols
}

/// Squeezes per-minute counts into `width` characters of block elements,
/// the newest minute in the last one.
pub fn spark_text(values: &[u64], width: usize) -> String {
    let sums = timeline_columns(values, width);
    let max = sums.iter().copied().max().unwrap_or(0);
    sums.iter()
        .map(|&v| {
            if v == 0 {
                ' '
            } else {
                BARS[((v * 7) / max.max(1)) as usize]
            }
        })
        .collect()
}

fn tops(v: &[(String, u64)]) -> String {
    v.iter()
        .map(|(k, n)| format!("{k}({n})"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn render(app: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    let newest = app.row_alerts().map(|a| a.time_ns).max();
    let reference = stats::reference_time(app.now_ns, newest);
    let s = stats::compute(app.row_alerts(), reference);
    let as_of = if reference == app.now_ns {
        String::new()
    } else {
        format!(
            "rates as of the newest alert, {} ",
            super::clock(app, reference)
        )
    };
    let charts_h = if area.height >= 20 { 8 } else { 0 };
    let [table_area, charts] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(charts_h)]).areas(area);

    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(format!(" Rules ({}) {as_of}", s.rules.len())).style(t.title()));
    let inner = block.inner(table_area);
    block.render(table_area, buf);
    let wide = area.width >= 110;
    let height = inner.height.saturating_sub(1) as usize;
    let cursor = app.rules_cursor.min(s.rules.len().saturating_sub(1));
    let start = window_start(cursor, height);
    let rows: Vec<Row> = s
        .rules
        .iter()
        .skip(start)
        .take(height)
        .map(|r| {
            let mut cells = vec![
                ratatui::widgets::Cell::from(r.rule.clone()),
                ratatui::widgets::Cell::from(priority_short(r.priority))
                    .style(t.priority(r.priority)),
                ratatui::widgets::Cell::from(r.count.to_string()),
                ratatui::widgets::Cell::from(format!("{:.1}", r.rate_1m)),
                ratatui::widgets::Cell::from(format!("{:.1}", r.rate_5m)),
                ratatui::widgets::Cell::from(format!("{:.2}", r.rate_1h)),
                ratatui::widgets::Cell::from(spark_text(&r.spark, if wide { 20 } else { 12 }))
                    .style(t.fg(Color::Cyan)),
            ];
            if wide {
                cells.push(tops(&r.top_namespaces).into());
                cells.push(tops(&r.top_pods).into());
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Fill(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(if wide { 20 } else { 12 }),
    ];
    let mut header = vec!["RULE", "PRI", "COUNT", "/1m", "/5m", "/1h", "LAST HOUR"];
    if wide {
        widths.push(Constraint::Fill(2));
        widths.push(Constraint::Fill(2));
        header.push("TOP NAMESPACES");
        header.push("TOP PODS");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
        .row_highlight_style(t.selected());
    let mut state =
        TableState::default().with_selected((!s.rules.is_empty()).then_some(cursor - start));
    StatefulWidget::render(table, inner, buf, &mut state);

    if charts_h == 0 {
        return;
    }
    let [left, right] =
        Layout::horizontal([Constraint::Length(50), Constraint::Min(10)]).areas(charts);
    let bars: Vec<Bar> = s
        .by_priority
        .iter()
        .map(|(p, n)| {
            Bar::default()
                .value(*n)
                .label(Line::from(
                    &priority_short(*p)[..priority_short(*p).len().min(5)],
                ))
                .style(t.priority(*p))
        })
        .collect();
    BarChart::default()
        .block(Block::bordered().title(" By priority "))
        .data(BarGroup::default().bars(&bars))
        .bar_width(5)
        .bar_gap(1)
        .render(left, buf);
    let timeline = timeline_columns(&s.timeline, right.width.saturating_sub(2) as usize);
    Sparkline::default()
        .block(Block::bordered().title(" Alerts over the last hour (now at the right) "))
        .data(&timeline)
        .style(t.fg(Color::Cyan))
        .render(right, buf);
}
