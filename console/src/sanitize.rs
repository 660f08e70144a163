//! Makes attacker-controlled text safe to print on a terminal.
//!
//! Process names, arguments, file names, pod logs and labels all come from the
//! monitored workload. Printed raw, an ESC or C1 byte would let that workload drive
//! the operator's terminal (move the cursor, rewrite the screen, set the title,
//! hide text). Every such character is shown escaped instead, e.g. `\x1b`.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Returns `s` with every control character, C1 code and bidi override escaped.
/// Borrowed when nothing needed escaping (the common case, no allocation).
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Owned variant for values that are stored after sanitizing.
pub fn sanitized(s: &str) -> String {
    sanitize(s).into_owned()
}

/// JSON text with every character [`sanitize`] would escape written as a
/// JSON `\uXXXX` escape instead: the same JSON value, nothing a terminal (or
/// the program it is pasted into) would interpret. serde_json escapes C0
/// itself but leaves C1 codes and bidi overrides raw.
pub fn json_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        // A raw newline in serde_json's output is layout (pretty printing):
        // inside strings it escapes C0 itself.
        if needs_escape(c) && c != '\n' {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", u);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The OSC 52 sequence that puts `text` on the terminal's clipboard. The text
/// travels base64-encoded, so nothing in it can end the sequence early.
pub fn osc52(text: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut enc = String::with_capacity(text.len().div_ceil(3) * 4 + 8);
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                enc.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                enc.push('=');
            }
        }
    }
    format!("\x1b]52;c;{enc}\x07")
}

fn needs_escape(c: char) -> bool {
    // `is_control` covers C0 (incl. ESC, BEL), DEL and C1 (incl. CSI U+009B).
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_inert(s: &str) {
        assert!(
            !s.chars().any(needs_escape),
            "still has control characters: {s:?}"
        );
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let s = "bash -c ls /tmp — ünïcode ✓";
        assert!(matches!(sanitize(s), Cow::Borrowed(_)));
        assert_eq!(sanitize(s), s);
    }

    #[test]
    fn esc_and_csi_are_escaped() {
        let out = sanitize("evil\x1b[31mRED\x1b[2J");
        assert_eq!(out, "evil\\x1b[31mRED\\x1b[2J");
        assert_inert(&out);
    }

    #[test]
    fn osc_title_and_bel_are_escaped() {
        let out = sanitize("\x1b]0;pwned\x07tail");
        assert_eq!(out, "\\x1b]0;pwned\\x07tail");
        assert_inert(&out);
    }

    #[test]
    fn c1_controls_are_escaped() {
        // U+009B is the single-character CSI; U+009D the single-character OSC.
        let out = sanitize("a\u{9b}31mb\u{9d}c\u{85}");
        assert_eq!(out, "a\\x9b31mb\\x9dc\\x85");
        assert_inert(&out);
    }

    #[test]
    fn bidi_overrides_are_escaped() {
        let out = sanitize("invoice\u{202e}fdp.exe \u{2066}x\u{2069}");
        assert_eq!(out, "invoice\\u{202e}fdp.exe \\u{2066}x\\u{2069}");
        assert_inert(&out);
    }

    #[test]
    fn json_safe_keeps_the_value_and_escapes_what_serde_leaves_raw() {
        let v = serde_json::json!({"cmd": "a\u{9b}31m\u{202e}b\x1b", "n": 1});
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let safe = json_safe(&pretty);
        assert!(
            !safe.chars().any(|c| needs_escape(c) && c != '\n'),
            "{safe:?}"
        );
        assert!(safe.contains('\n'), "layout kept");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn osc52_is_base64_between_osc_and_bel() {
        assert_eq!(osc52("hi\x07"), "\x1b]52;c;aGkH\x07");
        assert_eq!(osc52("abc"), "\x1b]52;c;YWJj\x07");
        assert_eq!(osc52("ab"), "\x1b]52;c;YWI=\x07");
    }

    #[test]
    fn newlines_tabs_del_and_nul() {
        assert_eq!(sanitize("a\nb\tc\rd\x7fe\0"), "a\\nb\\tc\\rd\\x7fe\\x00");
    }
}
