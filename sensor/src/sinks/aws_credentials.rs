//! Where the S3 sink's credentials come from, in the AWS SDKs' order:
//! the config, then `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//! `AWS_SESSION_TOKEN`, then EKS web identity (IRSA: `AWS_ROLE_ARN` +
//! `AWS_WEB_IDENTITY_TOKEN_FILE`, exchanged with STS
//! AssumeRoleWithWebIdentity), then EC2 instance metadata (IMDSv2) unless
//! `AWS_EC2_METADATA_DISABLED=true`. Temporary credentials are cached and
//! fetched again five minutes before they expire. Requests go through the
//! shared HTTP client.

use super::SinkError;
use super::http::{HttpClient, HttpTarget};
use crate::config::S3Config;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};
use rusty_s3::Credentials;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Mutex;

const KEY: &str = "outputs.s3";
const REFRESH_BEFORE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Instance metadata answers at once on EC2; elsewhere do not wait long.
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);

enum Source {
    Static(Credentials),
    WebIdentity {
        role_arn: String,
        token_file: PathBuf,
        session_name: String,
        sts_url: String,
    },
    InstanceMetadata {
        endpoint: String,
    },
}

struct Cached {
    credentials: Credentials,
    expires: DateTime<Utc>,
}

pub struct CredentialProvider {
    source: Source,
    cache: Mutex<Option<Cached>>,
    timeout: Duration,
}

impl CredentialProvider {
    /// Picks the first source that is configured; `env` reads environment variables.
    pub fn resolve(
        cfg: &S3Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SinkError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let source = match (
            cfg.access_key_id.is_empty(),
            cfg.secret_access_key.is_empty(),
        ) {
            (false, false) => Source::Static(with_token(
                &cfg.access_key_id,
                &cfg.secret_access_key,
                &cfg.session_token,
            )),
            (true, true) => {
                if let (Some(key), Some(secret)) =
                    (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
                {
                    let token = var("AWS_SESSION_TOKEN").unwrap_or_default();
                    Source::Static(with_token(&key, &secret, &token))
                } else if let (Some(role_arn), Some(token_file)) =
                    (var("AWS_ROLE_ARN"), var("AWS_WEB_IDENTITY_TOKEN_FILE"))
                {
                    let region = var("AWS_REGION").unwrap_or_else(|| cfg.region.clone());
                    Source::WebIdentity {
                        role_arn,
                        token_file: PathBuf::from(token_file),
                        session_name: var("AWS_ROLE_SESSION_NAME")
                            .unwrap_or_else(|| "falco-sensor".to_string()),
                        sts_url: var("AWS_ENDPOINT_URL_STS")
                            .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com")),
                    }
                } else if var("AWS_EC2_METADATA_DISABLED")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                {
                    return Err(SinkError::Config {
                        key: format!("{KEY}.access_key_id"),
                        message: "no credentials: set outputs.s3.access_key_id and \
                                  secret_access_key, AWS_ACCESS_KEY_ID and \
                                  AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN and \
                                  AWS_WEB_IDENTITY_TOKEN_FILE (instance metadata is disabled)"
                            .into(),
                    });
                } else {
                    Source::InstanceMetadata {
                        endpoint: var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                            .unwrap_or_else(|| "http://169.254.169.254".to_string())
                            .trim_end_matches('/')
                            .to_string(),
                    }
                }
            }
            _ => {
                return Err(SinkError::Config {
                    key: format!("{KEY}.access_key_id"),
                    message: "access_key_id and secret_access_key must be set together".into(),
                });
            }
        };
        Ok(CredentialProvider {
            source,
            cache: Mutex::new(None),
            timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
        })
    }

    pub fn describe(&self) -> &'static str {
        match self.source {
            Source::Static(_) => "static keys (config or environment)",
            Source::WebIdentity { .. } => "web identity (STS AssumeRoleWithWebIdentity)",
            Source::InstanceMetadata { .. } => "instance metadata (IMDSv2)",
        }
    }

    /// Credentials valid for at least a few more minutes.
    pub async fn get(&self, client: &HttpClient) -> Result<Credentials, String> {
        if let Source::Static(c) = &self.source {
            return Ok(c.clone());
        }
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref()
            && c.expires - REFRESH_BEFORE > Utc::now()
        {
            return Ok(c.credentials.clone());
        }
        let fresh = match &self.source {
            Source::Static(c) => return Ok(c.clone()),
            Source::WebIdentity {
                role_arn,
                token_file,
                session_name,
                sts_url,
            } => {
                self.web_identity(client, role_arn, token_file, session_name, sts_url)
                    .await?
            }
            Source::InstanceMetadata { endpoint } => instance_metadata(client, endpoint).await?,
        };
        let credentials = fresh.credentials.clone();
        *cache = Some(fresh);
        Ok(credentials)
    }

