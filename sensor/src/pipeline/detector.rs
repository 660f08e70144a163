//! Detection of one event: state first, then the rules, then alerts. Shared
//! by `run` (live), `replay` (recorded files) and the engine benchmark, so
//! all three measure and behave the same.

use super::metadata_wait::{HeldEvent, MetadataWait, Release, WaitStats};
use crate::event::{Event, EventType};
use crate::rules::{RuleMatch, RuleSet};
use crate::state::{
    EventSnapshot, FD_EVENT_TYPES, MetadataState, REQUIRED_EVENT_TYPES, SnapshotView, StateTracker,
    StateView,
};
use falco_proto::v1::Alert;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

/// Most events held back at once while container metadata is looked up.
const MAX_HELD_EVENTS: usize = 4096;

/// Event types whose fd-related fields come from the fd table (the event
/// itself carries only an fd number), so the table must be kept current.
pub const FD_TABLE_READERS: &[EventType] = &[
    EventType::Sendto,
    EventType::Sendmsg,
    EventType::Recvfrom,
    EventType::Recvmsg,
    EventType::Dup,
    EventType::Dup2,
    EventType::Dup3,
    EventType::Fchmod,
    EventType::Fchdir,
    EventType::Listen,
    EventType::Close,
    EventType::Fcntl,
];

/// The event types the kernel must send for `rules`: what the rules can
/// match, what the state tracker always needs, and the fd-table events when
/// some RULE reads fds by number. The tracker's own needs (e.g. `fchdir`)
/// do not pull in every open and close: without a rule that needs it, the
/// fd table comes from /proc seeding and the opens the rules capture.
pub fn interest(rules: &RuleSet) -> BTreeSet<EventType> {
    let mut set = rules.event_types();
    let reads_fd_table = set.iter().any(|t| FD_TABLE_READERS.contains(t));
    set.extend(REQUIRED_EVENT_TYPES.iter().copied());
    if reads_fd_table {
        set.extend(FD_EVENT_TYPES.iter().copied());
    }
    set
}

/// Runs events through the state tracker and a rule set.
pub struct Detector {
    rules: Arc<RuleSet>,
    state: StateTracker,
    matches: Vec<RuleMatch>,
    wait: MetadataWait,
}

impl Detector {
    pub fn new(rules: Arc<RuleSet>, state: StateTracker) -> Self {
        Detector {
            rules,
            state,
            matches: Vec::with_capacity(4),
            wait: MetadataWait::new(MAX_HELD_EVENTS),
        }
    }

    /// Replaces the rule set (hot reload); state is kept.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.rules = rules;
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    pub fn state(&self) -> &StateTracker {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut StateTracker {
        &mut self.state
    }

    /// Counters of events held for container metadata.
    pub fn wait_stats(&self) -> WaitStats {
        self.wait.stats
    }

    /// Events currently held for container metadata.
    pub fn held_events(&self) -> usize {
        self.wait.len()
    }

    /// When [`Self::poll`] must run next at the latest (a held event's
    /// deadline), if anything is held.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.wait.next_deadline()
    }

    /// Applies `ev` to the state, evaluates the rules and hands every alert
    /// to `emit`. An event of a container whose metadata is still being
    /// looked up is held back (see `metadata_wait`) and judged once the
    /// metadata is known or the wait times out. Returns the number of
    /// alerts emitted by this call (held events released included).
    pub fn process(&mut self, ev: &mut Event, mut emit: impl FnMut(Alert)) -> usize {
        self.state.apply(ev);
        let mut emitted = self.release_ready(&mut emit);
        if let Some(held) = self.hold_candidate(ev) {
            match self.wait.hold(held) {
                Ok(()) => {
                    self.state.finish(ev);
                    return emitted;
                }
                Err(back) => {
                    emitted += self.judge_held(*back, Release::TimedOut, &mut emit);
                    self.state.finish(ev);
                    return emitted;
                }
            }
        }
        emitted += judge(&self.rules, &mut self.matches, ev, &self.state, &mut emit);
        self.state.finish(ev);
        emitted
    }

