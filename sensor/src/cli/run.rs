//! `falco-sensor run`: attach the probes, keep state, evaluate rules and
//! deliver alerts until SIGINT/SIGTERM. SIGHUP (or an edit of a rules file)
//! reloads the rules; a set that does not compile leaves the old one running.

use super::RunArgs;
use crate::config::{CaptureEnv, Config, LineFormat, ProbeSection, StateSection};
use crate::delivery::{Delivery, DeliveryHandle};
use crate::event::EventType;
use crate::metrics::SensorCounters;
use crate::pipeline::cri_runtime::CriRuntime;
use crate::pipeline::internal::{self, DropWatch};
use crate::pipeline::ip_names::watched_names;
use crate::pipeline::{Detector, EnvCapture, RulesSource, Shared, interest, open_filter};
use crate::probe::{self, Probe, ProbeConfig};
use crate::respond::{RecordSink, Responder, ResponderDeps, ResponseReport};
use crate::state::dns::{NameWatcher, system_resolve};
use crate::state::{StateConfig, StateTracker};
use anyhow::Context;
use falco_proto::v1::RunActionRequest;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// How often the loop checks signals, drops, stats and rule files.
const HOUSEKEEPING: Duration = Duration::from_millis(250);
/// How often rules files are checked for changes.
const RULES_WATCH: Duration = Duration::from_secs(2);
/// How often held events are re-checked while some wait for metadata.
const HELD_POLL: Duration = Duration::from_millis(5);
/// Least time between two drop alerts.
const DROP_ALERT_INTERVAL: Duration = Duration::from_secs(30);

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    super::init_logging();
    let mut cfg = Config::load(args.config.as_deref(), &args.options)?;
    if !args.rules.is_empty() {
        cfg.rules.files = args.rules.clone();
    }
    if args.json {
        cfg.outputs.stdout.format = LineFormat::Json;
    }
    let started = Instant::now();
    let kernel = probe::preflight()?;

    let source = RulesSource::from_config(&cfg.rules);
    let loaded = source.load().context("loading rules")?;
    for w in &loaded.warnings {
        tracing::warn!("rules: {w}");
    }
    let rules = Arc::new(loaded.ruleset);
    tracing::info!(
        "rules loaded: {} rules ({} enabled), {} macros, {} lists",
        loaded.summary.rules,
        loaded.summary.enabled_rules,
        loaded.summary.macros,
        loaded.summary.lists
    );

    let counters = SensorCounters::new();
    let mut tracker = StateTracker::new(state_config(&cfg.state));
    let seeded = tracker
        .seed_from_proc()
        .context("reading running processes from /proc")?;
    tracing::info!("state seeded from /proc: {seeded} threads");

    let ip_names = start_ip_names(&cfg.state, &rules, &mut tracker);

    let wanted = interest_vec(&rules);
    let env = env_capture(&rules, cfg.probe.capture_env);
    let (probe, events) = Probe::start(probe_config(&cfg.probe, env.on), &wanted)?;
    let pstats = probe.stats();
    store_probe_attach(&counters, &pstats);
    tracing::info!(
        "syscall capture: {} (probe.attach: {:?}, {} per-syscall programs attached)",
        pstats.attach.name(),
        cfg.probe.attach,
        pstats.attached_syscalls
    );
    let open_prefilter = cfg.probe.open_prefilter && cfg.probe.filter_enabled;
    apply_open_filter(&probe, &rules, open_prefilter);
    let shared = Arc::new(Shared::new(
        rules.clone(),
        source,
        counters.clone(),
        kernel.release.clone(),
    ));
    let delivery = Delivery::start(&cfg, shared.clone(), counters.clone())?;
    let responder = start_responder(&cfg, &delivery, &shared)?;
    tracing::info!(
        "falco-sensor ready in {} ms: probes attached ({} event types), gRPC on {}, metrics on {}",
        started.elapsed().as_millis(),
        wanted.len(),
        addr_text(delivery.grpc_addr()),
        addr_text(delivery.metrics_addr()),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())
        .context("installing the SIGHUP handler")?;

    let mut detector = Detector::new(rules, tracker);
    let mut lp = Loop {
        delivery: &delivery,
        probe: &probe,
        shared: &shared,
        counters: &counters,
        generation: shared.generation(),
        drops: DropWatch::default(),
        last_drop_alert: None,
        fingerprint: shared.source().fingerprint(),
        last_watch: Instant::now(),
        open_prefilter,
        capture_env: cfg.probe.capture_env,
        env_on: env.on,
        ip_names: ip_names.as_ref(),
        ip_names_seen: 0,
    };
    let mut last_housekeeping = Instant::now();
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        let mut deliver = |mut alert: falco_proto::v1::Alert| {
            alert.seq = delivery.publish(alert.clone());
            let records = responder.submit(&alert);
            if !records.is_empty() {
                delivery.publish_response(alert.seq, records);
            }
        };
        // Held events (container metadata pending) are re-checked often;
        // otherwise the loop sleeps until the next event or housekeeping.
        let wait = if detector.held_events() > 0 {
            HELD_POLL
        } else {
            HOUSEKEEPING
        };
        match events.recv_timeout(wait) {
            Ok(mut ev) => {
                counters.event_seen(ev.etype);
                detector.process(&mut ev, &mut deliver);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                break Err(anyhow::anyhow!("the probe reader thread stopped"));
            }
        }
        detector.poll(&mut deliver);
        if last_housekeeping.elapsed() >= HOUSEKEEPING {
            last_housekeeping = Instant::now();
            lp.housekeeping(&mut detector, reload.swap(false, Ordering::Relaxed));
        }
    };
    tracing::info!("stopping");
    probe.stop();
    detector.flush(|mut alert| {
        alert.seq = delivery.publish(alert.clone());
    });
    // The API's action runner may still hold a reference; then the worker
    // stops when the process exits.
    if let Ok(r) = Arc::try_unwrap(responder) {
        r.shutdown();
    }
    delivery.shutdown(Duration::from_secs(5));
    result.map(|()| ExitCode::SUCCESS)
}

