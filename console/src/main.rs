//! falco-console binary: CLI, terminal setup and the UI loop.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use crossterm::event::{Event as TermEvent, KeyEventKind};
use falco_console::app::{App, now_ns};
use falco_console::event::{AppEvent, Event, SensorUpdate, SensorUpdateKind};
use falco_console::filter::Filter;
use falco_console::kube::Kube;
use falco_console::source::kube::ConnSecurity;
use falco_console::source::{
    SensorClient, SensorTarget, TlsOptions, file, grpc, kube as kube_source, nats,
};
use falco_console::store::Store;
use falco_console::{headless, ui};
use falco_proto::v1::Priority;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

const TICK: Duration = Duration::from_millis(100);

#[derive(Parser)]
#[command(
    name = "falco-console",
    version,
    about = "Terminal console for falco-sensor alerts"
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    /// SQLite store (default: <data dir>/falco-console/console.db).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    /// Alerts kept in the store; the oldest are deleted first.
    #[arg(long, global = true, default_value_t = 100_000)]
    retention: usize,
    /// Show times in UTC instead of local time.
    #[arg(long, global = true)]
    utc: bool,
    /// Rules file drafted exceptions are appended to
    /// (default: <data dir>/falco-console/console-tuning.yaml).
    #[arg(long, global = true)]
    rules_out: Option<PathBuf>,
    /// Write nothing to sensors or the cluster: no exception apply, no pod
    /// delete (local triage, notes and silences still work).
    #[arg(long, global = true)]
    readonly: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args, Clone)]
struct ConnArgs {
    /// Sensor gRPC address HOST:PORT (repeatable).
    #[arg(long = "sensor", global = true)]
    sensors: Vec<String>,
    /// CA certificate (PEM) to verify sensors; enables TLS.
    #[arg(long, global = true)]
    tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS.
    #[arg(long, global = true)]
    tls_cert: Option<PathBuf>,
    /// Client key (PEM) for mTLS.
    #[arg(long, global = true)]
    tls_key: Option<PathBuf>,
    /// Name to verify in the sensors' certificates instead of the address
    /// (needed with --kube: port-forwards are reached as 127.0.0.1).
    #[arg(long, global = true)]
    tls_server_name: Option<String>,
    /// Bearer token sent to sensors.
    #[arg(long, global = true)]
    token: Option<String>,
    /// Discover sensor pods in the cluster and port-forward to them.
    #[arg(long, global = true)]
    kube: bool,
    /// Kubeconfig context (default: current context).
    #[arg(long, global = true)]
    context: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// Namespace of the sensor DaemonSet.
    #[arg(long, global = true, default_value = "falco-sensor")]
    namespace: String,
    /// Label selector of the sensor pods.
    #[arg(
        long,
        global = true,
        default_value = "app.kubernetes.io/name=falco-sensor"
    )]
    selector: String,
    /// Sensor gRPC port inside the pods.
    #[arg(long, global = true, default_value_t = 5060)]
    sensor_port: u16,
    /// NATS server URL of a fleet whose sensors publish to JetStream
    /// (repeatable: one per NATS system).
    #[arg(long = "nats", global = true)]
    nats: Vec<String>,
    /// NATS credentials file (.creds: JWT + NKey seed).
    #[arg(long, global = true)]
    nats_creds: Option<PathBuf>,
    /// NATS token.
    #[arg(long, global = true)]
    nats_token: Option<String>,
    /// CA certificate (PEM) to verify the NATS server; enables TLS.
    #[arg(long, global = true)]
    nats_ca: Option<PathBuf>,
    /// JetStream stream holding the alerts.
    #[arg(long, global = true, default_value = "FALCO_ALERTS")]
    nats_stream: String,
    /// Only this cluster's sensors (NATS).
    #[arg(long, global = true)]
    cluster: Option<String>,
    /// History: alerts stored in NATS at most this long ago (12h, 30m, 2d);
    /// without it `tail` shows only new alerts and the TUI resumes from its
    /// store (the whole stream the first time).
    #[arg(long, global = true)]
    since: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open a JSON-lines file of alerts (Falco json_output, or a console export).
    Open { file: PathBuf },
    /// Print alerts, one line each (or JSON with --json), until interrupted.
    Tail {
        /// Falco json_output lines instead of text.
        #[arg(long)]
        json: bool,
        /// Read alerts from a file instead of (or besides) sensors.
        #[arg(long = "file")]
        files: Vec<PathBuf>,
        /// Only alerts at least this severe (Falco priority name).
        #[arg(long)]
        min_priority: Option<Priority>,
        /// Only this rule (exact name).
        #[arg(long)]
        rule: Option<String>,
        /// Only this Kubernetes namespace.
        #[arg(long = "ns")]
        ns: Option<String>,
        /// NAMESPACE/POD
        #[arg(long)]
        pod: Option<String>,
        /// Only this node (hostname).
        #[arg(long)]
        node: Option<String>,
        /// Free text that must appear in the alert.
        #[arg(long)]
        grep: Option<String>,
    },
    /// Print GetVersion and GetStats of each sensor; fails if one is unreachable.
    Stats,
}

