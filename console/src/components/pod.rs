//! The pod drilldown (`p`, `:pods NS/POD`): describe, events, logs, alerts.

use super::{Component, View, step};
use crate::app::{Overlay, PodTab, State};
use crate::b;
use crate::keys::{Action as A, Binding, ch, code, ctrl};
use crate::ui::Theme;
use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

pub struct Pod;

static BINDINGS: &[Binding] = &[
    b!([ch('d')], A::Describe, "describe", "describe"),
    b!([ch('e')], A::PodEvents, "Kubernetes events", "events"),
    b!([ch('l')], A::Logs, "container log tail", "logs"),
    b!([ch('A')], A::PodAlerts, "every alert of this pod", "alerts"),
    b!(
        [code(KeyCode::Enter)],
        A::Enter,
        "alert detail (alerts tab)"
    ),
    b!(
        [ctrl('d')],
        A::DeletePod,
        "delete pod (asks first)",
        "delete"
    ),
];

impl Component for Pod {
    fn view(&self) -> View {
        View::Pod
    }

    fn bindings(&self) -> &'static [Binding] {
        BINDINGS
    }

    fn commands(&self) -> &'static [&'static str] {
        &["pods", "pod", "po"]
    }

    fn open(&self, st: &mut State, args: &str) {
        if let Some((ns, name)) = args.split_once('/') {
            st.open_pod(ns, name, "");
        } else if st.current_alert().is_some_and(|a| !a.pod.is_empty()) {
            st.open_pod_of_current();
        } else {
            st.message = Some("usage: :pods NAMESPACE/POD (or select an alert from a pod)".into());
        }
    }

    fn on_action(&self, st: &mut State, action: A) -> bool {
        match action {
            A::Describe => st.pod_tab(PodTab::Describe),
            A::PodEvents => st.pod_tab(PodTab::Events),
            A::Logs => st.pod_tab(PodTab::Logs),
            A::PodAlerts => st.pod_tab(PodTab::Alerts),
            A::Enter => {
                if let Some(i) = st.current_entry() {
                    st.open_detail(i);
                }
            }
            A::DeletePod => {
                if st.readonly {
                    st.message = Some("read-only: pods are not deleted".into());
                } else if let Some(p) = &st.pod {
                    st.overlay = Overlay::ConfirmDelete {
                        namespace: p.namespace.clone(),
                        pod: p.name.clone(),
                    };
                }
            }
            _ => return false,
        }
        true
    }

    fn move_by(&self, st: &mut State, delta: isize) {
        if let Some(p) = &mut st.pod {
            let len = match p.tab {
                PodTab::Alerts => p.alerts.len(),
                _ => usize::MAX / 2,
            };
            step(&mut p.scroll, delta, len);
        }
    }

    fn render(&self, st: &State, theme: Theme, area: Rect, buf: &mut Buffer) {
        crate::ui::pod::render(st, theme, area, buf)
    }
}
