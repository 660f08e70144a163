//! S3-compatible object storage (AWS S3, MinIO, GCS's XML API): each batch
//! becomes one gzip'd JSON-lines object,
//! `<prefix>/<cluster>/<hostname>/YYYY/MM/DD/HH/<sensor_id>-<first seq>.jsonl.gz`
//! (UTC hour of the batch's first alert), uploaded with `PUT`. rusty-s3
//! signs (SigV4, presigned URL, unsigned payload); the request goes through
//! the shared HTTP client, so TLS, CA file and timeouts are the forwarders'.
//!
//! A re-sent batch has the same key, so a retry after a lost answer
//! overwrites the object instead of adding a duplicate.

use super::SinkError;
use super::aggregate::Item;
use super::aws_credentials::CredentialProvider;
use super::format::falco_json;
use super::forward::{Encoder, Payload};
use super::http::{HttpClient, HttpTarget, PostOutcome, header_map, parse_uri};
use crate::config::{S3Config, S3UrlStyle};
use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::Method;
use rusty_s3::{Bucket, S3Action, UrlStyle};
use std::io::Write;
use std::time::Duration;

const KEY: &str = "outputs.s3";
/// Presigned URLs only need to outlive one request.
const SIGNATURE_TTL: Duration = Duration::from_secs(300);

pub struct S3Encoder {
    bucket: Bucket,
    credentials: CredentialProvider,
    /// Sanitised, without leading or trailing `/`; may be empty.
    prefix: String,
}

impl S3Encoder {
    pub fn new(cfg: &S3Config) -> Result<Self, SinkError> {
        let bad = |key: &str, message: String| SinkError::Config {
            key: format!("{KEY}.{key}"),
            message,
        };
        if cfg.bucket.is_empty() {
            return Err(bad("bucket", "required when outputs.s3.enabled".into()));
        }
        if cfg.region.is_empty() {
            return Err(bad("region", "must not be empty".into()));
        }
        let (endpoint, style) = if cfg.endpoint.is_empty() {
            let style = match cfg.url_style {
                S3UrlStyle::Path => UrlStyle::Path,
                S3UrlStyle::Auto | S3UrlStyle::VirtualHost => UrlStyle::VirtualHost,
            };
            (format!("https://s3.{}.amazonaws.com", cfg.region), style)
        } else {
            let style = match cfg.url_style {
                S3UrlStyle::VirtualHost => UrlStyle::VirtualHost,
                S3UrlStyle::Auto | S3UrlStyle::Path => UrlStyle::Path,
            };
            (cfg.endpoint.clone(), style)
        };
        let url = endpoint
            .parse::<url::Url>()
            .map_err(|e| bad("endpoint", format!("{endpoint:?}: {e}")))?;
        let bucket = Bucket::new(url, style, cfg.bucket.clone(), cfg.region.clone())
            .map_err(|e| bad("bucket", format!("{:?} at {endpoint:?}: {e:?}", cfg.bucket)))?;
        let credentials = CredentialProvider::resolve(cfg, &|name| std::env::var(name).ok())?;
        tracing::info!(sink = "s3", bucket = %cfg.bucket, "credentials from {}", credentials.describe());
        Ok(S3Encoder {
            bucket,
            credentials,
            prefix: cfg
                .prefix
                .split('/')
                .filter(|s| !s.is_empty())
                .map(key_segment)
                .collect::<Vec<_>>()
                .join("/"),
        })
    }

    /// The object key of a batch starting with `first`.
    pub fn object_key(&self, first: &Item) -> String {
        let a = &first.alert;
        let t = DateTime::<Utc>::from_timestamp_nanos(a.time_ns);
        let mut key = String::new();
        if !self.prefix.is_empty() {
            key.push_str(&self.prefix);
            key.push('/');
        }
        key.push_str(&format!(
            "{}/{}/{}/{}-{}.jsonl.gz",
            key_segment(&a.cluster),
            key_segment(&a.hostname),
            t.format("%Y/%m/%d/%H"),
            key_segment(&a.sensor_id),
            a.seq
        ));
        key
    }

