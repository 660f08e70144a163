//! Syslog for SIEMs: RFC 5424 messages over UDP (one datagram each), TCP
//! or TLS (RFC 5425), the stream transports framed by octet counting
//! (RFC 6587 `LEN SP MSG`), so a receiver never has to find record ends in
//! the data. Event data is escaped anyway: CR, LF and every other control
//! character become visible `\r`, `\n`, `\xNN` text in the message, and the
//! structured-data values escape `"`, `\` and `]`, so a file name holding
//! CRLF cannot split a record or forge one, even for a receiver that reads
//! line by line.

use super::SinkError;
use super::aggregate::Item;
use super::format::{falco_json, field};
use super::forward::{Encoder, Payload, Transport};
use super::http::{PostOutcome, tls_client_config};
use crate::config::{SyslogConfig, SyslogFormat, SyslogProtocol};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use falco_proto::v1::Priority;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;

/// SD-ID of our structured data: the documentation enterprise number of
/// RFC 5612 (we have no registered one), as RFC 5424 examples do.
const SD_ID: &str = "falco@32473";
/// Output fields copied into structured data when the alert has them.
const SD_FIELDS: &[&str] = &[
    "proc.cmdline",
    "user.name",
    "container.id",
    "container.name",
    "k8s.ns.name",
    "k8s.pod.name",
    "fd.name",
];

pub struct SyslogEncoder {
    facility: u8,
    app_name: String,
    format: SyslogFormat,
}

impl SyslogEncoder {
    pub fn new(cfg: &SyslogConfig) -> Result<Self, SinkError> {
        Ok(SyslogEncoder {
            facility: facility_code(&cfg.facility).ok_or_else(|| SinkError::Config {
                key: "outputs.syslog.facility".into(),
                message: format!(
                    "unknown facility {:?} (kern, user, daemon, auth, syslog, authpriv, local0..local7)",
                    cfg.facility
                ),
            })?,
            app_name: header_token(&cfg.app_name, 48),
            format: cfg.format,
        })
    }

    /// One RFC 5424 message, without transport framing.
    pub fn message(&self, item: &Item) -> String {
        let a = &item.alert;
        let pri = u16::from(self.facility) * 8 + u16::from(severity(a.priority()));
        let time = DateTime::<Utc>::from_timestamp_nanos(a.time_ns)
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut m = format!(
            "<{pri}>1 {time} {} {} {} alert ",
            header_token(&a.hostname, 255),
            self.app_name,
            std::process::id()
        );
        m.push('[');
        m.push_str(SD_ID);
        let mut param = |name: &str, value: &str| {
            let _ = write!(m, " {name}=\"{}\"", sd_value(value));
        };
        param("rule", &a.rule);
        param("priority", a.priority().falco_name());
        param("source", &a.source);
        if !a.cluster.is_empty() {
            param("cluster", &a.cluster);
        }
        if !a.tags.is_empty() {
            param("tags", &a.tags.join(","));
        }
        param("seq", &a.seq.to_string());
        if item.count > 1 {
            param("count", &item.count.to_string());
        }
        for name in SD_FIELDS {
            if let Some(v) = field(a, name) {
                param(name, v);
            }
        }
        m.push_str("] ");
        match self.format {
            SyslogFormat::Text => {
                let mut text = a.output.clone();
                if item.count > 1 {
                    text.push_str(&super::format::aggregate_suffix(item));
                }
                escape_controls(&text, &mut m);
            }
            // serde_json escapes every control character itself.
            SyslogFormat::Json => m.push_str(&falco_json(item).to_string()),
        }
        m
    }
}

impl Encoder for SyslogEncoder {
    fn encode(&self, batch: &[Item]) -> Vec<Payload> {
        batch
            .iter()
            .map(|item| Payload {
                body: Bytes::from(self.message(item)),
                alerts: item.count,
            })
            .collect()
    }
}

