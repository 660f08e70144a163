use super::*;
use falco_proto::v1::Priority;
use std::io::Write;

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn empty_file_gives_documented_defaults() {
    let f = write_config("");
    let cfg = Config::load(Some(f.path()), &[]).unwrap();
    assert_eq!(cfg.grpc.listen, "127.0.0.1:5060");
    assert_eq!(cfg.metrics.listen, "127.0.0.1:8765");
    assert_eq!(cfg.grpc.resume_buffer, 10_000);
    assert!(!cfg.grpc.allow_actions);
    assert!(!cfg.interop.falco_http.enabled);
    assert!(cfg.outputs.stdout.enabled);
    assert!(cfg.outputs.slack.forward.aggregation.enabled);
    assert!(cfg.outputs.loki.forward.tls_verify);
    assert_eq!(cfg.outputs.loki.extra_labels.get("job").unwrap(), "falco");
}

#[test]
fn unknown_key_names_key_and_file() {
    let f = write_config("grpc:\n  listen: 127.0.0.1:1\n  lisen: x\n");
    let err = Config::load(Some(f.path()), &[]).unwrap_err().to_string();
    assert!(err.contains("lisen"), "{err}");
    assert!(err.contains(&f.path().display().to_string()), "{err}");
    assert!(err.contains("grpc"), "{err}");
}

#[test]
fn wrong_type_names_key() {
    let f = write_config("outputs:\n  loki:\n    forward:\n      batch_size: lots\n");
    let err = Config::load(Some(f.path()), &[]).unwrap_err().to_string();
    assert!(err.contains("outputs.loki.forward.batch_size"), "{err}");
}

