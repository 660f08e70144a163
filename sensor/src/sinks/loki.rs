//! Grafana Loki push API (`POST /loki/api/v1/push`, JSON). One stream per
//! distinct label set; the line is the Falco JSON alert, so
//! `{job="falco"} | json` works in Grafana.

use super::SinkError;
use super::aggregate::Item;
use super::format::{falco_json, field};
use super::forward::{Encoder, Payload};
use super::http::{HttpTarget, header_map, parse_uri};
use crate::config::LokiConfig;
use base64::Engine;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct LokiEncoder {
    labels: Vec<String>,
    extra: BTreeMap<String, String>,
}

impl LokiEncoder {
    pub fn new(cfg: &LokiConfig) -> Self {
        LokiEncoder {
            labels: cfg.labels.clone(),
            extra: cfg.extra_labels.clone(),
        }
    }

    fn labels_of(&self, item: &Item) -> BTreeMap<String, String> {
        let a = &item.alert;
        let mut out = self.extra.clone();
        for label in &self.labels {
            let value = match label.as_str() {
                "priority" => Some(a.priority().falco_name().to_string()),
                "rule" => Some(a.rule.clone()),
                "source" => Some(a.source.clone()),
                "hostname" => Some(a.hostname.clone()),
                "cluster" => Some(a.cluster.clone()),
                "k8s_ns_name" => field(a, "k8s.ns.name").map(str::to_string),
                "k8s_pod_name" => field(a, "k8s.pod.name").map(str::to_string),
                "container_name" => field(a, "container.name").map(str::to_string),
                "tags" => {
                    let mut tags = a.tags.clone();
                    tags.sort();
                    Some(tags.join(","))
                }
                _ => None,
            };
            // Loki ignores empty label values; leaving them out keeps streams stable.
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                out.insert(label.clone(), v);
            }
        }
        out
    }
}

impl Encoder for LokiEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        let mut streams: BTreeMap<BTreeMap<String, String>, Vec<serde_json::Value>> =
            BTreeMap::new();
        for item in batch {
            let line = falco_json(item).to_string();
            streams
                .entry(self.labels_of(item))
                .or_default()
                .push(json!([item.alert.time_ns.to_string(), line]));
        }
        let streams: Vec<_> = streams
            .into_iter()
            .map(|(stream, values)| json!({"stream": stream, "values": values}))
            .collect();
        vec![Payload {
            body: json!({ "streams": streams }).to_string().into(),
            alerts: batch.iter().map(|i| i.count).sum(),
        }]
    }
}

pub fn target(cfg: &LokiConfig) -> Result<HttpTarget, SinkError> {
    let url = format!("{}/loki/api/v1/push", cfg.url.trim_end_matches('/'));
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if !cfg.tenant.is_empty() {
        headers.push(("x-scope-orgid".to_string(), cfg.tenant.clone()));
    }
    if let Some(auth) = &cfg.basic_auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", auth.username, auth.password));
        headers.push(("authorization".to_string(), format!("Basic {token}")));
    }
    Ok(HttpTarget {
        uri: parse_uri("outputs.loki.url", &url)?,
        headers: header_map("outputs.loki", headers)?,
        timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
    })
}
