//! Discord webhook: one message per alert (or aggregated group) with an
//! embed coloured by priority, the output as description and the key fields.
//!
//! Event data is untrusted: `allowed_mentions: {parse: []}` means nothing in
//! the message can ping anyone, and every event-derived text is markdown-
//! escaped (chat::escape_markdown), so `@everyone`, `<@id>`, `<#id>`,
//! `**bold**`, masked links and URLs show as literal text. Discord's limits
//! are kept: content <= 2,000, title <= 256, description <= 4,096, field
//! value <= 1,024, <= 25 fields and <= 6,000 for the embed as a whole; text
//! over a limit is cut with a visible marker.

use super::SinkError;
use super::aggregate::Item;
use super::chat::{fit, post_respecting_retry_after, units};
use super::format::{aggregate_suffix, rfc3339_ns};
use super::forward::{Encoder, Payload};
use super::http::{HttpClient, HttpTarget, PostOutcome, header_map, parse_uri};
use crate::config::DiscordConfig;
use falco_proto::v1::Priority;
use serde_json::{Value, json};
use std::time::Duration;

pub const CONTENT_MAX: usize = 2_000;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4_096;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1_024;
pub const FIELDS_MAX: usize = 25;
pub const EMBED_TOTAL_MAX: usize = 6_000;
const FOOTER: &str = "falco-sensor";

pub struct DiscordEncoder {
    username: String,
    avatar_url: String,
    retry_after_cap: Duration,
}

impl DiscordEncoder {
    pub fn new(cfg: &DiscordConfig) -> Self {
        DiscordEncoder {
            username: cfg.username.chars().take(80).collect(),
            avatar_url: cfg.avatar_url.clone(),
            retry_after_cap: Duration::from_millis(cfg.forward.backoff_max_ms.max(1)),
        }
    }

    pub fn message(&self, item: &Item) -> Value {
        let a = &item.alert;
        let p = a.priority();
        let title = fit(&format!("{} {}", p.falco_name(), a.rule), TITLE_MAX);
        let mut output = a.output.clone();
        if item.count > 1 {
            output.push_str(&aggregate_suffix(item));
        }
        // The description gets at most half of the embed budget; fields share the rest.
        let description = fit(&output, DESCRIPTION_MAX.min(EMBED_TOTAL_MAX / 2));
        let mut budget =
            EMBED_TOTAL_MAX.saturating_sub(units(&title) + units(&description) + units(FOOTER));
        let mut fields = Vec::new();
        for (name, value) in field_list(item) {
            if fields.len() == FIELDS_MAX {
                break;
            }
            let name = fit(&name, FIELD_NAME_MAX);
            let room = budget.saturating_sub(units(&name));
            if room < 16 {
                break;
            }
            let value = fit(&value, FIELD_VALUE_MAX.min(room));
            budget = budget.saturating_sub(units(&name) + units(&value));
            fields.push(json!({"name": name, "value": value, "inline": true}));
        }
        let mut msg = json!({
            "content": fit(&format!("{}: {}", p.falco_name(), a.rule), CONTENT_MAX),
            // Nothing in this message may notify anyone.
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": title,
                "description": description,
                "color": color(p),
                "fields": fields,
                "timestamp": rfc3339_ns(a.time_ns),
                "footer": {"text": FOOTER},
            }],
        });
        if let Some(o) = msg.as_object_mut() {
            if !self.username.is_empty() {
                o.insert("username".into(), json!(self.username));
            }
            if !self.avatar_url.is_empty() {
                o.insert("avatar_url".into(), json!(self.avatar_url));
            }
        }
        msg
    }
}

/// (name, raw value) pairs: rule facts, key fields, then the other output fields.
fn field_list(item: &Item) -> Vec<(String, String)> {
    let a = &item.alert;
    let mut out = vec![
        ("rule".to_string(), a.rule.clone()),
        (
            "priority".to_string(),
            a.priority().falco_name().to_string(),
        ),
        ("hostname".to_string(), a.hostname.clone()),
    ];
    super::chat::push_alert_fields(a, &mut out);
    out
}

