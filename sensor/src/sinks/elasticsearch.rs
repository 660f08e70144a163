//! Elasticsearch / OpenSearch `_bulk` API (NDJSON). One `create` action per
//! alert, into a dated index (`falco-%Y.%m.%d` from the alert time in UTC) or
//! a data stream, with `_id` = `<sensor_id>-<seq>` so a re-sent document is
//! answered 409 (already indexed) instead of being stored twice.
//!
//! Before the first bulk the sink installs an index template (unless told not
//! to) mapping `output_fields` as one `flattened` field (`flat_object` on
//! OpenSearch): every key, dotted or not, is a keyword leaf of that one field,
//! so `container.image` next to `container.image.repository`, a value that
//! looks like a date, or a field that is a number in one alert and a string in
//! the next can never conflict, and rules referencing new fields never grow the
//! mapping towards `index.mapping.total_fields.limit`.
//!
//! A bulk answer is read item by item: 2xx and 409 count as indexed, 429 and
//! 5xx items are re-sent (only those, with the forwarder's backoff), anything
//! else is counted as failed and logged with Elasticsearch's reason. A 413
//! splits the request in halves; 429 waits for Retry-After.

use super::SinkError;
use super::aggregate::Item;
use super::format::{falco_json, rfc3339_ns};
use super::forward::{Encoder, Payload};
use super::http::{Answer, HttpClient, HttpTarget, PostOutcome, header_map, parse_uri};
use crate::config::ElasticsearchConfig;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Datelike, Timelike, Utc};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const KEY: &str = "outputs.elasticsearch";

/// One piece of an index name: literal text or a UTC date part.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Year,
    Month,
    Day,
    Hour,
}

/// The configured index name, parsed once.
#[derive(Debug, Clone)]
pub struct IndexPattern {
    parts: Vec<Part>,
}

impl IndexPattern {
    /// Accepts `%Y %m %d %H %%`; refuses what Elasticsearch would refuse as an
    /// index name (upper case, `\ / * ? " < > | , #` and space, leading `-_+`).
    pub fn parse(key: &str, pattern: &str) -> Result<IndexPattern, SinkError> {
        let bad = |message: String| SinkError::Config {
            key: key.to_string(),
            message: format!("{pattern:?}: {message}"),
        };
        if pattern.is_empty() {
            return Err(bad("must not be empty".into()));
        }
        if pattern.starts_with(['-', '_', '+']) {
            return Err(bad("must not start with '-', '_' or '+'".into()));
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                if c.is_uppercase() {
                    return Err(bad(format!("index names are lower case (found {c:?})")));
                }
                if "\\/*?\"<>|, #:".contains(c) || c.is_control() {
                    return Err(bad(format!("{c:?} is not allowed in index names")));
                }
                text.push(c);
                continue;
            }
            let part = match chars.next() {
                Some('%') => {
                    text.push('%');
                    continue;
                }
                Some('Y') => Part::Year,
                Some('m') => Part::Month,
                Some('d') => Part::Day,
                Some('H') => Part::Hour,
                other => {
                    return Err(bad(format!(
                        "unknown date field %{} (known: %Y %m %d %H %%)",
                        other.map(String::from).unwrap_or_default()
                    )));
                }
            };
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(part);
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(IndexPattern { parts })
    }

    pub fn is_dated(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    /// The index for an alert at `time_ns` (UTC).
    pub fn render(&self, time_ns: i64) -> String {
        let t = DateTime::<Utc>::from_timestamp_nanos(time_ns);
        let mut out = String::new();
        for p in &self.parts {
            let _ = match p {
                Part::Text(s) => write!(out, "{s}"),
                Part::Year => write!(out, "{:04}", t.year()),
                Part::Month => write!(out, "{:02}", t.month()),
                Part::Day => write!(out, "{:02}", t.day()),
                Part::Hour => write!(out, "{:02}", t.hour()),
            };
        }
        out
    }

    /// What the index template matches: the literal prefix and `*`, or the
    /// exact name when there is no date part.
    pub fn template_pattern(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(s) => out.push_str(s),
                _ => {
                    out.push('*');
                    return out;
                }
            }
        }
        out
    }
}

/// Retry settings the sink applies to the items Elasticsearch asks to re-send.
#[derive(Debug, Clone)]
struct RetryPolicy {
    max_retries: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
}

