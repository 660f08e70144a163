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
