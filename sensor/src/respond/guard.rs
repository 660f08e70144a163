//! Guards: the reasons a matched alert is *not* acted on. Each is checked
//! before anything is queued, so a skipped response costs no I/O.

use super::target::Target;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// Why a response was skipped. The `Display` starts with the guard's name so
/// records can be filtered on it (`detail` begins with e.g. "cooldown:").
#[derive(Debug, Clone, PartialEq)]
pub enum Guard {
    ProtectedNamespace(String),
    SelfTarget(String),
    HostProcess,
    Cooldown { key: String, remaining: Duration },
    RateLimit,
    QueueFull(usize),
    NotApplicable(String),
    ManualDisabled,
}

impl Guard {
    /// Short stable name of the guard.
    pub fn name(&self) -> &'static str {
        match self {
            Guard::ProtectedNamespace(_) => "protected-namespace",
            Guard::SelfTarget(_) => "self",
            Guard::HostProcess => "host",
            Guard::Cooldown { .. } => "cooldown",
            Guard::RateLimit => "rate-limit",
            Guard::QueueFull(_) => "queue-full",
            Guard::NotApplicable(_) => "not-applicable",
            Guard::ManualDisabled => "manual-disabled",
        }
    }
}

impl fmt::Display for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name())?;
        match self {
            Guard::ProtectedNamespace(ns) => write!(f, "namespace {ns} is protected"),
            Guard::SelfTarget(what) => write!(f, "target is the sensor itself ({what})"),
            Guard::HostProcess => {
                f.write_str("target is a host process and response.allow_host is false")
            }
            Guard::Cooldown { key, remaining } => write!(
                f,
                "already responded to {key}; cooldown ends in {}s",
                remaining.as_secs()
            ),
            Guard::RateLimit => f.write_str("global response rate limit reached"),
            Guard::QueueFull(cap) => write!(f, "response queue full ({cap} pending)"),
            Guard::NotApplicable(why) => f.write_str(why),
            Guard::ManualDisabled => {
                f.write_str("manual actions are disabled (response.allow_manual: false)")
            }
        }
    }
}

/// Who the sensor is, so it never acts on itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfIdentity {
    /// The sensor's pid and every ancestor up to init (host pid namespace).
    pub pids: Vec<i64>,
    /// The sensor's own container id(s) (full ids), when it runs in one.
    pub container_ids: Vec<String>,
    /// The sensor's own pod (namespace, name), from the downward API.
    pub pod: Option<(String, String)>,
    /// The sensor's namespace; it is always protected.
    pub namespace: Option<String>,
}

impl SelfIdentity {
    /// Reads the own pid chain from /proc, the own container id from
    /// /proc/self/cgroup, and pod/namespace from `POD_NAME` / `POD_NAMESPACE`
    /// (set by the DaemonSet through the downward API).
    pub fn detect() -> SelfIdentity {
        let pids = ancestry(std::process::id() as i64);
        let container_ids = std::fs::read_to_string("/proc/self/cgroup")
            .map(|s| container_ids_in_cgroup(&s))
            .unwrap_or_default();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let namespace = env("POD_NAMESPACE");
        let pod = match (&namespace, env("POD_NAME")) {
            (Some(ns), Some(name)) => Some((ns.clone(), name)),
            _ => None,
        };
        SelfIdentity {
            pids,
            container_ids,
            pod,
            namespace,
        }
    }

    /// The reason `target` is the sensor itself, if it is.
    pub fn matches(&self, target: &Target) -> Option<String> {
        if target.pid > 0 && self.pids.contains(&target.pid) {
            return Some(format!("pid {} is the sensor or its ancestor", target.pid));
        }
        if let Some(c) = &target.container_id
            && self
                .container_ids
                .iter()
                .any(|own| own == c || (c.len() >= 12 && own.starts_with(c.as_str())))
        {
            return Some(format!("container {c} is the sensor's"));
        }
        if let (Some(p), Some((ns, name))) = (&target.pod, &self.pod)
            && &p.namespace == ns
            && &p.name == name
        {
            return Some(format!("pod {ns}/{name} is the sensor's"));
        }
        None
    }
}

/// `pid` and its ancestors (by /proc/<pid>/stat ppid), nearest first.
fn ancestry(pid: i64) -> Vec<i64> {
    let mut chain = vec![pid];
    let mut cur = pid;
    while cur > 1 && chain.len() < 4096 {
        let Some(ppid) = std::fs::read_to_string(format!("/proc/{cur}/stat"))
            .ok()
            .and_then(|s| parse_stat(&s).map(|st| st.ppid))
        else {
            break;
        };
        if ppid <= 0 || chain.contains(&ppid) {
            break;
        }
        chain.push(ppid);
        cur = ppid;
    }
    chain
}

/// 64-hex-digit tokens in /proc/self/cgroup lines (containerd, cri-o, docker
/// all put the container id in the last path element).
fn container_ids_in_cgroup(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for token in text.split(|c: char| !c.is_ascii_hexdigit()) {
        if token.len() == 64 && !ids.iter().any(|i| i == token) {
            ids.push(token.to_string());
        }
    }
    ids
}

/// The fields of /proc/<pid>/stat the responder uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub comm: String,
    pub ppid: i64,
    /// Field 22: start time in clock ticks since boot.
    pub start_ticks: u64,
}

