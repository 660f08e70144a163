//! What the state makes of source news: the sensors view's rows.

use super::State;
use crate::event::{SensorUpdate, SensorUpdateKind};
use falco_proto::v1::{GetStatsResponse, GetVersionResponse};

/// One sensor (or file) source as the sensors view shows it.
#[derive(Debug, Clone, Default)]
pub struct SensorStatus {
    pub name: String,
    pub state: String,
    pub error: Option<String>,
    pub version: Option<GetVersionResponse>,
    pub stats: Option<GetStatsResponse>,
    /// Events and alerts per second from the last two stats samples.
    pub event_rate: f64,
    pub alert_rate: f64,
    stats_at_ns: i64,
    /// Sensor clock minus ours at the last heartbeat, and how many alerts the
    /// sensor has assigned that we have not received yet.
    pub lag_ms: Option<i64>,
    pub backlog: Option<u64>,
    pub received: u64,
    pub last_seq: u64,
    pub gaps: Vec<String>,
}

impl State {
    pub(super) fn sensor_mut(&mut self, name: &str) -> &mut SensorStatus {
        let pos = match self.sensors.iter().position(|s| s.name == name) {
            Some(p) => p,
            None => {
                self.sensors.push(SensorStatus {
                    name: name.to_string(),
                    ..Default::default()
                });
                self.sensors.len() - 1
            }
        };
        &mut self.sensors[pos]
    }

    pub(super) fn on_sensor(&mut self, u: SensorUpdate) {
        let now = self.now_ns;
        let mut message = None;
        let s = self.sensor_mut(&u.source);
        match u.kind {
            SensorUpdateKind::Connecting { attempt } => {
                s.state = if attempt > 1 {
                    format!("reconnecting (#{attempt})")
                } else {
                    "connecting".into()
                };
            }
            SensorUpdateKind::Connected {
                version,
                resumed_from,
            } => {
                s.state = "connected".into();
                s.error = None;
                if resumed_from > 0 {
                    s.state = format!("connected (resumed after #{resumed_from})");
                }
                s.version = Some(*version);
            }
            SensorUpdateKind::Disconnected { error, retry_in_ms } => {
                s.state = format!("down, retry in {:.1}s", retry_in_ms as f64 / 1000.0);
                s.error = Some(error);
            }
            SensorUpdateKind::Gap {
                first,
                last,
                reason,
            } => {
                let text = format!("gap: alerts #{first}..#{last} lost ({reason})");
                message = Some(format!("{}: {text}", u.source));
                s.gaps.push(text);
            }
            SensorUpdateKind::Detached { reason } => {
                s.state = "detached, resuming".into();
                s.error = Some(reason);
            }
            SensorUpdateKind::Heartbeat { time_ns, last_seq } => {
                s.lag_ms = Some((now - time_ns) / 1_000_000);
                s.backlog = Some(last_seq.saturating_sub(s.last_seq));
            }
            SensorUpdateKind::Stats(st) => {
                if let Some(prev) = &s.stats {
                    let dt = (now - s.stats_at_ns) as f64 / 1e9;
                    if dt > 0.0 {
                        s.event_rate = st.events_seen.saturating_sub(prev.events_seen) as f64 / dt;
                        s.alert_rate = st.last_seq.saturating_sub(prev.last_seq) as f64 / dt;
                    }
                }
                s.stats_at_ns = now;
                s.stats = Some(*st);
            }
            SensorUpdateKind::Discovered { pods } => {
                if pods == 0 {
                    s.state = "found no sensor pods".into();
                    s.error = Some("no running sensor pods matched".into());
                } else {
                    s.state = format!("found {pods} sensor pod(s)");
                    s.error = None;
                }
            }
            SensorUpdateKind::FileLoaded { alerts, errors } => {
                s.state = format!("loaded {alerts} alerts");
                if let Some(first) = errors.first() {
                    s.error = Some(format!("{} bad line(s), first: {first}", errors.len()));
                    s.gaps = errors;
                }
            }
        }
        if message.is_some() {
            self.message = message;
        }
    }
}
