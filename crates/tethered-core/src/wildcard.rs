//! Wildcard rules compiled into one `globset::GlobSet`, configured and pre-translated so that
//! it answers exactly like Python's `fnmatch.fnmatchcase`.
//!
//! globset matches bytes: `*` and literals are exact for any UTF-8 text, `?` and negated sets
//! are exact only for ASCII hosts. Patterns whose meaning depends on characters (`?`, `[!..]`)
//! are therefore re-checked by the reference matcher for the rare non-ASCII host, and the few
//! patterns globset cannot express at all (sets with non-ASCII members) use it always.

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};
use std::cell::RefCell;
use std::collections::HashMap;

use crate::ports::PortSet;

use crate::fnmatch::{Pattern, Token};
use crate::ports::port_matches;

struct WildRule {
    pattern: Pattern,
    port: Option<u16>,
    /// The globset translation is exact for every host, not only ASCII ones.
    byte_exact: bool,
}

/// Characters that can occur in the text of an IP address (Python's `str(ip)`).
fn ip_text_char(c: char) -> bool {
    c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '.' || c == ':'
}

/// `*.domain.tld`: a star and a literal starting with a dot. fnmatch matches it against any
/// host that ends with the literal, so a hash probe per dot of the host replaces the glob.
fn dotted_suffix(pattern: &Pattern) -> Option<String> {
    let (first, rest) = pattern.tokens.split_first()?;
    if *first != Token::Star || !matches!(rest.first(), Some(Token::Literal('.'))) {
        return None;
    }
    rest.iter()
        .map(|t| match t {
            Token::Literal(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Could `pattern` match the text of an IP address? Only if its literals are IP characters.
fn could_match_ip(pattern: &Pattern) -> bool {
    pattern.tokens.iter().all(|t| match t {
        Token::Literal(c) => ip_text_char(*c),
        _ => true,
    })
}

type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

#[derive(Default)]
pub struct WildcardSet {
    /// `*.suffix` rules by suffix (with its leading dot), the common shape.
    suffixes: FastMap<String, PortSet>,
    /// Some rule could match an IP's text (most patterns name domains and cannot).
    ip_capable: bool,
    rules: Vec<WildRule>,
    set: GlobSet,
    /// Glob index in `set` -> rule index.
    glob_rule: Vec<usize>,
    /// Rules checked by the reference matcher for every host.
    always_slow: Vec<usize>,
    /// Rules in `set` whose translation is inexact for non-ASCII hosts.
    char_sensitive: Vec<usize>,
    /// No rule names a port, so any glob match is a rule match.
    port_free: bool,
}

/// Appended to every glob and every candidate. globset derives a "file name" and "extension"
/// from its candidate (none at all when the text ends with `.`) and some strategies test
/// those; with this suffix both are consistent for any host, so only the fnmatch meaning
/// counts. NUL never occurs in a host that reaches matching (control characters are refused).
const SENTINEL: char = '\0';

/// Per-thread scratch space, so a decision allocates nothing.
struct Scratch {
    candidate: String,
    matches: Vec<usize>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> =
        const { RefCell::new(Scratch { candidate: String::new(), matches: Vec::new() }) };
}

/// Characters globset treats specially outside a set; fnmatch reads them literally.
fn push_literal(out: &mut String, c: char) {
    match c {
        '*' | '?' | '[' | ']' | '{' | '}' | '\\' | ',' => {
            out.push('[');
            out.push(c);
            out.push(']');
        }
        c => out.push(c),
    }
}

/// Writes an ASCII character set in globset syntax, placing `]`, `-`, `!`, `^` and `[` where
/// globset reads them literally. None when globset has no spelling for the set.
fn push_class(out: &mut String, negated: bool, ranges: &[(char, char)]) -> Option<()> {
    const SPECIAL: [char; 5] = [']', '[', '^', '!', '-'];
    let mut present = [false; 5];
    let mut plain: Vec<(char, char)> = Vec::new();
    for &(lo, hi) in ranges {
        if !lo.is_ascii() || !hi.is_ascii() {
            return None;
        }
        let mut start = lo;
        for c in lo..=hi {
            if let Some(i) = SPECIAL.iter().position(|s| *s == c) {
                present[i] = true;
                if start < c {
                    plain.push((start, char::from(c as u8 - 1)));
                }
                start = char::from(c as u8 + 1);
            }
        }
        if start <= hi {
            plain.push((start, hi));
        }
    }
    let [close, open, caret, bang, dash] = present;
    let leads_with_plain = close || !plain.is_empty() || open;
    if !negated && !leads_with_plain && !dash && (caret || bang) {
        // A set of only `^`/`!`: a single one is a plain literal, both cannot be spelled.
        return match (caret, bang) {
            (true, false) => {
                out.push('^');
                Some(())
            }
            (false, true) => {
                out.push('!');
                Some(())
            }
            _ => None,
        };
    }
    out.push('[');
    if negated {
        out.push('!');
    }
    if !negated && !leads_with_plain && dash {
        out.push('-');
    }
    if close {
        out.push(']');
    }
    for (lo, hi) in plain {
        out.push(lo);
        if hi > lo {
            out.push('-');
            out.push(hi);
        }
    }
    if open {
        out.push('[');
    }
    if caret {
        out.push('^');
    }
    if bang {
        out.push('!');
    }
    if dash && (negated || leads_with_plain) {
        out.push('-');
    }
    out.push(']');
    Some(())
}

/// The globset spelling of a parsed fnmatch pattern, or None if globset cannot express it.
fn to_glob(pattern: &Pattern) -> Option<String> {
    let mut out = String::new();
    for tok in &pattern.tokens {
        match tok {
            Token::Literal(c) => push_literal(&mut out, *c),
            Token::Star => out.push('*'),
            Token::AnyChar => out.push('?'),
            Token::Class { negated, ranges } => push_class(&mut out, *negated, ranges)?,
            Token::Never => return None,
        }
    }
    out.push(SENTINEL);
    Some(out)
}

fn is_byte_exact(pattern: &Pattern) -> bool {
    pattern.tokens.iter().all(|t| match t {
        Token::AnyChar => false,
        Token::Class { negated, .. } => !negated,
        _ => true,
    })
}

impl WildcardSet {
    /// Compiles `(pattern, port)` rules; dead patterns (`[z-a]`) are dropped.
    pub fn new(rules: Vec<(Pattern, Option<u16>)>) -> WildcardSet {
        let mut builder = GlobSetBuilder::new();
        let mut out = WildcardSet::default();
        for (pattern, port) in rules {
            if pattern.is_dead() {
                continue;
            }
            out.ip_capable |= could_match_ip(&pattern);
            if let Some(suffix) = dotted_suffix(&pattern) {
                out.suffixes.entry(suffix).or_default().add(port);
                continue;
            }
            let index = out.rules.len();
            let byte_exact = is_byte_exact(&pattern);
            let glob = to_glob(&pattern).and_then(|text| {
                GlobBuilder::new(&text)
                    .literal_separator(false)
                    .backslash_escape(false)
                    .case_insensitive(false)
                    .empty_alternates(false)
                    .allow_unclosed_class(false)
                    .build()
                    .ok()
            });
            match glob {
                Some(glob) => {
                    builder.add(glob);
                    out.glob_rule.push(index);
                    if !byte_exact {
                        out.char_sensitive.push(index);
                    }
                }
                None => out.always_slow.push(index),
            }
            out.rules.push(WildRule {
                pattern,
                port,
                byte_exact,
            });
        }
        out.port_free = out.rules.iter().all(|r| r.port.is_none());
        out.set = builder.build().unwrap_or_else(|_| {
            // Every glob was built individually above, so this cannot fail; if it ever did,
            // fall back to the reference matcher for every rule rather than lose rules.
            out.always_slow = (0..out.rules.len()).collect();
            out.glob_rule.clear();
            out.char_sensitive.clear();
            GlobSet::empty()
        });
        out
    }

    /// False when no rule can match the text of an IP address (IP checks skip wildcards).
    pub fn ip_capable(&self) -> bool {
        self.ip_capable
    }

    /// A `*.suffix` rule matches when `h` ends with `.suffix` (at any dot, the first included).
    fn suffix_match(&self, h: &str, port: Option<u16>) -> bool {
        if self.suffixes.is_empty() {
            return false;
        }
        h.char_indices().filter(|&(_, c)| c == '.').any(|(i, _)| {
            self.suffixes
                .get(&h[i..])
                .is_some_and(|ports| ports.allows(port))
        })
    }

    fn set_matches(
        &self,
        candidate: &Candidate<'_>,
        ascii: bool,
        port: Option<u16>,
        matches: &mut Vec<usize>,
    ) -> bool {
        if ascii && (port.is_none() || self.port_free) {
            return self.set.is_match_candidate(candidate);
        }
        self.set.matches_candidate_into(candidate, matches);
        matches.iter().any(|&g| {
            let rule = &self.rules[self.glob_rule[g]];
            (ascii || rule.byte_exact) && port_matches(rule.port, port)
        })
    }

    fn slow_match(&self, indices: &[usize], h: &str, port: Option<u16>) -> bool {
        indices.iter().any(|&i| {
            let rule = &self.rules[i];
            port_matches(rule.port, port) && rule.pattern.matches(h)
        })
    }

    /// Does any wildcard rule with a compatible port match `h` (already normalized)?
    pub fn matches(&self, h: &str, port: Option<u16>) -> bool {
        if self.suffix_match(h, port) {
            return true;
        }
        if self.rules.is_empty() {
            return false;
        }
        if self.slow_match(&self.always_slow, h, port) {
            return true;
        }
        let ascii = h.is_ascii();
        let found = SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                // Re-entered on this thread (cannot happen today): stay correct, allocate.
                let text = format!("{h}{SENTINEL}");
                return self.set_matches(&Candidate::new(&text), ascii, port, &mut Vec::new());
            };
            let Scratch { candidate, matches } = &mut *scratch;
            candidate.clear();
            candidate.push_str(h);
            candidate.push(SENTINEL);
            self.set_matches(&Candidate::new(candidate.as_str()), ascii, port, matches)
        });
        found || (!ascii && self.slow_match(&self.char_sensitive, h, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Option<String> {
        Pattern::parse(p).ok().as_ref().and_then(to_glob)
    }

    #[test]
    fn translation_escapes_glob_syntax() {
        assert_eq!(glob("*.stripe.com").as_deref(), Some("*.stripe.com\0"));
        assert_eq!(glob("a{b,c}").as_deref(), Some("a[{]b[,]c[}]\0"));
        assert_eq!(glob("a\\b").as_deref(), Some("a[\\]b\0"));
        assert_eq!(glob("a**b").as_deref(), Some("a*b\0"));
        assert_eq!(glob("a[!]]").as_deref(), Some("a[!]]\0"));
        assert_eq!(glob("a[-^]").as_deref(), Some("a[-^]\0"));
        assert_eq!(glob("a[^]").as_deref(), Some("a^\0"));
        assert_eq!(glob("a[!^]").as_deref(), Some("a[!^]\0"));
        assert_eq!(glob("a[z-a]"), None);
        assert_eq!(glob("a[é]"), None);
    }
}

/// Differential check against CPython's own `fnmatch.fnmatchcase` answers
/// (fixture made by `scripts/gen-fnmatch-fixture.py`).
#[cfg(test)]
mod cpython_fixture {
    use super::*;

    #[test]
    fn glob_set_and_reference_matcher_agree_with_cpython() {
        let text = include_str!("../tests/fixtures/fnmatch.json");
        let fixture: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let cases = fixture["cases"].as_array().cloned().unwrap_or_default();
        assert!(cases.len() >= 1000, "fixture missing");
        let (mut checked, mut failures) = (0, Vec::new());
        for case in cases {
            let pat = case["pattern"].as_str().unwrap_or_default();
            let Ok(pattern) = Pattern::parse(pat) else {
                continue; // an unclosed '[': refused by our rule parser, literal for CPython
            };
            let set = WildcardSet::new(vec![(pattern.clone(), None)]);
            let names = case["names"].as_array().cloned().unwrap_or_default();
            let expected = case["expected"].as_array().cloned().unwrap_or_default();
            for (name, want) in names.iter().zip(expected) {
                let name = name.as_str().unwrap_or_default();
                let want = want.as_bool().unwrap_or_default();
                checked += 1;
                if pattern.matches(name) != want || set.matches(name, None) != want {
                    failures.push(format!(
                        "{pat:?} vs {name:?}: cpython {want}, reference {}, globset {}",
                        pattern.matches(name),
                        set.matches(name, None)
                    ));
                }
            }
        }
        assert!(checked > 10_000, "only {checked} checks ran");
        assert!(
            failures.is_empty(),
            "{} mismatches, first: {:#?}",
            failures.len(),
            &failures[..failures.len().min(15)]
        );
    }
}