impl ConnArgs {
    /// TLS settings every sensor connection uses, `--sensor` and `--kube` alike.
    fn tls(&self) -> Option<TlsOptions> {
        (self.tls_ca.is_some() || self.tls_cert.is_some()).then(|| TlsOptions {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            server_name: self.tls_server_name.clone(),
        })
    }

    /// One NATS source per `--nats`; `default` is where to start without `--since`.
    fn nats(&self, node: Option<&str>, default: nats::Start) -> Result<Vec<nats::NatsOptions>> {
        let start = match &self.since {
            Some(d) => {
                let d = nats::parse_duration(d).map_err(|e| anyhow::anyhow!("--since {e}"))?;
                let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
                nats::Start::Since(now_ns().saturating_sub(ns))
            }
            None => default,
        };
        Ok(self
            .nats
            .iter()
            .map(|url| nats::NatsOptions {
                url: url.clone(),
                stream: self.nats_stream.clone(),
                creds: self.nats_creds.clone(),
                token: self.nats_token.clone(),
                ca: self.nats_ca.clone(),
                cluster: self.cluster.clone(),
                node: node.map(str::to_string),
                start,
            })
            .collect())
    }

    fn targets(&self) -> Vec<SensorTarget> {
        let tls = self.tls();
        self.sensors
            .iter()
            .map(|s| SensorTarget {
                name: s.clone(),
                address: s.clone(),
                tls: tls.clone(),
                token: self.token.clone(),
            })
            .collect()
    }
}