/// Periodic work of the detection loop.
struct Loop<'a> {
    delivery: &'a DeliveryHandle,
    probe: &'a Probe,
    shared: &'a Shared,
    counters: &'a SensorCounters,
    generation: u64,
    drops: DropWatch,
    last_drop_alert: Option<Instant>,
    fingerprint: crate::pipeline::rules_source::Fingerprint,
    last_watch: Instant,
    /// `probe.open_prefilter` (and the interest filter) on: re-derive the
    /// open prefilter after every reload.
    open_prefilter: bool,
    /// `probe.capture_env`, and whether the kernel copies environments now.
    capture_env: CaptureEnv,
    env_on: bool,
    /// The background resolver of `fd.*ip.name` names, and the generation
    /// of the table the detector has.
    ip_names: Option<&'a NameWatcher>,
    ip_names_seen: u64,
}

impl Loop<'_> {
    fn housekeeping(&mut self, detector: &mut Detector, sighup: bool) {
        let stats = self.probe.stats();
        self.counters
            .kernel_drops
            .store(stats.kernel_drops, Ordering::Relaxed);
        store_probe_attach(self.counters, &stats);
        self.counters
            .userspace_drops
            .store(stats.userspace_drops, Ordering::Relaxed);
        let wait = detector.wait_stats();
        self.counters
            .metadata_held_events
            .store(wait.held, Ordering::Relaxed);
        self.counters
            .metadata_wait_timeouts
            .store(wait.alerts_without_metadata, Ordering::Relaxed);
        let state = detector.state().stats();
        self.counters
            .cri_lookup_failures
            .store(state.cri_failures + state.cri_timeouts, Ordering::Relaxed);
        let may_alert = self
            .last_drop_alert
            .is_none_or(|t| t.elapsed() >= DROP_ALERT_INTERVAL);
        if may_alert
            && let Some(alert) = self.drops.check(
                stats.kernel_drops,
                stats.userspace_drops,
                stats.events_received,
            )
        {
            tracing::warn!("{}", alert.output);
            self.delivery.publish(alert);
            self.last_drop_alert = Some(Instant::now());
        }

        let mut want_reload = sighup;
        if self.last_watch.elapsed() >= RULES_WATCH {
            self.last_watch = Instant::now();
            let now = self.shared.source().fingerprint();
            if now != self.fingerprint {
                self.fingerprint = now;
                want_reload = true;
            }
        }
        if want_reload {
            match self.shared.reload() {
                Ok(_) => tracing::info!("rules reloaded"),
                Err(e) => {
                    tracing::error!("rules reload failed, keeping the previous rules: {e}");
                    self.delivery.publish(internal::reload_failed(&e));
                }
            }
        }
        if let Some(table) = self
            .ip_names
            .and_then(|w| w.latest(&mut self.ip_names_seen))
        {
            detector.state_mut().set_ip_names(table);
        }
        // PutRulesFile reloads from the API thread; pick up any new set here.
        let generation = self.shared.generation();
        if generation != self.generation {
            self.generation = generation;
            let rules = self.shared.rules();
            let wanted = interest_vec(&rules);
            if let Err(e) = self.probe.set_interest(&wanted) {
                tracing::error!("updating the kernel interest set: {e}");
            }
            apply_open_filter(self.probe, &rules, self.open_prefilter);
            let env = env_capture(&rules, self.capture_env);
            if env.on != self.env_on {
                match self.probe.set_capture_env(env.on) {
                    Ok(()) => self.env_on = env.on,
                    Err(e) => tracing::error!("switching environment capture: {e}"),
                }
            }
            if let Some(w) = self.ip_names {
                w.set_names(watched_names(&rules));
            }
            detector.set_rules(rules);
        }
    }
}

