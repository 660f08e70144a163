//! Key handling and triage as a state machine: keys in, state (and store) out.
#![allow(clippy::unwrap_used)]

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_console::app::{App, Overlay, SortKey, View};
use falco_console::store::Store;
use falco_console::triage::TriageState;
use falco_proto::v1::Priority;

fn key(app: &mut App, c: char) {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    app.prepare();
}

fn code(app: &mut App, c: KeyCode) {
    app.on_key(KeyEvent::new(c, KeyModifiers::NONE));
    app.prepare();
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, c);
    }
}

fn rules_of_rows(app: &App) -> Vec<String> {
    app.rows
        .iter()
        .map(|r| app.entries[r.entry].alert.rule.clone())
        .collect()
}

#[test]
fn navigation_and_follow() {
    let mut app = common::app();
    assert_eq!(app.rows.len(), 7);
    assert_eq!(app.cursor, 6, "follow starts on the newest");
    key(&mut app, 'g');
    assert_eq!(app.cursor, 0);
    assert!(!app.follow);
    key(&mut app, 'j');
    code(&mut app, KeyCode::Down);
    assert_eq!(app.cursor, 2);
    key(&mut app, 'k');
    assert_eq!(app.cursor, 1);
    // a new alert does not move the cursor when not following
    app.push_alert(common::alert(
        100,
        &common::Spec {
            age_s: 1,
            prio: Priority::Notice,
            rule: "New",
            ns: "a",
            pod: "b",
            cmd: "c",
        },
    ));
    app.flush();
    app.prepare();
    assert_eq!(app.cursor, 1);
    key(&mut app, 'G');
    assert!(app.follow);
    assert_eq!(app.cursor, 7);
    app.push_alert(common::alert(
        101,
        &common::Spec {
            age_s: 0,
            prio: Priority::Notice,
            rule: "Newer",
            ns: "a",
            pod: "b",
            cmd: "c",
        },
    ));
    app.flush();
    app.prepare();
    assert_eq!(app.cursor, 8, "following tracks the newest");
}

#[test]
fn pause_holds_new_alerts_until_resumed() {
    let mut app = common::app();
    key(&mut app, 'P');
    app.push_alert(common::alert(
        50,
        &common::Spec {
            age_s: 0,
            prio: Priority::Alert,
            rule: "Late",
            ns: "a",
            pod: "b",
            cmd: "c",
        },
    ));
    app.flush();
    app.prepare();
    assert_eq!(app.rows.len(), 7);
    assert_eq!(app.held, 1);
    key(&mut app, 'P');
    assert_eq!(app.rows.len(), 8);
    assert_eq!(app.held, 0);
}

#[test]
fn free_text_filter_as_you_type_and_escape_clears() {
    let mut app = common::app();
    key(&mut app, '/');
    typed(&mut app, "BASH");
    assert!(matches!(app.overlay, Overlay::Input { .. }));
    assert_eq!(app.rows.len(), 3);
    code(&mut app, KeyCode::Backspace);
    code(&mut app, KeyCode::Backspace);
    typed(&mut app, "sh");
    assert_eq!(app.rows.len(), 3);
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.filter.text, "bash");
    code(&mut app, KeyCode::Esc);
    assert!(
        app.filter.is_empty(),
        "esc at the top level clears the filter"
    );
    assert_eq!(app.rows.len(), 7);
}

#[test]
fn quick_filters_toggle() {
    let mut app = common::app();
    key(&mut app, 'g');
    key(&mut app, 'N'); // first alert: default/web-1
    assert_eq!(app.filter.namespace.as_deref(), Some("default"));
    assert_eq!(app.rows.len(), 4);
    key(&mut app, 'R');
    assert_eq!(app.rows.len(), 1);
    key(&mut app, 'R');
    key(&mut app, 'O');
    assert_eq!(app.filter.pod.as_deref(), Some("default/web-1"));
    key(&mut app, 'c');
    assert!(app.filter.is_empty());
    key(&mut app, 'H');
    assert_eq!(app.filter.node.as_deref(), Some("node-1"));
    key(&mut app, 'c');
    // from "all": Debug, Informational, Notice, Warning, Error
    for _ in 0..5 {
        key(&mut app, '>');
    }
    assert_eq!(app.filter.min_priority, Priority::Error);
    assert_eq!(app.rows.len(), 2);
    key(&mut app, '<');
    assert_eq!(app.filter.min_priority, Priority::Warning);
    for _ in 0..10 {
        key(&mut app, '<');
    }
    assert_eq!(app.filter.min_priority, Priority::Unspecified);
    assert_eq!(app.rows.len(), 7);
}

