//! Python's `fnmatch.fnmatchcase` pattern language, parsed exactly as CPython 3.11's
//! `fnmatch._translate` does, plus a char-exact reference matcher.
//!
//! Wildcard rules are compiled into a `globset::GlobSet` (see `wildcard.rs`); this module is
//! the ground truth that the glob translation is checked against, and the matcher for the
//! rare patterns globset cannot express with fnmatch's per-character semantics.

/// One element of a parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Literal(char),
    /// `*`: any run of characters, dots and slashes included (runs of `*` collapse to one).
    Star,
    /// `?` or `[!]`: exactly one character.
    AnyChar,
    /// `[seq]` / `[!seq]` after fnmatch's range clean-up; never empty.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A set that can never match (`[z-a]`): the whole pattern is dead.
    Never,
}

/// A parsed fnmatch pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub tokens: Vec<Token>,
}

/// Why a pattern is refused (our port is stricter than upstream here).
#[derive(Debug, PartialEq, Eq)]
pub enum PatternError {
    /// `[` without a closing `]`: fnmatch silently reads it as a literal `[`.
    UnclosedBracket,
}

/// A character of fnmatch's generated regex set body, with whether it was escaped.
type SetChar = (char, bool);

/// Splits a set body into fnmatch's hyphen-separated chunks and drops reversed ranges,
/// reproducing `_translate` (including its quirks, e.g. `[z-a-c]`).
fn set_body(body: &[char]) -> Vec<SetChar> {
    if !body.contains(&'-') {
        return body.iter().map(|&c| (c, c == '\\')).collect();
    }
    let mut chunks: Vec<Vec<char>> = Vec::new();
    let mut start = 0;
    let mut k = if body.first() == Some(&'!') { 2 } else { 1 };
    while let Some(pos) = body
        .get(k..)
        .and_then(|rest| rest.iter().position(|&c| c == '-'))
    {
        let hyphen = k + pos;
        chunks.push(body[start..hyphen].to_vec());
        start = hyphen + 1;
        k = hyphen + 3;
    }
    let last = body[start..].to_vec();
    if last.is_empty() {
        if let Some(prev) = chunks.last_mut() {
            prev.push('-');
        }
    } else {
        chunks.push(last);
    }
    let mut idx = chunks.len().saturating_sub(1);
    while idx > 0 {
        let prev_last = chunks[idx - 1].last().copied();
        let next_first = chunks[idx].first().copied();
        if let (Some(a), Some(b)) = (prev_last, next_first)
            && a > b
        {
            let next = chunks.remove(idx);
            let prev = &mut chunks[idx - 1];
            prev.pop();
            prev.extend_from_slice(&next[1..]);
        }
        idx -= 1;
    }
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            out.push(('-', false));
        }
        out.extend(chunk.iter().map(|&c| (c, c == '\\' || c == '-')));
    }
    out
}

/// Reads a regex character-set body the way Python's `re` does: `a-b` ranges, escaped chars
/// literal, a leading unescaped `-` or a trailing one literal.
fn parse_set(body: &[SetChar]) -> Vec<(char, char)> {
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let lo = body[i].0;
        let is_range =
            body.get(i + 1).is_some_and(|&(c, esc)| c == '-' && !esc) && i + 2 < body.len();
        if is_range {
            ranges.push((lo, body[i + 2].0));
            i += 3;
        } else {
            ranges.push((lo, lo));
            i += 1;
        }
    }
    ranges
}