pub struct ElasticsearchEncoder {
    index: IndexPattern,
    data_stream: bool,
    retry: RetryPolicy,
    template: Option<TemplateInstall>,
    /// Set once the template is installed (or refused): later bulks go straight out.
    template_done: AtomicBool,
}

/// Where and what to install before the first bulk.
struct TemplateInstall {
    name: String,
    /// `GET /` (to tell OpenSearch from Elasticsearch).
    root: HttpTarget,
    /// `PUT /_index_template/<name>`.
    put: HttpTarget,
}

impl ElasticsearchEncoder {
    pub fn new(cfg: &ElasticsearchConfig) -> Result<Self, SinkError> {
        let index = IndexPattern::parse(&format!("{KEY}.index"), &cfg.index)?;
        if cfg.data_stream && index.is_dated() {
            return Err(SinkError::Config {
                key: format!("{KEY}.index"),
                message: format!(
                    "{:?}: a data stream name has no date pattern (data streams roll over by themselves)",
                    cfg.index
                ),
            });
        }
        let template = if cfg.install_template {
            let base = base_url(cfg)?;
            let name = cfg.template_name.trim();
            if name.is_empty() || name.contains(['/', '?', '#', ' ']) {
                return Err(SinkError::Config {
                    key: format!("{KEY}.template_name"),
                    message: format!("{:?} is not a usable template name", cfg.template_name),
                });
            }
            Some(TemplateInstall {
                name: name.to_string(),
                root: with_uri(cfg, &format!("{base}/"))?,
                put: with_uri(cfg, &format!("{base}/_index_template/{name}"))?,
            })
        } else {
            None
        };
        Ok(ElasticsearchEncoder {
            index,
            data_stream: cfg.data_stream,
            retry: RetryPolicy {
                max_retries: cfg.forward.max_retries,
                backoff_initial: Duration::from_millis(cfg.forward.backoff_initial_ms.max(1)),
                backoff_max: Duration::from_millis(cfg.forward.backoff_max_ms.max(1)),
            },
            template,
            template_done: AtomicBool::new(false),
        })
    }

    /// The index template body for this configuration; `flat_type` is
    /// `flattened` (Elasticsearch) or `flat_object` (OpenSearch).
    pub fn template_body(&self, flat_type: &str) -> Value {
        let date = json!({"type": "date_nanos"});
        let keyword = json!({"type": "keyword", "ignore_above": 1024});
        let mut body = json!({
            "index_patterns": [self.index.template_pattern()],
            // Above the built-in logs-*-* template (100), so a `logs-falco-*`
            // data stream gets this mapping.
            "priority": 200,
            "_meta": {"managed_by": "falco-sensor"},
            "template": {
                "mappings": {
                    // Strings that look like dates stay strings.
                    "date_detection": false,
                    "properties": {
                        "@timestamp": date,
                        "time": date,
                        "first_time": date,
                        "last_time": date,
                        "output": {"type": "text"},
                        "rule": keyword,
                        "priority": keyword,
                        "source": keyword,
                        "hostname": keyword,
                        "cluster": keyword,
                        "tags": keyword,
                        "seq": {"type": "long"},
                        "count": {"type": "long"},
                        "output_fields": {"type": flat_type},
                        "responses": {"properties": {
                            "action": keyword,
                            "outcome": keyword,
                            "detail": {"type": "text"},
                            "time": date,
                            "alert_seq": {"type": "long"},
                        }},
                    },
                },
            },
        });
        if self.data_stream
            && let Some(o) = body.as_object_mut()
        {
            o.insert("data_stream".into(), json!({}));
        }
        body
    }