#[test]
fn command_mode_switches_views_and_filters() {
    let mut app = common::app();
    key(&mut app, ':');
    typed(&mut app, "rules");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Rules);
    for _ in 0..10 {
        key(&mut app, 'j');
    }
    assert_eq!(app.rules_cursor, 4, "stops on the last of 5 rules");
    key(&mut app, 'g');
    // enter on the top rule filters the alerts by it
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Alerts);
    assert_eq!(
        app.filter.rule.as_deref(),
        Some("Terminal shell in container")
    );
    assert_eq!(app.rows.len(), 3);
    app.run_command("sensors");
    assert_eq!(app.view(), View::Sensors);
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), View::Alerts);
    app.run_command("filter p=critical");
    assert_eq!(app.rows.len(), 1);
    app.run_command("bogus");
    assert!(app.message.as_deref().unwrap().contains("unknown command"));
    app.run_command("filter color=red");
    assert!(app.message.as_deref().unwrap().contains("color"));
    key(&mut app, 'q');
    assert!(app.quit);
}

#[test]
fn grouping_sort_and_group_triage() {
    let mut app = common::app();
    key(&mut app, 'z');
    assert_eq!(app.rows.len(), 5);
    let shell = app
        .rows
        .iter()
        .position(|r| app.entries[r.entry].alert.rule == "Terminal shell in container")
        .unwrap();
    assert_eq!(app.members(&app.rows[shell]).len(), 3);
    app.cursor = shell;
    key(&mut app, 'a');
    let acked = app
        .entries
        .iter()
        .filter(|e| e.state == TriageState::Acknowledged)
        .count();
    assert_eq!(acked, 3, "triage on a grouped row covers every repeat");
    key(&mut app, 'z');
    key(&mut app, 'o');
    assert_eq!(app.sort, SortKey::Priority);
    assert_eq!(
        rules_of_rows(&app)[0],
        "Drop and execute new binary in container"
    );
    key(&mut app, 'o');
    assert_eq!(app.sort, SortKey::Rule);
    assert_eq!(
        rules_of_rows(&app)[0],
        "Drop and execute new binary in container"
    );
    assert_eq!(rules_of_rows(&app)[6], "Write below etc");
}

#[test]
fn multi_selection_triage_notes_and_state_filter() {
    let mut app = common::app();
    key(&mut app, 'g');
    key(&mut app, ' ');
    key(&mut app, ' ');
    assert_eq!(app.marked.len(), 2);
    key(&mut app, 'f');
    assert!(app.marked.is_empty());
    assert_eq!(app.entries[0].state, TriageState::FalsePositive);
    assert_eq!(app.entries[1].state, TriageState::FalsePositive);
    assert_eq!(app.entries[2].state, TriageState::New);
    key(&mut app, 'n');
    typed(&mut app, "benign");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.entries[2].notes, vec!["benign".to_string()]);
    key(&mut app, 't');
    assert_eq!(app.filter.state, Some(TriageState::New));
    assert_eq!(app.rows.len(), 5);
    key(&mut app, 't');
    key(&mut app, 't');
    key(&mut app, 't');
    assert_eq!(app.filter.state, Some(TriageState::FalsePositive));
    assert_eq!(app.rows.len(), 2);
    key(&mut app, 't');
    assert_eq!(app.filter.state, None);
}

