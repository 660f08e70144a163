//! Prometheus Alertmanager (`POST /api/v2/alerts`, a JSON array per batch).
//! Labels identify the alert (rule, priority, namespace, pod, cluster...),
//! so Alertmanager groups and deduplicates repeats; `endsAt` is set to now
//! plus `resolve_timeout_secs`, so an alert that stops firing resolves by
//! itself. With several URLs (an HA cluster) every batch goes to all of
//! them and counts as delivered when any accepts; the Alertmanagers
//! deduplicate by labels among themselves, so the receivers see one
//! notification.

use super::SinkError;
use super::aggregate::Item;
use super::format::{field, rfc3339_ns};
use super::forward::{Encoder, Payload, Transport};
use super::http::{HttpClient, HttpTarget, PostOutcome, header_map, parse_uri};
use crate::config::AlertmanagerConfig;
use bytes::Bytes;
use falco_proto::v1::Priority;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

pub struct AlertmanagerEncoder {
    resolve_timeout: Duration,
    extra_labels: BTreeMap<String, String>,
}

impl AlertmanagerEncoder {
    pub fn new(cfg: &AlertmanagerConfig) -> Self {
        AlertmanagerEncoder {
            resolve_timeout: Duration::from_secs(cfg.resolve_timeout_secs.max(1)),
            extra_labels: cfg.extra_labels.clone(),
        }
    }

    fn alert(&self, item: &Item, ends_at: &str) -> Value {
        let a = &item.alert;
        let mut labels: Map<String, Value> = self
            .extra_labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let p = a.priority();
        let ns = crate::bus::namespace_of(a);
        let pod = a
            .kubernetes
            .as_ref()
            .map(|k| k.pod_name.as_str())
            .filter(|p| !p.is_empty())
            .or_else(|| field(a, "k8s.pod.name"))
            .unwrap_or("");
        for (name, value) in [
            ("alertname", a.rule.as_str()),
            ("rule", a.rule.as_str()),
            ("priority", p.falco_name()),
            ("severity", severity(p)),
            ("source", a.source.as_str()),
            ("namespace", ns),
            ("pod", pod),
            ("cluster", a.cluster.as_str()),
            ("hostname", a.hostname.as_str()),
        ] {
            // Alertmanager treats an empty label as absent; leave it out.
            if !value.is_empty() {
                labels.insert(name.to_string(), json!(value));
            }
        }
        let mut annotations = json!({
            "summary": a.rule,
            "description": a.output,
            "tags": a.tags.join(","),
        });
        if item.count > 1
            && let Some(o) = annotations.as_object_mut()
        {
            o.insert("count".into(), json!(item.count.to_string()));
            o.insert("last_time".into(), json!(rfc3339_ns(item.last_ns)));
        }
        json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339_ns(item.first_ns),
            "endsAt": ends_at,
        })
    }
}

impl Encoder for AlertmanagerEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        let ends_at = chrono::Utc::now()
            + chrono::Duration::from_std(self.resolve_timeout).unwrap_or(chrono::Duration::MAX);
        let ends_at = ends_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let alerts: Vec<Value> = batch.iter().map(|i| self.alert(i, &ends_at)).collect();
        vec![Payload {
            body: Value::Array(alerts).to_string().into(),
            alerts: batch.iter().map(|i| i.count).sum(),
        }]
    }
}

/// Alertmanager's severity convention.
fn severity(p: Priority) -> &'static str {
    match p {
        Priority::Emergency | Priority::Alert | Priority::Critical => "critical",
        Priority::Error => "error",
        Priority::Warning => "warning",
        _ => "info",
    }
}

/// Every configured Alertmanager gets every batch.
pub struct FanOut {
    pub client: HttpClient,
    pub targets: Vec<HttpTarget>,
}

impl Transport for FanOut {
    async fn send(&self, body: Bytes) -> PostOutcome {
        let mut set = tokio::task::JoinSet::new();
        for t in &self.targets {
            let (client, target, body) = (self.client.clone(), t.clone(), body.clone());
            set.spawn(async move {
                let uri = target.uri.to_string();
                (uri, client.post(&target, body).await)
            });
        }
        let (mut accepted, mut retry, mut refused) = (false, Vec::new(), Vec::new());
        while let Some(done) = set.join_next().await {
            match done {
                Ok((_, PostOutcome::Accepted)) => accepted = true,
                Ok((uri, PostOutcome::Retry(why))) => retry.push(format!("{uri}: {why}")),
                Ok((uri, PostOutcome::Refused(why))) => refused.push(format!("{uri}: {why}")),
                Err(e) => retry.push(format!("task: {e}")),
            }
        }
        if accepted {
            for why in retry.iter().chain(&refused) {
                tracing::debug!(
                    sink = "alertmanager",
                    "one Alertmanager missed a batch: {why}"
                );
            }
            PostOutcome::Accepted
        } else if retry.is_empty() {
            PostOutcome::Refused(refused.join("; "))
        } else {
            retry.extend(refused);
            PostOutcome::Retry(retry.join("; "))
        }
    }
}

pub fn targets(cfg: &AlertmanagerConfig) -> Result<Vec<HttpTarget>, SinkError> {
    if cfg.urls.is_empty() {
        return Err(SinkError::Config {
            key: "outputs.alertmanager.urls".into(),
            message: "at least one URL is required".into(),
        });
    }
    cfg.urls
        .iter()
        .map(|u| {
            let url = format!("{}/api/v2/alerts", u.trim_end_matches('/'));
            Ok(HttpTarget {
                uri: parse_uri("outputs.alertmanager.urls", &url)?,
                headers: header_map(
                    "outputs.alertmanager",
                    [("content-type".to_string(), "application/json".to_string())],
                )?,
                timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use falco_proto::v1::{Alert, KubernetesContext};
    use std::sync::Arc;

    #[test]
    fn labels_annotations_and_ends_at() {
        let cfg = AlertmanagerConfig {
            resolve_timeout_secs: 600,
            extra_labels: [("team".to_string(), "sec".to_string())].into(),
            ..AlertmanagerConfig::default()
        };
        let enc = AlertmanagerEncoder::new(&cfg);
        let a = Alert {
            rule: "Terminal shell".into(),
            priority: Priority::Notice as i32,
            output: "shell by bash".into(),
            source: "syscall".into(),
            cluster: "c1".into(),
            hostname: "node-a".into(),
            time_ns: 1_714_557_600_000_000_000,
            kubernetes: Some(KubernetesContext {
                namespace: "prod".into(),
                pod_name: "web-1".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let before = chrono::Utc::now();
        let p = enc.encode(&[Item::single(Arc::new(a))]);
        let body: Value = serde_json::from_slice(&p[0].body).unwrap();
        let am = &body[0];
        assert_eq!(am["labels"]["alertname"], "Terminal shell");
        assert_eq!(am["labels"]["priority"], "Notice");
        assert_eq!(am["labels"]["severity"], "info");
        assert_eq!(am["labels"]["namespace"], "prod");
        assert_eq!(am["labels"]["pod"], "web-1");
        assert_eq!(am["labels"]["cluster"], "c1");
        assert_eq!(am["labels"]["team"], "sec");
        assert_eq!(am["annotations"]["description"], "shell by bash");
        assert_eq!(am["startsAt"], "2024-05-01T10:00:00.000000000Z");
        let ends: chrono::DateTime<chrono::Utc> = am["endsAt"].as_str().unwrap().parse().unwrap();
        let ahead = (ends - before).num_seconds();
        assert!((599..=601).contains(&ahead), "{ahead}");
    }
}
