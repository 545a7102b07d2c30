//! Destination-host normalization and the malformed-host check (BEHAVIOUR.md §3, §4.2).

use std::borrow::Cow;
use std::net::IpAddr;

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization;

use crate::ip::parse_ip;
use crate::pytext::{is_py_space, py_strip};

/// The three dot look-alikes upstream folds to `.` in non-ASCII names (and nothing else).
fn fold_dot(c: char) -> char {
    match c {
        '\u{ff0e}' | '\u{3002}' | '\u{ff61}' => '.',
        c => c,
    }
}

/// NFC plus the dot fold, applied only to non-ASCII text, as upstream does.
pub(crate) fn unicode_fold(s: &str) -> String {
    s.nfc().map(fold_dot).collect()
}

/// Format, control, surrogate, private-use and unassigned characters: invisible in a name.
pub(crate) fn is_invisible(c: char) -> bool {
    (c as u32) > 127
        && matches!(
            get_general_category(c),
            GeneralCategory::Format
                | GeneralCategory::Control
                | GeneralCategory::Surrogate
                | GeneralCategory::PrivateUse
                | GeneralCategory::Unassigned
        )
}

/// True when `s` (after stripping every trailing dot) is an IP address for Python.
fn is_ip_like(s: &str) -> bool {
    parse_ip(s.trim_end_matches('.')).is_some()
}

/// Upstream's `_normalize_host`: lowercase, strip Python whitespace, NFC + dot fold for
/// non-ASCII, one trailing dot removed (not from IP-like strings), IPv6 zone id dropped.
///
/// Borrows when the host is already normal, which is the common case on the hot path.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let already_normal = host.is_ascii()
        && !host.bytes().any(|b| b.is_ascii_uppercase())
        && host
            .as_bytes()
            .first()
            .is_none_or(|b| !is_py_space(char::from(*b)))
        && host
            .as_bytes()
            .last()
            .is_none_or(|b| !is_py_space(char::from(*b)) && *b != b'.')
        && !host.contains('%');
    if already_normal {
        return Cow::Borrowed(host);
    }
    let lowered = host.to_lowercase();
    let mut h = py_strip(&lowered).to_string();
    if !h.is_ascii() {
        h = unicode_fold(&h);
    }
    if h.ends_with('.') && !is_ip_like(&h) {
        h.pop();
    }
    if h.contains('%')
        && h.contains(':')
        && let Some(pos) = h.find('%')
    {
        h.truncate(pos);
    }
    Cow::Owned(h)
}

/// Upstream's `_has_invalid_hostname_chars`: control characters, whitespace and invisible
/// Unicode make a host unmatchable, so `evil\u{200b}.allowed.com` can never pass a wildcard.
pub fn has_invalid_chars(h: &str) -> bool {
    if h.is_ascii() {
        return h.bytes().any(|b| b <= 0x20 || b == 0x7f);
    }
    h.chars()
        .any(|c| is_py_space(c) || (c as u32) < 32 || c == '\u{7f}' || is_invisible(c))
}

/// Upstream's `_is_localhost`: the literal names and every loopback or unspecified address,
/// including their IPv4-mapped IPv6 forms.
pub fn is_localhost(h: &str, ip: Option<&IpAddr>) -> bool {
    if matches!(h, "localhost" | "127.0.0.1" | "::1" | "0.0.0.0" | "::") {
        return true;
    }
    match ip {
        Some(IpAddr::V4(v4)) => v4.is_loopback() || v4.is_unspecified(),
        Some(IpAddr::V6(v6)) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|m| m.is_loopback() || m.is_unspecified())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_upstream() {
        assert_eq!(normalize_host("API.Stripe.COM"), "api.stripe.com");
        assert_eq!(normalize_host("stripe.com."), "stripe.com");
        assert_eq!(normalize_host("192.0.2.1."), "192.0.2.1.");
        assert_eq!(normalize_host("api.stripe.com.."), "api.stripe.com.");
        assert_eq!(normalize_host("::1%lo"), "::1");
        assert_eq!(
            normalize_host("internal-service%env"),
            "internal-service%env"
        );
        assert_eq!(normalize_host("evil.test\u{feff}"), "evil.test\u{feff}");
        assert!(matches!(normalize_host("api.stripe.com"), Cow::Borrowed(_)));
    }

    #[test]
    fn flags_invisible_and_control_chars() {
        assert!(has_invalid_chars("evil\u{200b}.com"));
        assert!(has_invalid_chars("evil .com"));
        assert!(has_invalid_chars("evil\u{a0}.com"));
        assert!(!has_invalid_chars("café.com"));
        assert!(!has_invalid_chars("cafe\u{301}.com"));
    }
}
