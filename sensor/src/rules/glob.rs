//! Shell-style glob matching as Falco's `glob`/`iglob` operators do it
//! (fnmatch without flags): `*` matches any run of characters including
//! `/`, `?` one character, `[abc]`, `[a-z]`, `[!x]`/`[^x]` a class, and a
//! backslash escapes the next character. Patterns are parsed once.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    case_insensitive: bool,
}

impl Glob {
    pub fn new(pattern: &str, case_insensitive: bool) -> Glob {
        let fold = |c: char| {
            if case_insensitive {
                c.to_ascii_lowercase()
            } else {
                c
            }
        };
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                '\\' if i + 1 < chars.len() => {
                    tokens.push(Token::Char(fold(chars[i + 1])));
                    i += 2;
                }
                '[' => match parse_class(&chars, i + 1, case_insensitive) {
                    Some((tok, next)) => {
                        tokens.push(tok);
                        i = next;
                    }
                    None => {
                        // An unclosed bracket is a literal '[' as in fnmatch.
                        tokens.push(Token::Char('['));
                        i += 1;
                    }
                },
                _ => {
                    tokens.push(Token::Char(fold(c)));
                    i += 1;
                }
            }
        }
        Glob {
            tokens,
            case_insensitive,
        }
    }

    /// The runs of literal characters in the pattern, in order: every
    /// matching text contains each run, and starts with the first one when
    /// the pattern starts with a literal (see [`Glob::starts_literal`]).
    /// Empty for case-insensitive patterns, whose literals are folded.
    pub fn literal_runs(&self) -> Vec<String> {
        if self.case_insensitive {
            return Vec::new();
        }
        let mut runs = Vec::new();
        let mut cur = String::new();
        for t in &self.tokens {
            match t {
                Token::Char(c) => cur.push(*c),
                _ if !cur.is_empty() => runs.push(std::mem::take(&mut cur)),
                _ => {}
            }
        }
        if !cur.is_empty() {
            runs.push(cur);
        }
        runs
    }

    /// Whether the pattern's first token is a literal character.
    pub fn starts_literal(&self) -> bool {
        matches!(self.tokens.first(), Some(Token::Char(_)))
    }

    /// Whether `text` matches the whole pattern. Linear backtracking over
    /// the last `*` only, so hostile patterns cannot blow up.
    pub fn matches(&self, text: &str) -> bool {
        let fold = |c: char| {
            if self.case_insensitive {
                c.to_ascii_lowercase()
            } else {
                c
            }
        };
        if text.is_ascii() {
            let b = text.as_bytes();
            self.match_with(b.len(), |i| fold(char::from(b[i])))
        } else {
            let chars: Vec<char> = text.chars().collect();
            self.match_with(chars.len(), |i| fold(chars[i]))
        }
    }

    fn match_with(&self, len: usize, at: impl Fn(usize) -> char) -> bool {
        let toks = &self.tokens;
        let (mut ti, mut pi) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < len {
            let c = at(ti);
            match toks.get(pi) {
                Some(Token::Star) => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                Some(Token::Any) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                Some(Token::Char(p)) if *p == c => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                Some(Token::Class { negated, items }) => {
                    let inside = items.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
                    if inside != *negated {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                _ => {}
            }
            match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            }
        }
        toks[pi..].iter().all(|t| *t == Token::Star)
    }
}

fn parse_class(chars: &[char], start: usize, ci: bool) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && !first {
            return Some((Token::Class { negated, items }, i + 1));
        }
        first = false;
        let lo = c;
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|c| *c != ']') {
            let hi = chars[i + 2];
            push_range(&mut items, lo, hi, ci);
            i += 3;
        } else {
            push_range(&mut items, lo, lo, ci);
            i += 1;
        }
    }
    None
}

fn push_range(items: &mut Vec<(char, char)>, lo: char, hi: char, ci: bool) {
    if ci {
        items.push((lo.to_ascii_lowercase(), hi.to_ascii_lowercase()));
        items.push((lo.to_ascii_uppercase(), hi.to_ascii_uppercase()));
    } else {
        items.push((lo, hi));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn literal_runs_and_leading_literal() {
        let g = Glob::new("/home/*/.ssh/*", false);
        assert_eq!(g.literal_runs(), ["/home/", "/.ssh/"]);
        assert!(g.starts_literal());
        let g = Glob::new("*../*../*", false);
        assert_eq!(g.literal_runs(), ["../", "../"]);
        assert!(!g.starts_literal());
        assert_eq!(
            Glob::new("/a?b[cd]e", false).literal_runs(),
            ["/a", "b", "e"]
        );
        assert!(Glob::new("/etc/*", true).literal_runs().is_empty());
    }

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("/etc/*", "/etc/passwd", true),
            ("/etc/*", "/etc/ssh/sshd_config", true),
            ("/etc/*", "/etc", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*.sh", "run.sh", true),
            ("*.sh", "run.sh.bak", false),
            ("[abc]x", "bx", true),
            ("[!abc]x", "bx", false),
            ("[^abc]x", "dx", true),
            ("[a-c]*", "cat", true),
            ("[a-c]*", "dog", false),
            ("\\*x", "*x", true),
            ("\\*x", "ax", false),
            ("[unclosed", "[unclosed", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("/proc/*/mem", "/proc/123/mem", true),
            ("ünï*", "ünïcode", true),
        ];
        for (pat, text, want) in cases {
            assert_eq!(
                Glob::new(pat, false).matches(text),
                *want,
                "{pat} vs {text}"
            );
        }
        assert!(Glob::new("/ETC/*", true).matches("/etc/Passwd"));
        assert!(!Glob::new("/ETC/*", false).matches("/etc/Passwd"));
        assert!(Glob::new("[A-C]x", true).matches("bx"));
    }

    #[test]
    fn pathological_pattern_is_fast_enough_to_finish() {
        let pat = "a*".repeat(50) + "b";
        let text = "a".repeat(200);
        assert!(!Glob::new(&pat, false).matches(&text));
    }
}
