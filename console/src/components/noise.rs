//! `:noise`: what fills the alert list. Groups of (rule, image or namespace,
//! process) ranked by volume over a window, with their share of all alerts
//! and whether they are growing; `x` drafts an exception for a group (the
//! editor shows how many stored alerts it would have silenced), `enter`
//! lists the group's alerts.

use super::{Component, View, step};
use crate::alert::AlertRecord;
use crate::app::{NOISE_WINDOWS, State};
use crate::b;
use crate::exception::ExceptionDraft;
use crate::keys::{Action as A, Binding, ch, code};
use crate::sanitize::sanitize;
use crate::store::{NoiseBy, NoiseRow};
use crate::ui::Theme;
use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, StatefulWidget, Table, TableState, Widget};

pub struct Noise;

static BINDINGS: &[Binding] = &[
    b!(
        [code(KeyCode::Enter)],
        A::Enter,
        "alerts of this group",
        "alerts"
    ),
    b!(
        [ch('x')],
        A::Exception,
        "draft an exception for this group",
        "exception"
    ),
    b!(
        [ch('[')],
        A::Local("noise-shorter"),
        "shorter window",
        "window"
    ),
    b!([ch(']')], A::Local("noise-longer"), "longer window"),
    b!(
        [ch('i')],
        A::Local("noise-by"),
        "group by image / namespace",
        "image/ns"
    ),
    b!([ch('u')], A::Local("noise-refresh"), "refresh now"),
];

impl Component for Noise {
    fn view(&self) -> View {
        View::Noise
    }

    fn bindings(&self) -> &'static [Binding] {
        BINDINGS
    }

    fn commands(&self) -> &'static [&'static str] {
        &["noise"]
    }

    fn open(&self, st: &mut State, _args: &str) {
        st.switch_view(View::Noise);
        st.query_noise();
    }

    fn on_action(&self, st: &mut State, action: A) -> bool {
        let row = current(st).cloned();
        match action {
            A::Enter => {
                if let Some(r) = row {
                    let f = &mut st.filter;
                    *f = Default::default();
                    f.rule = Some(r.rule.clone());
                    f.fields = vec![
                        (st.noise.by.field().to_string(), r.place.to_lowercase()),
                        ("proc.name".to_string(), r.proc.to_lowercase()),
                    ];
                    st.follow = true;
                    st.switch_view(View::Alerts);
                    st.refilter();
                }
            }
            A::Exception => {
                if let Some(r) = row {
                    let draft = ExceptionDraft::from_alert(
                        &group_alert(&r, st.noise.by),
                        &st.exceptions_path,
                    );
                    st.open_exception(draft);
                }
            }
            A::Local("noise-shorter") => {
                st.noise.window = st.noise.window.saturating_sub(1);
                st.query_noise();
            }
            A::Local("noise-longer") => {
                st.noise.window = (st.noise.window + 1).min(NOISE_WINDOWS.len() - 1);
                st.query_noise();
            }
            A::Local("noise-by") => {
                st.noise.by = match st.noise.by {
                    NoiseBy::Image => NoiseBy::Namespace,
                    NoiseBy::Namespace => NoiseBy::Image,
                };
                st.noise.cursor = 0;
                st.query_noise();
            }
            A::Local("noise-refresh") => st.query_noise(),
            _ => return false,
        }
        true
    }

    fn move_by(&self, st: &mut State, delta: isize) {
        let n = st.noise.report.as_ref().map_or(0, |r| r.rows.len());
        step(&mut st.noise.cursor, delta, n);
    }

    fn render(&self, st: &State, t: Theme, area: Rect, buf: &mut Buffer) {
        render(st, t, area, buf)
    }
}

fn current(st: &State) -> Option<&NoiseRow> {
    st.noise.report.as_ref()?.rows.get(st.noise.cursor)
}

/// An alert standing for the whole group: what the exception draft offers
/// (the rule, the process and the image or namespace) and nothing else.
fn group_alert(r: &NoiseRow, by: NoiseBy) -> AlertRecord {
    let mut a = AlertRecord {
        rule: r.rule.clone(),
        proc_name: r.proc.clone(),
        ..Default::default()
    };
    match by {
        NoiseBy::Image => a.image = r.place.clone(),
        NoiseBy::Namespace => a.namespace = r.place.clone(),
    }
    a
}

/// `↑ +150%` when the window's second half has more than the first, etc.
pub fn trend(r: &NoiseRow) -> String {
    let (early, late) = (r.earlier(), r.recent);
    match (early, late) {
        (0, 0) => "-".into(),
        (0, _) => "↑ new".into(),
        (_, 0) => "↓ gone".into(),
        _ => {
            let pct = (late as f64 - early as f64) / early as f64 * 100.0;
            if pct.abs() < 10.0 {
                "→".into()
            } else if late >= 2 * early {
                format!("↑ ×{}", late / early)
            } else if pct > 0.0 {
                format!("↑ +{pct:.0}%")
            } else {
                format!("↓ {pct:.0}%")
            }
        }
    }
}

fn render(st: &State, t: Theme, area: Rect, buf: &mut Buffer) {
    let n = &st.noise;
    let (window, _) = NOISE_WINDOWS[n.window];
    let total = n.report.as_ref().map_or(0, |r| r.total);
    let block = Block::default().borders(Borders::TOP).title(
        Line::from(format!(
            " Noise: last {window}, {total} alerts, by rule + {} + process ",
            n.by.as_str()
        ))
        .style(t.title()),
    );
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(report) = n.report.as_ref().filter(|r| !r.rows.is_empty()) else {
        let text = match &n.error {
            Some(e) => format!(" {}", sanitize(e)),
            None if n.report.is_some() => {
                format!(" no alerts in the last {window} ([ ] change the window)")
            }
            None => " ranking...".to_string(),
        };
        Line::from(Span::styled(text, t.dim())).render(inner, buf);
        return;
    };
    let height = inner.height.saturating_sub(1) as usize;
    let start = crate::ui::alerts::window_start(n.cursor, height);
    let wide = area.width >= 110;
    let rows: Vec<Row> = report
        .rows
        .iter()
        .skip(start)
        .take(height)
        .map(|r| {
            let share = if total > 0 {
                r.count as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            Row::new(vec![
                Cell::from(r.count.to_string()),
                Cell::from(format!("{share:.1}%")),
                Cell::from(trend(r)),
                Cell::from(sanitize(&r.rule).into_owned()),
                Cell::from(
                    sanitize(if r.place.is_empty() {
                        "(host)"
                    } else {
                        &r.place
                    })
                    .into_owned(),
                ),
                Cell::from(sanitize(&r.proc).into_owned()),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(if wide { 9 } else { 7 }),
        Constraint::Fill(4),
        Constraint::Fill(3),
        Constraint::Fill(if wide { 2 } else { 1 }),
    ];
    let header = Row::new(vec![
        "COUNT",
        "SHARE",
        "TREND",
        "RULE",
        match n.by {
            NoiseBy::Image => "IMAGE",
            NoiseBy::Namespace => "NAMESPACE",
        },
        "PROCESS",
    ])
    .style(t.dim().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(t.selected());
    let mut state = TableState::default().with_selected(Some(n.cursor - start));
    StatefulWidget::render(table, inner, buf, &mut state);
}