    /// Installs the template once. `Err` only for failures worth retrying
    /// (the receiver is down); a refusal is logged and not tried again, since
    /// indexing without the template still works for most alerts.
    async fn ensure_template(&self, client: &HttpClient) -> Result<(), String> {
        let Some(t) = &self.template else {
            return Ok(());
        };
        if self.template_done.load(Ordering::Acquire) {
            return Ok(());
        }
        let root = client
            .exchange(Method::GET, &t.root, Bytes::new())
            .await
            .map_err(|e| format!("GET /: {e}"))?;
        if root.status.is_server_error() || root.status == StatusCode::TOO_MANY_REQUESTS {
            return Err(format!("GET /: HTTP {}", root.status));
        }
        let opensearch = serde_json::from_slice::<Value>(&root.body)
            .ok()
            .is_some_and(|v| v["version"]["distribution"] == "opensearch");
        let flat = if opensearch {
            "flat_object"
        } else {
            "flattened"
        };
        let body = self.template_body(flat).to_string();
        let put = client
            .exchange(Method::PUT, &t.put, Bytes::from(body))
            .await
            .map_err(|e| format!("PUT _index_template/{}: {e}", t.name))?;
        match put.outcome() {
            PostOutcome::Accepted => {
                tracing::info!(sink = "elasticsearch", template = %t.name, "index template installed ({flat} output_fields)");
            }
            PostOutcome::Retry(why) => {
                return Err(format!("PUT _index_template/{}: {why}", t.name));
            }
            PostOutcome::Refused(why) | PostOutcome::Partial { why, .. } => {
                tracing::error!(sink = "elasticsearch", template = %t.name,
                    "index template refused, indexing without it (output_fields may hit mapping conflicts): {why}");
            }
        }
        self.template_done.store(true, Ordering::Release);
        Ok(())
    }

    fn action_line(&self, item: &Item) -> Value {
        let a = &item.alert;
        let index = self.index.render(a.time_ns);
        json!({"create": {"_index": index, "_id": format!("{}-{}", a.sensor_id, a.seq)}})
    }

    async fn deliver(&self, client: &HttpClient, target: &HttpTarget, body: &Bytes) -> PostOutcome {
        if let Err(why) = self.ensure_template(client).await {
            return PostOutcome::Retry(why);
        }
        let mut bulk = Bulk::split(body);
        let total = bulk.docs.len();
        let mut backoff = self.retry.backoff_initial;
        let mut attempt = 0u32;
        loop {
            let wait = bulk.round(client, target).await;
            if bulk.pending.is_empty() {
                return bulk.outcome();
            }
            if attempt == 0 && bulk.pending.len() == total {
                // Nothing got in: the forwarder retries the whole payload
                // (and keeps the queue waiting) like for any HTTP sink.
                if let Some(d) = wait.retry_after {
                    tokio::time::sleep(d.min(self.retry.backoff_max)).await;
                }
                return PostOutcome::Retry(wait.why);
            }
            if attempt >= self.retry.max_retries {
                bulk.give_up(&wait.why);
                return bulk.outcome();
            }
            // Retry-After when the server gave one (and it is longer), capped like every backoff.
            let pause = wait
                .retry_after
                .map_or(backoff, |d| d.max(backoff))
                .min(self.retry.backoff_max);
            tracing::debug!(
                sink = "elasticsearch",
                "re-sending {} document(s) in {pause:?}: {}",
                bulk.pending.len(),
                wait.why
            );
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(self.retry.backoff_max);
            attempt += 1;
        }
    }
}

impl Encoder for ElasticsearchEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        let mut body = String::new();
        for item in batch {
            let mut doc = falco_json(item);
            if let Some(o) = doc.as_object_mut() {
                o.insert("@timestamp".into(), json!(rfc3339_ns(item.alert.time_ns)));
            }
            body.push_str(&self.action_line(item).to_string());
            body.push('\n');
            body.push_str(&doc.to_string());
            body.push('\n');
        }
        vec![Payload {
            body: body.into(),
            alerts: batch.iter().map(|i| i.count).sum(),
        }]
    }

    fn send(
        &self,
        client: &HttpClient,
        target: &HttpTarget,
        payload: &Payload,
    ) -> impl Future<Output = PostOutcome> + Send {
        self.deliver(client, target, &payload.body)
    }
}

/// Why a round left documents pending, and how long the server asked to wait.
struct Wait {
    why: String,
    retry_after: Option<Duration>,
}

/// One payload's documents and what became of each.
struct Bulk {
    /// Action line + source line, newline-terminated.
    docs: Vec<Bytes>,
    /// Documents still to send, in order.
    pending: Vec<usize>,
    indexed: u64,
    /// Alerts refused (an aggregated document stands for `count` alerts).
    failed_alerts: u64,
    failed_docs: u64,
    indexed_alerts: u64,
    /// Error type -> (documents, first reason), for one log line per cause.
    reasons: BTreeMap<String, (u64, String)>,
}

