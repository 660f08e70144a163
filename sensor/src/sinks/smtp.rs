//! E-mail over SMTP (lettre on tokio + rustls): one message per batch, a
//! text and an HTML part. Aggregation is on by default, so a storm of
//! identical alerts is one line with a count, and everything due at the same
//! time leaves as one digest (up to `batch_size` groups per mail).
//!
//! Event data never becomes markup or headers: the subject is built from the
//! priority and rule with every control character (CR, LF, ...) dropped, and
//! lettre encodes it; bodies are text/plain with control characters shown as
//! `\x0d` etc., and HTML with every value entity-escaped.

use super::SinkError;
use super::aggregate::Item;
use super::format::{aggregate_suffix, rfc3339_ns, sanitize_terminal};
use super::forward::{Encoder, Payload};
use super::http::{HttpClient, HttpTarget, PostOutcome};
use crate::config::{SmtpConfig, SmtpTls};
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt::Write;
use std::time::Duration;

const KEY: &str = "outputs.smtp";
/// Longest subject, in characters, before "…".
const SUBJECT_MAX: usize = 200;

pub struct SmtpEncoder {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    envelope: Envelope,
    subject_prefix: String,
    /// For the whole exchange: lettre's own timeout only covers connecting.
    timeout: Duration,
}

impl SmtpEncoder {
    pub fn new(cfg: &SmtpConfig, hostname: &str) -> Result<Self, SinkError> {
        let bad = |key: &str, message: String| SinkError::Config {
            key: format!("{KEY}.{key}"),
            message,
        };
        if cfg.host.is_empty() {
            return Err(bad("host", "required when outputs.smtp.enabled".into()));
        }
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| bad("from", format!("{:?}: {e}", cfg.from)))?;
        if cfg.to.is_empty() {
            return Err(bad("to", "at least one recipient is required".into()));
        }
        let to = cfg
            .to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|e| bad("to", format!("{t:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(
            Some(from.email.clone()),
            to.iter().map(|m| m.email.clone()).collect(),
        )
        .map_err(|e| bad("to", e.to_string()))?;
        let tls_params = || -> Result<TlsParameters, SinkError> {
            let mut b = TlsParameters::builder(cfg.host.clone())
                .dangerous_accept_invalid_certs(!cfg.forward.tls_verify);
            if let Some(path) = &cfg.forward.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| bad("forward.ca_file", format!("{}: {e}", path.display())))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| bad("forward.ca_file", format!("{}: {e}", path.display())))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| SinkError::Tls {
                key: KEY.to_string(),
                message: e.to_string(),
            })
        };
        let tls = match cfg.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(Duration::from_millis(cfg.forward.timeout_ms.max(1))));
        // EHLO names this node; only hostname characters go on the wire.
        let helo: String = hostname
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            .collect();
        if !helo.is_empty() {
            builder = builder.hello_name(ClientId::Domain(helo));
        }
        match (cfg.username.is_empty(), cfg.password.is_empty()) {
            (true, true) => {}
            (false, _) => {
                builder = builder
                    .credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
            }
            (true, false) => {
                return Err(bad("username", "password is set without username".into()));
            }
        }
        Ok(SmtpEncoder {
            transport: builder.build(),
            from,
            to,
            envelope,
            subject_prefix: one_line(&cfg.subject_prefix),
            timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
        })
    }

    pub fn subject(&self, batch: &[Item]) -> String {
        let mut s = String::new();
        if !self.subject_prefix.is_empty() {
            s.push_str(&self.subject_prefix);
            s.push(' ');
        }
        let worst = batch
            .iter()
            .min_by_key(|i| i.alert.priority)
            .map(|i| i.alert.as_ref());
        let total: u64 = batch.iter().map(|i| i.count).sum();
        if let Some(a) = worst {
            let rule = one_line(&a.rule);
            if total == 1 {
                let _ = write!(s, "{}: {rule}", a.priority().falco_name());
            } else {
                let rules = batch
                    .iter()
                    .map(|i| i.alert.rule.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
                let _ = write!(s, "{total} alerts, {}: {rule}", a.priority().falco_name());
                if rules > 1 {
                    let _ = write!(s, " and {} more rule(s)", rules - 1);
                }
            }
        }
        if s.chars().count() > SUBJECT_MAX {
            s = s.chars().take(SUBJECT_MAX).collect();
            s.push('…');
        }
        s
    }

    fn message(&self, batch: &[Item]) -> Result<Vec<u8>, String> {
        let first = batch.first().ok_or("empty batch")?;
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(self.subject(batch))
            // Stable across retries, so a receiver can drop a duplicate.
            .message_id(Some(format!(
                "<{}-{}@falco-sensor>",
                id_part(&first.alert.sensor_id),
                first.alert.seq
            )));
        for t in &self.to {
            b = b.to(t.clone());
        }
        let msg = b
            .multipart(MultiPart::alternative_plain_html(
                text_body(batch),
                html_body(batch),
            ))
            .map_err(|e| e.to_string())?;
        Ok(msg.formatted())
    }

    async fn deliver(&self, body: &[u8]) -> PostOutcome {
        if body.is_empty() {
            return PostOutcome::Refused("the message could not be built".into());
        }
        let send = self.transport.send_raw(&self.envelope, body);
        match tokio::time::timeout(self.timeout, send).await {
            Err(_) => PostOutcome::Retry(format!("timed out after {:?}", self.timeout)),
            Ok(Ok(_)) => PostOutcome::Accepted,
            // 5xx answers, and client-side impossibilities (no common AUTH
            // mechanism): the same mail cannot do better next time.
            Ok(Err(e)) if e.is_permanent() || e.is_client() => {
                PostOutcome::Refused(error_chain(&e))
            }
            Ok(Err(e)) => PostOutcome::Retry(error_chain(&e)),
        }
    }
}

