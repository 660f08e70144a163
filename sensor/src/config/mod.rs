//! The sensor's single YAML config file, with a default for every key and
//! Falco-style `-o key.path=value` overrides. Every key is documented in
//! docs/config.md; keep that page in step with the structs below.

mod locate;
mod merge;
mod overrides;
pub mod response;
mod sections;

pub use sections::*;

use response::ResponseConfigError;

use std::path::{Path, PathBuf};

/// What went wrong loading the config; every variant names the file or key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("-o {spec}: {message}")]
    Override { spec: String, message: String },
    #[error("config key {key}: {message}")]
    Value { key: String, message: String },
    // Not a `#[source]`: the message already holds it, and error chains
    // would print it twice.
    #[error("config key {0}")]
    Response(ResponseConfigError),
    /// Another error with the position in the file of the key it names.
    #[error("{at}: {error}")]
    Located {
        /// `file:line:column`.
        at: String,
        error: Box<ConfigError>,
    },
}

impl From<ResponseConfigError> for ConfigError {
    fn from(e: ResponseConfigError) -> Self {
        ConfigError::Response(e)
    }
}

impl ConfigError {
    /// The dotted key path a validation error is about (`response.policies[0]`).
    fn key_path(&self) -> Option<String> {
        match self {
            ConfigError::Value { key, .. } => Some(key.clone()),
            ConfigError::Response(ResponseConfigError::Key { key, .. }) => {
                Some(format!("response.{key}"))
            }
            ConfigError::Response(ResponseConfigError::Policy { index, .. }) => {
                Some(format!("response.policies[{index}]"))
            }
            _ => None,
        }
    }

    /// Adds the file position of the key the error names, when the file
    /// sets it.
    fn located(self, path: &Path, text: &str) -> ConfigError {
        let Some(mark) = self.key_path().and_then(|k| locate::key(text, &k)) else {
            return self;
        };
        ConfigError::Located {
            at: format!("{}:{}:{}", path.display(), mark.line, mark.col),
            error: Box::new(self),
        }
    }
}