#[test]
fn bad_priority_is_explained() {
    let err = Config::from_yaml("rules:\n  min_priority: loud\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("loud") && err.contains("Warning"), "{err}");
}

#[test]
fn overrides_are_typed_by_target_key() {
    let f = write_config("cluster: prod\ngrpc:\n  resume_buffer: 50\n");
    let cfg = Config::load(
        Some(f.path()),
        &[
            "cluster=123".to_string(),
            "grpc.resume_buffer=77".to_string(),
            "grpc.allow_actions=true".to_string(),
            "outputs.slack.forward.min_priority=Critical".to_string(),
            "outputs.webhook.headers.X-Token=abc".to_string(),
            "rules.disabled_tags=network,k8s".to_string(),
            "grpc.tls.cert=/tmp/c.pem".to_string(),
            "grpc.tls.key=/tmp/k.pem".to_string(),
            "outputs.loki.basic_auth.username=grafana".to_string(),
        ],
    )
    .unwrap();
    assert_eq!(cfg.cluster, "123");
    assert_eq!(cfg.grpc.resume_buffer, 77);
    assert!(cfg.grpc.allow_actions);
    assert_eq!(cfg.outputs.slack.forward.min_priority, Priority::Critical);
    assert_eq!(cfg.outputs.webhook.headers.get("X-Token").unwrap(), "abc");
    assert_eq!(cfg.rules.disabled_tags, vec!["network", "k8s"]);
    assert_eq!(cfg.outputs.loki.basic_auth.unwrap().username, "grafana");
    assert_eq!(
        cfg.grpc.tls.cert.as_deref(),
        Some(std::path::Path::new("/tmp/c.pem"))
    );
}

#[test]
fn override_errors_name_the_key() {
    let cases = [
        ("grpc.resume_bufer=1", "grpc.resume_bufer"),
        ("grpc.resume_buffer=abc", "grpc.resume_buffer"),
        ("grpc.allow_actions=yes please", "grpc.allow_actions"),
        ("nonsense", "nonsense"),
        ("outputs.loki.basic_auth.usr=x", "usr"),
    ];
    for (spec, key) in cases {
        let err = Config::load(None, &[spec.to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{spec}: {err}");
    }
}

#[test]
fn validation_names_the_key() {
    let err = Config::from_yaml("grpc:\n  tls:\n    cert: /a\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("grpc.tls"), "{err}");
    let err = Config::from_yaml("outputs:\n  loki:\n    enabled: true\n    url: loki:3100\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("outputs.loki"), "{err}");
    let err = Config::from_yaml("outputs:\n  loki:\n    labels: [pod_ip]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("pod_ip"), "{err}");
}

fn leaf_paths(v: &serde_yaml::Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        serde_yaml::Value::Mapping(m)
            if !m.is_empty()
                && prefix != "outputs.loki.extra_labels"
                && prefix != "response.label_pod.labels" =>
        {
            for (k, v) in m {
                let k = k.as_str().unwrap();
                let p = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(v, &p, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn every_key_is_documented_in_docs_config_md() {
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let defaults = serde_yaml::to_value(Config::default()).unwrap();
    let mut paths = Vec::new();
    leaf_paths(&defaults, "", &mut paths);
    let missing: Vec<_> = paths
        .iter()
        .filter(|p| !doc.contains(&format!("`{p}`")))
        .collect();
    assert!(missing.is_empty(), "undocumented config keys: {missing:?}");
}

#[test]
fn documented_default_file_parses_to_the_defaults() {
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let start = doc.find("## Full default file").unwrap();
    let block = &doc[start..];
    let yaml = block
        .split("```yaml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let documented = Config::from_yaml(yaml).unwrap();
    let as_yaml = |c: &Config| serde_yaml::to_string(c).unwrap();
    assert_eq!(as_yaml(&documented), as_yaml(&Config::default()));
}

#[test]
fn comment_only_file_is_the_defaults() {
    let f = write_config("# nothing configured yet\n");
    let cfg = Config::load(Some(f.path()), &["cluster=c1".to_string()]).unwrap();
    assert_eq!(cfg.cluster, "c1");
    assert_eq!(cfg.grpc.listen, "127.0.0.1:5060");
}

/// The issue's case: one nested key must not reset Slack's own defaults.
#[test]
fn partial_slack_forward_keeps_slack_defaults() {
    let cfg = Config::load(
        None,
        &["outputs.slack.forward.aggregation.window_secs=3".to_string()],
    )
    .unwrap();
    let fwd = &cfg.outputs.slack.forward;
    assert_eq!(fwd.aggregation.window_secs, 3);
    assert!(fwd.aggregation.enabled, "Slack aggregates by default");
    assert_eq!(fwd.min_priority, Priority::Warning);
    let f = write_config(
        "outputs:\n  slack:\n    forward:\n      aggregation:\n        window_secs: 3\n",
    );
    let cfg = Config::load(Some(f.path()), &[]).unwrap();
    assert!(cfg.outputs.slack.forward.aggregation.enabled);
    assert_eq!(cfg.outputs.slack.forward.min_priority, Priority::Warning);
}

/// Every sink that has a `forward` section, found in the defaults so a new
/// sink is covered without touching this test.
fn forwarding_sinks(defaults: &serde_yaml::Value) -> Vec<String> {
    let outputs = defaults["outputs"].as_mapping().unwrap();
    outputs
        .iter()
        .filter(|(_, v)| v.get("forward").is_some())
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect()
}

/// A value for a leaf that differs from its default: the `-o` text and the
/// YAML value it stands for.
fn changed_leaf(key: &str, default: &serde_yaml::Value) -> (String, serde_yaml::Value) {
    use serde_yaml::Value;
    match default {
        Value::Bool(b) => ((!b).to_string(), Value::Bool(!b)),
        Value::Number(n) => {
            let v = n.as_u64().unwrap() + 7;
            (v.to_string(), Value::Number(v.into()))
        }
        Value::String(s) if key.ends_with("priority") => {
            let p = if s == "Critical" { "Error" } else { "Critical" };
            (p.to_string(), Value::String(p.to_string()))
        }
        Value::String(s) => {
            let v = format!("{s}-changed");
            (v.clone(), Value::String(v))
        }
        Value::Sequence(_) => (
            "rule".to_string(),
            Value::Sequence(vec![Value::String("rule".to_string())]),
        ),
        Value::Null => (
            "/tmp/changed".to_string(),
            Value::String("/tmp/changed".to_string()),
        ),
        other => panic!("no changed value for {key}: {other:?}"),
    }
}

fn set_path(v: &mut serde_yaml::Value, path: &[&str], leaf: serde_yaml::Value) {
    let mut cur = v;
    for k in &path[..path.len() - 1] {
        cur = cur.get_mut(*k).unwrap();
    }
    cur[path[path.len() - 1]] = leaf;
}

fn nested_yaml(path: &[&str], leaf: &serde_yaml::Value) -> serde_yaml::Value {
    path.iter().rev().fold(leaf.clone(), |acc, k| {
        let mut m = serde_yaml::Mapping::new();
        m.insert(serde_yaml::Value::String((*k).to_string()), acc);
        serde_yaml::Value::Mapping(m)
    })
}

/// For every sink with a `forward` section and every key below it: setting
/// that one key (in a file, and with `-o`) leaves every other key of the sink
/// at the sink's own default (the defaults docs/config.md documents, see
/// `documented_default_file_parses_to_the_defaults`).
#[test]
fn one_nested_forward_key_keeps_every_other_sink_default() {
    let defaults = serde_yaml::to_value(Config::default()).unwrap();
    let sinks = forwarding_sinks(&defaults);
    assert!(sinks.len() >= 3, "{sinks:?}");
    for sink in sinks {
        let section = &defaults["outputs"][sink.as_str()];
        let mut leaves = Vec::new();
        leaf_paths(&section["forward"], "", &mut leaves);
        for leaf in leaves {
            let mut path = vec!["outputs", sink.as_str(), "forward"];
            path.extend(leaf.split('.'));
            let mut target: &serde_yaml::Value = &defaults;
            for k in &path {
                target = &target[*k];
            }
            let (raw, value) = changed_leaf(&leaf, target);
            let mut expected = section.clone();
            set_path(&mut expected, &path[2..], value.clone());
            let key = path.join(".");

            let by_option = Config::load(None, &[format!("{key}={raw}")])
                .unwrap_or_else(|e| panic!("-o {key}={raw}: {e}"));
            let by_option = serde_yaml::to_value(&by_option).unwrap();
            assert_eq!(
                by_option["outputs"][sink.as_str()],
                expected,
                "-o {key}={raw} changed other keys of outputs.{sink}"
            );

            let f = write_config(&serde_yaml::to_string(&nested_yaml(&path, &value)).unwrap());
            let by_file = Config::load(Some(f.path()), &[]).unwrap();
            let by_file = serde_yaml::to_value(&by_file).unwrap();
            assert_eq!(
                by_file["outputs"][sink.as_str()],
                expected,
                "{key} in a file changed other keys of outputs.{sink}"
            );
        }
    }
}

#[test]
fn option_adds_to_free_map_without_dropping_defaults() {
    let cfg = Config::load(None, &["outputs.loki.extra_labels.team=a".to_string()]).unwrap();
    assert_eq!(cfg.outputs.loki.extra_labels.get("job").unwrap(), "falco");
    assert_eq!(cfg.outputs.loki.extra_labels.get("team").unwrap(), "a");
}

#[test]
fn empty_nested_section_is_the_sink_defaults() {
    let cfg = Config::from_yaml("outputs:\n  slack:\n    forward:\n").unwrap();
    assert_eq!(cfg.outputs.slack.forward.min_priority, Priority::Warning);
    assert!(cfg.outputs.slack.forward.aggregation.enabled);
}

#[test]
fn new_sink_keys_are_settable_with_o() {
    let o = |s: &str| s.to_string();
    let cfg = Config::load(
        None,
        &[
            o("outputs.discord.enabled=true"),
            o("outputs.discord.webhook_url=https://discord.com/api/webhooks/1/t"),
            o("outputs.teams.enabled=true"),
            o("outputs.teams.webhook_url=https://example.logic.azure.com/x"),
            o("outputs.elasticsearch.enabled=true"),
            o("outputs.elasticsearch.url=https://es:9200"),
            o("outputs.elasticsearch.index=sec-%Y.%m"),
            o("outputs.elasticsearch.basic_auth.username=elastic"),
            o("outputs.s3.enabled=true"),
            o("outputs.s3.bucket=alerts"),
            o("outputs.s3.endpoint=http://minio:9000"),
            o("outputs.s3.region=eu-west-1"),
            o("outputs.s3.prefix=falco/prod"),
            o("outputs.s3.access_key_id=AK"),
            o("outputs.s3.secret_access_key=SK"),
            o("outputs.smtp.enabled=true"),
            o("outputs.smtp.host=smtp.example.com"),
            o("outputs.smtp.port=465"),
            o("outputs.smtp.tls=tls"),
            o("outputs.smtp.from=falco@example.com"),
            o("outputs.smtp.to=a@example.com,b@example.com"),
        ],
    )
    .unwrap();
    let out = &cfg.outputs;
    assert!(out.discord.enabled && out.teams.enabled);
    assert_eq!(out.discord.forward.min_priority, Priority::Warning);
    assert_eq!(out.elasticsearch.index, "sec-%Y.%m");
    assert_eq!(
        out.elasticsearch.basic_auth.as_ref().unwrap().username,
        "elastic"
    );
    assert_eq!(out.s3.prefix, "falco/prod");
    assert_eq!(out.s3.region, "eu-west-1");
    assert_eq!(out.smtp.port, 465);
    assert_eq!(out.smtp.tls, SmtpTls::Tls);
    assert_eq!(out.smtp.to, vec!["a@example.com", "b@example.com"]);
    assert!(out.smtp.forward.aggregation.enabled, "digest by default");
    let err = Config::load(None, &[o("outputs.smtp.tls=ssl")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("outputs.smtp.tls") || err.contains("tls"),
        "{err}"
    );
    assert!(err.contains("starttls"), "{err}");
}

#[test]
fn capture_env_is_auto_by_default_and_takes_booleans_in_files_and_overrides() {
    assert_eq!(Config::default().probe.capture_env, CaptureEnv::Auto);
    for (yaml, want) in [
        ("probe:\n  capture_env: true\n", CaptureEnv::On),
        ("probe:\n  capture_env: false\n", CaptureEnv::Off),
        ("probe:\n  capture_env: auto\n", CaptureEnv::Auto),
    ] {
        assert_eq!(
            Config::from_yaml(yaml).unwrap().probe.capture_env,
            want,
            "{yaml}"
        );
    }
    for (spec, want) in [
        ("probe.capture_env=true", CaptureEnv::On),
        ("probe.capture_env=false", CaptureEnv::Off),
        ("probe.capture_env=auto", CaptureEnv::Auto),
    ] {
        let cfg = Config::load(None, &[spec.to_string()]).unwrap();
        assert_eq!(cfg.probe.capture_env, want, "{spec}");
    }
    let err = Config::load(None, &["probe.capture_env=sometimes".to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("probe.capture_env") && err.contains("sometimes"),
        "{err}"
    );
}

/// The kustomize component that turns the NATS sink on ships a config.yaml
/// the sensor accepts, with the sink on.
#[test]
fn deploy_nats_component_config_parses() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/deploy/components/nats/config-nats.yaml");
    let cm: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let text = cm["data"]["config.yaml"].as_str().unwrap();
    let cfg = Config::from_yaml(text).unwrap();
    cfg.validate().unwrap();
    assert!(cfg.outputs.nats.enabled);
    assert_eq!(cfg.outputs.nats.stream, "FALCO_ALERTS");
    assert!(cfg.outputs.nats.creds_file.is_some());
}