impl Bulk {
    fn split(body: &Bytes) -> Bulk {
        let mut docs = Vec::new();
        let mut start = 0;
        let mut lines = 0;
        for (i, b) in body.iter().enumerate() {
            if *b == b'\n' {
                lines += 1;
                if lines % 2 == 0 {
                    docs.push(body.slice(start..=i));
                    start = i + 1;
                }
            }
        }
        let pending = (0..docs.len()).collect();
        Bulk {
            docs,
            pending,
            indexed: 0,
            failed_alerts: 0,
            failed_docs: 0,
            indexed_alerts: 0,
            reasons: BTreeMap::new(),
        }
    }

    /// Alerts a document stands for (its `count` when aggregated).
    fn alerts_of(&self, doc: usize) -> u64 {
        let Some(bytes) = self.docs.get(doc) else {
            return 1;
        };
        let source = bytes
            .iter()
            .position(|b| *b == b'\n')
            .map_or(&bytes[..], |i| &bytes[i + 1..]);
        serde_json::from_slice::<Value>(source)
            .ok()
            .and_then(|v| v["count"].as_u64())
            .unwrap_or(1)
    }

    fn ok(&mut self, doc: usize) {
        self.indexed += 1;
        self.indexed_alerts += self.alerts_of(doc);
    }

    fn fail(&mut self, doc: usize, kind: &str, reason: &str) {
        self.failed_docs += 1;
        self.failed_alerts += self.alerts_of(doc);
        let e = self
            .reasons
            .entry(kind.to_string())
            .or_insert_with(|| (0, reason.to_string()));
        e.0 += 1;
    }

    fn give_up(&mut self, why: &str) {
        for doc in std::mem::take(&mut self.pending) {
            self.fail(doc, "gave up after retries", why);
        }
    }

    fn outcome(&self) -> PostOutcome {
        if self.failed_docs == 0 {
            return PostOutcome::Accepted;
        }
        let mut why = String::new();
        for (kind, (n, reason)) in &self.reasons {
            if !why.is_empty() {
                why.push_str("; ");
            }
            let _ = write!(why, "{n} x {kind}: {reason}");
        }
        PostOutcome::Partial {
            sent: self.indexed_alerts,
            failed: self.failed_alerts,
            why,
        }
    }

    /// Sends every pending document once (splitting on 413) and sorts them
    /// into indexed, failed and pending again.
    async fn round(&mut self, client: &HttpClient, target: &HttpTarget) -> Wait {
        let mut groups: VecDeque<Vec<usize>> = VecDeque::from([std::mem::take(&mut self.pending)]);
        let mut again: Vec<usize> = Vec::new();
        let mut wait = Wait {
            why: String::new(),
            retry_after: None,
        };
        while let Some(group) = groups.pop_front() {
            let mut body = BytesMut::new();
            for &d in &group {
                body.extend_from_slice(&self.docs[d]);
            }
            let answer = match client.exchange(Method::POST, target, body.freeze()).await {
                Ok(a) => a,
                Err(e) => {
                    // The receiver is unreachable: everything not yet sent waits.
                    again.extend(group);
                    again.extend(groups.drain(..).flatten());
                    wait.why = e;
                    break;
                }
            };
            if answer.status == StatusCode::PAYLOAD_TOO_LARGE {
                if group.len() > 1 {
                    let (a, b) = group.split_at(group.len() / 2);
                    groups.push_front(b.to_vec());
                    groups.push_front(a.to_vec());
                } else {
                    for d in group {
                        self.fail(d, "too large", "HTTP 413 for a single document");
                    }
                }
                continue;
            }
            match answer.outcome() {
                PostOutcome::Accepted => {
                    let retry = self.read_items(&group, &answer);
                    if !retry.is_empty() {
                        wait.why = format!("{} item(s) answered 429/5xx", retry.len());
                        again.extend(retry);
                    }
                }
                PostOutcome::Retry(why) => {
                    again.extend(group);
                    again.extend(groups.drain(..).flatten());
                    wait.retry_after = answer.retry_after();
                    wait.why = why;
                    break;
                }
                PostOutcome::Refused(why) | PostOutcome::Partial { why, .. } => {
                    for d in group {
                        self.fail(d, "request refused", &why);
                    }
                }
            }
        }
        again.sort_unstable();
        self.pending = again;
        wait
    }