    /// Takes in metadata answers, retries due lookups and releases held
    /// events that may be judged now. Call it between events (the live
    /// loop does, at least by [`Self::next_deadline`]).
    pub fn poll(&mut self, mut emit: impl FnMut(Alert)) -> usize {
        self.state.poll_metadata();
        self.release_ready(&mut emit)
    }

    /// Judges every held event now, metadata or not (end of input).
    pub fn flush(&mut self, mut emit: impl FnMut(Alert)) -> usize {
        self.state.poll_metadata();
        let mut emitted = 0;
        for h in self.wait.drain() {
            let release = match self.state.container_metadata_state(&h.container) {
                MetadataState::Settled => Release::Settled,
                MetadataState::Pending { .. } => Release::TimedOut,
            };
            emitted += self.judge_held(h, release, &mut emit);
        }
        emitted
    }

    /// The event as a held event when its container's metadata is pending
    /// and some rule could match it.
    fn hold_candidate(&self, ev: &Event) -> Option<HeldEvent> {
        if !self.rules.watches(ev.etype) {
            return None;
        }
        let MetadataState::Pending { deadline } = self.state.metadata_state(ev.task.tid) else {
            return None;
        };
        let container = self.state.container_full_id(ev.task.tid)?.to_string();
        // Once past the deadline, later events are judged as they come,
        // unless older events of the container still wait (order).
        if deadline <= Instant::now() && !self.wait.holds_container(&container) {
            return None;
        }
        Some(HeldEvent {
            event: ev.clone(),
            snapshot: EventSnapshot::take(&self.state, ev),
            container,
            deadline,
        })
    }

    fn release_ready(&mut self, emit: &mut impl FnMut(Alert)) -> usize {
        if self.wait.is_empty() {
            return 0;
        }
        let state = &self.state;
        let ready = self.wait.take_ready(Instant::now(), |c| {
            state.container_metadata_state(c) == MetadataState::Settled
        });
        let mut emitted = 0;
        for (h, release) in ready {
            emitted += self.judge_held(h, release, emit);
        }
        emitted
    }

    fn judge_held(
        &mut self,
        h: HeldEvent,
        release: Release,
        emit: &mut impl FnMut(Alert),
    ) -> usize {
        let view = SnapshotView {
            snapshot: &h.snapshot,
            live: &self.state,
        };
        let n = judge(&self.rules, &mut self.matches, &h.event, &view, emit);
        if release == Release::TimedOut {
            self.wait.stats.alerts_without_metadata += n as u64;
        }
        n
    }
}