/// Most time start-up waits for the first resolution of the `fd.*ip.name`
/// names, so the rules have them from the first event; later refreshes
/// never delay detection.
const FIRST_IP_NAMES_WAIT: Duration = Duration::from_secs(2);

/// Starts the background resolver of the names rules compare
/// `fd.*ip.name` with (unless `state.dns_refresh_secs` is 0) and gives the
/// tracker its first table.
fn start_ip_names(
    cfg: &StateSection,
    rules: &crate::rules::RuleSet,
    tracker: &mut StateTracker,
) -> Option<NameWatcher> {
    if cfg.dns_refresh_secs == 0 {
        tracing::info!("fd.*ip.name resolution off: state.dns_refresh_secs is 0");
        return None;
    }
    let refresh = Duration::from_secs(cfg.dns_refresh_secs);
    let watcher = match NameWatcher::start(refresh, Arc::new(system_resolve)) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot start the fd.*ip.name resolver thread: {e}");
            return None;
        }
    };
    let names = watched_names(rules);
    if !names.is_empty() {
        tracing::info!(
            "resolving {} host name(s) for fd.*ip.name rules every {}s: {:?}",
            names.len(),
            cfg.dns_refresh_secs,
            names
        );
        watcher.set_names(names);
        let mut seen = 0;
        match watcher.wait_latest(&mut seen, FIRST_IP_NAMES_WAIT) {
            Some(table) => tracker.set_ip_names(table),
            None => tracing::warn!(
                "fd.*ip.name names not resolved within {} s; rules get them when they are",
                FIRST_IP_NAMES_WAIT.as_secs()
            ),
        }
    }
    Some(watcher)
}

/// Starts the responder; its audit records go onto the bus, and when it
/// accepts manual actions the API's `RunAction` reaches it.
fn start_responder(
    cfg: &Config,
    delivery: &DeliveryHandle,
    shared: &Arc<Shared>,
) -> anyhow::Result<Arc<Responder>> {
    // Validated with the rest of the config by Config::load.
    let rcfg = cfg.response.clone();
    let bus = delivery.bus().clone();
    let sink: RecordSink = Arc::new(move |report: ResponseReport| {
        bus.publish_response(report.alert.seq, vec![report.record]);
    });
    let mut deps = ResponderDeps::new(&rcfg, sink);
    deps.runtime = Some(Arc::new(CriRuntime::new(cfg.state.cri_sockets.clone())));
    let responder = Arc::new(Responder::start(rcfg, deps).context("starting the responder")?);
    tracing::info!("responder mode: {:?}", responder.mode());
    if responder.manual_allowed() {
        let r = responder.clone();
        let bus = delivery.bus().clone();
        shared.set_action_runner(Box::new(move |req: &RunActionRequest| {
            let alert = bus.get(req.alert_seq).ok_or_else(|| {
                tonic::Status::not_found(format!(
                    "alert {} is no longer held by this sensor",
                    req.alert_seq
                ))
            })?;
            let handle = tokio::runtime::Handle::try_current()
                .map_err(|_| tonic::Status::internal("RunAction called outside the API runtime"))?;
            Ok(tokio::task::block_in_place(|| {
                handle.block_on(r.run_manual(&alert, &req.action, &req.reason))
            }))
        }));
    }
    Ok(responder)
}

