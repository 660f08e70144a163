//! Microsoft Teams through a Workflows webhook ("When a Teams webhook request
//! is received" → post card): one message per alert (or aggregated group),
//! an Adaptive Card 1.4 attachment with a title coloured by priority, the
//! output, and the fields as a FactSet.
//!
//! Event data is inert: TextBlock and FactSet text render Teams' markdown, so
//! everything event-derived in them is markdown-escaped
//! (chat::escape_markdown); the output goes into a RichTextBlock TextRun,
//! which Adaptive Cards never interpret as markdown, with control characters
//! made visible. Nothing carries `msteams.entities`, so no `<at>` can mention.

use super::SinkError;
use super::aggregate::Item;
use super::chat::{fit, post_respecting_retry_after};
use super::discord::check_url;
use super::format::{aggregate_suffix, field, rfc3339_ns, sanitize_terminal};
use super::forward::{Encoder, Payload};
use super::http::{HttpClient, HttpTarget, PostOutcome, header_map, parse_uri};
use crate::config::TeamsConfig;
use falco_proto::v1::Priority;
use serde_json::{Value, json};
use std::time::Duration;

/// Teams refuses messages over ~28 KB; these keep a card well below.
const OUTPUT_MAX: usize = 4_000;
const FACT_MAX: usize = 1_000;
const FACTS_MAX: usize = 20;

const KEY_FIELDS: &[&str] = &[
    "proc.cmdline",
    "user.name",
    "container.name",
    "container.image.repository",
    "k8s.ns.name",
    "k8s.pod.name",
    "fd.name",
];

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
        let mut output = sanitize_terminal(&a.output);
        if item.count > 1 {
            output.push_str(&aggregate_suffix(item));
        }
        if output.chars().count() > OUTPUT_MAX {
            output = output.chars().take(OUTPUT_MAX).collect();
            output.push_str(super::chat::TRUNCATED);
        }
        let mut facts = vec![
            fact("priority", p.falco_name()),
            fact("time", &rfc3339_ns(a.time_ns)),
            fact("hostname", &a.hostname),
        ];
        if !a.cluster.is_empty() {
            facts.push(fact("cluster", &a.cluster));
        }
        if !a.tags.is_empty() {
            facts.push(fact("tags", &a.tags.join(", ")));
        }
        for name in KEY_FIELDS {
            if let Some(v) = field(a, name) {
                facts.push(fact(name, v));
            }
        }
        let mut rest: Vec<_> = a
            .output_fields
            .iter()
            .filter(|(k, v)| {
                !KEY_FIELDS.contains(&k.as_str()) && v.as_str() != "<NA>" && !v.is_empty()
            })
            .collect();
        rest.sort();
        facts.extend(rest.into_iter().map(|(k, v)| fact(k, v)));
        facts.truncate(FACTS_MAX);
        let card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": [
                {
                    "type": "TextBlock",
                    "text": fit(&format!("{} {}", p.falco_name(), a.rule), 400),
                    "weight": "Bolder",
                    "size": "Medium",
                    "color": color(p),
                    "wrap": true,
                },
                {
                    "type": "RichTextBlock",
                    "inlines": [{"type": "TextRun", "text": output}],
                },
                {"type": "FactSet", "facts": facts},
            ],
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

fn fact(title: &str, value: &str) -> Value {
    json!({"title": fit(title, 200), "value": fit(value, FACT_MAX)})
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