fn data_file(name: &str) -> PathBuf {
    dirs::data_dir()
        .map(|d| d.join("falco-console").join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    match &cli.cmd {
        Some(Cmd::Stats) => stats(&cli.conn).await,
        Some(Cmd::Tail {
            json,
            files,
            min_priority,
            rule,
            ns,
            pod,
            node,
            grep,
        }) => {
            let targets = cli.conn.targets();
            let nats = cli.conn.nats(node.as_deref(), nats::Start::New)?;
            if targets.is_empty() && files.is_empty() && nats.is_empty() {
                bail!("tail needs at least one --sensor HOST:PORT, --nats URL or --file FILE");
            }
            let filter = Filter {
                text: grep.clone().unwrap_or_default().to_lowercase(),
                min_priority: min_priority.unwrap_or(Priority::Unspecified),
                rule: rule.clone(),
                namespace: ns.clone(),
                pod: pod.clone(),
                node: node.clone(),
                state: None,
                ..Default::default()
            };
            tokio::select! {
                r = headless::tail(targets, nats, files.clone(), filter, *json) => r.context("tail"),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        Some(Cmd::Open { file }) => {
            if !file.exists() {
                bail!("{}: no such file", file.display());
            }
            tui(&cli, Some(file.clone())).await
        }
        None => tui(&cli, None).await,
    }
}

async fn stats(conn: &ConnArgs) -> Result<()> {
    let targets = conn.targets();
    let fleet = conn.nats(None, nats::Start::New)?;
    if targets.is_empty() && fleet.is_empty() {
        bail!("stats needs --sensor HOST:PORT or --nats URL");
    }
    for o in &fleet {
        print!("{}", headless::nats_stats(o).await?);
    }
    for t in targets {
        let fetch = async {
            let mut c = SensorClient::connect(&t).await?;
            let v = c.version().await?;
            let s = c.stats().await?;
            Ok::<_, falco_console::source::SourceError>((v, s))
        };
        let (v, s) = tokio::time::timeout(Duration::from_secs(5), fetch)
            .await
            .with_context(|| format!("sensor {}: no answer within 5s", t.name))??;
        print!("{}", headless::stats_text(&t.name, &v, &s));
    }
    Ok(())
}

async fn tui(cli: &Cli, file: Option<PathBuf>) -> Result<()> {
    let conn = &cli.conn;
    let targets = conn.targets();
    let store_path = cli
        .store
        .clone()
        .or_else(Store::default_path)
        .context("no data directory for the store; pass --store PATH")?;
    let store = Store::open(&store_path, cli.retention)?;
    let resume = store.last_seqs()?;
    let nats_sources = conn.nats(None, nats::Start::All)?;
    let mut nats_resume = HashMap::new();
    for o in &nats_sources {
        nats_resume.insert(o.url.clone(), nats::resume_start(&store, o)?);
    }

    // Kubernetes access for drilldown and discovery: with --kube, or whenever a
    // kubeconfig is available. Building a client does no network I/O.
    let has_kubeconfig = conn.kubeconfig.is_some()
        || std::env::var_os("KUBECONFIG").is_some()
        || dirs::home_dir().is_some_and(|h| h.join(".kube/config").exists());
    let kube = if conn.kube || has_kubeconfig {
        match Kube::connect(conn.kubeconfig.as_deref(), conn.context.as_deref()).await {
            Ok(k) => Some(k),
            Err(e) if conn.kube => return Err(e).context("--kube"),
            Err(_) => None,
        }
    } else {
        None
    };

    let mut origin = Vec::new();
    if let Some(k) = &kube
        && conn.kube
    {
        origin.push(format!("ctx {} ns {}", k.context, conn.namespace));
    }
    if !targets.is_empty() {
        origin.push(format!("sensors {}", conn.sensors.join(",")));
    }
    if !conn.nats.is_empty() {
        origin.push(format!("nats {}", conn.nats.join(",")));
    }
    if let Some(f) = &file {
        origin.push(format!("file {}", f.display()));
    }
    if origin.is_empty() {
        origin.push("no sources (history only): use --sensor, --kube, --nats or open FILE".into());
    }

    let mut app = App::new(
        &falco_console::sanitize::sanitized(&origin.join(" │ ")),
        now_ns(),
    );
    app.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    app.readonly = cli.readonly;
    app.utc = cli.utc;
    app.exceptions_path = cli
        .rules_out
        .clone()
        .unwrap_or_else(|| data_file("console-tuning.yaml"));
    app.attach_store(store)?;
    app.set_kube(kube.clone());
    app.targets = targets.clone();

    let (tx, mut rx) = mpsc::channel::<Event>(10_000);
    app.set_sender(tx.clone());
    for t in targets {
        tokio::spawn(grpc::run_sensor(t, resume.clone(), tx.clone()));
    }
    for mut o in nats_sources {
        if conn.since.is_none() {
            o.start = nats_resume[&o.url];
        }
        tokio::spawn(nats::run_events(o, tx.clone()));
    }
    if let Some(f) = file {
        spawn_file(f, tx.clone());
    }
    if conn.kube
        && let Some(k) = kube
    {
        spawn_discovery(k, conn.clone(), resume.clone(), tx.clone());
    }
    spawn_input(tx.clone());
    {
        // SIGINT/SIGTERM from outside (raw mode turns a typed ^C into a key):
        // quit through the loop so the terminal is restored.
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminated() => {}
            }
            let _ = tx.send(Event::Quit).await;
        });
    }
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tick.tick().await;
                if tx.send(Event::Tick).await.is_err() {
                    return;
                }
            }
        });
    }

    // ratatui::init enters raw mode and the alternate screen and installs a
    // panic hook that restores the terminal before the panic message prints.
    let mut terminal = ratatui::init();
    let result = ui_loop(&mut terminal, &mut app, &mut rx).await;
    ratatui::restore();
    result
}

async fn ui_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    rx: &mut mpsc::Receiver<Event>,
) -> Result<()> {
    let mut redraw = true;
    loop {
        if redraw {
            terminal.draw(|f| {
                app.page = ui::page_size(f.area().height);
                f.render_widget(&*app, f.area());
            })?;
        }
        let Some(first) = rx.recv().await else {
            break;
        };
        redraw = app.handle(first);
        // Drain what queued up meanwhile so a burst of alerts is one redraw.
        for _ in 0..1000 {
            match rx.try_recv() {
                Ok(ev) => redraw |= app.handle(ev),
                Err(_) => break,
            }
        }
        redraw |= terminal_effects(terminal, app)?;
        if app.quit {
            break;
        }
    }
    app.flush();
    Ok(())
}

