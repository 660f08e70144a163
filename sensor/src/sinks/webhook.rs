//! Generic webhook: one POST per alert with Falco's json_output body, so an
//! existing Falcosidekick can receive from the sensor.

use super::SinkError;
use super::aggregate::Item;
use super::format::falco_json;
use super::forward::{Encoder, Payload};
use super::http::{HttpTarget, header_map, parse_uri};
use crate::config::WebhookConfig;
use std::time::Duration;

pub struct WebhookEncoder;

impl Encoder for WebhookEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        batch
            .iter()
            .map(|item| Payload {
                body: falco_json(item).to_string().into(),
                alerts: item.count,
            })
            .collect()
    }
}

pub fn target(cfg: &WebhookConfig) -> Result<HttpTarget, SinkError> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    headers.extend(cfg.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(HttpTarget {
        uri: parse_uri("outputs.webhook.url", &cfg.url)?,
        headers: header_map("outputs.webhook", headers)?,
        timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
    })
}