/// Falco priority to syslog severity: the scales are the same.
fn severity(p: Priority) -> u8 {
    match p {
        Priority::Emergency => 0,
        Priority::Alert => 1,
        Priority::Critical => 2,
        Priority::Error => 3,
        Priority::Warning => 4,
        Priority::Notice => 5,
        Priority::Informational => 6,
        Priority::Debug | Priority::Unspecified => 7,
    }
}

fn facility_code(name: &str) -> Option<u8> {
    let fixed = [
        ("kern", 0),
        ("user", 1),
        ("mail", 2),
        ("daemon", 3),
        ("auth", 4),
        ("syslog", 5),
        ("lpr", 6),
        ("news", 7),
        ("uucp", 8),
        ("cron", 9),
        ("authpriv", 10),
        ("ftp", 11),
    ];
    let name = name.to_ascii_lowercase();
    if let Some((_, c)) = fixed.iter().find(|(n, _)| *n == name) {
        return Some(*c);
    }
    let n: u8 = name.strip_prefix("local")?.parse().ok()?;
    (n <= 7).then_some(16 + n)
}

/// A header field (HOSTNAME, APP-NAME): printable ASCII without spaces,
/// bounded; `-` (the nil value) when empty.
fn header_token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if t.is_empty() { "-".to_string() } else { t }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped as RFC 5424 requires, and
/// control characters made visible like in the message.
fn sd_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => escape_control(c, &mut out),
            c => out.push(c),
        }
    }
    out
}

fn escape_controls(s: &str, out: &mut String) {
    for c in s.chars() {
        if c.is_control() {
            escape_control(c, out);
        } else {
            out.push(c);
        }
    }
}

fn escape_control(c: char, out: &mut String) {
    match c {
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        c => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
    }
}

trait Stream: AsyncWrite + Unpin + Send {}
impl<T: AsyncWrite + Unpin + Send> Stream for T {}

/// Sends each message over the configured transport, connecting lazily and
/// reconnecting after any error (the forwarder retries the message).
pub struct SyslogTransport {
    address: String,
    protocol: SyslogProtocol,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    timeout: Duration,
    conn: Mutex<Option<Conn>>,
}

enum Conn {
    Udp(UdpSocket),
    Stream(Box<dyn Stream>),
}

impl SyslogTransport {
    pub fn new(cfg: &SyslogConfig) -> Result<Self, SinkError> {
        let bad = |m: String| SinkError::Config {
            key: "outputs.syslog.address".into(),
            message: m,
        };
        let (host, port) = cfg
            .address
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("{:?} is not host:port", cfg.address)))?;
        port.parse::<u16>()
            .map_err(|e| bad(format!("{:?}: port: {e}", cfg.address)))?;
        let tls = match cfg.protocol {
            SyslogProtocol::Tls => {
                let config = tls_client_config(
                    "outputs.syslog",
                    cfg.forward.tls_verify,
                    cfg.forward.ca_file.as_deref(),
                )?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| bad(format!("{host:?}: {e}")))?;
                Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
            }
            _ => None,
        };
        Ok(SyslogTransport {
            address: cfg.address.clone(),
            protocol: cfg.protocol,
            tls,
            timeout: Duration::from_millis(cfg.forward.timeout_ms.max(1)),
            conn: Mutex::new(None),
        })
    }

    async fn connect(&self) -> std::io::Result<Conn> {
        match self.protocol {
            SyslogProtocol::Udp => {
                let target = tokio::net::lookup_host(&self.address)
                    .await?
                    .next()
                    .ok_or_else(|| std::io::Error::other("no address"))?;
                let local = if target.is_ipv6() {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                };
                let sock = UdpSocket::bind(local).await?;
                sock.connect(target).await?;
                Ok(Conn::Udp(sock))
            }
            SyslogProtocol::Tcp => {
                let s = TcpStream::connect(&self.address).await?;
                s.set_nodelay(true)?;
                Ok(Conn::Stream(Box::new(s)))
            }
            SyslogProtocol::Tls => {
                let Some((connector, name)) = &self.tls else {
                    return Err(std::io::Error::other("TLS not configured"));
                };
                let s = TcpStream::connect(&self.address).await?;
                s.set_nodelay(true)?;
                let s = connector.connect(name.clone(), s).await?;
                Ok(Conn::Stream(Box::new(s)))
            }
        }
    }

    async fn send_once(&self, conn: &mut Option<Conn>, msg: &[u8]) -> std::io::Result<()> {
        if conn.is_none() {
            *conn = Some(self.connect().await?);
        }
        match conn.as_mut() {
            Some(Conn::Udp(s)) => {
                s.send(msg).await?;
            }
            Some(Conn::Stream(s)) => {
                let mut framed = format!("{} ", msg.len()).into_bytes();
                framed.extend_from_slice(msg);
                s.write_all(&framed).await?;
                s.flush().await?;
            }
            None => {}
        }
        Ok(())
    }
}

