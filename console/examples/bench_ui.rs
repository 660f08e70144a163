//! Key-to-frame latency with 100,000 alerts loaded (issue 6: redraw within 50 ms).
//! Run with `scripts/bench_console.sh` (release build). Prints the worst time of
//! each kind of key; the UI thread does exactly this work for every key.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_console::alert::AlertRecord;
use falco_console::app::App;
use falco_proto::v1::Priority;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::{Duration, Instant};

const N: usize = 100_000;
const NOW: i64 = 1_714_559_400 * 1_000_000_000;

fn alert(i: usize) -> AlertRecord {
    let rules = [
        "Terminal shell in container",
        "Read sensitive file untrusted",
        "Drop and execute new binary in container",
        "Write below etc",
        "Launch Package Management Process in Container",
        "Contact K8S API Server From Container",
    ];
    let prio = Priority::all()[i % 8];
    AlertRecord {
        sensor: format!("sensor-{}", i % 4),
        seq: i as u64 + 1,
        time_ns: NOW - (N - i) as i64 * 30_000_000,
        priority: prio as i32,
        rule: rules[i % rules.len()].to_string(),
        output: format!(
            "event {i} by process bash-{} in pod web-{}",
            i % 97,
            i % 211
        ),
        hostname: format!("node-{}", i % 4),
        namespace: format!("ns-{}", i % 13),
        pod: format!("web-{}", i % 211),
        container_name: "web".into(),
        image: "docker.io/library/nginx".into(),
        cmdline: format!("bash -c job-{}", i % 7),
        user: "root".into(),
        tags: vec!["container".into(), "T1059".into()],
        ..Default::default()
    }
}

fn main() {
    let mut app = App::new("bench", NOW);
    let t0 = Instant::now();
    for i in 0..N {
        app.push_alert(alert(i));
    }
    app.flush();
    app.prepare();
    println!("loaded {N} alerts in {:?}", t0.elapsed());
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    // (total, state update only) for one key
    let mut frame = |app: &mut App, k: KeyEvent| -> (Duration, Duration) {
        let t = Instant::now();
        app.on_key(k);
        app.prepare();
        let update = t.elapsed();
        term.draw(|f| f.render_widget(&*app, f.area()))
            .expect("draw");
        (t.elapsed(), update)
    };
    let ch = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let mut report = |name: &str, keys: &[KeyEvent], app: &mut App| {
        let (worst, update) = keys
            .iter()
            .map(|k| frame(app, *k))
            .max()
            .unwrap_or_default();
        println!("{name:<30} worst {worst:>10.1?}  (update {update:.1?})");
    };
    report("move (j/k x20)", &[ch('k'); 20], &mut app);
    report("page / top / bottom", &[ch('g'), ch('G')], &mut app);
    let mut typing = vec![ch('/')];
    typing.extend("web-42".chars().map(ch));
    report("type a filter (/web-42)", &typing, &mut app);
    report(
        "clear filter (esc)",
        &[KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)],
        &mut app,
    );
    report(
        "priority threshold (>)",
        &[ch('>'), ch('>'), ch('<')],
        &mut app,
    );
    report("group toggle (z z)", &[ch('z'), ch('z')], &mut app);
    report("sort cycle (o o o)", &[ch('o'), ch('o'), ch('o')], &mut app);
    report("ack a row (a)", &[ch('a')], &mut app);
    report(
        "detail and back (enter esc)",
        &[
            KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
            KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
        ],
        &mut app,
    );
    app.run_command("rules");
    report("rules view (j)", &[ch('j')], &mut app);
}
