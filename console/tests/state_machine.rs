//! The pure state machine: events in, state and effects out. No runtime, no
//! store, no cluster: every effect a transition asks for is asserted as data.
#![allow(clippy::unwrap_used)]

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_console::app::{Effect, Overlay, RecordPurpose, State, StoreWrite, View};
use falco_console::event::{
    AppEvent, Event, InsertFailed, SensorUpdate, SensorUpdateKind, StoredBatch,
};
use falco_console::source::SensorTarget;
use falco_console::triage::TriageState;
use falco_proto::v1::GetVersionResponse;

fn key(st: &mut State, c: char) -> Vec<Effect> {
    st.update(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

fn code(st: &mut State, c: KeyCode) -> Vec<Effect> {
    st.update(Event::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

fn ctrl(st: &mut State, c: char) -> Vec<Effect> {
    st.update(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

/// The sample alerts in memory only (no store): records are whole.
fn memory_state() -> State {
    let mut st = State::new("t", common::NOW_NS);
    for a in common::sample() {
        st.push_alert(a);
    }
    assert!(st.update(Event::Tick).is_empty(), "no store, no effects");
    st
}

/// The sample alerts as if a store had taken them: entries keep the list
/// view's part, and store writes are effects.
fn stored_state() -> State {
    let mut st = State::new("t", common::NOW_NS);
    st.has_store = true;
    for a in common::sample() {
        st.update(Event::App(AppEvent::Alert(Box::new(a))));
    }
    let effects = st.update(Event::Tick);
    let [Effect::StoreWrite(StoreWrite::Insert(batch))] = effects.as_slice() else {
        panic!("a tick stores the queued alerts: {effects:?}");
    };
    assert!(
        st.entries.is_empty(),
        "nothing shown before the store answered"
    );
    let mut alerts = batch.clone();
    for (i, a) in alerts.iter_mut().enumerate() {
        a.id = i as i64 + 1;
    }
    let more = st.update(Event::App(AppEvent::Stored(Ok(StoredBatch {
        alerts,
        dropped: Vec::new(),
        retention_error: None,
    }))));
    assert!(more.is_empty());
    st.prepare();
    assert_eq!(st.rows.len(), 7);
    st
}

#[test]
fn insert_and_a_failed_insert_keeps_the_batch() {
    let mut st = State::new("t", common::NOW_NS);
    st.has_store = true;
    let sample = common::sample();
    st.push_alert(sample[0].clone());
    st.push_alert(sample[1].clone());
    let effects = st.update(Event::Tick);
    let [Effect::StoreWrite(StoreWrite::Insert(batch))] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(batch.len(), 2);
    // a third arrives while the store fails the first two
    st.push_alert(sample[2].clone());
    st.update(Event::App(AppEvent::Stored(Err(InsertFailed {
        batch: batch.clone(),
        error: "store x: disk I/O error".into(),
    }))));
    assert_eq!(st.message.as_deref(), Some("store x: disk I/O error"));
    let seqs: Vec<u64> = st.pending().iter().map(|a| a.seq).collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3],
        "the batch is kept, in order, for the next try"
    );
    let effects = st.update(Event::Tick);
    let [Effect::StoreWrite(StoreWrite::Insert(again))] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(again.len(), 3);
}

#[test]
fn triage_writes_are_effects() {
    let mut st = stored_state();
    let effects = key(&mut st, 'a');
    assert_eq!(
        effects,
        vec![Effect::StoreWrite(StoreWrite::SetState {
            ids: vec![7],
            state: TriageState::Acknowledged
        })]
    );
    assert_eq!(st.entries[6].state, TriageState::Acknowledged);
    key(&mut st, 'n');
    for c in "ok".chars() {
        assert!(key(&mut st, c).is_empty());
    }
    let effects = code(&mut st, KeyCode::Enter);
    assert_eq!(
        effects,
        vec![Effect::StoreWrite(StoreWrite::AddNote {
            ids: vec![7],
            time_ns: common::NOW_NS,
            text: "ok".into()
        })]
    );
    key(&mut st, 's');
    let effects = code(&mut st, KeyCode::Enter);
    let [Effect::StoreWrite(StoreWrite::AddSilence(s))] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(
        (s.rule.as_str(), s.value.as_str()),
        ("Terminal shell in container", "default")
    );
    assert_eq!(st.silences.len(), 1);
}

#[test]
fn detail_reads_the_full_record_through_the_runner() {
    let mut st = stored_state();
    let effects = code(&mut st, KeyCode::Enter);
    assert_eq!(
        effects,
        vec![Effect::LoadRecord {
            id: 7,
            purpose: RecordPurpose::Detail
        }]
    );
    assert_eq!(st.view(), View::Detail);
    assert!(
        st.detail_alert().unwrap().fields.is_empty(),
        "shed copy until read"
    );
    let mut full = common::sample().pop().unwrap();
    full.id = 7;
    st.update(Event::App(AppEvent::Record {
        id: 7,
        purpose: RecordPurpose::Detail,
        result: Ok(Some(Box::new(full))),
    }));
    assert_eq!(st.detail_alert().unwrap().fields["user.name"], "root");
}

#[test]
fn pod_load_and_confirmed_delete() {
    let mut st = memory_state();
    st.kube_available = true;
    let effects = key(&mut st, 'p');
    assert_eq!(
        effects,
        vec![Effect::LoadPod {
            namespace: "default".into(),
            name: "web-1".into(),
            container: "web".into()
        }]
    );
    assert!(ctrl(&mut st, 'd').is_empty(), "asks first");
    assert!(matches!(st.overlay, Overlay::ConfirmDelete { .. }));
    let effects = key(&mut st, 'y');
    assert_eq!(
        effects,
        vec![Effect::DeletePod {
            namespace: "default".into(),
            name: "web-1".into()
        }]
    );
}

fn allow_actions(st: &mut State, name: &str) {
    st.update(Event::App(AppEvent::Sensor(SensorUpdate {
        source: name.into(),
        kind: SensorUpdateKind::Connected {
            version: Box::new(GetVersionResponse {
                actions_enabled: true,
                ..Default::default()
            }),
            resumed_from: 0,
        },
    })));
}

#[test]
fn exception_write_then_apply() {
    let mut st = stored_state();
    let effects = key(&mut st, 'x');
    assert_eq!(
        effects,
        vec![Effect::LoadRecord {
            id: 7,
            purpose: RecordPurpose::Exception
        }]
    );
    let mut full = common::sample().pop().unwrap();
    full.id = 7;
    st.update(Event::App(AppEvent::Record {
        id: 7,
        purpose: RecordPurpose::Exception,
        result: Ok(Some(Box::new(full))),
    }));
    let Overlay::Exception(d) = st.overlay.clone() else {
        panic!("the record opens the draft");
    };
    let effects = key(&mut st, 'w');
    assert_eq!(
        effects,
        vec![Effect::WriteException {
            draft: d.clone(),
            apply: false
        }]
    );
    // the runner wrote it; with A and a sensor that allows actions, apply follows
    let target = SensorTarget::plain("127.0.0.1:5060");
    st.targets.push(target.clone());
    allow_actions(&mut st, "127.0.0.1:5060");
    let effects = st.update(Event::App(AppEvent::ExceptionWritten {
        result: Ok(("t.yaml".into(), "- rule: x\n".into())),
        apply: true,
    }));
    assert_eq!(
        effects,
        vec![Effect::ApplyRules {
            targets: vec![target],
            file_name: "console-tuning.yaml".into(),
            content: "- rule: x\n".into()
        }]
    );
    assert_eq!(st.overlay, Overlay::None);
}

#[test]
fn export_lists_what_the_filter_shows() {
    let mut st = stored_state();
    st.run_command("filter ns=prod");
    st.run_command("export /tmp/out.csv");
    let effects = st.take_effects();
    let [Effect::Export { path, items }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(path.to_str(), Some("/tmp/out.csv"));
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i.shed && i.alert.namespace == "prod"));
}

#[test]
fn clipboard_and_pager_get_sanitized_json() {
    let mut st = memory_state();
    st.entries[6].alert.cmdline = "bash \u{9b}31m\u{202e}".into();
    let effects = key(&mut st, 'y');
    let [Effect::Clipboard(json)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert!(json.contains("\\u009b31m\\u202e"), "{json}");
    assert!(!json.chars().any(|c| c.is_control()), "{json:?}");
    let back: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(back["cmdline"], "bash \u{9b}31m\u{202e}");
    let effects = key(&mut st, 'v');
    let [Effect::Pager(text)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert!(
        text.contains("\n  \"rule\": \"Terminal shell in container\""),
        "{text}"
    );
}

#[test]
fn sources_are_pure_transitions() {
    let mut st = State::new("t", common::NOW_NS);
    let effects = st.update(Event::App(AppEvent::Sensor(SensorUpdate {
        source: "kube falco/app=falco".into(),
        kind: SensorUpdateKind::Discovered { pods: 2 },
    })));
    assert!(effects.is_empty());
    assert_eq!(st.sensors[0].state, "found 2 sensor pod(s)");
    assert!(
        st.update(Event::Key(KeyEvent::new(
            KeyCode::Char('q'),
            KeyModifiers::NONE
        )))
        .is_empty()
    );
    assert!(st.quit);
}
