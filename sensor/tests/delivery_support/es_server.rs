//! A local server speaking the parts of the Elasticsearch REST API the sink
//! uses, as documented: `GET /`, `PUT /_index_template/<name>` and
//! `POST /_bulk` (NDJSON in, per-item answers out). No real Elasticsearch can
//! run here, so this server also behaves like one where it matters:
//!
//! - dynamic mapping: without a matching template, the first document fixes
//!   each field's type (dotted keys expand to objects, date-looking strings
//!   become `date`), and a later document that disagrees (a leaf where an
//!   object is mapped, or the reverse; a non-date in a date field) gets the
//!   item error Elasticsearch gives (`document_parsing_exception`, 400);
//!   a template's `properties` (a `flattened` field swallows its subtree) and
//!   `date_detection: false` are honoured;
//! - `create` on an existing `_id` answers 409; data streams (a template with
//!   `data_stream: {}`) accept only `create` and need `@timestamp`;
//! - fault injection: whole-request 429 with Retry-After, item-level 429 for
//!   chosen ids, 413 above a body size, a permanent item error for a rule.
#![allow(dead_code, clippy::unwrap_used)]

use falco_sensor::http_server::{respond, serve};
use http_body_util::BodyExt;
use hyper::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// One indexed document.
#[derive(Debug, Clone)]
pub struct Doc {
    pub id: String,
    pub source: Value,
}

#[derive(Debug, Default)]
pub struct Index {
    pub docs: Vec<Doc>,
    pub ids: BTreeSet<String>,
    pub data_stream: bool,
    /// Field path -> "object" | "date" | "text" | "long" | "double" | "boolean" | template type.
    pub mapping: BTreeMap<String, String>,
    pub date_detection: bool,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub authorization: String,
    pub body_len: usize,
}

#[derive(Debug, Default)]
pub struct EsState {
    pub templates: BTreeMap<String, Value>,
    pub indices: BTreeMap<String, Index>,
    pub seen: Vec<Seen>,
    /// Required `Authorization` header value, when set.
    pub expect_auth: Option<String>,
    /// Answer `distribution: opensearch` on `GET /`.
    pub opensearch: bool,
    /// The next bulk requests answer 429 with these Retry-After values.
    pub whole_429: VecDeque<u64>,
    /// Ids answered with an item-level 429 the first time they arrive.
    pub item_429_once: BTreeSet<String>,
    /// Bulk bodies above this many bytes are answered 413.
    pub max_body: Option<usize>,
    /// Documents of this rule are refused with a permanent item error.
    pub poison_rule: Option<String>,
    /// Item-level rejections, by error type.
    pub item_errors: BTreeMap<String, u64>,
}

impl EsState {
    pub fn all_docs(&self) -> Vec<Doc> {
        self.indices.values().flat_map(|i| i.docs.clone()).collect()
    }
}

pub struct EsServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<EsState>>,
    stop: watch::Sender<bool>,
}