    async fn upload(&self, client: &HttpClient, target: &HttpTarget, body: &Bytes) -> PostOutcome {
        let Some((key, object)) = unframe(body) else {
            return PostOutcome::Refused("internal: malformed S3 payload".into());
        };
        let credentials = match self.credentials.get(client).await {
            Ok(c) => c,
            Err(e) => return PostOutcome::Retry(format!("credentials: {e}")),
        };
        let url = self
            .bucket
            .put_object(Some(&credentials), &key)
            .sign(SIGNATURE_TTL);
        let uri = match url.as_str().parse() {
            Ok(u) => u,
            Err(e) => return PostOutcome::Refused(format!("object URL {url}: {e}")),
        };
        let put = HttpTarget {
            uri,
            headers: target.headers.clone(),
            timeout: target.timeout,
        };
        match client.exchange(Method::PUT, &put, object).await {
            Err(e) => PostOutcome::Retry(e),
            Ok(answer) => match answer.outcome() {
                PostOutcome::Accepted => {
                    tracing::debug!(sink = "s3", %key, "object written");
                    PostOutcome::Accepted
                }
                other => other,
            },
        }
    }
}

impl Encoder for S3Encoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        let Some(first) = batch.first() else {
            return Vec::new();
        };
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        for item in batch {
            // Writing into a Vec cannot fail.
            let _ = gz.write_all(falco_json(item).to_string().as_bytes());
            let _ = gz.write_all(b"\n");
        }
        let object = gz.finish().unwrap_or_default();
        vec![Payload {
            body: frame(&self.object_key(first), &object),
            alerts: batch.iter().map(|i| i.count).sum(),
        }]
    }

    fn send(
        &self,
        client: &HttpClient,
        target: &HttpTarget,
        payload: &Payload,
    ) -> impl Future<Output = PostOutcome> + Send {
        self.upload(client, target, &payload.body)
    }
}

/// The shared Payload carries bytes only, so the object key travels in front
/// of the object: `<key>\n<gzip bytes>` (keys never contain a newline).
fn frame(key: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(key.len() + 1 + object.len());
    b.put_slice(key.as_bytes());
    b.put_u8(b'\n');
    b.put_slice(object);
    b.freeze()
}

fn unframe(body: &Bytes) -> Option<(String, Bytes)> {
    let nl = body.iter().position(|b| *b == b'\n')?;
    let key = std::str::from_utf8(&body[..nl]).ok()?.to_string();
    Some((key, body.slice(nl + 1..)))
}

/// One path segment of a key: `[A-Za-z0-9._-]`, anything else becomes `_`,
/// never empty, `.` or `..`.
fn key_segment(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out = "_".repeat(out.len().max(1));
    }
    out
}

/// Headers and timeout of the uploads (the URL is signed per object).
pub fn target(cfg: &S3Config) -> Result<HttpTarget, SinkError> {
    let placeholder = if cfg.endpoint.is_empty() {
        format!("https://s3.{}.amazonaws.com/", cfg.region)
    } else {
        cfg.endpoint.clone()
    };
    Ok(HttpTarget {
        uri: parse_uri(&format!("{KEY}.endpoint"), &placeholder)?,
        headers: header_map(
            KEY,
            [("content-type".to_string(), "application/gzip".to_string())],
        )?,
        timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use falco_proto::v1::Alert;
    use std::sync::Arc;

    fn cfg() -> S3Config {
        S3Config {
            bucket: "alerts".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            prefix: "/falco/../x/".into(),
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
            ..S3Config::default()
        }
    }

    #[test]
    fn object_key_follows_the_layout_and_cannot_escape() {
        let enc = S3Encoder::new(&cfg()).unwrap();
        let item = Item::single(Arc::new(Alert {
            seq: 42,
            time_ns: 1_714_606_200_000_000_000, // 2024-05-01T23:30:00Z
            cluster: "prod/eu".into(),
            hostname: "node-1".into(),
            sensor_id: "abc-123".into(),
            ..Default::default()
        }));
        assert_eq!(
            enc.object_key(&item),
            "falco/__/x/prod_eu/node-1/2024/05/01/23/abc-123-42.jsonl.gz"
        );
    }

    #[test]
    fn frame_round_trips() {
        let b = frame("a/b.jsonl.gz", b"\x1f\x8b\n\x00");
        let (k, o) = unframe(&b).unwrap();
        assert_eq!(k, "a/b.jsonl.gz");
        assert_eq!(&o[..], b"\x1f\x8b\n\x00");
    }

    #[test]
    fn half_credentials_are_refused() {
        let mut c = cfg();
        c.secret_access_key.clear();
        let e = S3Encoder::new(&c).err().unwrap().to_string();
        assert!(e.contains("outputs.s3.access_key_id"), "{e}");
    }
}
