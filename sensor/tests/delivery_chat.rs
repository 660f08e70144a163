//! Discord and Microsoft Teams sinks against local HTTP receivers (no real
//! Discord or Teams can run here) checking the documented wire formats:
//! Discord execute-webhook JSON with an embed, a Teams Workflows message
//! with an Adaptive Card; hostile event data must arrive inert.
#![allow(clippy::unwrap_used)]

mod delivery_support;

use delivery_support::*;
use falco_proto::v1::{Alert, Priority};
use falco_sensor::config::ForwardConfig;
use serde_json::{Value, json};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

fn fast() -> ForwardConfig {
    ForwardConfig {
        min_priority: Priority::Warning,
        batch_wait_ms: 20,
        backoff_initial_ms: 5,
        backoff_max_ms: 50,
        max_retries: 100_000,
        ..ForwardConfig::default()
    }
}

const HOSTILE: &str = "@everyone @here <@123456789> <@&42> <#77> **bold** __u__ \
    ~~s~~ ||spoiler|| `code` [click](https://evil.example) https://evil.example \
    <script>x</script> &lt;b&gt; <at>Bob</at>\r\n# Heading\n> quote\n- item";

fn hostile_alert() -> Alert {
    let mut a = alert("Shell in pod", Priority::Critical, "prod", HOSTILE);
    a.output = format!("Shell spawned {HOSTILE}");
    a.output_fields.insert(
        "fd.name".into(),
        "/tmp/x\r\nBcc: a@b.c [l](http://e)".into(),
    );
    a
}

/// Every character of `s` that markdown gives a meaning is preceded by a backslash.
fn assert_inert_markdown(s: &str) {
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        assert!(
            !"`*_~|<>#[]():@&".contains(c) && !c.is_control(),
            "unescaped {c:?} in {s:?}"
        );
    }
}

#[tokio::test]
async fn discord_embed_is_coloured_and_hostile_data_inert() {
    let rx = Receiver::start("127.0.0.1:0").await;
    let mut cfg = test_config();
    cfg.outputs.discord.enabled = true;
    cfg.outputs.discord.webhook_url = format!("{}/api/webhooks/123/tok", rx.url());
    cfg.outputs.discord.forward = fast();
    let h = start_delivery(&cfg).await;
    h.publish(alert("too quiet", Priority::Notice, "prod", "ls"));
    h.publish(hostile_alert());
    wait_until("one discord message", || rx.taken().len() == 1).await;
    let r = &rx.taken()[0];
    assert_eq!(r.path, "/api/webhooks/123/tok");
    assert_eq!(r.headers["content-type"], "application/json");
    let m: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(m["allowed_mentions"], json!({"parse": []}));
    assert_eq!(m["username"], "falco-sensor");
    let e = &m["embeds"][0];
    assert_eq!(e["color"], 0xff9000);
    assert_eq!(e["timestamp"], "2024-05-01T10:00:00.000000000Z");
    let desc = e["description"].as_str().unwrap();
    assert!(
        desc.starts_with("Shell spawned \\@everyone \\@here \\<\\@123456789\\>"),
        "{desc}"
    );
    assert_inert_markdown(desc);
    assert_inert_markdown(m["content"].as_str().unwrap());
    assert_inert_markdown(e["title"].as_str().unwrap());
    let fields = e["fields"].as_array().unwrap();
    for f in fields {
        assert_inert_markdown(f["value"].as_str().unwrap());
        assert_eq!(f["inline"], true);
    }
    let get = |n: &str| {
        fields
            .iter()
            .find(|f| f["name"] == n)
            .map(|f| f["value"].as_str().unwrap().to_string())
    };
    assert_eq!(get("rule").unwrap(), "Shell in pod");
    assert_eq!(get("k8s\\.ns\\.name").unwrap(), "prod");
    assert_eq!(get("cluster").unwrap(), "test\\-cluster");
    assert_eq!(
        get("fd\\.name").unwrap(),
        "/tmp/x\\\\x0d\\\\x0aBcc\\: a\\@b\\.c \\[l\\]\\(http\\://e\\)"
    );
}