impl EsServer {
    pub async fn start() -> EsServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve_on(listener)
    }

    /// On a given address (a receiver coming back); `None` while it is taken.
    pub async fn start_on(addr: SocketAddr) -> Option<EsServer> {
        let listener = tokio::net::TcpListener::bind(addr).await.ok()?;
        Some(Self::serve_on(listener))
    }

    fn serve_on(listener: tokio::net::TcpListener) -> EsServer {
        let addr = listener.local_addr().unwrap();
        let state: Arc<Mutex<EsState>> = Arc::default();
        let (stop, stop_rx) = watch::channel(false);
        let st = state.clone();
        let handler = move |req: hyper::Request<hyper::body::Incoming>| {
            let st = st.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_string();
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let authorization = header("authorization");
                let content_type = header("content-type");
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let mut s = st.lock().unwrap();
                let (status, resp) = s.handle(&method, &path, &authorization, &content_type, &body);
                s.seen.push(Seen {
                    at: Instant::now(),
                    method,
                    path,
                    status: status.0,
                    authorization,
                    body_len: body.len(),
                });
                let mut r = respond(
                    StatusCode::from_u16(status.0).unwrap(),
                    "application/json",
                    resp.to_string(),
                );
                if let Some(secs) = status.1 {
                    r.headers_mut()
                        .insert("retry-after", secs.to_string().parse().unwrap());
                }
                r
            }
        };
        tokio::spawn(serve(listener, handler, stop_rx));
        EsServer { addr, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

fn es_error(status: u16, kind: &str, reason: &str) -> Value {
    json!({"error": {"type": kind, "reason": reason, "root_cause": [{"type": kind, "reason": reason}]}, "status": status})
}

impl EsState {
    /// (status, Retry-After) and the JSON body.
    fn handle(
        &mut self,
        method: &str,
        path: &str,
        auth: &str,
        content_type: &str,
        body: &[u8],
    ) -> ((u16, Option<u64>), Value) {
        if let Some(want) = &self.expect_auth
            && auth != want
        {
            return (
                (401, None),
                es_error(401, "security_exception", "unable to authenticate user"),
            );
        }
        match (method, path) {
            ("GET", "/") => {
                let mut version = json!({"number": "8.15.0", "build_flavor": "default"});
                if self.opensearch {
                    version = json!({"number": "2.17.0", "distribution": "opensearch"});
                }
                (
                    (200, None),
                    json!({"name": "test", "cluster_name": "test", "version": version, "tagline": "You Know, for Search"}),
                )
            }
            ("PUT", p) if p.starts_with("/_index_template/") => {
                let name = &p["/_index_template/".len()..];
                match serde_json::from_slice::<Value>(body) {
                    Ok(t) if t["index_patterns"].is_array() => {
                        self.templates.insert(name.to_string(), t);
                        ((200, None), json!({"acknowledged": true}))
                    }
                    _ => (
                        (400, None),
                        es_error(400, "parse_exception", "index_patterns is required"),
                    ),
                }
            }
            ("POST", "/_bulk") => self.bulk(content_type, body),
            _ => (
                (405, None),
                es_error(
                    405,
                    "illegal_argument",
                    &format!("no handler for {method} {path}"),
                ),
            ),
        }
    }

    fn bulk(&mut self, content_type: &str, body: &[u8]) -> ((u16, Option<u64>), Value) {
        if let Some(secs) = self.whole_429.pop_front() {
            return (
                (429, Some(secs)),
                es_error(429, "es_rejected_execution_exception", "rejected execution"),
            );
        }
        if self.max_body.is_some_and(|m| body.len() > m) {
            return (
                (413, None),
                es_error(413, "content_too_long", "request body too large"),
            );
        }
        if !(content_type.starts_with("application/x-ndjson")
            || content_type.starts_with("application/json"))
        {
            return (
                (406, None),
                es_error(
                    406,
                    "content_type",
                    &format!("Content-Type header [{content_type}] is not supported"),
                ),
            );
        }
        if !body.ends_with(b"\n") {
            return (
                (400, None),
                es_error(
                    400,
                    "illegal_argument_exception",
                    "The bulk request must be terminated by a newline [\\n]",
                ),
            );
        }
        let text = String::from_utf8_lossy(body);
        let lines: Vec<&str> = text.lines().collect();
        if !lines.len().is_multiple_of(2) {
            return (
                (400, None),
                es_error(
                    400,
                    "illegal_argument_exception",
                    "Malformed action/metadata line",
                ),
            );
        }
        let mut items = Vec::new();
        let mut errors = false;
        for pair in lines.chunks(2) {
            let item = self.bulk_item(pair[0], pair[1]);
            if item.1 >= 300 {
                errors = true;
            }
            let mut inner = json!({"_index": item.2, "_id": item.3, "status": item.1});
            if let Some(e) = item.4 {
                *self
                    .item_errors
                    .entry(e["type"].as_str().unwrap().to_string())
                    .or_default() += 1;
                inner["error"] = e;
            } else {
                inner["result"] = json!("created");
            }
            items.push(json!({ item.0: inner }));
        }
        (
            (200, None),
            json!({"took": 1, "errors": errors, "items": items}),
        )
    }

    /// (action, status, index, id, error)
    fn bulk_item(
        &mut self,
        action: &str,
        source: &str,
    ) -> (String, u16, String, String, Option<Value>) {
        let action: Value = serde_json::from_str(action).unwrap_or(Value::Null);
        let Some((op, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            return (
                "index".into(),
                400,
                String::new(),
                String::new(),
                Some(
                    json!({"type": "illegal_argument_exception", "reason": "Malformed action/metadata line"}),
                ),
            );
        };
        let op = op.clone();
        let index = meta["_index"].as_str().unwrap_or("").to_string();
        let id = meta["_id"].as_str().unwrap_or("").to_string();
        let fail = |status: u16, kind: &str, reason: String| {
            (
                op.clone(),
                status,
                index.clone(),
                id.clone(),
                Some(json!({"type": kind, "reason": reason})),
            )
        };
        let Ok(source) = serde_json::from_str::<Value>(source) else {
            return fail(400, "document_parsing_exception", "failed to parse".into());
        };
        if self.item_429_once.remove(&id) {
            return fail(
                429,
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation".into(),
            );
        }
        if let Some(rule) = &self.poison_rule
            && source["rule"] == rule.as_str()
        {
            return fail(
                400,
                "illegal_argument_exception",
                format!("documents of rule {rule} are refused by an ingest pipeline"),
            );
        }
        if !self.indices.contains_key(&index) {
            let (data_stream, properties, date_detection) = self.template_for(&index);
            let mut idx = Index {
                data_stream,
                date_detection,
                ..Default::default()
            };
            for (path, ty) in properties {
                idx.mapping.insert(path, ty);
            }
            self.indices.insert(index.clone(), idx);
        }
        let idx = self.indices.get_mut(&index).unwrap();
        if idx.data_stream {
            if op != "create" {
                return fail(
                    400,
                    "illegal_argument_exception",
                    format!(
                        "only write ops with an op_type of create are allowed in data streams [{index}]"
                    ),
                );
            }
            if source.get("@timestamp").is_none() {
                return fail(
                    400,
                    "document_parsing_exception",
                    "data stream timestamp field [@timestamp] is missing".into(),
                );
            }
        }
        if op == "create" && !id.is_empty() && idx.ids.contains(&id) {
            return fail(
                409,
                "version_conflict_engine_exception",
                format!("[{id}]: version conflict, document already exists"),
            );
        }
        let mut new_fields = BTreeMap::new();
        if let Err(reason) = check_object(
            &idx.mapping,
            &mut new_fields,
            "",
            &source,
            idx.date_detection,
        ) {
            return fail(400, "document_parsing_exception", reason);
        }
        idx.mapping.extend(new_fields);
        let id = if id.is_empty() {
            format!("auto-{}", idx.docs.len())
        } else {
            id
        };
        idx.docs.push(Doc {
            id: id.clone(),
            source,
        });
        (op, 201, index, id, None)
    }

    /// The highest-priority template matching `index`: (data stream?, typed properties, date detection).
    fn template_for(&self, index: &str) -> (bool, Vec<(String, String)>, bool) {
        let best = self
            .templates
            .values()
            .filter(|t| {
                t["index_patterns"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| glob(p.as_str().unwrap_or(""), index)))
            })
            .max_by_key(|t| t["priority"].as_i64().unwrap_or(0));
        let Some(t) = best else {
            return (false, Vec::new(), true);
        };
        let mappings = &t["template"]["mappings"];
        let mut props = Vec::new();
        if let Some(p) = mappings["properties"].as_object() {
            flatten_properties("", p, &mut props);
        }
        let date_detection = mappings["date_detection"].as_bool().unwrap_or(true);
        (t.get("data_stream").is_some(), props, date_detection)
    }
}

fn flatten_properties(prefix: &str, props: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (k, v) in props {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Some(sub) = v["properties"].as_object() {
            out.push((path.clone(), "object".into()));
            flatten_properties(&path, sub, out);
        } else {
            out.push((path, v["type"].as_str().unwrap_or("object").to_string()));
        }
    }
}

/// `*` matches any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

/// Elasticsearch's default dynamic date formats, roughly:
/// `strict_date_optional_time` and `yyyy/MM/dd[ HH:mm:ss]`.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && (b[4] == b'-' || b[4] == b'/')
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b[4]
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || b[10] == b'T' || b[10] == b' ')
}