/// Derives the kernel open prefilter from `rules` and installs it, or turns
/// it off (every open captured) when disabled or not derivable; says which
/// at info level. On error the filter is left off, never narrower.
fn apply_open_filter(probe: &Probe, rules: &crate::rules::RuleSet, enabled: bool) {
    let filter = if enabled {
        match open_filter::derive(rules) {
            Ok(f) => {
                tracing::info!(
                    "open prefilter: opens sent only for prefixes {:?}, basenames {:?}, substrings {:?}, directories {:?} or processes {:?} (plus relative, unnormalised and directory paths); closes of dropped opens {}",
                    f.prefixes,
                    f.basenames,
                    f.substrings,
                    f.directories,
                    f.comms,
                    if f.close_filter {
                        "dropped too"
                    } else {
                        "still sent (a rule on close needs them)"
                    }
                );
                Some(f)
            }
            Err(why) => {
                tracing::info!("open prefilter off, every open is captured: {why}");
                None
            }
        }
    } else {
        tracing::info!("open prefilter off, every open is captured: disabled in the config");
        None
    };
    if let Err(e) = probe.set_open_filter(filter.as_ref()) {
        tracing::error!("setting the kernel open prefilter: {e}");
        if let Err(e) = probe.set_open_filter(None) {
            tracing::error!("turning the kernel open prefilter off: {e}");
        }
    }
}

/// Decides environment capture for `rules` and logs the decision, with a
/// warning naming the rules that read `proc.env` when it is forced off.
fn env_capture(rules: &crate::rules::RuleSet, setting: CaptureEnv) -> EnvCapture {
    let env = EnvCapture::derive(rules, setting);
    tracing::info!("{}", env.describe());
    if let Some(w) = env.warning() {
        tracing::warn!("{w}");
    }
    env
}

/// Publishes the capture mode for GetStats and /metrics.
fn store_probe_attach(counters: &SensorCounters, stats: &probe::ProbeStats) {
    let per_syscall = stats.attach == probe::ActiveAttach::PerSyscall;
    counters
        .probe_per_syscall
        .store(u64::from(per_syscall), Ordering::Relaxed);
    counters
        .probe_attached_syscalls
        .store(stats.attached_syscalls, Ordering::Relaxed);
}

fn interest_vec(rules: &crate::rules::RuleSet) -> Vec<EventType> {
    interest(rules).into_iter().collect()
}

fn addr_text(a: Option<std::net::SocketAddr>) -> String {
    a.map_or_else(|| "(disabled)".to_string(), |a| a.to_string())
}

/// The probe's start settings; `capture_env` as derived from the rules.
pub(crate) fn probe_config(p: &ProbeSection, capture_env: bool) -> ProbeConfig {
    ProbeConfig {
        ring_buffer_bytes: p.ring_buffer_bytes,
        channel_capacity: p.channel_capacity,
        capture_env,
        io_buffer_bytes: p.io_buffer_bytes,
        filter_enabled: p.filter_enabled,
        attach: p.attach,
    }
}

pub(crate) fn state_config(s: &StateSection) -> StateConfig {
    StateConfig {
        cri_sockets: s.cri_sockets.clone(),
        cri_timeout: Duration::from_millis(s.lookup_timeout_ms),
        metadata_wait: Duration::from_millis(s.metadata_wait_ms),
        max_threads: s.max_threads,
        host_root: s.host_root.clone(),
        ..StateConfig::default()
    }
}
