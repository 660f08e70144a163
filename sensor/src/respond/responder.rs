//! The responder: decides synchronously (policy, guards, cooldown, rate limit)
//! on the detection thread without I/O, and runs actions on its own worker
//! thread behind a bounded queue so detection never waits on a kill or an API call.

use super::config::{Action, Mode, ResponseConfig};
use super::error::ActionError;
use super::guard::{Cooldowns, Guard, SelfIdentity, TokenBucket};
use super::kube::{KubeSource, PodActions};
use super::policy::first_match;
use super::process::kill_process;
use super::record::{Outcome, record};
use super::runtime::ContainerRuntime;
use super::target::{Target, short_id};
use falco_proto::v1::{Alert, ResponseRecord};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// A record produced by the worker (an action taken or failed), with the alert
/// it is about so the caller can attach it and publish it.
#[derive(Debug, Clone)]
pub struct ResponseReport {
    pub alert: Arc<Alert>,
    pub record: ResponseRecord,
}

/// Receives every record the worker produces. Called on the worker thread:
/// must not block for long (e.g. publish on the bus or send on a channel).
pub type RecordSink = Arc<dyn Fn(ResponseReport) + Send + Sync>;

/// What the responder needs from the rest of the sensor.
pub struct ResponderDeps {
    /// Container runtime for `stop-container`; `None` makes that action fail with a clear record.
    pub runtime: Option<Arc<dyn ContainerRuntime>>,
    /// Kubernetes client configuration for pod actions (connected lazily, on first use).
    pub kube: KubeSource,
    /// The sensor's own pids, container and pod.
    pub identity: SelfIdentity,
    /// Where worker records go.
    pub sink: RecordSink,
}

impl ResponderDeps {
    /// Defaults for a sensor: no runtime yet, Kubernetes per config, identity detected.
    pub fn new(cfg: &ResponseConfig, sink: RecordSink) -> Self {
        let kube = match &cfg.kubernetes.kubeconfig {
            Some(path) => KubeSource::Kubeconfig(path.clone()),
            None => KubeSource::Infer,
        };
        ResponderDeps {
            runtime: None,
            kube,
            identity: SelfIdentity::detect(),
            sink,
        }
    }
}

/// Counters since start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResponderStats {
    pub taken: u64,
    pub dry_run: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Skipped because the worker queue was full (also counted in `skipped`).
    pub queue_full: u64,
}

