//! What the chat webhooks share: event data as inert markdown and fitted to
//! a length limit (Discord; Teams avoids markdown altogether), the
//! truncation marker, and posting with respect for a 429's Retry-After.

use super::http::{HttpClient, HttpTarget, PostOutcome};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use std::fmt::Write;
use std::time::Duration;

/// Appended where text was cut to fit a limit.
pub const TRUNCATED: &str = " …[truncated]";

/// ASCII punctuation with a meaning in Discord's or CommonMark's markdown
/// (emphasis, code, spoilers, quotes, headings, lists, links, mentions,
/// entities, emoji, URLs). A backslash before any of them shows it literally.
const SPECIAL: &str = "\\`*_~|<>#-+=[](){}!.:@&";

/// Event data as inert markdown: control characters (CR, LF, ESC...) become
/// visible `\x0a`, every markdown character is backslash-escaped, so no
/// formatting, link, heading, mention or URL can come out of it.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if c.is_control() {
        let _ = write!(out, "\\\\x{:02x}", c as u32 & 0xff);
    } else if SPECIAL.contains(c) {
        out.push('\\');
        out.push(c);
    } else {
        out.push(c);
    }
}

/// Length as Discord and Teams count it (UTF-16 code units; never less than chars).
pub fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `raw` escaped, cut (never inside an escape) so the result including the
/// marker stays within `limit` units.
pub fn fit(raw: &str, limit: usize) -> String {
    let full = escape_markdown(raw);
    if units(&full) <= limit {
        return full;
    }
    let budget = limit.saturating_sub(units(TRUNCATED));
    let mut out = String::new();
    let mut used = 0;
    let mut piece = String::new();
    for c in raw.chars() {
        piece.clear();
        push_escaped(&mut piece, c);
        used += units(&piece);
        if used > budget {
            break;
        }
        out.push_str(&piece);
    }
    out.push_str(TRUNCATED);
    out
}

/// POST; on 429 waits for Retry-After (seconds, at most `cap`) before the
/// forwarder's own backoff, so a rate-limited webhook is not hammered.
pub async fn post_respecting_retry_after(
    client: &HttpClient,
    target: &HttpTarget,
    body: Bytes,
    cap: Duration,
) -> PostOutcome {
    match client.exchange(Method::POST, target, body).await {
        Err(e) => PostOutcome::Retry(e),
        Ok(answer) => {
            if answer.status == StatusCode::TOO_MANY_REQUESTS
                && let Some(wait) = answer.retry_after()
            {
                tokio::time::sleep(wait.min(cap)).await;
            }
            answer.outcome()
        }
    }
}

/// Output fields chat cards show first, when present.
pub const KEY_FIELDS: &[&str] = &[
    "proc.cmdline",
    "user.name",
    "container.name",
    "container.image.repository",
    "k8s.ns.name",
    "k8s.pod.name",
    "fd.name",
];

/// Appends the alert's cluster and tags (when set), the [`KEY_FIELDS`] it
/// has, then its other output fields with a value, sorted by name: the
/// (name, raw value) list chat cards (Discord, Teams) show.
pub fn push_alert_fields(a: &falco_proto::v1::Alert, out: &mut Vec<(String, String)>) {
    if !a.cluster.is_empty() {
        out.push(("cluster".into(), a.cluster.clone()));
    }
    if !a.tags.is_empty() {
        out.push(("tags".into(), a.tags.join(", ")));
    }
    for name in KEY_FIELDS {
        if let Some(v) = super::format::field(a, name) {
            out.push(((*name).to_string(), v.to_string()));
        }
    }
    let mut rest: Vec<_> = a
        .output_fields
        .iter()
        .filter(|(k, v)| !KEY_FIELDS.contains(&k.as_str()) && v.as_str() != "<NA>" && !v.is_empty())
        .collect();
    rest.sort();
    out.extend(rest.into_iter().map(|(k, v)| (k.clone(), v.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_mentions_links_and_newlines_are_escaped() {
        let e = escape_markdown("**b** @everyone <@123> [x](http://e)\n# h");
        assert_eq!(
            e,
            "\\*\\*b\\*\\* \\@everyone \\<\\@123\\> \\[x\\]\\(http\\://e\\)\\\\x0a\\# h"
        );
    }

    #[test]
    fn fit_cuts_between_escapes_and_marks_the_cut() {
        let s = fit(&"*".repeat(100), 30);
        assert!(units(&s) <= 30, "{s}");
        assert!(s.ends_with(TRUNCATED));
        let body = s.trim_end_matches(TRUNCATED);
        assert_eq!(body, "\\*".repeat(body.len() / 2));
        assert_eq!(fit("short", 30), "short");
    }
}