/// Dynamic mapping of one object: checks every value against the mapping so
/// far, recording new fields. Dotted keys are paths, like Elasticsearch does.
fn check_object(
    mapping: &BTreeMap<String, String>,
    new: &mut BTreeMap<String, String>,
    prefix: &str,
    obj: &Value,
    date_detection: bool,
) -> Result<(), String> {
    let Some(o) = obj.as_object() else {
        return Ok(());
    };
    'keys: for (k, v) in o {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        // Each dotted prefix is an object.
        let parts: Vec<&str> = path.split('.').collect();
        for i in 1..parts.len() {
            let parent = parts[..i].join(".");
            match mapping
                .get(&parent)
                .or(new.get(&parent))
                .map(String::as_str)
            {
                Some("flattened") | Some("flat_object") => continue 'keys,
                Some("object") | None => {
                    new.entry(parent).or_insert_with(|| "object".into());
                }
                Some(other) => {
                    return Err(format!(
                        "Could not dynamically add mapping for field [{path}]. Existing mapping for [{parent}] must be of type object but found [{other}]."
                    ));
                }
            }
        }
        check_value(mapping, new, &path, v, date_detection)?;
    }
    Ok(())
}

fn check_value(
    mapping: &BTreeMap<String, String>,
    new: &mut BTreeMap<String, String>,
    path: &str,
    v: &Value,
    date_detection: bool,
) -> Result<(), String> {
    let existing = mapping.get(path).or(new.get(path)).cloned();
    if matches!(existing.as_deref(), Some("flattened") | Some("flat_object")) {
        return Ok(());
    }
    let ty = match v {
        Value::Null => return Ok(()),
        Value::Array(items) => {
            for i in items {
                check_value(mapping, new, path, i, date_detection)?;
            }
            return Ok(());
        }
        Value::Object(_) => {
            if let Some(e) = existing.as_deref().filter(|e| *e != "object") {
                return Err(format!(
                    "failed to parse field [{path}] of type [{e}]: tried to parse an object"
                ));
            }
            new.entry(path.to_string())
                .or_insert_with(|| "object".into());
            return check_object(mapping, new, path, v, date_detection);
        }
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "double",
        Value::Number(_) => "long",
        Value::String(s) if date_detection && existing.is_none() && looks_like_date(s) => "date",
        Value::String(_) => "text",
    };
    match existing.as_deref() {
        None => {
            new.insert(path.to_string(), ty.to_string());
            Ok(())
        }
        Some("object") => Err(format!(
            "object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value"
        )),
        Some("date") | Some("date_nanos") => match v {
            Value::String(s) if looks_like_date(s) => Ok(()),
            Value::Number(_) => Ok(()),
            _ => Err(format!("failed to parse field [{path}] of type [date]")),
        },
        Some("long") | Some("double") => match v {
            Value::Number(_) => Ok(()),
            Value::String(s) if s.parse::<f64>().is_ok() => Ok(()),
            _ => Err(format!("failed to parse field [{path}] of type [long]")),
        },
        Some(_) => Ok(()),
    }
}
