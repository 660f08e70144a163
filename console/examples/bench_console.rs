//! Benchmark helper for `scripts/bench.sh` (issue 8, console section).
//!
//! Feeds `--alerts N` synthetic alerts through the same path live alerts take
//! (`App::push_alert` + `App::flush`, which writes them to the SQLite store and
//! adds them to the view), then times key presses with the alerts loaded:
//! each key is handled, the view prepared and a full 200×50 frame rendered,
//! the same steps the UI loop runs between a key and the next frame. Typed
//! filter characters refilter every alert, so they are the filter timings.
//! Prints one JSON object on stdout.
//!
//! Usage: bench_console --alerts 100000 --dir SCRATCH_DIR

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_console::alert::{AlertRecord, AncestorInfo};
use falco_console::app::App;
use falco_console::store::Store;
use falco_proto::v1::Priority;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

const RULES: &[(&str, Priority)] = &[
    ("Terminal shell in container", Priority::Notice),
    ("Read sensitive file untrusted", Priority::Warning),
    ("Write below etc", Priority::Error),
    ("Unexpected network connection", Priority::Notice),
    (
        "Launch Package Management Process in Container",
        Priority::Error,
    ),
    ("Modify binary dirs", Priority::Critical),
];
const NAMESPACES: &[&str] = &["prod", "staging", "kube-system", "payments", "web"];
const COMMANDS: &[&str] = &[
    "bash -i",
    "cat /etc/shadow",
    "curl http://10.0.0.1/x",
    "apt-get install nmap",
    "sh -c id",
    "python3 exploit.py",
];

fn alert(i: u64, base_ns: i64) -> AlertRecord {
    let (rule, prio) = RULES[(i as usize) % RULES.len()];
    let ns = NAMESPACES[(i as usize / 7) % NAMESPACES.len()];
    let cmd = COMMANDS[(i as usize / 3) % COMMANDS.len()];
    let pod = format!("app-{}-{:05x}", i % 97, i % 4099);
    let proc_name = cmd.split(' ').next().unwrap_or_default().to_string();
    let mut fields = BTreeMap::new();
    for (k, v) in [
        ("proc.name", proc_name.as_str()),
        ("proc.cmdline", cmd),
        ("container.id", "3f2a9c1b7d40"),
        ("container.name", "app"),
        ("container.image.repository", "docker.io/library/nginx"),
        ("k8s.ns.name", ns),
        ("k8s.pod.name", pod.as_str()),
        ("user.name", "root"),
        ("fd.name", "/etc/shadow"),
    ] {
        fields.insert(k.to_string(), v.to_string());
    }
    AlertRecord {
        id: 0,
        sensor: "bench-sensor".into(),
        seq: i + 1,
        time_ns: base_ns + i as i64 * 1_000_000,
        priority: prio as i32,
        rule: rule.into(),
        output: format!("{rule} (user=root command={cmd} pod={pod} ns={ns})"),
        source: "syscall".into(),
        hostname: format!("node-{}", i % 5),
        tags: vec!["container".into(), "mitre_execution".into(), "T1059".into()],
        event_type: "execve".into(),
        proc_name,
        cmdline: cmd.into(),
        pid: 1000 + (i % 30_000) as i64,
        user: "root".into(),
        ancestors: vec![AncestorInfo {
            pid: 1,
            name: "containerd-shim".into(),
            cmdline: String::new(),
        }],
        container_id: "3f2a9c1b7d40".into(),
        container_name: "app".into(),
        image: "docker.io/library/nginx".into(),
        privileged: false,
        namespace: ns.into(),
        pod,
        fields,
        responses: Vec::new(),
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn p50_max(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let p50 = v.get(v.len() / 2).copied().unwrap_or(0.0);
    (p50, v.last().copied().unwrap_or(0.0))
}

fn main() -> anyhow::Result<()> {
    let mut n = 100_000u64;
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--alerts" => n = args.next().unwrap_or_default().parse()?,
            "--dir" => dir = args.next().map(PathBuf::from),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let dir = dir.ok_or_else(|| anyhow::anyhow!("--dir DIR is required"))?;
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("bench-console.db");
    let _ = std::fs::remove_file(&db);
    let now = falco_console::app::now_ns();
    let base = now - n as i64 * 1_000_000;

    let mut app = App::new("bench", now);
    app.attach_store(Store::open(&db, n as usize + 1)?)?;
    // Alerts arrive in batches of 1,000 (the UI loop drains up to 1,000
    // queued events per redraw); building them is not timed.
    let mut ingest = std::time::Duration::ZERO;
    let mut next = 0u64;
    while next < n {
        let batch: Vec<AlertRecord> = (next..n.min(next + 1000)).map(|i| alert(i, base)).collect();
        next += batch.len() as u64;
        let t = Instant::now();
        for a in batch {
            app.push_alert(a);
        }
        app.flush();
        app.prepare();
        ingest += t.elapsed();
    }
    let (total, _, _) = app.counts();
    if total < n as usize {
        anyhow::bail!("only {total} of {n} alerts reached the view");
    }

    // Reopening loads everything from the store, as a console restart does.
    drop(app);
    let t1 = Instant::now();
    let mut app = App::new("bench", now);
    app.attach_store(Store::open(&db, n as usize + 1)?)?;
    let reload = t1.elapsed();

    let mut term = Terminal::new(TestBackend::new(200, 50))?;
    let mut frame = |app: &mut App| -> anyhow::Result<()> {
        term.draw(|f| f.render_widget(&*app, f.area()))?;
        Ok(())
    };
    frame(&mut app)?;
    let mut press = |app: &mut App, code: KeyCode| -> anyhow::Result<f64> {
        let t = Instant::now();
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
        app.prepare();
        frame(app)?;
        Ok(ms(t.elapsed()))
    };
    let mut keys = Vec::new();
    for code in [
        KeyCode::Up,
        KeyCode::Up,
        KeyCode::PageUp,
        KeyCode::Down,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Char('z'),
        KeyCode::Char('z'),
        KeyCode::Char('>'),
        KeyCode::Char('<'),
        KeyCode::Char('?'),
        KeyCode::Esc,
        KeyCode::Char('G'),
        KeyCode::Char('g'),
    ] {
        keys.push(press(&mut app, code)?);
    }
    let mut filters = Vec::new();
    keys.push(press(&mut app, KeyCode::Char('/'))?);
    for c in "shadow".chars() {
        filters.push(press(&mut app, KeyCode::Char(c))?);
    }
    filters.push(press(&mut app, KeyCode::Backspace)?);
    keys.push(press(&mut app, KeyCode::Enter)?);
    filters.push(press(&mut app, KeyCode::Char('c'))?);
    keys.extend(filters.iter().copied());
    let (key_p50, key_max) = p50_max(keys.clone());
    let (filter_p50, filter_max) = p50_max(filters.clone());
    println!(
        "{{\"alerts\":{n},\"ingest_s\":{:.3},\"ingest_per_s\":{:.0},\"reload_s\":{:.3},\"keys\":{},\"key_frame_ms_p50\":{key_p50:.2},\"key_frame_ms_max\":{key_max:.2},\"filters\":{},\"filter_ms_p50\":{filter_p50:.2},\"filter_ms_max\":{filter_max:.2},\"rss_bytes\":{}}}",
        ingest.as_secs_f64(),
        n as f64 / ingest.as_secs_f64(),
        reload.as_secs_f64(),
        keys.len(),
        filters.len(),
        rss_bytes(),
    );
    Ok(())
}