/// The effects that need the terminal: the clipboard (OSC 52) and `$PAGER`.
fn terminal_effects(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> Result<bool> {
    use std::io::Write;
    let mut redraw = false;
    for seq in std::mem::take(&mut app.runner.clipboard) {
        let mut out = std::io::stdout();
        out.write_all(seq.as_bytes())?;
        out.flush()?;
    }
    if let Some(text) = app.runner.pager.take() {
        let pager = std::env::var("PAGER")
            .ok()
            .filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| "less".into());
        use std::sync::atomic::Ordering;
        // Stop reading keys first: the input thread polls in short steps and
        // says when it has stopped (a bound, should it be stuck elsewhere).
        INPUT_SUSPENDED.store(true, Ordering::Release);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while !INPUT_IDLE.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        ratatui::restore();
        let shown = show_in_pager(&pager, &text);
        *terminal = ratatui::init();
        // Keys typed while the pager ran were the pager's: drop any left over.
        while crossterm::event::poll(Duration::ZERO).unwrap_or(false) {
            let _ = crossterm::event::read();
        }
        INPUT_SUSPENDED.store(false, Ordering::Release);
        terminal.clear()?;
        if let Err(e) = shown {
            app.message = Some(format!("$PAGER {pager}: {e}"));
        }
        redraw = true;
    }
    Ok(redraw)
}

/// Runs `pager` (through `sh -c`, so `PAGER="less -R"` works) on `text`.
fn show_in_pager(pager: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(pager)
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A pager quit early closes its input: not an error worth showing.
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait()?;
    Ok(())
}

#[cfg(unix)]
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending().await
}

/// Set while `$PAGER` owns the terminal: the input thread must not read the
/// keys meant for it.
static INPUT_SUSPENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The input thread saw the flag and stopped reading.
static INPUT_IDLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// How long the input thread waits for a key before looking at the flag.
const INPUT_POLL: Duration = Duration::from_millis(50);

/// Terminal input on a plain thread: crossterm's read blocks.
fn spawn_input(tx: mpsc::Sender<Event>) {
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        loop {
            if INPUT_SUSPENDED.load(Ordering::Acquire) {
                INPUT_IDLE.store(true, Ordering::Release);
                std::thread::sleep(INPUT_POLL);
                continue;
            }
            INPUT_IDLE.store(false, Ordering::Release);
            match crossterm::event::poll(INPUT_POLL) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            let ev = match crossterm::event::read() {
                Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => Event::Key(k),
                Ok(TermEvent::Resize(w, h)) => Event::Resize(w, h),
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.blocking_send(ev).is_err() {
                return;
            }
        }
    });
}

fn spawn_file(path: PathBuf, tx: mpsc::Sender<Event>) {
    tokio::task::spawn_blocking(move || {
        let source = file::source_key(&path);
        let update = |kind| {
            Event::App(AppEvent::Sensor(SensorUpdate {
                source: source.clone(),
                kind,
            }))
        };
        match file::read_alerts(&path) {
            Ok(r) => {
                let n = r.alerts.len();
                for a in r.alerts {
                    if tx
                        .blocking_send(Event::App(AppEvent::Alert(Box::new(a))))
                        .is_err()
                    {
                        return;
                    }
                }
                let _ = tx.blocking_send(update(SensorUpdateKind::FileLoaded {
                    alerts: n,
                    errors: r.errors,
                }));
            }
            Err(e) => {
                let _ = tx.blocking_send(update(SensorUpdateKind::Disconnected {
                    error: format!("{}: {e}", path.display()),
                    retry_in_ms: 0,
                }));
            }
        }
    });
}

fn spawn_discovery(
    kube: Kube,
    conn: ConnArgs,
    resume: HashMap<String, u64>,
    tx: mpsc::Sender<Event>,
) {
    tokio::spawn(async move {
        let source = format!("kube {}/{}", conn.namespace, conn.selector);
        let report = |kind| {
            Event::App(AppEvent::Sensor(SensorUpdate {
                source: source.clone(),
                kind,
            }))
        };
        let pods =
            match falco_console::kube::discover_sensors(&kube, &conn.namespace, &conn.selector)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx
                        .send(report(SensorUpdateKind::Disconnected {
                            error: e.to_string(),
                            retry_in_ms: 0,
                        }))
                        .await;
                    return;
                }
            };
        let _ = tx
            .send(report(SensorUpdateKind::Discovered { pods: pods.len() }))
            .await;
        let security = ConnSecurity {
            tls: conn.tls(),
            token: conn.token.clone(),
        };
        for pod in pods {
            match kube_source::forward(kube.clone(), pod.clone(), conn.sensor_port).await {
                Ok(addr) => {
                    let target = kube_source::target_for(&pod, addr, &security);
                    // A target like any --sensor: actions (A) reach it too.
                    let _ = tx
                        .send(Event::App(AppEvent::Target(Box::new(target.clone()))))
                        .await;
                    tokio::spawn(grpc::run_sensor(target, resume.clone(), tx.clone()));
                }
                Err(e) => {
                    let _ = tx
                        .send(report(SensorUpdateKind::Disconnected {
                            error: format!("port-forward {}/{}: {e}", pod.namespace, pod.name),
                            retry_in_ms: 0,
                        }))
                        .await;
                }
            }
        }
    });
}