/// Evaluates the rules on one event and emits its alerts.
fn judge(
    rules: &RuleSet,
    matches: &mut Vec<RuleMatch>,
    ev: &Event,
    st: &dyn StateView,
    emit: &mut impl FnMut(Alert),
) -> usize {
    matches.clear();
    rules.evaluate(ev, st, matches);
    let mut emitted = 0;
    for m in matches.iter() {
        // The engine's builder, the path its alert tests cover.
        let Some(alert) = rules.build_alert(m, ev, st) else {
            continue;
        };
        emit(alert);
        emitted += 1;
    }
    emitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{LoadOptions, load_sources};

    fn set_for(condition: &str) -> BTreeSet<EventType> {
        let yaml = format!(
            "- rule: r\n  desc: d\n  condition: {condition}\n  output: o\n  priority: NOTICE\n"
        );
        let loaded =
            load_sources(&[("t.yaml".into(), yaml)], &LoadOptions::default()).expect("rules load");
        interest(&loaded.ruleset)
    }

    #[test]
    fn tracker_needs_alone_do_not_capture_every_open_and_close() {
        let set = set_for("evt.type = execve and proc.name = x");
        assert!(set.contains(&EventType::Execve));
        assert!(set.contains(&EventType::Fchdir), "the tracker follows cwd");
        assert!(set.contains(&EventType::Procexit));
        assert!(!set.contains(&EventType::Close));
        assert!(!set.contains(&EventType::Openat));
    }

    #[test]
    fn a_rule_reading_fds_by_number_brings_the_fd_table_events() {
        let set = set_for("evt.type = sendto and fd.sport = 53");
        assert!(set.contains(&EventType::Sendto));
        assert!(set.contains(&EventType::Close));
        assert!(set.contains(&EventType::Openat));
        assert!(set.contains(&EventType::Connect));
    }

    mod metadata_wait {
        use super::super::*;
        use crate::event::{EventKind, ExeFileInfo, TaskContext};
        use crate::rules::{LoadOptions, load_sources};
        use crate::state::resolver::LookupError;
        use crate::state::test_support::{CID, Scripted, web_container};
        use crate::state::{HOST_CONTAINER_ID, StateConfig, ThreadInfo};
        use std::time::Duration;

        const PID: i64 = 60_000_001;
        const SHIM: i64 = 60_000_000;

        const RULES: &str = r#"
- rule: Container start
  desc: d
  condition: evt.type = execve and container.id != host and container.privileged = true
  output: privileged start name=%container.name pod=%k8s.pod.name proc=%proc.name parent=%proc.pname
  priority: WARNING
- rule: Exec in web
  desc: d
  condition: evt.type = execve and container.name = web
  output: exec in web %proc.cmdline
  priority: NOTICE
- rule: Any exec
  desc: d
  condition: evt.type = execve
  output: exec %proc.name in %container.id
  priority: INFO
"#;

        fn detector(source: Scripted, wait: Duration) -> Detector {
            let loaded = load_sources(&[("t.yaml".into(), RULES.into())], &LoadOptions::default())
                .expect("rules load");
            let cfg = StateConfig {
                cri_enabled: false,
                metadata_wait: wait,
                ..StateConfig::default()
            };
            let mut st = StateTracker::with_metadata_source(cfg, Some(source));
            st.insert_thread(ThreadInfo {
                tid: SHIM,
                pid: SHIM,
                ppid: 1,
                comm: "containerd-shim".into(),
                exe_path: "/usr/bin/containerd-shim".into(),
                container_id: std::sync::Arc::from(HOST_CONTAINER_ID),
                ..ThreadInfo::default()
            });
            Detector::new(Arc::new(loaded.ruleset), st)
        }

        fn task(comm: &str) -> TaskContext {
            TaskContext {
                tid: PID,
                pid: PID,
                ppid: SHIM,
                vtid: 1,
                vpid: 1,
                comm: comm.into(),
                loginuid: u32::MAX,
                ..TaskContext::default()
            }
        }

        fn exec(comm: &str) -> Event {
            Event {
                num: 0,
                ts_ns: 1_000,
                cpu: 0,
                etype: EventType::Execve,
                res: 0,
                task: task(comm),
                kind: EventKind::Exec {
                    filename: format!("/bin/{comm}"),
                    argv: vec![comm.into(), "-x".into()],
                    env: vec![],
                    exe_path: format!("/bin/{comm}"),
                    cwd: "/".into(),
                    exe_file: ExeFileInfo::default(),
                    flags: 0,
                    cgroup: format!("/system.slice/docker-{CID}.scope"),
                },
            }
        }

        fn exit() -> Event {
            Event {
                num: 0,
                ts_ns: 2_000,
                cpu: 0,
                etype: EventType::Procexit,
                res: 0,
                task: task("sh"),
                kind: EventKind::Exit { status: 0 },
            }
        }

        /// Polls the detector until `n` alerts came or two seconds passed.
        fn poll_alerts(d: &mut Detector, alerts: &mut Vec<Alert>, n: usize) {
            let until = Instant::now() + Duration::from_secs(2);
            while alerts.len() < n && Instant::now() < until {
                d.poll(|a| alerts.push(a));
                std::thread::sleep(Duration::from_millis(2));
            }
        }

        fn privileged_web() -> ContainerInfo {
            ContainerInfo {
                privileged: true,
                ..web_container()
            }
        }
        use crate::state::ContainerInfo;

        #[test]
        fn first_events_of_a_container_wait_for_its_metadata() {
            let source = Scripted::new(vec![Ok(privileged_web())], Duration::from_millis(100));
            let mut d = detector(source, Duration::from_secs(1));
            let mut alerts = Vec::new();
            // The container's first process, then it exits before the
            // runtime answers: the alert still names the process.
            d.process(&mut exec("sh"), |a| alerts.push(a));
            d.process(&mut exit(), |a| alerts.push(a));
            assert!(alerts.is_empty(), "judged before the metadata came");
            assert_eq!(d.held_events(), 1, "procexit has no rule: not held");
            poll_alerts(&mut d, &mut alerts, 1);
            // Rule matching is "first" (Falco's default): the first rule in
            // load order that matches, here one that needs the metadata.
            let rules: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
            assert_eq!(rules, ["Container start"]);
            let start = &alerts[0];
            assert_eq!(
                start.output,
                "privileged start name=web pod=web-1 proc=sh parent=containerd-shim"
            );
            assert_eq!(start.output_fields["k8s.ns.name"], "shop");
            assert_eq!(start.output_fields["container.image.repository"], "nginx");
            let stats = d.wait_stats();
            assert_eq!(
                (
                    stats.held,
                    stats.released_resolved,
                    stats.alerts_without_metadata
                ),
                (1, 1, 0)
            );
        }

        #[test]
        fn after_the_bound_alerts_leave_without_metadata_and_are_counted() {
            let source = Scripted::new(vec![], Duration::ZERO);
            let mut d = detector(source, Duration::from_millis(100));
            let mut alerts = Vec::new();
            d.process(&mut exec("sh"), |a| alerts.push(a));
            assert!(alerts.is_empty());
            poll_alerts(&mut d, &mut alerts, 1);
            let rules: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
            assert_eq!(
                rules,
                ["Any exec"],
                "no metadata: only the rule without container fields"
            );
            assert_eq!(alerts[0].output_fields["container.name"], "<NA>");
            assert_eq!(alerts[0].output_fields["container.id"], &CID[..12]);
            let stats = d.wait_stats();
            assert_eq!(
                (stats.released_timed_out, stats.alerts_without_metadata),
                (1, 1)
            );
        }

        #[test]
        fn late_metadata_still_reaches_the_container_table() {
            // Fails for longer than the wait, then answers on a retry.
            let source = Scripted::new(
                vec![
                    Err(LookupError::Failed("NotFound".into())),
                    Err(LookupError::Failed("NotFound".into())),
                    Err(LookupError::Failed("NotFound".into())),
                    Ok(web_container()),
                ],
                Duration::from_millis(30),
            );
            let mut d = detector(source, Duration::from_millis(20));
            let mut alerts = Vec::new();
            d.process(&mut exec("sh"), |a| alerts.push(a));
            poll_alerts(&mut d, &mut alerts, 1);
            assert_eq!(alerts.len(), 1);
            let until = Instant::now() + Duration::from_secs(2);
            while !d.state().container(CID).is_some_and(|c| c.resolved) && Instant::now() < until {
                d.poll(|a| alerts.push(a));
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(d.state().container(CID).is_some_and(|c| c.resolved));
            // A later exec is judged at once, with the metadata.
            alerts.clear();
            d.process(&mut exec("ls"), |a| alerts.push(a));
            let rules: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
            assert_eq!(rules, ["Exec in web"]);
        }

        #[test]
        fn without_a_wait_events_are_judged_at_once() {
            let source = Scripted::new(vec![Ok(web_container())], Duration::from_millis(100));
            let mut d = detector(source, Duration::ZERO);
            let mut alerts = Vec::new();
            d.process(&mut exec("sh"), |a| alerts.push(a));
            assert_eq!(alerts.len(), 1, "Any exec, without metadata");
            assert_eq!(d.held_events(), 0);
        }
    }
}
