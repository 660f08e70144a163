//! Noise control: identical alerts (same key) inside a window leave as one
//! item carrying the count and the first/last event times.

use super::format::field;
use falco_proto::v1::Alert;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::time::{Duration, Instant};

/// What a forwarder sends: an alert, and how many identical ones it stands for.
#[derive(Debug, Clone)]
pub struct Item {
    /// The first alert of the window (its seq, output and fields).
    pub alert: Arc<Alert>,
    pub count: u64,
    pub first_ns: i64,
    pub last_ns: i64,
}

impl Item {
    pub fn single(alert: Arc<Alert>) -> Item {
        let t = alert.time_ns;
        Item {
            alert,
            count: 1,
            first_ns: t,
            last_ns: t,
        }
    }
}

pub struct Aggregator {
    window: Duration,
    key: Vec<String>,
    open: HashMap<String, Item>,
    /// Window ends in arrival order (windows all have the same length), with
    /// the origin (disk-buffer position) of each window's first alert.
    deadlines: VecDeque<(Instant, String, u64)>,
}

impl Aggregator {
    pub fn new(window: Duration, key: Vec<String>) -> Aggregator {
        Aggregator {
            window,
            key,
            open: HashMap::new(),
            deadlines: VecDeque::new(),
        }
    }

    fn key_of(&self, a: &Alert) -> String {
        let mut k = String::new();
        for name in &self.key {
            let v = match name.as_str() {
                "rule" => a.rule.as_str(),
                "priority" => a.priority().falco_name(),
                "hostname" => a.hostname.as_str(),
                "source" => a.source.as_str(),
                "cluster" => a.cluster.as_str(),
                other => field(a, other).unwrap_or(""),
            };
            k.push_str(v);
            k.push('\u{1f}');
        }
        k
    }

    pub fn add(&mut self, alert: Arc<Alert>, now: Instant) {
        self.add_from(alert, now, 0);
    }

    /// `add`, remembering where the alert came from (its disk-buffer
    /// position), so the buffer is not acknowledged past an open window.
    pub fn add_from(&mut self, alert: Arc<Alert>, now: Instant, origin: u64) {
        let key = self.key_of(&alert);
        if let Some(item) = self.open.get_mut(&key) {
            item.count += 1;
            item.first_ns = item.first_ns.min(alert.time_ns);
            item.last_ns = item.last_ns.max(alert.time_ns);
            return;
        }
        self.deadlines
            .push_back((now + self.window, key.clone(), origin));
        self.open.insert(key, Item::single(alert));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|(d, _, _)| *d)
    }

    /// Origin of the oldest alert still held in an open window (origins
    /// grow in arrival order, so it is the first window's).
    pub fn oldest_origin(&self) -> Option<u64> {
        self.deadlines.front().map(|(_, _, o)| *o)
    }

    /// Items whose window has closed.
    pub fn take_due(&mut self, now: Instant) -> Vec<Item> {
        let mut out = Vec::new();
        while let Some((d, _, _)) = self.deadlines.front() {
            if *d > now {
                break;
            }
            if let Some((_, key, _)) = self.deadlines.pop_front()
                && let Some(item) = self.open.remove(&key)
            {
                out.push(item);
            }
        }
        out
    }

    /// Everything still open (shutdown).
    pub fn drain(&mut self) -> Vec<Item> {
        let mut out = Vec::new();
        while let Some((_, key, _)) = self.deadlines.pop_front() {
            if let Some(item) = self.open.remove(&key) {
                out.push(item);
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn alert(rule: &str, cmd: &str, t: i64) -> Arc<Alert> {
        Arc::new(Alert {
            rule: rule.into(),
            time_ns: t,
            output_fields: [("proc.cmdline".to_string(), cmd.to_string())].into(),
            ..Default::default()
        })
    }

    #[test]
    fn identical_alerts_in_a_window_become_one_item() {
        let start = Instant::now();
        let mut agg = Aggregator::new(
            Duration::from_secs(60),
            vec!["rule".into(), "proc.cmdline".into()],
        );
        for i in 0..37 {
            agg.add(alert("shell", "sh -i", 100 + i), start);
        }
        agg.add(alert("shell", "bash", 5), start);
        assert!(agg.take_due(start).is_empty());
        let due = agg.take_due(start + Duration::from_secs(61));
        assert_eq!(due.len(), 2);
        assert_eq!(
            (due[0].count, due[0].first_ns, due[0].last_ns),
            (37, 100, 136)
        );
        assert_eq!(due[1].count, 1);
        assert!(agg.next_deadline().is_none());
    }
}
