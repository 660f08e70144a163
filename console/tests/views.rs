//! TestBackend snapshot tests of every view at 80x24 and 120x40.
#![allow(clippy::unwrap_used)]

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_console::app::{App, PodTab, PodView};
use falco_console::event::{AppEvent, SensorUpdate, SensorUpdateKind};
use falco_console::kube::{ContainerInfo, EventInfo, PodDetails};
use falco_proto::v1::{GetStatsResponse, GetVersionResponse};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| f.render_widget(app, f.area())).unwrap();
    t
}

fn key(app: &mut App, c: char) {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    app.prepare();
}

fn code(app: &mut App, c: KeyCode) {
    app.on_key(KeyEvent::new(c, KeyModifiers::NONE));
    app.prepare();
}

fn both(name: &str, app: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), render(app, 80, 24).backend());
    insta::assert_snapshot!(format!("{name}_120x40"), render(app, 120, 40).backend());
}

#[test]
fn alerts_view() {
    let mut app = common::app();
    // one acknowledged, one selected, cursor not on the last row
    code(&mut app, KeyCode::Up);
    key(&mut app, 'a');
    key(&mut app, 'k');
    key(&mut app, ' ');
    both("alerts", &app);
}

#[test]
fn alerts_grouped_and_filtered() {
    let mut app = common::app();
    key(&mut app, 'z');
    both("alerts_grouped", &app);
    key(&mut app, '>');
    key(&mut app, '>');
    key(&mut app, '>');
    key(&mut app, '>');
    assert_eq!(app.filter.describe(), ">=Warning");
    both("alerts_warning_up", &app);
}

#[test]
fn empty_and_no_match() {
    let app = App::new("no sources", common::NOW_NS);
    both("alerts_empty", &app);
    let mut app = common::app();
    app.run_command("filter nothing-matches-this");
    both("alerts_no_match", &app);
}

#[test]
fn detail_view() {
    let mut app = common::app();
    app.add_note("checked with the web team");
    code(&mut app, KeyCode::Enter);
    both("detail", &app);
}

#[test]
fn rules_view() {
    let mut app = common::app();
    app.run_command("rules");
    both("rules", &app);
}

#[test]
fn sensors_view() {
    let mut app = common::app();
    app.now_ns = common::NOW_NS;
    let send = |app: &mut App, kind| {
        app.on_app_event(AppEvent::Sensor(SensorUpdate {
            source: "127.0.0.1:5060".into(),
            kind,
        }))
    };
    send(
        &mut app,
        SensorUpdateKind::Connected {
            version: Box::new(GetVersionResponse {
                version: "0.1.0".into(),
                api_version: "v1".into(),
                hostname: "node-1".into(),
                health: "ok".into(),
                sensor_id: "sensor-a".into(),
                ..Default::default()
            }),
            resumed_from: 0,
        },
    );
    send(
        &mut app,
        SensorUpdateKind::Stats(Box::new(GetStatsResponse {
            rules_loaded: 90,
            rules_enabled: 85,
            events_seen: 1000,
            kernel_drops: 3,
            last_seq: 7,
            ..Default::default()
        })),
    );
    app.now_ns += 2_000_000_000;
    send(
        &mut app,
        SensorUpdateKind::Stats(Box::new(GetStatsResponse {
            rules_loaded: 90,
            rules_enabled: 85,
            events_seen: 5000,
            kernel_drops: 3,
            last_seq: 9,
            ..Default::default()
        })),
    );
    let hb = app.now_ns - 40_000_000;
    send(
        &mut app,
        SensorUpdateKind::Heartbeat {
            time_ns: hb,
            last_seq: 9,
        },
    );
    send(
        &mut app,
        SensorUpdateKind::Gap {
            first: 8,
            last: 9,
            reason: "evicted".into(),
        },
    );
    app.on_app_event(AppEvent::Sensor(SensorUpdate {
        source: "10.0.0.2:5060".into(),
        kind: SensorUpdateKind::Disconnected {
            error: "sensor 10.0.0.2:5060: cannot connect: transport error".into(),
            retry_in_ms: 2000,
        },
    }));
    app.message = None;
    app.run_command("sensors");
    both("sensors", &app);
}

fn pod_details() -> PodDetails {
    PodDetails {
        namespace: "default".into(),
        name: "web-1".into(),
        phase: "Running".into(),
        node: "node-1".into(),
        pod_ip: "10.244.0.12".into(),
        start_time: "2024-05-01 09:00:00 UTC".into(),
        labels: vec![("app".into(), "web".into())],
        annotations: vec![("owner".into(), "team-web".into())],
        owners: vec!["ReplicaSet/web-7d9f".into()],
        containers: vec![ContainerInfo {
            name: "web".into(),
            image: "nginx:1.27".into(),
            state: "Running".into(),
            ready: true,
            restarts: 2,
        }],
        events: vec![EventInfo {
            time: "2024-05-01 10:00:00 UTC".into(),
            kind: "Warning".into(),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container".into(),
            count: 3,
        }],
        log_container: "web".into(),
        logs: vec!["GET / 200".into(), "GET /admin 403".into()],
        partial_errors: Vec::new(),
    }
}