impl Encoder for SmtpEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        let body = self.message(batch).unwrap_or_else(|e| {
            tracing::error!(sink = "smtp", "cannot build message: {e}");
            // An empty body is refused by deliver(), so these alerts count as failed.
            Vec::new()
        });
        vec![Payload {
            body: body.into(),
            alerts: batch.iter().map(|i| i.count).sum(),
        }]
    }

    fn send(
        &self,
        _client: &HttpClient,
        _target: &HttpTarget,
        payload: &Payload,
    ) -> impl Future<Output = PostOutcome> + Send {
        self.deliver(&payload.body)
    }
}

/// The forwarder wants an HTTP target; SMTP only uses its timeout, which
/// the transport already has.
pub fn target(cfg: &SmtpConfig) -> HttpTarget {
    HttpTarget {
        uri: hyper::Uri::from_static("http://localhost/"),
        headers: hyper::HeaderMap::new(),
        timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Drops control characters (CR, LF, TAB, ESC...) so a value stays on one line.
fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn id_part(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// Output fields worth a line, in this order, then the rest sorted.
fn fields(item: &Item) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = item
        .alert
        .output_fields
        .iter()
        .filter(|(_, v)| v.as_str() != "<NA>" && !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    v.sort();
    v
}

fn text_body(batch: &[Item]) -> String {
    let mut out = String::new();
    for (n, item) in batch.iter().enumerate() {
        let a = &item.alert;
        if n > 0 {
            out.push_str("\n----\n\n");
        }
        let _ = writeln!(
            out,
            "{} {}",
            a.priority().falco_name(),
            sanitize_terminal(&a.rule)
        );
        let _ = writeln!(out, "time: {}", rfc3339_ns(a.time_ns));
        if item.count > 1 {
            let _ = writeln!(out, "count:{}", aggregate_suffix(item));
        }
        let _ = writeln!(out, "output: {}", sanitize_terminal(&a.output));
        let _ = writeln!(out, "hostname: {}", sanitize_terminal(&a.hostname));
        if !a.cluster.is_empty() {
            let _ = writeln!(out, "cluster: {}", sanitize_terminal(&a.cluster));
        }
        if !a.tags.is_empty() {
            let _ = writeln!(out, "tags: {}", sanitize_terminal(&a.tags.join(", ")));
        }
        for (k, v) in fields(item) {
            let _ = writeln!(out, "  {}: {}", sanitize_terminal(k), sanitize_terminal(v));
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn color(p: falco_proto::v1::Priority) -> &'static str {
    use falco_proto::v1::Priority as P;
    match p {
        P::Emergency | P::Alert => "#b00020",
        P::Critical => "#d9480f",
        P::Error => "#e67700",
        P::Warning => "#f59f00",
        P::Notice => "#2b8a3e",
        P::Informational => "#1971c2",
        P::Debug | P::Unspecified => "#868e96",
    }
}

fn html_body(batch: &[Item]) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n");
    for item in batch {
        let a = &item.alert;
        let p = a.priority();
        let _ = write!(
            out,
            "<h3 style=\"border-left:6px solid {};padding-left:8px\">{} {}</h3>\n<p>{}",
            color(p),
            p.falco_name(),
            html_escape(&a.rule),
            html_escape(&a.output)
        );
        if item.count > 1 {
            out.push_str(&html_escape(&aggregate_suffix(item)));
        }
        out.push_str("</p>\n<table cellpadding=\"3\">\n");
        let mut row = |k: &str, v: &str| {
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{}</th><td><code>{}</code></td></tr>",
                html_escape(k),
                html_escape(v)
            );
        };
        row("time", &rfc3339_ns(a.time_ns));
        row("hostname", &a.hostname);
        if !a.cluster.is_empty() {
            row("cluster", &a.cluster);
        }
        if !a.tags.is_empty() {
            row("tags", &a.tags.join(", "));
        }
        for (k, v) in fields(item) {
            row(k, v);
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use falco_proto::v1::{Alert, Priority};
    use std::sync::Arc;

    fn cfg() -> SmtpConfig {
        SmtpConfig {
            enabled: true,
            host: "127.0.0.1".into(),
            tls: SmtpTls::None,
            from: "Falco <falco@example.com>".into(),
            to: vec!["sec@example.com".into()],
            ..SmtpConfig::default()
        }
    }

    fn item(rule: &str, p: Priority, count: u64) -> Item {
        Item {
            count,
            ..Item::single(Arc::new(Alert {
                rule: rule.into(),
                priority: p as i32,
                output: "<b>x</b>".into(),
                ..Default::default()
            }))
        }
    }

    #[test]
    fn subject_names_worst_priority_and_has_no_line_breaks() {
        let enc = SmtpEncoder::new(&cfg(), "node").unwrap();
        let one = [item("Shell\r\nBcc: evil@x", Priority::Critical, 1)];
        assert_eq!(enc.subject(&one), "Critical: ShellBcc: evil@x");
        let digest = [
            item("Write below etc", Priority::Warning, 30),
            item("Shell", Priority::Critical, 7),
        ];
        assert_eq!(
            enc.subject(&digest),
            "37 alerts, Critical: Shell and 1 more rule(s)"
        );
    }

    #[test]
    fn html_escapes_markup_and_control_characters() {
        assert_eq!(
            html_escape("<script>\"a\"&'b'\r\n"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;\\x0d\\x0a"
        );
    }

    #[test]
    fn bad_addresses_name_the_key() {
        let mut c = cfg();
        c.to = vec!["not an address".into()];
        let e = SmtpEncoder::new(&c, "n").err().unwrap().to_string();
        assert!(e.contains("outputs.smtp.to"), "{e}");
        let mut c = cfg();
        c.from = String::new();
        let e = SmtpEncoder::new(&c, "n").err().unwrap().to_string();
        assert!(e.contains("outputs.smtp.from"), "{e}");
    }
}