#[test]
fn triage_and_silences_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.db");
    {
        let mut app = App::new("t", common::NOW_NS);
        app.attach_store(Store::open(&path, 1000).unwrap()).unwrap();
        for a in common::sample() {
            app.push_alert(a);
        }
        app.flush();
        app.prepare();
        key(&mut app, 'g');
        key(&mut app, 'r'); // resolve the first
        key(&mut app, 'j');
        key(&mut app, 'n');
        typed(&mut app, "who ran bash?");
        code(&mut app, KeyCode::Enter);
        // silence "Read sensitive file untrusted" for its pod, 8h
        key(&mut app, 'j');
        key(&mut app, 's');
        key(&mut app, 'j');
        key(&mut app, 'e');
        code(&mut app, KeyCode::Enter);
        assert_eq!(app.silences.len(), 1);
        assert_eq!(app.rows.len(), 6, "silenced alert hidden");
        key(&mut app, 'S');
        assert_eq!(app.rows.len(), 7, "S shows silenced alerts");
    }
    let mut app = App::new("t", common::NOW_NS);
    app.attach_store(Store::open(&path, 1000).unwrap()).unwrap();
    assert_eq!(app.entries.len(), 7);
    assert_eq!(app.entries[0].state, TriageState::Resolved);
    assert_eq!(app.entries[1].notes, vec!["who ran bash?".to_string()]);
    assert_eq!(app.silences.len(), 1);
    let s = &app.silences[0];
    assert_eq!((s.scope.as_str(), s.value.as_str()), ("pod", "prod/api-0"));
    assert_eq!(s.expires_ns, common::NOW_NS + 8 * 3600 * 1_000_000_000);
    assert_eq!(app.rows.len(), 6);
    // the same alerts again (a resumed stream) are not duplicated
    for a in common::sample() {
        app.push_alert(a);
    }
    app.flush();
    assert_eq!(app.entries.len(), 7);
}

#[test]
fn retention_applies_to_memory_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new("t", common::NOW_NS);
    app.attach_store(Store::open(&dir.path().join("c.db"), 5).unwrap())
        .unwrap();
    for a in common::sample() {
        app.push_alert(a);
    }
    app.flush();
    app.prepare();
    assert_eq!(app.entries.len(), 5);
    assert_eq!(app.rows.len(), 5);
    assert_eq!(app.entries[0].alert.seq, 3, "oldest dropped first");
    // retention while paused and drilled into a pod keeps every index valid
    key(&mut app, 'p');
    code(&mut app, KeyCode::Esc);
    key(&mut app, 'P');
    key(&mut app, 'p');
    for seq in 200..210 {
        app.push_alert(common::alert(
            seq,
            &common::Spec {
                age_s: 0,
                prio: Priority::Notice,
                rule: "Late",
                ns: "default",
                pod: "web-1",
                cmd: "c",
            },
        ));
    }
    app.flush();
    app.prepare();
    assert_eq!(app.entries.len(), 5);
    let pod = app.pod.as_ref().unwrap();
    assert!(pod.alerts.iter().all(|&i| i < app.entries.len()));
    assert!(app.rows.iter().all(|r| r.entry < app.entries.len()));
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    t.draw(|f| f.render_widget(&app, f.area())).unwrap();
    code(&mut app, KeyCode::Esc);
    t.draw(|f| f.render_widget(&app, f.area())).unwrap();
}

#[test]
fn export_filtered_list_and_draft_exception() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = common::app();
    app.exceptions_path = dir.path().join("tuning.yaml");
    app.run_command("filter ns=prod");
    let csv = dir.path().join("out.csv");
    app.run_command(&format!("export {}", csv.display()));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 3, "header + 2 prod alerts:\n{text}");
    assert!(app.message.as_deref().unwrap().contains("exported 2"));
    let jl = dir.path().join("out.jsonl");
    app.run_command(&format!("export {}", jl.display()));
    let reread = falco_console::source::file::read_alerts(&jl).unwrap();
    assert_eq!(reread.alerts.len(), 2);
    assert!(reread.errors.is_empty());

    key(&mut app, 'x');
    let Overlay::Exception(d) = &app.overlay else {
        panic!("x opens the exception draft");
    };
    assert_eq!(d.rule, "Drop and execute new binary in container");
    // drop k8s.ns.name (third kept candidate)
    let ns_pos = d
        .fields
        .iter()
        .position(|f| f.name == "k8s.ns.name")
        .unwrap();
    for _ in 0..ns_pos {
        key(&mut app, 'j');
    }
    key(&mut app, ' ');
    key(&mut app, 'w');
    assert_eq!(app.overlay, Overlay::None);
    let y = std::fs::read_to_string(dir.path().join("tuning.yaml")).unwrap();
    assert!(
        y.contains("fields: [proc.name, container.image.repository]"),
        "{y}"
    );
    assert!(y.contains("exceptions: append"));
    assert!(app.message.as_deref().unwrap().contains("tuning.yaml"));
}

