//! Slack incoming webhook: one priority-colored attachment per alert (or per
//! aggregated group). Event data is escaped so it cannot inject markup,
//! links or mentions: `&<>` are entity-encoded (which defuses `<!channel>`,
//! `<@U…>` and `<url|text>`), `@` gets a zero-width joiner so plain
//! `@here` cannot notify, and mrkdwn is off for every event-derived text.

use super::SinkError;
use super::aggregate::Item;
use super::format::{aggregate_suffix, field};
use super::forward::{Encoder, Payload};
use super::http::{HttpTarget, header_map, parse_uri};
use super::template::Template;
use crate::config::SlackConfig;
use falco_proto::v1::Priority;
use serde_json::{Value, json};
use std::time::Duration;

/// Output fields shown as attachment fields when present.
const KEY_FIELDS: &[&str] = &[
    "proc.cmdline",
    "user.name",
    "container.name",
    "container.image.repository",
    "k8s.ns.name",
    "k8s.pod.name",
    "fd.name",
];

pub struct SlackEncoder {
    channel: String,
    username: String,
    /// `outputs.slack.template`: replaces the alert's output as the text.
    template: Option<Template>,
}

impl SlackEncoder {
    pub fn new(cfg: &SlackConfig) -> Result<Self, SinkError> {
        let template = if cfg.template.is_empty() {
            None
        } else {
            Some(
                Template::parse(&cfg.template).map_err(|message| SinkError::Config {
                    key: "outputs.slack.template".into(),
                    message,
                })?,
            )
        };
        Ok(SlackEncoder {
            channel: cfg.channel.clone(),
            username: cfg.username.clone(),
            template,
        })
    }

    fn message(&self, item: &Item) -> Value {
        let a = &item.alert;
        let p = a.priority();
        let mut fields = vec![
            json!({"title": "rule", "value": escape(&a.rule), "short": true}),
            json!({"title": "priority", "value": p.falco_name(), "short": true}),
            json!({"title": "hostname", "value": escape(&a.hostname), "short": true}),
        ];
        if !a.cluster.is_empty() {
            fields.push(json!({"title": "cluster", "value": escape(&a.cluster), "short": true}));
        }
        for name in KEY_FIELDS {
            if let Some(v) = field(a, name) {
                fields.push(json!({"title": name, "value": escape(v), "short": true}));
            }
        }
        let mut text = match &self.template {
            Some(t) => t.render(item, escape),
            None => escape(&a.output),
        };
        if item.count > 1 {
            text.push_str(&aggregate_suffix(item));
        }
        let mut msg = json!({
            "text": format!("{} {}", p.falco_name(), escape(&a.rule)),
            "mrkdwn": false,
            "attachments": [{
                "fallback": text,
                "color": color(p),
                "text": text,
                "fields": fields,
                "mrkdwn_in": [],
                "footer": "falco-sensor",
                "ts": a.time_ns / 1_000_000_000,
            }],
        });
        if let Some(o) = msg.as_object_mut() {
            if !self.channel.is_empty() {
                o.insert("channel".into(), json!(self.channel));
            }
            if !self.username.is_empty() {
                o.insert("username".into(), json!(self.username));
            }
        }
        msg
    }
}

impl Encoder for SlackEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        batch
            .iter()
            .map(|item| Payload {
                body: self.message(item).to_string().into(),
                alerts: item.count,
            })
            .collect()
    }
}

/// Slack's escaping plus mention defusing; see the module comment.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push_str("@\u{2060}"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn color(p: Priority) -> &'static str {
    match p {
        Priority::Emergency => "#e20b0b",
        Priority::Alert => "#ff5400",
        Priority::Critical => "#ff9000",
        Priority::Error => "#ffc700",
        Priority::Warning => "#ffff00",
        Priority::Notice => "#5bffb5",
        Priority::Informational => "#68c2ff",
        Priority::Debug | Priority::Unspecified => "#ccfff2",
    }
}

pub fn target(cfg: &SlackConfig) -> Result<HttpTarget, SinkError> {
    Ok(HttpTarget {
        uri: parse_uri("outputs.slack.webhook_url", &cfg.webhook_url)?,
        headers: header_map(
            "outputs.slack",
            [("content-type".to_string(), "application/json".to_string())],
        )?,
        timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escape_defuses_markup_links_and_mentions() {
        let e = escape("<!channel> <https://evil|click> *bold* <@U123> @here a&b");
        assert!(!e.contains('<') && !e.contains('>'), "{e}");
        assert!(e.contains("&lt;!channel&gt;"));
        assert!(e.contains("&amp;"));
        assert!(!e.contains("@here"));
    }

    #[test]
    fn template_replaces_the_text_and_values_are_escaped() {
        let cfg = SlackConfig {
            template: "*%rule* on %k8s.pod.name: %proc.cmdline".into(),
            ..SlackConfig::default()
        };
        let enc = SlackEncoder::new(&cfg).unwrap();
        let item = Item::single(std::sync::Arc::new(falco_proto::v1::Alert {
            rule: "Shell".into(),
            priority: Priority::Critical as i32,
            output_fields: [("proc.cmdline".to_string(), "sh <!here>".to_string())].into(),
            ..Default::default()
        }));
        let msg = enc.message(&item);
        assert_eq!(
            msg["attachments"][0]["text"],
            "*Shell* on &lt;NA&gt;: sh &lt;!here&gt;"
        );
        let bad = SlackConfig {
            template: "50% off".into(),
            ..SlackConfig::default()
        };
        let err = SlackEncoder::new(&bad).err().unwrap().to_string();
        assert!(err.contains("outputs.slack.template"), "{err}");
    }
}