impl Encoder for DiscordEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        batch
            .iter()
            .map(|item| Payload {
                body: self.message(item).to_string().into(),
                alerts: item.count,
            })
            .collect()
    }

    fn send(
        &self,
        client: &HttpClient,
        target: &HttpTarget,
        payload: &Payload,
    ) -> impl Future<Output = PostOutcome> + Send {
        post_respecting_retry_after(client, target, payload.body.clone(), self.retry_after_cap)
    }
}

/// Embed colour (RGB integer) by priority.
fn color(p: Priority) -> u32 {
    match p {
        Priority::Emergency => 0xe2_0b_0b,
        Priority::Alert => 0xff_54_00,
        Priority::Critical => 0xff_90_00,
        Priority::Error => 0xff_c7_00,
        Priority::Warning => 0xff_ff_00,
        Priority::Notice => 0x5b_ff_b5,
        Priority::Informational => 0x68_c2_ff,
        Priority::Debug | Priority::Unspecified => 0xcc_ff_f2,
    }
}

pub fn target(cfg: &DiscordConfig) -> Result<HttpTarget, SinkError> {
    check_url("outputs.discord.webhook_url", &cfg.webhook_url)?;
    Ok(HttpTarget {
        uri: parse_uri("outputs.discord.webhook_url", &cfg.webhook_url)?,
        headers: header_map(
            "outputs.discord",
            [("content-type".to_string(), "application/json".to_string())],
        )?,
        timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
    })
}

pub(super) fn check_url(key: &str, url: &str) -> Result<(), SinkError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(());
    }
    Err(SinkError::Config {
        key: key.to_string(),
        message: format!("{url:?} is not an http:// or https:// URL"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::chat::escape_markdown;
    use super::*;
    use falco_proto::v1::Alert;
    use std::sync::Arc;

    fn embed_total(e: &Value) -> usize {
        let s = |v: &Value| units(v.as_str().unwrap_or(""));
        s(&e["title"])
            + s(&e["description"])
            + s(&e["footer"]["text"])
            + e["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| s(&f["name"]) + s(&f["value"]))
                .sum::<usize>()
    }

    #[test]
    fn huge_alerts_stay_within_every_discord_limit() {
        let big = "é*".repeat(5_000);
        let fields = (0..60)
            .map(|i| (format!("evt.arg.{i}"), big.clone()))
            .collect();
        let a = Alert {
            rule: big.clone(),
            output: big.clone(),
            priority: Priority::Critical as i32,
            output_fields: fields,
            ..Default::default()
        };
        let enc = DiscordEncoder::new(&DiscordConfig::default());
        let m = enc.message(&Item::single(Arc::new(a)));
        assert!(units(m["content"].as_str().unwrap()) <= CONTENT_MAX);
        let e = &m["embeds"][0];
        assert!(units(e["title"].as_str().unwrap()) <= TITLE_MAX);
        assert!(units(e["description"].as_str().unwrap()) <= DESCRIPTION_MAX);
        let fields = e["fields"].as_array().unwrap();
        assert!(fields.len() <= FIELDS_MAX && !fields.is_empty());
        for f in fields {
            assert!(units(f["value"].as_str().unwrap()) <= FIELD_VALUE_MAX);
        }
        assert!(embed_total(e) <= EMBED_TOTAL_MAX, "{}", embed_total(e));
        assert!(
            e["description"]
                .as_str()
                .unwrap()
                .ends_with(super::super::chat::TRUNCATED)
        );
        assert_eq!(e["color"], 0xff9000);
        assert_eq!(m["allowed_mentions"]["parse"], json!([]));
    }

    #[test]
    fn event_markdown_and_mentions_are_escaped() {
        let a = Alert {
            rule: "r".into(),
            output: "@everyone <@123> **x**".into(),
            ..Default::default()
        };
        let m = DiscordEncoder::new(&DiscordConfig::default()).message(&Item::single(Arc::new(a)));
        assert_eq!(
            m["embeds"][0]["description"],
            escape_markdown("@everyone <@123> **x**")
        );
        assert_eq!(
            m["embeds"][0]["description"],
            "\\@everyone \\<\\@123\\> \\*\\*x\\*\\*"
        );
    }
}