impl Pattern {
    /// Parses `pat` with fnmatch's rules; an unclosed `[` is refused instead of becoming literal.
    pub fn parse(pat: &str) -> Result<Pattern, PatternError> {
        let chars: Vec<char> = pat.chars().collect();
        let n = chars.len();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < n {
            let c = chars[i];
            i += 1;
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::AnyChar),
                '[' => {
                    let mut j = i;
                    if j < n && chars[j] == '!' {
                        j += 1;
                    }
                    if j < n && chars[j] == ']' {
                        j += 1;
                    }
                    while j < n && chars[j] != ']' {
                        j += 1;
                    }
                    if j >= n {
                        return Err(PatternError::UnclosedBracket);
                    }
                    let mut body = set_body(&chars[i..j]);
                    i = j + 1;
                    if body.is_empty() {
                        tokens.push(Token::Never);
                    } else if body == [('!', false)] {
                        tokens.push(Token::AnyChar);
                    } else {
                        let negated = body[0] == ('!', false);
                        if negated {
                            body.remove(0);
                        }
                        tokens.push(Token::Class {
                            negated,
                            ranges: parse_set(&body),
                        });
                    }
                }
                c => tokens.push(Token::Literal(c)),
            }
        }
        Ok(Pattern { tokens })
    }

    /// True when no host can ever match (fnmatch's `(?!)` for an emptied set).
    pub fn is_dead(&self) -> bool {
        self.tokens.contains(&Token::Never)
    }

    /// Python's `fnmatch.fnmatchcase(name, pattern)`, by characters.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let toks = &self.tokens;
        let (mut t, mut s) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        loop {
            if t < toks.len() {
                match &toks[t] {
                    Token::Star => {
                        backtrack = Some((t, s));
                        t += 1;
                        continue;
                    }
                    tok if s < name.len() && token_matches(tok, name[s]) => {
                        t += 1;
                        s += 1;
                        continue;
                    }
                    _ => {}
                }
            } else if s == name.len() {
                return true;
            }
            match backtrack {
                Some((bt, bs)) if bs < name.len() => {
                    backtrack = Some((bt, bs + 1));
                    t = bt + 1;
                    s = bs + 1;
                }
                _ => return false,
            }
        }
    }
}

fn token_matches(tok: &Token, c: char) -> bool {
    match tok {
        Token::Literal(l) => *l == c,
        Token::AnyChar => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
        Token::Star | Token::Never => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, name: &str) -> bool {
        Pattern::parse(pat)
            .map(|p| p.matches(name))
            .unwrap_or(false)
    }

    #[test]
    fn star_crosses_dots_and_slashes() {
        assert!(m("*.stripe.com", "a.b.stripe.com"));
        assert!(m("*.stripe.com", ".stripe.com"));
        assert!(m("*.stripe.com", "evil.com/x.stripe.com"));
        assert!(!m("*.stripe.com", "stripe.com"));
        assert!(!m("*.stripe.com", "api.stripe.com.evil"));
    }

    #[test]
    fn sets_follow_fnmatch() {
        assert!(m("api[12].x", "api1.x"));
        assert!(!m("api[12].x", "api3.x"));
        assert!(m("api[!12].x", "api3.x"));
        assert!(m("api[0-9].x", "api7.x"));
        assert!(!m("api[z-a].x", "apiz.x"));
        assert!(m("a[!z-a]b", "axb"));
        assert!(m("a[]]b", "a]b"));
        assert!(m("a[!]]b", "axb"));
        assert!(!m("a[!]]b", "a]b"));
        assert!(m("a[a-]b", "a-b"));
        assert!(m("a[-a]b", "a-b"));
        assert!(m("a[\\]b", "a\\b"));
        assert!(m("a{b,c}", "a{b,c}"));
        assert!(m("a[&~|]b", "a~b"));
        // `[z-a-c]`: the reversed range takes both ends with it, leaving `-c`.
        assert!(m("a[z-a-c]b", "a-b"));
        assert!(m("a[z-a-c]b", "acb"));
        assert!(!m("a[z-a-c]b", "azb"));
    }

    #[test]
    fn unclosed_bracket_is_refused() {
        assert_eq!(
            Pattern::parse("api[12.x"),
            Err(PatternError::UnclosedBracket)
        );
        assert_eq!(Pattern::parse("[abc"), Err(PatternError::UnclosedBracket));
    }

    #[test]
    fn question_mark_is_one_character() {
        assert!(m("?.例え.jp", "ü.例え.jp"));
        assert!(!m("??.x", "ü.x"));
    }
}
