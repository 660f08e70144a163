//! Microsoft Teams through a Workflows webhook ("When a Teams webhook request
//! is received" → post card): one message per alert (or aggregated group),
//! an Adaptive Card 1.4 attachment with a title coloured by priority, the
//! output, and one line per field.
//!
//! Event data is inert by construction: Teams renders markdown in TextBlock
//! and FactSet text, so the card has neither; every text is a TextRun inside
//! a RichTextBlock, which the Adaptive Cards schema defines as plain text
//! ("Markdown is not supported"), with control characters made visible. No
//! `msteams.entities` are sent, so no `<at>` can mention, and Adaptive Cards
//! render no HTML.

use super::SinkError;
use super::aggregate::Item;
use super::chat::{TRUNCATED, post_respecting_retry_after};
use super::discord::check_url;
use super::format::{aggregate_suffix, rfc3339_ns, sanitize_terminal};
use super::forward::{Encoder, Payload};
use super::http::{HttpClient, HttpTarget, PostOutcome, header_map, parse_uri};
use crate::config::TeamsConfig;
use falco_proto::v1::Priority;
use serde_json::{Value, json};
use std::time::Duration;

/// Teams refuses messages over ~28 KB; these keep a card well below.
const OUTPUT_MAX: usize = 4_000;
const FIELD_MAX: usize = 1_000;
const FIELDS_MAX: usize = 20;

pub struct TeamsEncoder {
    retry_after_cap: Duration,
}

impl TeamsEncoder {
    pub fn new(cfg: &TeamsConfig) -> Self {
        TeamsEncoder {
            retry_after_cap: Duration::from_millis(cfg.forward.backoff_max_ms.max(1)),
        }
    }

    pub fn message(&self, item: &Item) -> Value {
        let a = &item.alert;
        let p = a.priority();
        let mut output = a.output.clone();
        if item.count > 1 {
            output.push_str(&aggregate_suffix(item));
        }
        let mut body = vec![
            json!({
                "type": "RichTextBlock",
                "inlines": [{
                    "type": "TextRun",
                    "text": plain(&format!("{} {}", p.falco_name(), a.rule), 400),
                    "weight": "Bolder",
                    "size": "Medium",
                    "color": color(p),
                }],
            }),
            json!({
                "type": "RichTextBlock",
                "inlines": [{"type": "TextRun", "text": plain(&output, OUTPUT_MAX)}],
            }),
        ];
        for (name, value) in field_list(item) {
            body.push(json!({
                "type": "RichTextBlock",
                "spacing": "None",
                "inlines": [
                    {"type": "TextRun", "text": format!("{}: ", plain(&name, 200)), "weight": "Bolder"},
                    {"type": "TextRun", "text": plain(&value, FIELD_MAX), "fontType": "Monospace"},
                ],
            }));
        }
        let card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": body,
        });
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        })
    }
}

/// (name, raw value): alert facts, key fields, then the other output fields.
fn field_list(item: &Item) -> Vec<(String, String)> {
    let a = &item.alert;
    let mut fields = vec![
        (
            "priority".to_string(),
            a.priority().falco_name().to_string(),
        ),
        ("time".to_string(), rfc3339_ns(a.time_ns)),
        ("hostname".to_string(), a.hostname.clone()),
    ];
    super::chat::push_alert_fields(a, &mut fields);
    fields.truncate(FIELDS_MAX);
    fields
}

/// Plain text for a TextRun: control characters visible, at most `max`
/// characters, then the truncation marker.
fn plain(s: &str, max: usize) -> String {
    let s = sanitize_terminal(s);
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str(TRUNCATED);
    out
}

/// Adaptive Card text colours.
fn color(p: Priority) -> &'static str {
    match p {
        Priority::Emergency | Priority::Alert | Priority::Critical | Priority::Error => "Attention",
        Priority::Warning => "Warning",
        Priority::Notice => "Good",
        Priority::Informational | Priority::Debug | Priority::Unspecified => "Accent",
    }
}

impl Encoder for TeamsEncoder {
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

pub fn target(cfg: &TeamsConfig) -> Result<HttpTarget, SinkError> {
    check_url("outputs.teams.webhook_url", &cfg.webhook_url)?;
    Ok(HttpTarget {
        uri: parse_uri("outputs.teams.webhook_url", &cfg.webhook_url)?,
        headers: header_map(
            "outputs.teams",
            [("content-type".to_string(), "application/json".to_string())],
        )?,
        timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
    })
}