    /// Reads a 2xx bulk answer; returns the documents to send again.
    fn read_items(&mut self, group: &[usize], answer: &Answer) -> Vec<usize> {
        let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let Some(v) = parsed else {
            // A 2xx that is not a bulk answer (a proxy?): trust the status.
            for &d in group {
                self.ok(d);
            }
            return Vec::new();
        };
        if v["errors"] == false {
            for &d in group {
                self.ok(d);
            }
            return Vec::new();
        }
        let items = v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let mut retry = Vec::new();
        for (pos, &d) in group.iter().enumerate() {
            // Each item is {"<action>": {"status": ..., "error": {...}}}.
            let Some(result) = items
                .get(pos)
                .and_then(Value::as_object)
                .and_then(|o| o.values().next())
            else {
                retry.push(d);
                continue;
            };
            let status = result["status"].as_u64().unwrap_or(0);
            match status {
                200..=299 => self.ok(d),
                // The _id exists: an earlier attempt got in.
                409 => self.ok(d),
                429 | 500..=599 => retry.push(d),
                _ => {
                    let kind = result["error"]["type"].as_str().unwrap_or("error");
                    let reason = result["error"]["reason"]
                        .as_str()
                        .unwrap_or("no reason given");
                    self.fail(d, kind, &format!("HTTP {status}: {reason}"));
                }
            }
        }
        retry
    }
}

fn base_url(cfg: &ElasticsearchConfig) -> Result<String, SinkError> {
    let url = cfg.url.trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(SinkError::Config {
            key: format!("{KEY}.url"),
            message: format!("{:?} is not an http:// or https:// URL", cfg.url),
        });
    }
    Ok(url.to_string())
}

fn with_uri(cfg: &ElasticsearchConfig, url: &str) -> Result<HttpTarget, SinkError> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if !cfg.api_key.is_empty() {
        headers.push((
            "authorization".to_string(),
            format!("ApiKey {}", cfg.api_key),
        ));
    } else if let Some(auth) = &cfg.basic_auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", auth.username, auth.password));
        headers.push(("authorization".to_string(), format!("Basic {token}")));
    }
    Ok(HttpTarget {
        uri: parse_uri(&format!("{KEY}.url"), url)?,
        headers: header_map(KEY, headers)?,
        timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
    })
}

/// The `_bulk` target.
pub fn target(cfg: &ElasticsearchConfig) -> Result<HttpTarget, SinkError> {
    if !cfg.api_key.is_empty() && cfg.basic_auth.is_some() {
        return Err(SinkError::Config {
            key: KEY.to_string(),
            message: "set api_key or basic_auth, not both".to_string(),
        });
    }
    let mut t = with_uri(cfg, &format!("{}/_bulk", base_url(cfg)?))?;
    t.headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn index_pattern_renders_utc_date_parts() {
        let p = IndexPattern::parse("k", "falco-%Y.%m.%d-%H%%").unwrap();
        // 2024-05-01T23:30:00Z
        assert_eq!(p.render(1_714_606_200_000_000_000), "falco-2024.05.01-23%");
        assert_eq!(p.template_pattern(), "falco-*");
        let fixed = IndexPattern::parse("k", "logs-falco-default").unwrap();
        assert!(!fixed.is_dated());
        assert_eq!(fixed.template_pattern(), "logs-falco-default");
    }

    #[test]
    fn bad_index_patterns_are_refused_with_the_reason() {
        for (p, why) in [
            ("Falco", "lower case"),
            ("falco-%y", "%y"),
            ("falco/x", "not allowed"),
            ("_falco", "start"),
            ("", "empty"),
        ] {
            let e = IndexPattern::parse("outputs.elasticsearch.index", p)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(why) && e.contains("outputs.elasticsearch.index"),
                "{p}: {e}"
            );
        }
    }

    #[test]
    fn bulk_split_keeps_action_and_source_together() {
        let body =
            Bytes::from("{\"create\":{}}\n{\"a\":1}\n{\"create\":{}}\n{\"a\":2,\"count\":5}\n");
        let b = Bulk::split(&body);
        assert_eq!(b.docs.len(), 2);
        assert_eq!(&b.docs[1][..], b"{\"create\":{}}\n{\"a\":2,\"count\":5}\n");
        assert_eq!(b.alerts_of(0), 1);
        assert_eq!(b.alerts_of(1), 5);
    }
}