#[tokio::test]
async fn discord_rate_limit_and_outage_then_every_alert_once() {
    let rx = Receiver::start("127.0.0.1:0").await;
    rx.status.store(503, SeqCst);
    let mut cfg = test_config();
    cfg.outputs.discord.enabled = true;
    cfg.outputs.discord.webhook_url = format!("{}/api/webhooks/1/t", rx.url());
    cfg.outputs.discord.forward = fast();
    cfg.outputs.discord.forward.aggregation.enabled = false;
    let h = start_delivery(&cfg).await;
    for i in 0..10 {
        h.publish(alert(
            "Shell in pod",
            Priority::Error,
            "prod",
            &format!("cmd {i}"),
        ));
    }
    let c = h.bus().counters().sink("discord");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(c.sent.load(Relaxed), 0);
    rx.status.store(429, SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    rx.status.store(200, SeqCst);
    wait_until("10 messages", || c.sent.load(Relaxed) == 10).await;
    let mut cmds: Vec<String> = rx
        .taken()
        .iter()
        .map(|r| {
            let m: Value = serde_json::from_slice(&r.body).unwrap();
            let f = m["embeds"][0]["fields"].as_array().unwrap().clone();
            f.iter().find(|f| f["name"] == "proc\\.cmdline").unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    cmds.sort();
    let want: Vec<String> = (0..10).map(|i| format!("cmd {i}")).collect();
    assert_eq!(cmds, want);
    assert_eq!(c.failed.load(Relaxed), 0);
}

#[tokio::test]
async fn teams_adaptive_card_carries_the_alert_and_hostile_data_inert() {
    let rx = Receiver::start("127.0.0.1:0").await;
    let mut cfg = test_config();
    cfg.outputs.teams.enabled = true;
    cfg.outputs.teams.webhook_url = format!(
        "{}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=x",
        rx.url()
    );
    cfg.outputs.teams.forward = fast();
    let h = start_delivery(&cfg).await;
    h.publish(hostile_alert());
    wait_until("one teams message", || rx.taken().len() == 1).await;
    let r = &rx.taken()[0];
    assert_eq!(r.path, "/workflows/abc/triggers/manual/paths/invoke");
    let m: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(m["type"], "message");
    let att = &m["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &att["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert!(
        card.get("msteams").unwrap().get("entities").is_none(),
        "no mentions"
    );
    let body = card["body"].as_array().unwrap();
    // Only RichTextBlock/TextRun: text the schema never reads as markdown.
    for el in body {
        assert_eq!(el["type"], "RichTextBlock", "{el}");
        for run in el["inlines"].as_array().unwrap() {
            assert_eq!(run["type"], "TextRun");
            assert!(!run["text"].as_str().unwrap().chars().any(char::is_control));
        }
    }
    let title = &body[0]["inlines"][0];
    assert_eq!(title["text"], "Critical Shell in pod");
    assert_eq!(title["color"], "Attention");
    assert_eq!(title["weight"], "Bolder");
    let text = body[1]["inlines"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Shell spawned @everyone @here <@123456789>"),
        "{text}"
    );
    assert!(text.contains("\\x0d\\x0a# Heading\\x0a> quote"), "{text}");
    let field = |name: &str| {
        body.iter()
            .find(|el| el["inlines"][0]["text"] == format!("{name}: "))
            .map(|el| el["inlines"][1]["text"].as_str().unwrap().to_string())
    };
    assert_eq!(field("k8s.ns.name").unwrap(), "prod");
    assert_eq!(field("cluster").unwrap(), "test-cluster");
    assert!(
        field("proc.cmdline")
            .unwrap()
            .starts_with("@everyone @here <@123456789> <@&42>")
    );
    assert_eq!(
        field("fd.name").unwrap(),
        "/tmp/x\\x0d\\x0aBcc: a@b.c [l](http://e)"
    );
}
