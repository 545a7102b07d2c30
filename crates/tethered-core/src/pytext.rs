//! Python string semantics the engine must reproduce exactly (`str.strip()`, `isdigit`, `repr`).
//!
//! Rust's `str::trim` and JS's `String.prototype.trim` use different whitespace sets than
//! Python's `str.isspace()`; tethered's rules and hosts are defined in Python's terms.

/// True for the 29 characters for which Python's `str.isspace()` is true.
pub fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python's `str.strip()` with no arguments.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `s.isascii() and s.isdigit()`: non-empty and only `0-9`.
pub fn is_ascii_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Python's `repr()` of a string, used to quote rules in error messages the way upstream does.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if crate::normalize::is_invisible(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_uses_python_whitespace() {
        assert_eq!(py_strip("\u{1c}a\u{85}"), "a");
        assert_eq!(py_strip("\u{3000}a b\u{3000}"), "a b");
        // U+FEFF and U+200B are not whitespace for Python.
        assert_eq!(py_strip("\u{feff}a\u{200b}"), "\u{feff}a\u{200b}");
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(py_repr("  "), "'  '");
        assert_eq!(py_repr("a'b"), "\"a'b\"");
        assert_eq!(py_repr("a\u{1c}"), "'a\\x1c'");
        assert_eq!(py_repr("a\u{200b}"), "'a\\u200b'");
        assert_eq!(py_repr("münchen"), "'münchen'");
    }

    #[test]
    fn digits_are_ascii_only() {
        assert!(is_ascii_digits("0443"));
        assert!(!is_ascii_digits(""));
        assert!(!is_ascii_digits("²"));
        assert!(!is_ascii_digits("٠١"));
    }
}
