//! Per-rule statistics for the rules view, computed from the alerts in memory.

use crate::alert::AlertRecord;
use falco_proto::v1::Priority;
use rustc_hash::FxHashMap as FastMap;

const NS_PER_MIN: i64 = 60_000_000_000;
/// Buckets of the one-hour sparklines and timeline (one per minute).
pub const HOUR_BUCKETS: usize = 60;

#[derive(Debug, Clone, PartialEq)]
pub struct RuleStat {
    pub rule: String,
    pub priority: Priority,
    pub count: u64,
    /// Alerts per minute over the last 1, 5 and 60 minutes.
    pub rate_1m: f64,
    pub rate_5m: f64,
    pub rate_1h: f64,
    /// Alerts per minute over the last hour, oldest first.
    pub spark: Vec<u64>,
    pub top_namespaces: Vec<(String, u64)>,
    pub top_pods: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Most alerts first.
    pub rules: Vec<RuleStat>,
    /// Count per priority, most severe first.
    pub by_priority: Vec<(Priority, u64)>,
    /// All alerts per minute over the last hour, oldest first.
    pub timeline: Vec<u64>,
}

fn top(m: impl Iterator<Item = (String, u64)>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<_> = m.filter(|(k, _)| !k.is_empty()).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Minute bucket of `t` in the hour ending at `now`, if inside it.
fn bucket(now_ns: i64, t: i64) -> Option<usize> {
    let age = now_ns - t;
    if !(0..HOUR_BUCKETS as i64 * NS_PER_MIN).contains(&age) {
        return None;
    }
    Some(HOUR_BUCKETS - 1 - (age / NS_PER_MIN) as usize)
}

/// The clock rates are measured against: now for live data, or just after the
/// newest alert when everything is older than an hour (an opened file), so a
/// historical file still shows its rates and timeline.
pub fn reference_time(now_ns: i64, newest_ns: Option<i64>) -> i64 {
    match newest_ns {
        Some(t) if t < now_ns - HOUR_BUCKETS as i64 * NS_PER_MIN => t + 1,
        _ => now_ns,
    }
}

pub fn compute<'a>(alerts: impl Iterator<Item = &'a AlertRecord>, now_ns: i64) -> Stats {
    // Keys borrow from the alerts: no allocation per alert.
    struct Acc<'a> {
        priority: Priority,
        count: u64,
        m1: u64,
        m5: u64,
        spark: Vec<u64>,
        ns: FastMap<&'a str, u64>,
        pods: FastMap<(&'a str, &'a str), u64>,
    }
    let mut rules: FastMap<&'a str, Acc<'a>> = FastMap::default();
    let mut prio: FastMap<Priority, u64> = FastMap::default();
    let mut timeline = vec![0u64; HOUR_BUCKETS];
    for a in alerts {
        let p = a.priority();
        *prio.entry(p).or_default() += 1;
        let acc = rules.entry(a.rule.as_str()).or_insert_with(|| Acc {
            priority: p,
            count: 0,
            m1: 0,
            m5: 0,
            spark: vec![0; HOUR_BUCKETS],
            ns: FastMap::default(),
            pods: FastMap::default(),
        });
        if p.severity() > acc.priority.severity() {
            acc.priority = p;
        }
        acc.count += 1;
        let age = now_ns - a.time_ns;
        if (0..NS_PER_MIN).contains(&age) {
            acc.m1 += 1;
        }
        if (0..5 * NS_PER_MIN).contains(&age) {
            acc.m5 += 1;
        }
        if let Some(b) = bucket(now_ns, a.time_ns) {
            acc.spark[b] += 1;
            timeline[b] += 1;
        }
        *acc.ns.entry(a.namespace.as_str()).or_default() += 1;
        if !a.pod.is_empty() {
            *acc.pods
                .entry((a.namespace.as_str(), a.pod.as_str()))
                .or_default() += 1;
        }
    }
    let mut rules: Vec<RuleStat> = rules
        .into_iter()
        .map(|(rule, a)| RuleStat {
            rule: rule.to_string(),
            priority: a.priority,
            count: a.count,
            rate_1m: a.m1 as f64,
            rate_5m: a.m5 as f64 / 5.0,
            rate_1h: a.spark.iter().sum::<u64>() as f64 / 60.0,
            spark: a.spark,
            top_namespaces: top(a.ns.into_iter().map(|(k, v)| (k.to_string(), v)), 3),
            top_pods: top(
                a.pods
                    .into_iter()
                    .map(|((n, p), v)| (format!("{n}/{p}"), v)),
                3,
            ),
        })
        .collect();
    rules.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));
    let by_priority = Priority::all()
        .into_iter()
        .map(|p| (p, prio.get(&p).copied().unwrap_or(0)))
        .collect();
    Stats {
        rules,
        by_priority,
        timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(rule: &str, prio: Priority, age_s: i64, ns: &str) -> AlertRecord {
        AlertRecord {
            rule: rule.into(),
            priority: prio as i32,
            time_ns: 10_000 * 1_000_000_000 - age_s * 1_000_000_000,
            namespace: ns.into(),
            pod: "p".into(),
            ..Default::default()
        }
    }

    #[test]
    fn reference_time_follows_old_data() {
        let now = 100 * NS_PER_MIN;
        assert_eq!(reference_time(now, None), now);
        assert_eq!(reference_time(now, Some(now - NS_PER_MIN)), now);
        assert_eq!(
            reference_time(now, Some(10 * NS_PER_MIN)),
            10 * NS_PER_MIN + 1
        );
    }

    #[test]
    fn rates_buckets_and_tops() {
        let now = 10_000 * 1_000_000_000;
        let alerts = [
            a("A", Priority::Warning, 10, "x"),
            a("A", Priority::Critical, 200, "x"),
            a("A", Priority::Warning, 3000, "y"),
            a("A", Priority::Warning, 7200, "y"),
            a("B", Priority::Notice, 30, "z"),
        ];
        let s = compute(alerts.iter(), now);
        assert_eq!(s.rules[0].rule, "A");
        let r = &s.rules[0];
        assert_eq!(r.count, 4);
        assert_eq!(r.priority, Priority::Critical);
        assert_eq!(r.rate_1m, 1.0);
        assert_eq!(r.rate_5m, 2.0 / 5.0);
        assert_eq!(r.rate_1h, 3.0 / 60.0);
        assert_eq!(r.spark[59], 1);
        assert_eq!(r.spark[56], 1);
        assert_eq!(r.top_namespaces[0], ("x".to_string(), 2));
        assert_eq!(s.timeline.iter().sum::<u64>(), 4);
        assert_eq!(s.by_priority[2], (Priority::Critical, 1));
    }
}