impl Transport for SyslogTransport {
    async fn send(&self, body: Bytes) -> PostOutcome {
        let mut conn = self.conn.lock().await;
        match tokio::time::timeout(self.timeout, self.send_once(&mut conn, &body)).await {
            Ok(Ok(())) => PostOutcome::Accepted,
            Ok(Err(e)) => {
                *conn = None;
                PostOutcome::Retry(format!("{}: {e}", self.address))
            }
            Err(_) => {
                *conn = None;
                PostOutcome::Retry(format!(
                    "{}: timed out after {:?}",
                    self.address, self.timeout
                ))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use falco_proto::v1::Alert;

    fn encoder(format: SyslogFormat) -> SyslogEncoder {
        SyslogEncoder::new(&SyslogConfig {
            format,
            ..SyslogConfig::default()
        })
        .unwrap()
    }

    fn hostile() -> Item {
        Item::single(Arc::new(Alert {
            rule: "Write \"below\" ]etc".into(),
            priority: Priority::Error as i32,
            hostname: "node a".into(),
            source: "syscall".into(),
            output: "opened /tmp/evil\r\n<13>1 - forged - - - - x\u{1b}[31m".into(),
            time_ns: 1_714_557_600_123_456_789,
            output_fields: [("fd.name".to_string(), "/tmp/evil\r\nx".to_string())].into(),
            ..Default::default()
        }))
    }

    #[test]
    fn rfc5424_header_and_escaping() {
        let m = encoder(SyslogFormat::Text).message(&hostile());
        // local0 (16) * 8 + error (3)
        assert!(
            m.starts_with("<131>1 2024-05-01T10:00:00.123456Z node_a falco "),
            "{m}"
        );
        assert!(
            !m.contains('\r') && !m.contains('\n') && !m.contains('\u{1b}'),
            "{m}"
        );
        assert!(m.contains("rule=\"Write \\\"below\\\" \\]etc\""), "{m}");
        assert!(m.contains("fd.name=\"/tmp/evil\\r\\nx\""), "{m}");
        assert!(
            m.ends_with("opened /tmp/evil\\r\\n<13>1 - forged - - - - x\\x1b[31m"),
            "{m}"
        );
        let j = encoder(SyslogFormat::Json).message(&hostile());
        assert!(!j.contains('\r') && !j.contains('\n'), "{j}");
        let json_part = &j[j.find("] {").unwrap() + 2..];
        let v: serde_json::Value = serde_json::from_str(json_part).unwrap();
        assert_eq!(v["output_fields"]["fd.name"], "/tmp/evil\r\nx");
    }

    #[test]
    fn facilities_and_severities() {
        assert_eq!(facility_code("local7"), Some(23));
        assert_eq!(facility_code("AUTH"), Some(4));
        assert_eq!(facility_code("local8"), None);
        assert_eq!(severity(Priority::Emergency), 0);
        assert_eq!(severity(Priority::Debug), 7);
        let err = SyslogEncoder::new(&SyslogConfig {
            facility: "locl0".into(),
            ..SyslogConfig::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("outputs.syslog.facility"), "{err}");
    }
}
