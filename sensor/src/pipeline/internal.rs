//! Alerts the sensor raises about itself, shaped like rule alerts so every
//! sink and the console show them: dropped events and failed rule reloads.

use crate::rules::alert::MANDATORY_OUTPUT_FIELDS;
use falco_proto::v1::{Alert, ContainerContext, Priority};
use std::time::{SystemTime, UNIX_EPOCH};

/// Rule name of the drop alert (the name Falco uses, so existing routing works).
pub const DROP_RULE: &str = "Falco internal: syscall event drop";
/// Rule name of the failed-reload alert.
pub const RELOAD_FAILED_RULE: &str = "Falco internal: rules reload failed";

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn internal_alert(rule: &str, priority: Priority, output: String, extra: Vec<(&str, String)>) -> Alert {
    let mut fields: std::collections::HashMap<String, String> = MANDATORY_OUTPUT_FIELDS
        .iter()
        .map(|f| {
            let v = match *f {
                "container.id" | "container.name" => "host",
                _ => "<NA>",
            };
            ((*f).to_string(), v.to_string())
        })
        .collect();
    for (k, v) in extra {
        fields.insert(k.to_string(), v);
    }
    Alert {
        time_ns: now_ns(),
        priority: priority as i32,
        rule: rule.to_string(),
        output,
        source: "internal".to_string(),
        tags: vec!["falco_sensor_internal".to_string()],
        container: Some(ContainerContext {
            id: "host".to_string(),
            name: "host".to_string(),
            ..ContainerContext::default()
        }),
        output_fields: fields,
        ..Alert::default()
    }
}

/// Tracks drop counters between checks and says when to alert.
#[derive(Debug, Default)]
pub struct DropWatch {
    last_kernel: u64,
    last_userspace: u64,
}

impl DropWatch {
    /// Returns an alert when drops grew since the last call.
    pub fn check(&mut self, kernel: u64, userspace: u64, received: u64) -> Option<Alert> {
        let (dk, du) = (
            kernel.saturating_sub(self.last_kernel),
            userspace.saturating_sub(self.last_userspace),
        );
        self.last_kernel = kernel;
        self.last_userspace = userspace;
        if dk == 0 && du == 0 {
            return None;
        }
        Some(internal_alert(
            DROP_RULE,
            Priority::Warning,
            format!(
                "Events dropped since the last check (kernel ring buffer full: {dk}, userspace queue full: {du}; totals kernel={kernel} userspace={userspace} received={received}); detections may have been missed"
            ),
            vec![
                ("n_drops_kernel", dk.to_string()),
                ("n_drops_userspace", du.to_string()),
                ("n_evts", received.to_string()),
            ],
        ))
    }
}

/// The alert raised when a rules reload fails (the old rules keep running).
pub fn reload_failed(error: &str) -> Alert {
    internal_alert(
        RELOAD_FAILED_RULE,
        Priority::Error,
        format!("Rules reload failed, the previous rules keep running: {error}"),
        vec![("error", error.to_string())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_watch_alerts_only_on_growth() {
        let mut w = DropWatch::default();
        assert!(w.check(0, 0, 10).is_none());
        let a = w.check(5, 1, 100).expect("alert");
        assert_eq!(a.rule, DROP_RULE);
        assert_eq!(a.output_fields["n_drops_kernel"], "5");
        assert_eq!(a.output_fields["container.id"], "host");
        assert!(w.check(5, 1, 200).is_none());
    }

    #[test]
    fn reload_alert_carries_the_error_and_mandatory_fields() {
        let a = reload_failed("x.yaml:3:5: unknown field");
        assert_eq!(a.priority(), Priority::Error);
        assert!(a.output.contains("x.yaml:3:5"));
        for f in MANDATORY_OUTPUT_FIELDS {
            assert!(a.output_fields.contains_key(*f), "{f}");
        }
    }
}