#[test]
fn detail_and_pod_navigation_with_esc_back() {
    let mut app = common::app();
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Detail);
    key(&mut app, 'a');
    assert_eq!(app.entries[6].state, TriageState::Acknowledged);
    // esc typed quickly before a key arrives as alt+key: both keys apply
    app.on_key(KeyEvent::new(KeyCode::Char('k'), KeyModifiers::ALT));
    assert_eq!(app.view(), View::Alerts);
    assert_eq!(app.cursor, 5);
    key(&mut app, 'j');
    code(&mut app, KeyCode::Enter);
    key(&mut app, 'p');
    assert_eq!(app.view(), View::Pod);
    let pod = app.pod.as_ref().unwrap();
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("default", "web-1")
    );
    assert!(
        pod.error
            .as_deref()
            .unwrap()
            .contains("no Kubernetes access")
    );
    assert_eq!(pod.alerts.len(), 4);
    key(&mut app, 'j');
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), View::Detail);
    assert_eq!(app.detail, Some(app.pod.as_ref().unwrap().alerts[1]));
    code(&mut app, KeyCode::Esc);
    code(&mut app, KeyCode::Esc);
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), View::Alerts);
    // k9s keys: d describes, l goes to the pod (logs tab when Kubernetes is reachable)
    key(&mut app, 'd');
    assert_eq!(app.view(), View::Detail);
    code(&mut app, KeyCode::Esc);
    key(&mut app, 'l');
    assert_eq!(app.view(), View::Pod);
    code(&mut app, KeyCode::Esc);
    // ctrl-d in the pod view asks first; "n" cancels
    key(&mut app, 'p');
    app.on_key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL));
    assert!(matches!(app.overlay, Overlay::ConfirmDelete { .. }));
    key(&mut app, 'n');
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.message.as_deref(), Some("delete cancelled"));
    // help lists the keys of the current view and closes on any key
    key(&mut app, '?');
    assert_eq!(app.overlay, Overlay::Help);
    key(&mut app, 'j');
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn store_backed_entries_read_their_full_record_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.db");
    let check = |app: &mut App| {
        let newest = app.entries.last().unwrap();
        assert!(
            newest.alert.fields.is_empty() && newest.alert.tags.is_empty(),
            "the list view's copy sheds the detail-only parts"
        );
        assert!(!newest.alert.output.is_empty());
        code(app, KeyCode::Enter);
        assert_eq!(app.view(), View::Detail);
        let full = app.detail_alert().unwrap();
        assert_eq!(full.fields["user.name"], "root");
        assert_eq!(full.tags.len(), 4);
        assert_eq!(full.ancestors.len(), 2);
        assert_eq!(full.id, app.entries[app.detail.unwrap()].alert.id);
        key(app, 'x');
        let Overlay::Exception(d) = &app.overlay else {
            panic!("x opens the exception draft");
        };
        assert!(d.fields.iter().any(|f| f.name == "user.name"), "{d:?}");
        code(app, KeyCode::Esc);
        code(app, KeyCode::Esc);
        assert_eq!(app.view(), View::Alerts);
        let jl = dir.path().join(format!("out-{}.jsonl", app.entries.len()));
        app.run_command(&format!("export {}", jl.display()));
        let reread = falco_console::source::file::read_alerts(&jl).unwrap();
        assert_eq!(reread.alerts.len(), 7);
        assert!(
            reread
                .alerts
                .iter()
                .all(|a| a.fields["user.name"] == "root")
        );
    };
    {
        let mut app = App::new("t", common::NOW_NS);
        app.attach_store(Store::open(&path, 1000).unwrap()).unwrap();
        for a in common::sample() {
            app.push_alert(a);
        }
        app.flush();
        app.prepare();
        check(&mut app);
    }
    // and after a restart, when everything comes from the store
    let mut app = App::new("t", common::NOW_NS);
    app.attach_store(Store::open(&path, 1000).unwrap()).unwrap();
    app.prepare();
    check(&mut app);
}