    async fn web_identity(
        &self,
        client: &HttpClient,
        role_arn: &str,
        token_file: &PathBuf,
        session_name: &str,
        sts_url: &str,
    ) -> Result<Cached, String> {
        // Read each time: the kubelet rotates the projected token.
        let token = tokio::fs::read_to_string(token_file)
            .await
            .map_err(|e| format!("web identity token {}: {e}", token_file.display()))?;
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRoleWithWebIdentity")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", role_arn)
            .append_pair("RoleSessionName", session_name)
            .append_pair("WebIdentityToken", token.trim())
            .finish();
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let target = HttpTarget {
            uri: parse(&format!("{}/", sts_url.trim_end_matches('/')))?,
            headers,
            timeout: self.timeout,
        };
        let answer = client
            .exchange(Method::POST, &target, Bytes::from(body))
            .await
            .map_err(|e| format!("STS {sts_url}: {e}"))?;
        let text = String::from_utf8_lossy(&answer.body);
        if !answer.status.is_success() {
            return Err(format!(
                "STS AssumeRoleWithWebIdentity for {role_arn}: HTTP {}: {}",
                answer.status,
                xml_tag(&text, "Message").unwrap_or_else(|| answer.body_excerpt())
            ));
        }
        let get =
            |tag: &str| xml_tag(&text, tag).ok_or_else(|| format!("STS answer without <{tag}>"));
        Ok(Cached {
            credentials: with_token(
                &get("AccessKeyId")?,
                &get("SecretAccessKey")?,
                &get("SessionToken")?,
            ),
            expires: expiry(&get("Expiration")?)?,
        })
    }
}

/// One IMDS request with one header; the trimmed body of a 2xx answer.
async fn imds_call(
    client: &HttpClient,
    endpoint: &str,
    method: Method,
    path: &str,
    header: (&'static str, &str),
) -> Result<String, String> {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static(header.0),
        HeaderValue::from_str(header.1).map_err(|e| e.to_string())?,
    );
    let target = HttpTarget {
        uri: parse(&format!("{endpoint}{path}"))?,
        headers,
        timeout: IMDS_TIMEOUT,
    };
    let answer = client
        .exchange(method, &target, Bytes::new())
        .await
        .map_err(|e| format!("instance metadata {endpoint}: {e}"))?;
    if !answer.status.is_success() {
        return Err(format!(
            "instance metadata {path}: HTTP {}: {}",
            answer.status,
            answer.body_excerpt()
        ));
    }
    Ok(String::from_utf8_lossy(&answer.body).trim().to_string())
}

/// IMDSv2: a session token, the instance profile's role name, its credentials.
async fn instance_metadata(client: &HttpClient, endpoint: &str) -> Result<Cached, String> {
    let call = |method: Method, path: String, header: (&'static str, String)| async move {
        imds_call(client, endpoint, method, &path, (header.0, &header.1)).await
    };
    let token = call(
        Method::PUT,
        "/latest/api/token".to_string(),
        ("x-aws-ec2-metadata-token-ttl-seconds", "21600".to_string()),
    )
    .await?;
    let auth = ("x-aws-ec2-metadata-token", token);
    let roles = call(
        Method::GET,
        "/latest/meta-data/iam/security-credentials/".to_string(),
        auth.clone(),
    )
    .await?;
    let role = roles
        .lines()
        .next()
        .filter(|r| !r.is_empty())
        .ok_or("instance metadata: no instance profile role")?
        .to_string();
    let doc = call(
        Method::GET,
        format!("/latest/meta-data/iam/security-credentials/{role}"),
        auth,
    )
    .await?;
    let v: serde_json::Value =
        serde_json::from_str(&doc).map_err(|e| format!("instance metadata credentials: {e}"))?;
    let s = |k: &str| {
        v[k].as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("instance metadata credentials without {k}"))
    };
    if let Some(code) = v["Code"].as_str()
        && code != "Success"
    {
        return Err(format!("instance metadata credentials: Code {code}"));
    }
    Ok(Cached {
        credentials: with_token(&s("AccessKeyId")?, &s("SecretAccessKey")?, &s("Token")?),
        expires: expiry(&s("Expiration")?)?,
    })
}

fn with_token(key: &str, secret: &str, token: &str) -> Credentials {
    if token.is_empty() {
        Credentials::new(key, secret)
    } else {
        Credentials::new_with_token(key, secret, token)
    }
}

fn parse(url: &str) -> Result<Uri, String> {
    url.parse::<Uri>().map_err(|e| format!("{url:?}: {e}"))
}

fn expiry(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expiration {s:?}: {e}"))
}

/// The text of the first `<tag>…</tag>` (STS answers are flat enough).
fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].trim().to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn sources_are_tried_in_sdk_order() {
        let cfg = S3Config::default();
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            CredentialProvider::resolve(&cfg, &env(pairs))
                .map(|p| p.describe())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            with(&[
                ("AWS_ACCESS_KEY_ID", "a"),
                ("AWS_SECRET_ACCESS_KEY", "b"),
                ("AWS_ROLE_ARN", "r")
            ]),
            Ok("static keys (config or environment)")
        );
        assert_eq!(
            with(&[("AWS_ROLE_ARN", "r"), ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")]),
            Ok("web identity (STS AssumeRoleWithWebIdentity)")
        );
        assert_eq!(with(&[]), Ok("instance metadata (IMDSv2)"));
        let err = with(&[("AWS_EC2_METADATA_DISABLED", "true")]).unwrap_err();
        assert!(err.contains("outputs.s3.access_key_id"), "{err}");
        let half = S3Config {
            access_key_id: "AK".into(),
            ..S3Config::default()
        };
        assert!(CredentialProvider::resolve(&half, &env(&[])).is_err());
    }

    #[test]
    fn sts_answer_fields_are_read() {
        let xml = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
            <Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
            <SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>\
            </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        assert_eq!(xml_tag(xml, "AccessKeyId").as_deref(), Some("ASIAX"));
        assert_eq!(
            expiry(&xml_tag(xml, "Expiration").unwrap())
                .unwrap()
                .timestamp(),
            1_893_456_000
        );
        assert_eq!(xml_tag(xml, "Missing"), None);
    }
}