/// Parses /proc/<pid>/stat. The comm is between the first '(' and the last
/// ')' since it may itself contain spaces and parentheses.
pub fn parse_stat(s: &str) -> Option<ProcStat> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = s.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state), so field N is rest[N - 3].
    let ppid = rest.get(1)?.parse().ok()?;
    let start_ticks = rest.get(19)?.parse().ok()?;
    Some(ProcStat {
        comm,
        ppid,
        start_ticks,
    })
}

/// Last response time per target; entries older than the cooldown are pruned
/// when the map grows, so an alert storm over many pods stays bounded.
#[derive(Debug)]
pub struct Cooldowns {
    period: Duration,
    last: HashMap<String, Instant>,
}

impl Cooldowns {
    const PRUNE_AT: usize = 16_384;

    pub fn new(period: Duration) -> Self {
        Cooldowns {
            period,
            last: HashMap::new(),
        }
    }

    /// `Some(remaining)` when `key` was responded to less than a period ago.
    pub fn remaining(&self, key: &str, now: Instant) -> Option<Duration> {
        let at = self.last.get(key)?;
        let elapsed = now.saturating_duration_since(*at);
        (elapsed < self.period).then(|| self.period - elapsed)
    }

    pub fn mark(&mut self, key: String, now: Instant) {
        if self.last.len() >= Self::PRUNE_AT {
            let period = self.period;
            self.last
                .retain(|_, at| now.saturating_duration_since(*at) < period);
        }
        self.last.insert(key, now);
    }
}

/// Token bucket for the global rate limit.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn new(burst: u32, per_minute: f64, now: Instant) -> Self {
        TokenBucket {
            capacity: f64::from(burst),
            per_second: per_minute / 60.0,
            tokens: f64::from(burst),
            updated: now,
        }
    }

    /// Takes one token if available.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back a token taken for a response that was not queued after all.
    pub fn refund(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors
mod tests {
    use super::*;
    use crate::respond::target::PodRef;

    fn target(pid: i64, container: Option<&str>, pod: Option<(&str, &str)>) -> Target {
        Target {
            pid,
            process_name: "x".into(),
            event_time_ns: 0,
            container_id: container.map(str::to_string),
            pod: pod.map(|(ns, n)| PodRef {
                namespace: ns.into(),
                name: n.into(),
                uid: String::new(),
            }),
            forwarded: false,
        }
    }

    #[test]
    fn stat_parsing_handles_odd_comms() {
        let line = "1234 (a) b (c)) S 99 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 555666 1000 10 18446744073709551615";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.comm, "a) b (c)");
        assert_eq!(st.ppid, 99);
        assert_eq!(st.start_ticks, 555666);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_identity_is_detected() {
        let me = SelfIdentity::detect();
        assert_eq!(me.pids[0], std::process::id() as i64);
        assert!(me.pids.len() >= 2, "parent must be found: {:?}", me.pids);
        let parent = me.pids[1];
        assert!(me.matches(&target(parent, None, None)).is_some());
        assert_eq!(me.matches(&target(i64::from(i32::MAX), None, None)), None);
    }

    #[test]
    fn own_container_and_pod_are_recognised() {
        let full = "ab".repeat(32);
        let me = SelfIdentity {
            pids: vec![10],
            container_ids: container_ids_in_cgroup(&format!(
                "0::/kubepods/besteffort/pod1/cri-containerd-{full}.scope\n"
            )),
            pod: Some(("falco-sensor".into(), "falco-sensor-x1".into())),
            namespace: Some("falco-sensor".into()),
        };
        assert_eq!(me.container_ids, vec![full.clone()]);
        assert!(me.matches(&target(5, Some(&full), None)).is_some());
        assert!(me.matches(&target(5, Some(&full[..12]), None)).is_some());
        assert!(
            me.matches(&target(
                5,
                Some("c"),
                Some(("falco-sensor", "falco-sensor-x1"))
            ))
            .is_some()
        );
        assert!(
            me.matches(&target(5, Some("c"), Some(("falco-sensor", "other"))))
                .is_none()
        );
    }

    #[test]
    fn cooldown_expires() {
        let t0 = Instant::now();
        let mut c = Cooldowns::new(Duration::from_secs(60));
        assert_eq!(c.remaining("k", t0), None);
        c.mark("k".into(), t0);
        assert_eq!(
            c.remaining("k", t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(c.remaining("k", t0 + Duration::from_secs(60)), None);
        assert_eq!(c.remaining("other", t0), None);
    }

    #[test]
    fn token_bucket_bursts_then_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 60.0, t0);
        assert!((0..3).all(|_| b.try_take(t0)));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_millis(500)));
        assert!(b.try_take(t0 + Duration::from_millis(1000)));
        assert!(!b.try_take(t0 + Duration::from_millis(1000)));
        // Refill is capped at the burst.
        let later = t0 + Duration::from_secs(3600);
        assert!((0..3).all(|_| b.try_take(later)));
        assert!(!b.try_take(later));
    }

    #[test]
    fn guard_details_start_with_the_guard_name() {
        let g = Guard::Cooldown {
            key: "pod:a/b".into(),
            remaining: Duration::from_secs(3),
        };
        assert!(g.to_string().starts_with("cooldown: "));
        assert!(
            Guard::ProtectedNamespace("kube-system".into())
                .to_string()
                .starts_with("protected-namespace: ")
        );
    }
}
