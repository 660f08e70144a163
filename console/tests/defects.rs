//! Defects found in review, each pinned by a test that failed before its fix.
#![allow(clippy::unwrap_used)]

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_console::app::{App, Effect, State};
use falco_console::event::{AppEvent, Event, SensorUpdate, SensorUpdateKind};
use falco_console::source::SensorTarget;
use falco_console::store::Store;
use falco_proto::v1::GetVersionResponse;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn lines(st: &State, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| f.render_widget(st, f.area())).unwrap();
    let cells: Vec<String> = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol().to_string())
        .collect();
    cells.chunks(w as usize).map(|l| l.concat()).collect()
}

#[test]
fn kube_discovered_sensors_are_targets_for_actions() {
    let mut st = State::new("t", common::NOW_NS);
    // what discovery reports for a port-forwarded sensor pod
    let target = SensorTarget {
        name: "falco/falco-sensor-a (node-1)".into(),
        address: "127.0.0.1:40001".into(),
        tls: None,
        token: Some("t".into()),
    };
    st.update(Event::App(AppEvent::Target(Box::new(target.clone()))));
    st.update(Event::App(AppEvent::Sensor(SensorUpdate {
        source: target.name.clone(),
        kind: SensorUpdateKind::Connected {
            version: Box::new(GetVersionResponse {
                actions_enabled: true,
                ..Default::default()
            }),
            resumed_from: 0,
        },
    })));
    assert_eq!(st.action_targets(), vec![target.clone()]);
    let effects = st.update(Event::App(AppEvent::ExceptionWritten {
        result: Ok(("t.yaml".into(), "- rule: x\n".into())),
        apply: true,
    }));
    assert!(
        matches!(&effects[..], [Effect::ApplyRules { targets, .. }] if *targets == vec![target]),
        "{effects:?}"
    );
}

#[test]
fn kube_discovery_is_not_shown_as_loaded_alerts() {
    let mut st = State::new("t", common::NOW_NS);
    st.update(Event::App(AppEvent::Sensor(SensorUpdate {
        source: "kube falco/app.kubernetes.io/name=falco-sensor".into(),
        kind: SensorUpdateKind::Discovered { pods: 2 },
    })));
    st.run_command("sensors");
    let screen = lines(&st, 120, 40).join("\n");
    assert!(!screen.contains("loaded 0 alerts"), "{screen}");
    assert!(screen.contains("found 2 sensor pod(s)"), "{screen}");
}

#[test]
fn rules_timeline_ends_at_now() {
    let mut app = common::app();
    app.run_command("rules");
    let screen = lines(&app, 120, 40);
    let top = screen
        .iter()
        .position(|l| l.contains("Alerts over the last hour"))
        .unwrap();
    // the newest alert is 20 s old: the column next to the right border,
    // on the chart's bottom row, has a bar
    let bottom = &screen[top + 6];
    let chars: Vec<char> = bottom.chars().collect();
    let edge = chars.len() - 2;
    assert_eq!(chars[edge + 1], '│');
    assert_ne!(
        chars[edge],
        ' ',
        "the current minute is the last column:\n{}",
        screen[top..top + 8].join("\n")
    );
}

#[test]
fn a_failed_store_insert_loses_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.db");
    let mut app = App::new("t", common::NOW_NS);
    app.attach_store(Store::open(&path, 1000).unwrap()).unwrap();
    // make inserts fail from outside: the table is gone for a moment
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("ALTER TABLE alerts RENAME TO alerts_away")
        .unwrap();
    for a in common::sample() {
        app.push_alert(a);
    }
    app.flush();
    assert!(app.entries.is_empty());
    assert!(
        app.message.as_deref().unwrap().contains("alerts"),
        "{:?}",
        app.message
    );
    assert_eq!(app.pending().len(), 7, "the batch is kept");
    other
        .execute_batch("ALTER TABLE alerts_away RENAME TO alerts")
        .unwrap();
    app.handle(Event::Tick);
    assert_eq!(app.entries.len(), 7, "the retry stored every alert");
    assert!(app.pending().is_empty());
    let reopened = Store::open(&path, 1000).unwrap();
    assert_eq!(reopened.load().unwrap().len(), 7);
    // and keys still work on them
    app.on_key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE));
    assert!(app.message.as_deref().unwrap().contains("marked ack"));
}