/// The responder could not start.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error(transparent)]
    Config(#[from] super::config::ResponseConfigError),
    #[error("starting the response worker: {0}")]
    Worker(#[source] std::io::Error),
}

#[derive(Default)]
struct Counters {
    taken: AtomicU64,
    dry_run: AtomicU64,
    skipped: AtomicU64,
    failed: AtomicU64,
    queue_full: AtomicU64,
}

impl Counters {
    fn count(&self, rec: &ResponseRecord) {
        let c = match rec.outcome.as_str() {
            "taken" => &self.taken,
            "dry-run" => &self.dry_run,
            "skipped" => &self.skipped,
            _ => &self.failed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

struct Limits {
    cooldowns: Cooldowns,
    bucket: TokenBucket,
}

struct Shared {
    cfg: ResponseConfig,
    identity: SelfIdentity,
    counters: Counters,
}

/// One action to run, with what it needs.
#[derive(Debug, Clone)]
struct Step {
    action: Action,
    labels: BTreeMap<String, String>,
}

struct Job {
    alert: Arc<Alert>,
    target: Target,
    steps: Vec<Step>,
    /// "policy \"name\"" or "manual (reason: ...)", prefixed to details.
    origin: String,
    reply: Option<oneshot::Sender<ResponseRecord>>,
}

/// The responder. Cheap to share behind an `Arc`; `submit` never blocks on I/O.
pub struct Responder {
    shared: Arc<Shared>,
    limits: Mutex<Limits>,
    tx: mpsc::Sender<Job>,
    worker: std::thread::JoinHandle<()>,
}

impl Responder {
    /// Validates the config and starts the worker thread.
    pub fn start(cfg: ResponseConfig, deps: ResponderDeps) -> Result<Responder, ResponderError> {
        cfg.validate()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ResponderError::Worker)?;
        let (tx, rx) = mpsc::channel(cfg.queue_capacity);
        let now = Instant::now();
        let limits = Limits {
            cooldowns: Cooldowns::new(cfg.cooldown()),
            bucket: TokenBucket::new(cfg.rate_limit.burst, cfg.rate_limit.per_minute, now),
        };
        let shared = Arc::new(Shared {
            cfg,
            identity: deps.identity,
            counters: Counters::default(),
        });
        let worker = Worker {
            shared: Arc::clone(&shared),
            runtime: deps.runtime,
            kube_source: deps.kube,
            kube: None,
            sink: deps.sink,
        };
        let worker = std::thread::Builder::new()
            .name("falco-respond".into())
            .spawn(move || runtime.block_on(worker.run(rx)))
            .map_err(ResponderError::Worker)?;
        tracing::info!(
            mode = shared.cfg.mode.as_str(),
            policies = shared.cfg.policies.len(),
            "responder started"
        );
        Ok(Responder {
            shared,
            limits: Mutex::new(limits),
            tx,
            worker,
        })
    }

    /// The configured mode.
    pub fn mode(&self) -> Mode {
        self.shared.cfg.mode
    }

    /// Whether `RunAction` requests are accepted (`response.allow_manual`).
    pub fn manual_allowed(&self) -> bool {
        self.shared.cfg.allow_manual
    }

    /// Counters since start.
    pub fn stats(&self) -> ResponderStats {
        let c = &self.shared.counters;
        ResponderStats {
            taken: c.taken.load(Ordering::Relaxed),
            dry_run: c.dry_run.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
        }
    }

    /// Decides the response to one alert. Returns the records decided here
    /// (skipped by a guard, dry-run in `ids` mode); actions queued for the
    /// worker report through the sink when done. No policy matching → no record.
    pub fn submit(&self, alert: &Alert) -> Vec<ResponseRecord> {
        let cfg = &self.shared.cfg;
        let Some(policy) = first_match(&cfg.policies, alert) else {
            return Vec::new();
        };
        let origin = format!("policy {:?}", policy.name);
        let target = Target::from_alert(alert);
        let mut records = Vec::new();
        if let Some(guard) = self.target_guard(&target) {
            for a in &policy.actions {
                records.push(self.skip(alert.seq, *a, &guard, &origin));
            }
            return records;
        }
        let mut steps = Vec::new();
        for &action in &policy.actions {
            match not_applicable(action, &target) {
                Some(guard) => records.push(self.skip(alert.seq, action, &guard, &origin)),
                None => steps.push(Step {
                    action,
                    labels: if policy.labels.is_empty() {
                        cfg.label_pod.labels.clone()
                    } else {
                        policy.labels.clone()
                    },
                }),
            }
        }
        if steps.is_empty() {
            return records;
        }

        let now = Instant::now();
        let key = target.cooldown_key();
        let mut limits = self.limits();
        let guard = if let Some(remaining) = limits.cooldowns.remaining(&key, now) {
            Some(Guard::Cooldown {
                key: key.clone(),
                remaining,
            })
        } else if !limits.bucket.try_take(now) {
            Some(Guard::RateLimit)
        } else {
            None
        };
        if let Some(guard) = guard {
            drop(limits);
            for s in &steps {
                records.push(self.skip(alert.seq, s.action, &guard, &origin));
            }
            return records;
        }

        match cfg.mode {
            Mode::Ids => {
                limits.cooldowns.mark(key, now);
                drop(limits);
                for s in &steps {
                    let plan = describe_plan(cfg, s, &target);
                    let detail = format!("mode ids: would {plan} ({origin})");
                    records.push(self.emit(record(
                        alert.seq,
                        s.action.as_str(),
                        Outcome::DryRun,
                        &detail,
                    )));
                }
            }
            Mode::Ips => {
                let job = Job {
                    alert: Arc::new(alert.clone()),
                    target,
                    steps,
                    origin: origin.clone(),
                    reply: None,
                };
                match self.tx.try_send(job) {
                    Ok(()) => limits.cooldowns.mark(key, now),
                    Err(err) => {
                        limits.bucket.refund();
                        drop(limits);
                        let (job, guard) = match err {
                            mpsc::error::TrySendError::Full(job) => {
                                self.shared
                                    .counters
                                    .queue_full
                                    .fetch_add(1, Ordering::Relaxed);
                                (job, Guard::QueueFull(cfg.queue_capacity))
                            }
                            mpsc::error::TrySendError::Closed(job) => {
                                (job, Guard::NotApplicable("responder worker stopped".into()))
                            }
                        };
                        for s in &job.steps {
                            records.push(self.skip(alert.seq, s.action, &guard, &origin));
                        }
                    }
                }
            }
        }
        records
    }

    /// Runs one action on an alert at an operator's request (gRPC `RunAction`;
    /// the API layer has authenticated the caller). Target guards apply;
    /// cooldown, rate limit and mode do not: this is an explicit human decision.
    /// Waits for the worker; the record also goes to the sink.
    pub async fn run_manual(&self, alert: &Alert, action: &str, reason: &str) -> ResponseRecord {
        let origin = format!("manual (reason: {reason})");
        let Some(parsed) = Action::parse(action) else {
            let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            let detail = format!(
                "unknown action {action:?} (expected one of {})",
                names.join(", ")
            );
            return self.emit(record(alert.seq, action, Outcome::Failed, &detail));
        };
        if !self.shared.cfg.allow_manual {
            return self.skip(alert.seq, parsed, &Guard::ManualDisabled, &origin);
        }
        let target = Target::from_alert(alert);
        if let Some(guard) = self
            .target_guard(&target)
            .or_else(|| not_applicable(parsed, &target))
        {
            return self.skip(alert.seq, parsed, &guard, &origin);
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let job = Job {
            alert: Arc::new(alert.clone()),
            target,
            steps: vec![Step {
                action: parsed,
                labels: self.shared.cfg.label_pod.labels.clone(),
            }],
            origin,
            reply: Some(reply_tx),
        };
        let stopped = || {
            record(
                alert.seq,
                action,
                Outcome::Failed,
                "responder worker stopped",
            )
        };
        if self.tx.send(job).await.is_err() {
            return self.emit(stopped());
        }
        // The worker counts and sinks the record itself.
        reply_rx.await.unwrap_or_else(|_| self.emit(stopped()))
    }

    /// Stops accepting work and waits for the worker to finish what is queued.
    /// Blocks (up to the queue length times the action timeout): from async
    /// code call it through `spawn_blocking`.
    pub fn shutdown(self) {
        let Responder { tx, worker, .. } = self;
        drop(tx);
        if worker.join().is_err() {
            tracing::error!("response worker panicked");
        }
    }

    fn limits(&self) -> MutexGuard<'_, Limits> {
        // A panic while holding the lock cannot leave the maps inconsistent.
        self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Guards on the target as a whole: the sensor itself, protected namespaces, host processes.
    fn target_guard(&self, target: &Target) -> Option<Guard> {
        let cfg = &self.shared.cfg;
        if let Some(why) = self.shared.identity.matches(target) {
            return Some(Guard::SelfTarget(why));
        }
        if let Some(ns) = target.namespace() {
            let own = self.shared.identity.namespace.as_deref();
            if cfg.protected_namespaces.iter().any(|p| p == ns) || own == Some(ns) {
                return Some(Guard::ProtectedNamespace(ns.to_string()));
            }
        }
        if target.is_host() && !cfg.allow_host {
            return Some(Guard::HostProcess);
        }
        None
    }

    fn skip(&self, seq: u64, action: Action, guard: &Guard, origin: &str) -> ResponseRecord {
        let detail = format!("{guard} ({origin})");
        self.emit(record(seq, action.as_str(), Outcome::Skipped, &detail))
    }

    fn emit(&self, rec: ResponseRecord) -> ResponseRecord {
        self.shared.counters.count(&rec);
        rec
    }
}

/// Whether `action` can apply to this kind of target at all.
fn not_applicable(action: Action, target: &Target) -> Option<Guard> {
    let why = match action {
        Action::KillProcess | Action::StopContainer if target.forwarded => {
            "forwarded from Falco: the process may run on another node"
        }
        Action::KillProcess if target.pid <= 0 => "the alert names no process",
        Action::KillProcess if target.pid == 1 => "pid 1 is init; killing it takes the node down",
        Action::StopContainer if target.container_id.is_none() => {
            "the process is not in a container"
        }
        a if a.needs_pod() && target.pod.is_none() => "the process is not in a Kubernetes pod",
        _ => return None,
    };
    Some(Guard::NotApplicable(why.to_string()))
}

/// What an action would do to this target, for dry-run records.
fn describe_plan(cfg: &ResponseConfig, step: &Step, target: &Target) -> String {
    let pod = || {
        target
            .pod
            .as_ref()
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .unwrap_or_default()
    };
    match step.action {
        Action::KillProcess => format!(
            "send SIGKILL to process {} ({})",
            target.pid, target.process_name
        ),
        Action::StopContainer => format!(
            "stop container {} (timeout {}s)",
            target.container_id.as_deref().map(short_id).unwrap_or(""),
            cfg.stop_container.timeout_seconds
        ),
        Action::DeletePod => format!(
            "delete pod {} (grace period {}s)",
            pod(),
            cfg.delete_pod.grace_period_seconds
        ),
        Action::IsolatePod => format!(
            "isolate pod {}: deny-all networkpolicy {} selecting {}=true",
            pod(),
            cfg.isolate_pod.network_policy_name,
            cfg.isolate_pod.label
        ),
        Action::LabelPod => {
            let labels: Vec<String> = step
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("label pod {} with {}", pod(), labels.join(","))
        }
    }
}

/// Owns the clients and runs queued jobs one at a time.
struct Worker {
    shared: Arc<Shared>,
    runtime: Option<Arc<dyn ContainerRuntime>>,
    kube_source: KubeSource,
    kube: Option<PodActions>,
    sink: RecordSink,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(mut job) = rx.recv().await {
            let timeout = self.shared.cfg.action_timeout();
            // Each action of a policy runs even if an earlier one failed: a
            // failed kill must not prevent the pod from being isolated.
            for step in &job.steps {
                let result = match tokio::time::timeout(timeout, self.act(step, &job.target)).await
                {
                    Ok(r) => r,
                    Err(_) => Err(ActionError::Timeout(timeout)),
                };
                let (outcome, what) = match result {
                    Ok(done) => (Outcome::Taken, done),
                    Err(err) => (Outcome::Failed, err.to_string()),
                };
                let detail = format!("{what} ({})", job.origin);
                let rec = record(job.alert.seq, step.action.as_str(), outcome, &detail);
                self.shared.counters.count(&rec);
                (self.sink)(ResponseReport {
                    alert: Arc::clone(&job.alert),
                    record: rec.clone(),
                });
                if let Some(reply) = job.reply.take() {
                    // The caller may have gone away (request cancelled); the sink has the record.
                    let _ = reply.send(rec);
                }
            }
        }
    }

    async fn act(&mut self, step: &Step, target: &Target) -> Result<String, ActionError> {
        let shared = Arc::clone(&self.shared);
        let cfg = &shared.cfg;
        match step.action {
            Action::KillProcess => kill_process(target),
            Action::StopContainer => {
                let runtime = self.runtime.clone().ok_or_else(|| {
                    ActionError::Unavailable(
                        "no container runtime connected to the responder".into(),
                    )
                })?;
                let id = target.container_id.clone().unwrap_or_default();
                let timeout = std::time::Duration::from_secs(cfg.stop_container.timeout_seconds);
                let id_for_call = id.clone();
                tokio::task::spawn_blocking(move || runtime.stop_container(&id_for_call, timeout))
                    .await
                    .map_err(|e| ActionError::Runtime(format!("stop task failed: {e}")))??;
                Ok(format!("stopped container {}", short_id(&id)))
            }
            Action::DeletePod | Action::IsolatePod | Action::LabelPod => {
                let pod = target.pod.clone().ok_or_else(|| {
                    ActionError::Unavailable("the process is not in a Kubernetes pod".into())
                })?;
                let kube = self.kube().await?;
                match step.action {
                    Action::DeletePod => {
                        kube.delete_pod(&pod, cfg.delete_pod.grace_period_seconds)
                            .await
                    }
                    Action::IsolatePod => {
                        kube.isolate_pod(
                            &pod,
                            &cfg.isolate_pod.label,
                            &cfg.isolate_pod.network_policy_name,
                        )
                        .await
                    }
                    _ => kube.label_pod(&pod, &step.labels).await,
                }
            }
        }
    }

    /// The Kubernetes client, connected on first use and kept; a failed
    /// connection is retried on the next pod action.
    async fn kube(&mut self) -> Result<PodActions, ActionError> {
        if let Some(k) = &self.kube {
            return Ok(k.clone());
        }
        let k = PodActions::connect(&self.kube_source).await?;
        self.kube = Some(k.clone());
        Ok(k)
    }
}