#[test]
fn pod_view_tabs() {
    let mut app = common::app();
    key(&mut app, 'p'); // last alert is from default/web-1; no kube: alerts tab + note
    both("pod_no_kube", &app);
    let alerts = app.pod.as_ref().unwrap().alerts.clone();
    assert_eq!(
        alerts.len(),
        4,
        "every alert of default/web-1 from the store"
    );
    app.pod = Some(PodView {
        namespace: "default".into(),
        name: "web-1".into(),
        container: "web".into(),
        details: Some(Box::new(pod_details())),
        error: None,
        tab: PodTab::Describe,
        scroll: 0,
        alerts,
    });
    both("pod_describe", &app);
    key(&mut app, 'e');
    both("pod_events", &app);
    key(&mut app, 'l');
    both("pod_logs", &app);
}

#[test]
fn overlays() {
    let mut app = common::app();
    key(&mut app, '?');
    both("help_alerts", &app);
    code(&mut app, KeyCode::Esc);
    key(&mut app, 's');
    both("silence_prompt", &app);
    code(&mut app, KeyCode::Esc);
    key(&mut app, 'x');
    both("exception_draft", &app);
    code(&mut app, KeyCode::Esc);
    key(&mut app, '/');
    key(&mut app, 'b');
    key(&mut app, 'a');
    both("filter_typing", &app);
}

#[test]
fn escape_sequences_from_events_are_shown_not_interpreted() {
    let mut app = App::new("t", common::NOW_NS);
    let raw = falco_proto::v1::Alert {
        seq: 1,
        time_ns: common::NOW_NS,
        priority: falco_proto::v1::Priority::Critical as i32,
        rule: "Evil\x1b[2J rule".into(),
        output: "out \x1b]0;pwned\x07 \u{9b}31m \u{202e}txt".into(),
        process: Some(falco_proto::v1::ProcessContext {
            name: "sh".into(),
            cmdline: "sh -c \x1b[31mred\x07".into(),
            ..Default::default()
        }),
        kubernetes: Some(falco_proto::v1::KubernetesContext {
            namespace: "ns\x1b".into(),
            pod_name: "p\u{85}od".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    app.push_alert(falco_console::alert::AlertRecord::from_proto("s", &raw));
    app.flush();
    app.prepare();
    let check = |app: &App| {
        for (w, h) in [(80, 24), (200, 50)] {
            let t = render(app, w, h);
            let buf = t.backend().buffer();
            let mut text = String::new();
            for cell in buf.content() {
                let sym = cell.symbol();
                assert!(
                    !sym.chars()
                        .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
                    "control character reached the terminal: {sym:?}"
                );
                text.push_str(sym);
            }
            assert!(text.contains("\\x1b"), "escaped form not shown");
        }
    };
    check(&app);
    code(&mut app, KeyCode::Enter);
    check(&app);
    let line = falco_console::headless::tail_line(&app.entries[0].alert);
    assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
    assert!(line.contains("\\x1b]0;pwned\\x07"), "{line}");
}

#[test]
fn no_color_means_no_colors() {
    use ratatui::style::Color;
    let mut app = common::app();
    for color in [true, false] {
        app.color = color;
        for view in ["alerts", "rules", "sensors"] {
            app.run_command(view);
            let t = render(&app, 120, 40);
            let colored = t
                .backend()
                .buffer()
                .content()
                .iter()
                .any(|c| c.fg != Color::Reset || c.bg != Color::Reset);
            assert_eq!(colored, color, "{view} with color={color}");
        }
    }
}

fn noise_report() -> falco_console::store::NoiseReport {
    use falco_console::store::{NoiseBy, NoiseQuery, NoiseReport, NoiseRow};
    let row = |rule: &str, place: &str, proc: &str, count, recent| NoiseRow {
        rule: rule.into(),
        place: place.into(),
        proc: proc.into(),
        count,
        recent,
    };
    NoiseReport {
        query: NoiseQuery {
            now_ns: common::NOW_NS,
            window_s: 3600,
            by: NoiseBy::Image,
            limit: 200,
        },
        total: 1000,
        rows: vec![
            row(
                "Terminal shell in container",
                "docker.io/library/nginx",
                "bash",
                640,
                600,
            ),
            row(
                "Read sensitive file untrusted",
                "docker.io/library/redis",
                "cat",
                250,
                125,
            ),
            row("Write below etc", "", "vi", 80, 0),
            row(
                "Launch Package Management Process in Container",
                "docker.io/library/nginx",
                "apt-get",
                30,
                30,
            ),
        ],
    }
}

#[test]
fn noise_view() {
    let mut app = common::app();
    app.run_command("noise");
    app.on_app_event(AppEvent::Noise(Ok(noise_report())));
    key(&mut app, 'j');
    both("noise", &app);
    key(&mut app, 'x');
    both("noise_exception_draft", &app);
}

#[test]
fn marks_and_readonly_header() {
    let mut app = common::app();
    key(&mut app, 'g');
    key(&mut app, 'm');
    key(&mut app, 'm');
    both("marks", &app);
    key(&mut app, 'M');
    assert_eq!(app.marked.len(), 7);
    let mut app = common::app();
    app.readonly = true;
    both("readonly", &app);
}
