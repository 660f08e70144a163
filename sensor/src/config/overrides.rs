//! `-o key.path=value` overrides. The value is typed by the key it targets
//! (looked up in the defaults), so `-o cluster=123` stays a string and
//! `-o grpc.resume_buffer=abc` is refused with the key named.

use super::{Config, ConfigError};
use serde_yaml::{Mapping, Value};

/// Applies one `key.path=value` override to the YAML document.
pub(super) fn apply(doc: &mut Value, spec: &str) -> Result<(), ConfigError> {
    let err = |message: String| ConfigError::Override {
        spec: spec.to_string(),
        message,
    };
    let (path, raw) = spec
        .split_once('=')
        .ok_or_else(|| err("expected key.path=value".to_string()))?;
    let path = path.trim();
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(err(format!("malformed key {path:?}")));
    }
    let defaults = serde_yaml::to_value(Config::default())
        .map_err(|e| err(format!("internal: cannot serialize defaults: {e}")))?;
    let template = lookup_template(&defaults, &keys)
        .ok_or_else(|| err(format!("unknown config key `{path}`")))?;
    let value = typed_value(template, raw).map_err(|m| err(format!("key `{path}`: {m}")))?;
    set(doc, &keys, value).map_err(|m| err(format!("key `{path}`: {m}")))
}

/// The default value at `keys`, an empty string for a new entry of a map
/// whose keys are free (e.g. `outputs.webhook.headers.X-Token`), or null
/// (any YAML) below an optional section.
fn lookup_template<'a>(defaults: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    static FREE_STRING: Value = Value::String(String::new());
    static ANY: Value = Value::Null;
    let mut cur = defaults;
    for (i, key) in keys.iter().enumerate() {
        // Below an optional section that is unset by default (basic_auth,
        // response) the value is taken as YAML and checked when the whole
        // config is deserialized.
        if cur.is_null() {
            return Some(&ANY);
        }
        let map = cur.as_mapping()?;
        match map.get(*key) {
            Some(next) => cur = next,
            // Maps that are free-form (headers, labels) are the only ones whose
            // last path element may be absent from the defaults.
            None if i == keys.len() - 1 && is_free_map(keys) => return Some(&FREE_STRING),
            None => return None,
        }
    }
    Some(cur)
}

fn is_free_map(keys: &[&str]) -> bool {
    let parent = &keys[..keys.len() - 1];
    matches!(
        parent,
        ["outputs", "webhook", "headers"]
            | ["outputs", "loki", "extra_labels"]
            | ["response", "label_pod", "labels"]
    )
}

fn typed_value(template: &Value, raw: &str) -> Result<Value, String> {
    let parsed = || serde_yaml::from_str::<Value>(raw).map_err(|e| e.to_string());
    match template {
        Value::String(_) => Ok(Value::String(raw.to_string())),
        Value::Bool(_) => match raw.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            other => Err(format!("expected true or false, got {other:?}")),
        },
        Value::Number(n) => {
            let v = parsed()?;
            match &v {
                Value::Number(_) if n.is_f64() => Ok(v),
                Value::Number(p) if p.is_u64() || p.is_i64() => Ok(v),
                _ => Err(format!("expected an integer, got {raw:?}")),
            }
        }
        Value::Sequence(_) => {
            if raw.trim_start().starts_with('[') {
                match parsed()? {
                    v @ Value::Sequence(_) => Ok(v),
                    _ => Err(format!("expected a list, got {raw:?}")),
                }
            } else if raw.trim().is_empty() {
                Ok(Value::Sequence(Vec::new()))
            } else {
                Ok(Value::Sequence(
                    raw.split(',')
                        .map(|s| Value::String(s.trim().to_string()))
                        .collect(),
                ))
            }
        }
        Value::Mapping(_) => match parsed()? {
            v @ Value::Mapping(_) => Ok(v),
            _ => Err(format!(
                "is a section; set one of its keys or give a {{...}} map, got {raw:?}"
            )),
        },
        // Optional keys (paths, basic auth): take the YAML value as written.
        Value::Null | Value::Tagged(_) => parsed(),
    }
}

fn set(doc: &mut Value, keys: &[&str], value: Value) -> Result<(), String> {
    let mut cur = doc;
    for (i, key) in keys.iter().enumerate() {
        if cur.is_null() {
            *cur = Value::Mapping(Mapping::new());
        }
        let map = cur.as_mapping_mut().ok_or_else(|| {
            format!(
                "`{}` in the config file is not a section",
                keys[..i].join(".")
            )
        })?;
        let k = Value::String((*key).to_string());
        if i == keys.len() - 1 {
            map.insert(k, value);
            return Ok(());
        }
        cur = map.entry(k).or_insert(Value::Null);
    }
    Ok(())
}