impl Config {
    /// Loads `path` (or only the defaults when `None`), lays it over the
    /// defaults (see merge.rs), applies the `-o` overrides in order, and
    /// validates the result.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigError> {
        let mut doc = serde_yaml::Value::Null;
        let mut file_text = None;
        if let Some(p) = path {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            doc = parse_checked(&text, &p.display().to_string())?;
            file_text = Some(text);
        }
        let mut doc = over_defaults(doc, &origin(path))?;
        for spec in overrides {
            overrides::apply(&mut doc, spec)?;
        }
        let origin = if overrides.is_empty() {
            origin(path)
        } else {
            format!("{} with -o overrides", origin(path))
        };
        let cfg = from_document(&doc, &origin)?;
        // Validation errors point at the line of the key in the file.
        cfg.validate().map_err(|e| match (path, &file_text) {
            (Some(p), Some(text)) => e.located(p, text),
            _ => e,
        })?;
        Ok(cfg)
    }

    /// Parses a config from YAML text (tests, embedded configs).
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let doc = parse_checked(text, "<inline>")?;
        let doc = over_defaults(doc, "<inline>")?;
        let cfg = from_document(&doc, "<inline>")?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Value {
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        if self.grpc.resume_buffer == 0 {
            return bad("grpc.resume_buffer", "must be at least 1");
        }
        if self.grpc.subscriber_queue == 0 {
            return bad("grpc.subscriber_queue", "must be at least 1");
        }
        let tls = &self.grpc.tls;
        if tls.cert.is_some() != tls.key.is_some() {
            return bad("grpc.tls", "cert and key must be set together");
        }
        if tls.client_ca.is_some() && tls.cert.is_none() {
            return bad(
                "grpc.tls.client_ca",
                "mutual TLS needs grpc.tls.cert and grpc.tls.key too",
            );
        }
        if self.outputs.file.enabled && self.outputs.file.path.as_os_str().is_empty() {
            return bad("outputs.file.path", "required when outputs.file.enabled");
        }
        for (name, url, enabled) in [
            (
                "outputs.loki",
                &self.outputs.loki.url,
                self.outputs.loki.enabled,
            ),
            (
                "outputs.slack",
                &self.outputs.slack.webhook_url,
                self.outputs.slack.enabled,
            ),
            (
                "outputs.webhook",
                &self.outputs.webhook.url,
                self.outputs.webhook.enabled,
            ),
        ] {
            if !enabled {
                continue;
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return bad(
                    &format!("{name} url"),
                    &format!("{url:?} is not an http:// or https:// URL"),
                );
            }
        }
        let o = &self.outputs;
        if o.alertmanager.enabled {
            if o.alertmanager.urls.is_empty() {
                return bad("outputs.alertmanager.urls", "at least one URL is required");
            }
            if let Some(u) = o
                .alertmanager
                .urls
                .iter()
                .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
            {
                return bad(
                    "outputs.alertmanager.urls",
                    &format!("{u:?} is not an http:// or https:// URL"),
                );
            }
        }
        if o.syslog.enabled && o.syslog.address.is_empty() {
            return bad(
                "outputs.syslog.address",
                "required when outputs.syslog.enabled",
            );
        }
        if o.nats.enabled {
            if o.nats.url.trim().is_empty() {
                return bad("outputs.nats.url", "required when outputs.nats.enabled");
            }
            if o.nats.stream.is_empty() || o.nats.stream.contains(['.', '*', '>', ' ', '\t']) {
                return bad(
                    "outputs.nats.stream",
                    "a stream name is required and has no '.', '*', '>' or whitespace",
                );
            }
            if o.nats.user.is_some() != o.nats.password.is_some() {
                return bad("outputs.nats.user", "user and password go together");
            }
        }
        for (name, enabled, fwd) in [
            ("outputs.loki", o.loki.enabled, &o.loki.forward),
            ("outputs.slack", o.slack.enabled, &o.slack.forward),
            ("outputs.webhook", o.webhook.enabled, &o.webhook.forward),
            (
                "outputs.alertmanager",
                o.alertmanager.enabled,
                &o.alertmanager.forward,
            ),
            ("outputs.syslog", o.syslog.enabled, &o.syslog.forward),
            ("outputs.nats", o.nats.enabled, &o.nats.forward),
        ] {
            if !enabled {
                continue;
            }
            if fwd.queue_capacity == 0 || fwd.batch_size == 0 {
                return bad(
                    &format!("{name}.forward"),
                    "queue_capacity and batch_size must be at least 1",
                );
            }
            if fwd.disk_buffer.dir.is_some() && fwd.disk_buffer.max_bytes < 64 << 10 {
                return bad(
                    &format!("{name}.forward.disk_buffer.max_bytes"),
                    "must be at least 65536 (64 KiB)",
                );
            }
        }
        self.response.validate()?;
        for label in &self.outputs.loki.labels {
            if !LOKI_LABELS.contains(&label.as_str()) {
                return bad(
                    "outputs.loki.labels",
                    &format!(
                        "unknown label {label:?} (known: {})",
                        LOKI_LABELS.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }
}

/// The YAML document of `text`, after a typed parse whose errors carry the
/// key path and line (the merged document has no lines to point at).
fn parse_checked(text: &str, origin: &str) -> Result<serde_yaml::Value, ConfigError> {
    if text.trim().is_empty() {
        return Ok(serde_yaml::Value::Null);
    }
    // The typed parse of the text first: its errors carry the key path and
    // the line, given as file:line:col.
    let invalid = |e: serde_yaml::Error| ConfigError::Invalid {
        path: match e.location() {
            Some(l) => format!("{origin}:{}:{}", l.line(), l.column()),
            None => origin.to_string(),
        },
        message: e.to_string(),
    };
    serde_yaml::from_str::<Config>(text).map_err(invalid)?;
    serde_yaml::from_str(text).map_err(invalid)
}

/// `doc` laid over the serialized defaults, so every default a section sets
/// for its nested sections survives a partial nested section.
fn over_defaults(doc: serde_yaml::Value, origin: &str) -> Result<serde_yaml::Value, ConfigError> {
    let defaults = serde_yaml::to_value(Config::default()).map_err(|e| ConfigError::Invalid {
        path: origin.to_string(),
        message: format!("internal: cannot serialize defaults: {e}"),
    })?;
    Ok(merge::overlay(defaults, doc))
}

/// Deserializes the merged document through text, so a type error that only
/// an override introduced still names the key path.
fn from_document(doc: &serde_yaml::Value, origin: &str) -> Result<Config, ConfigError> {
    let invalid = |e: serde_yaml::Error| ConfigError::Invalid {
        path: origin.to_string(),
        message: e.to_string(),
    };
    let text = serde_yaml::to_string(doc).map_err(invalid)?;
    serde_yaml::from_str(&text).map_err(invalid)
}

fn origin(path: Option<&Path>) -> String {
    path.map_or_else(|| "<defaults>".to_string(), |p| p.display().to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
