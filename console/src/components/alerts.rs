//! The live alert list (`:alerts`): filters, sort, grouping, marks, triage.

use super::{Component, View, step};
use crate::app::{InputKind, SortKey, State, step_priority, toggle};
use crate::b;
use crate::keys::{Action as A, Binding, TRIAGE, ch, code};
use crate::triage::TriageState;
use crate::ui::Theme;
use crossterm::event::KeyCode;
use falco_proto::v1::Priority;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

pub struct Alerts;

static BINDINGS: &[Binding] = &[
    b!([code(KeyCode::Enter)], A::Enter, "alert detail", "detail"),
    b!([ch('d')], A::Describe, "describe (= alert detail)"),
    b!([ch('l')], A::Logs, "logs of the alert's pod"),
    b!(
        [ch('/')],
        A::Filter,
        "filter (/!x: not x, /field=glob)",
        "filter"
    ),
    b!(
        [ch(' '), ch('m')],
        A::Mark,
        "mark/unmark (triage acts on marks)"
    ),
    b!([ch('M')], A::MarkAll, "mark all the filter shows"),
    TRIAGE[0],
    TRIAGE[1],
    TRIAGE[2],
    TRIAGE[3],
    TRIAGE[4],
    TRIAGE[5],
    TRIAGE[6],
    TRIAGE[7],
    b!([ch('p')], A::Pod, "pod drilldown", "pod"),
    b!(
        [ch('e')],
        A::Jump {
            forward: true,
            min: Priority::Error
        },
        "next Error or worse"
    ),
    b!(
        [ch('E')],
        A::Jump {
            forward: false,
            min: Priority::Error
        },
        "previous Error or worse"
    ),
    b!(
        [ch('w')],
        A::Jump {
            forward: true,
            min: Priority::Warning
        },
        "next Warning or worse"
    ),
    b!(
        [ch('W')],
        A::Jump {
            forward: false,
            min: Priority::Warning
        },
        "previous Warning or worse"
    ),
    b!([ch('F')], A::Follow, "follow newest on/off"),
    b!([ch('P')], A::Pause, "pause/resume live list"),
    b!([ch('>')], A::PriorityUp, "raise min priority"),
    b!([ch('<')], A::PriorityDown, "lower min priority"),
    b!([ch('R')], A::FilterRule, "toggle rule filter"),
    b!([ch('N')], A::FilterNamespace, "toggle namespace filter"),
    b!([ch('O')], A::FilterPod, "toggle pod filter"),
    b!([ch('H')], A::FilterNode, "toggle node filter"),
    b!([ch('t')], A::CycleState, "cycle state filter"),
    b!([ch('c')], A::ClearFilters, "clear all filters"),
    b!([ch('o')], A::CycleSort, "sort: time/priority/rule"),
    b!([ch('z')], A::Group, "group repeated alerts"),
    b!([ch('S')], A::ToggleSilenced, "show/hide silenced"),
];

impl Component for Alerts {
    fn view(&self) -> View {
        View::Alerts
    }

    fn bindings(&self) -> &'static [Binding] {
        BINDINGS
    }

    fn commands(&self) -> &'static [&'static str] {
        &["alerts", "a"]
    }

    fn on_action(&self, st: &mut State, action: A) -> bool {
        match action {
            A::Enter | A::Describe => {
                if let Some(entry) = st.rows.get(st.cursor).map(|r| r.entry) {
                    st.open_detail(entry);
                }
            }
            A::Filter => {
                let text = st.filter.input_text();
                st.open_input(InputKind::Filter, &text)
            }
            A::Mark => {
                if let Some(id) = st.current_alert().map(|a| a.id)
                    && !st.marked.remove(&id)
                {
                    st.marked.insert(id);
                }
                self.move_by(st, 1);
            }
            A::MarkAll => {
                let ids: Vec<i64> = st.row_alerts().map(|a| a.id).collect();
                if !ids.is_empty() && ids.iter().all(|id| st.marked.contains(id)) {
                    st.marked.clear();
                    st.message = Some("marks cleared".into());
                } else {
                    st.message = Some(format!("{} alert(s) marked", ids.len()));
                    st.marked.extend(ids);
                }
            }
            A::Top => {
                st.follow = false;
                self.move_by(st, isize::MIN / 2);
            }
            A::Bottom => {
                self.move_by(st, isize::MAX / 2);
                st.follow = true;
            }
            A::Jump { forward, min } => jump(st, forward, min),
            A::Follow => {
                st.follow = !st.follow;
                if st.follow {
                    st.cursor = st.rows.len().saturating_sub(1);
                }
            }
            A::Pause => {
                st.paused = !st.paused;
                if !st.paused {
                    st.held = 0;
                    st.refilter();
                }
            }
            A::PriorityUp | A::PriorityDown => {
                st.filter.min_priority =
                    step_priority(st.filter.min_priority, action == A::PriorityUp);
                st.refilter();
            }
            A::FilterRule => {
                let v = st.current_alert().map(|a| a.rule.clone());
                toggle(&mut st.filter.rule, v);
                st.refilter();
            }
            A::FilterNamespace => {
                let v = st.current_alert().map(|a| a.namespace.clone());
                toggle(&mut st.filter.namespace, v);
                st.refilter();
            }
            A::FilterPod => {
                let v = st.current_alert().map(|a| a.pod_ref());
                toggle(&mut st.filter.pod, v);
                st.refilter();
            }
            A::FilterNode => {
                let v = st.current_alert().map(|a| a.hostname.clone());
                toggle(&mut st.filter.node, v);
                st.refilter();
            }
            A::CycleState => {
                st.filter.state = match st.filter.state {
                    None => Some(TriageState::New),
                    Some(s) => TriageState::ALL
                        .iter()
                        .position(|x| *x == s)
                        .and_then(|i| TriageState::ALL.get(i + 1).copied()),
                };
                st.refilter();
            }
            A::ClearFilters => {
                st.filter = Default::default();
                st.refilter();
            }
            A::CycleSort => {
                st.sort = match st.sort {
                    SortKey::Time => SortKey::Priority,
                    SortKey::Priority => SortKey::Rule,
                    SortKey::Rule => SortKey::Time,
                };
                st.follow = st.sort == SortKey::Time && st.follow;
                st.refilter();
            }
            A::Group => {
                st.group = !st.group;
                st.refilter();
            }
            A::ToggleSilenced => {
                st.show_silenced = !st.show_silenced;
                st.refilter();
            }
            _ => return false,
        }
        true
    }

    fn move_by(&self, st: &mut State, delta: isize) {
        step(&mut st.cursor, delta, st.rows.len());
        st.follow = st.cursor + 1 >= st.rows.len() && delta > 0 && st.follow;
    }

    fn render(&self, st: &State, theme: Theme, area: Rect, buf: &mut Buffer) {
        crate::ui::alerts::render(st, theme, area, buf)
    }
}

/// Moves to the next (or previous) row at least as severe as `min`, like
/// lnav's `e`/`w`: the quick way through a noisy list to what matters.
fn jump(st: &mut State, forward: bool, min: Priority) {
    let severe = |i: &usize| {
        let r = &st.rows[*i];
        st.entries[r.entry].alert.priority().severity() >= min.severity()
    };
    let found = if forward {
        (st.cursor + 1..st.rows.len()).find(severe)
    } else {
        (0..st.cursor).rev().find(severe)
    };
    match found {
        Some(i) => {
            st.cursor = i;
            st.follow = false;
        }
        None => {
            st.message = Some(format!(
                "no {} alert of {} or above",
                if forward { "later" } else { "earlier" },
                min.falco_name()
            ))
        }
    }
}
