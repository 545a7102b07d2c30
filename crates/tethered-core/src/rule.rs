//! Allow-rule parsing (BEHAVIOUR.md §2.2), stricter than upstream where upstream silently turns
//! a malformed rule into a different one.

use ipnet::IpNet;
use std::fmt;

use crate::fnmatch::{Pattern, PatternError};
use crate::ip::parse_network;
use crate::normalize::unicode_fold;
use crate::pytext::{is_ascii_digits, py_repr, py_strip};

/// One parsed allow rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// An exact hostname (lowercased, normalized), optionally port-restricted.
    Exact { host: String, port: Option<u16> },
    /// An fnmatch pattern, matched against hostnames and against IP text.
    Wildcard {
        pattern: String,
        parsed: Pattern,
        port: Option<u16>,
    },
    /// An IPv4 or IPv6 network (a bare address is a /32 or /128).
    Network { net: IpNet, port: Option<u16> },
}

/// What is wrong with a rule; the message says how to fix it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleErrorKind {
    Empty,
    Url,
    PortOutOfRange,
    MatchesAll,
    Malformed,
}

/// A rule that cannot be used, with the raw rule quoted in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub kind: RuleErrorKind,
    pub rule: String,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleError {}

fn error(kind: RuleErrorKind, raw: &str, message: String) -> RuleError {
    RuleError {
        kind,
        rule: raw.to_string(),
        message,
    }
}

fn malformed(raw: &str, what: &str) -> RuleError {
    error(
        RuleErrorKind::Malformed,
        raw,
        format!("allow rule {} {what}", py_repr(raw)),
    )
}

/// Parses an all-ASCII-digit port, rejecting values outside 0-65535 like upstream.
fn parse_port(raw: &str, digits: &str) -> Result<u16, RuleError> {
    let significant = digits.trim_start_matches('0');
    let shown = if significant.is_empty() {
        "0"
    } else {
        significant
    };
    match shown.parse::<u32>() {
        Ok(p) if p <= 65535 => Ok(p as u16),
        _ => Err(error(
            RuleErrorKind::PortOutOfRange,
            raw,
            format!(
                "allow rule {}: Port {shown} is out of valid range 0-65535. Use a port between 0 and 65535 (e.g. 'api.example.com:443').",
                py_repr(raw)
            ),
        )),
    }
}

/// `[v6]`, `[v6]:port`, `[v6]/len`, `[v6]/len:port` (and bracketed IPv4).
fn parse_bracketed(raw: &str, rule: &str, close: usize) -> Result<Rule, RuleError> {
    let mut inner = rule[1..close].to_string();
    let rem = &rule[close + 1..];
    let mut port = None;
    if let Some(cidr) = rem.strip_prefix('/') {
        let prefix = match cidr.rsplit_once(':') {
            Some((prefix, p)) if is_ascii_digits(p) => {
                port = Some(parse_port(raw, p)?);
                prefix
            }
            Some(_) => {
                return Err(malformed(
                    raw,
                    "has a port that is not a number. Write it as '[2001:db8::]/32:443'.",
                ));
            }
            None => cidr,
        };
        inner.push('/');
        inner.push_str(prefix);
    } else if let Some(p) = rem.strip_prefix(':') {
        if !is_ascii_digits(p) {
            return Err(malformed(
                raw,
                "has a missing or non-numeric port after ']'. Write it as '[2001:db8::1]:443'.",
            ));
        }
        port = Some(parse_port(raw, p)?);
    } else if !rem.is_empty() {
        return Err(malformed(
            raw,
            "has text after ']'. Brackets hold an IP address: '[2001:db8::1]', '[2001:db8::1]:443' or '[2001:db8::]/32:443'; a pattern cannot start with a '[...]' set (use '?' instead).",
        ));
    }
    match parse_network(&inner) {
        Some(net) => network_rule(raw, net, port),
        None => Err(malformed(
            raw,
            "puts something other than an IP address or network in brackets. Brackets are only for IP literals such as '[2001:db8::1]:443'; write hostnames and patterns without them.",
        )),
    }
}

fn network_rule(raw: &str, net: IpNet, port: Option<u16>) -> Result<Rule, RuleError> {
    if net.prefix_len() == 0 {
        return Err(error(
            RuleErrorKind::MatchesAll,
            raw,
            format!(
                "allow rule {} matches ALL {} destinations, which disables egress control entirely. Use specific networks instead (e.g. '10.0.0.0/8').",
                py_repr(raw),
                if net.addr().is_ipv4() { "IPv4" } else { "IPv6" }
            ),
        ));
    }
    Ok(Rule::Network { net, port })
}

/// Upstream's `_has_port_suffix`: exactly one `:` and ASCII digits after it.
fn split_port(rule: &str) -> Option<(&str, &str)> {
    let (host, port) = rule.rsplit_once(':')?;
    (is_ascii_digits(port) && !host.contains(':')).then_some((host, port))
}

/// Parses one allow rule (BEHAVIOUR.md §2.2, steps 1-10).
pub fn parse_rule(raw: &str) -> Result<Rule, RuleError> {
    let mut rule = py_strip(raw).to_lowercase();
    if !rule.is_ascii() {
        rule = unicode_fold(&rule);
    }
    if rule.is_empty() {
        return Err(error(
            RuleErrorKind::Empty,
            raw,
            format!("allow rule {} is empty or whitespace-only", py_repr(raw)),
        ));
    }
    if rule.contains("://") {
        return Err(error(
            RuleErrorKind::Url,
            raw,
            format!(
                "allow rule {} looks like a URL. Use a hostname pattern instead (e.g. 'api.stripe.com:443', not 'https://api.stripe.com:443').",
                py_repr(raw)
            ),
        ));
    }
    if rule.ends_with('.') {
        rule.pop();
    }
    if rule.starts_with('[') {
        return match rule.find(']') {
            Some(close) => parse_bracketed(raw, &rule, close),
            None => Err(malformed(
                raw,
                "has an unclosed '['. Close it (e.g. '[2001:db8::1]:443').",
            )),
        };
    }
    let (host, port) = match split_port(&rule) {
        Some((host, digits)) => (host.to_string(), Some(parse_port(raw, digits)?)),
        None => (rule, None),
    };
    if let Some(net) = parse_network(&host) {
        return network_rule(raw, net, port);
    }
    if host.contains('*') {
        let head = host.split(':').next().unwrap_or("");
        if head.chars().all(|c| matches!(c, '*' | '?' | '.')) {
            return Err(error(
                RuleErrorKind::MatchesAll,
                raw,
                format!(
                    "allow rule {} matches ALL destinations, which disables egress control entirely. Use specific hostname patterns instead (e.g. '*.stripe.com:443').",
                    py_repr(raw)
                ),
            ));
        }
    }
    // Stricter than upstream: `host:` and `host:abc` are typos for a port, not hostnames.
    if port.is_none()
        && let Some((_, after)) = host.split_once(':')
        && !after.contains(':')
    {
        return Err(malformed(
            raw,
            "has a missing or non-numeric port after ':'. Write it as 'api.example.com:443', or leave the port out to allow every port.",
        ));
    }
    if host.contains(['*', '?', '[']) {
        let parsed = Pattern::parse(&host).map_err(|PatternError::UnclosedBracket| {
            malformed(
                raw,
                "has an unclosed '[' character set. Close it (e.g. 'api[12].example.com').",
            )
        })?;
        return Ok(Rule::Wildcard {
            pattern: host,
            parsed,
            port,
        });
    }
    Ok(Rule::Exact { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(raw: &str) -> Option<RuleErrorKind> {
        parse_rule(raw).err().map(|e| e.kind)
    }

    #[test]
    fn parses_every_syntax() {
        let exact = |h: &str, p| {
            Ok(Rule::Exact {
                host: h.into(),
                port: p,
            })
        };
        assert_eq!(parse_rule("API.Stripe.com"), exact("api.stripe.com", None));
        assert_eq!(
            parse_rule("api.stripe.com:0443"),
            exact("api.stripe.com", Some(443))
        );
        assert_eq!(parse_rule("."), exact("", None));
        let net = |s: &str, p| {
            Ok(Rule::Network {
                net: s.parse().unwrap_or_else(|_| unreachable!()),
                port: p,
            })
        };
        assert_eq!(
            parse_rule("192.0.2.1/24:5432"),
            net("192.0.2.0/24", Some(5432))
        );
        assert_eq!(
            parse_rule("[2001:db8::1]:443"),
            net("2001:db8::1/128", Some(443))
        );
        assert_eq!(
            parse_rule("[2001:db8::]/32:443"),
            net("2001:db8::/32", Some(443))
        );
        assert_eq!(parse_rule("[1.2.3.4]"), net("1.2.3.4/32", None));
        assert_eq!(
            parse_rule("2001:db8::1:443"),
            net("2001:db8::1:443/128", None)
        );
        assert!(matches!(
            parse_rule("*.stripe.com:443"),
            Ok(Rule::Wildcard {
                port: Some(443),
                ..
            })
        ));
        // Upstream keeps these as dead rules; so do we.
        assert!(matches!(
            parse_rule("2001:db8::/32:443"),
            Ok(Rule::Exact { .. })
        ));
        assert!(matches!(
            parse_rule("not a valid rule!@#$"),
            Ok(Rule::Exact { .. })
        ));
    }

    #[test]
    fn rejects_what_upstream_mangles() {
        for raw in [
            "[*]",
            "[::1]garbage",
            "[2001:db8::]/32:abc",
            "[ab]pi.com",
            "host:",
            "[abc",
            "api[12.x",
            "[not-an-ip]",
            "[::1]:",
            "host:abc",
        ] {
            assert_eq!(kind(raw), Some(RuleErrorKind::Malformed), "{raw}");
        }
        for raw in ["0.0.0.0/0", "::/0", "*", "*.*", "::ffff:*", "*:abc"] {
            assert_eq!(kind(raw), Some(RuleErrorKind::MatchesAll), "{raw}");
        }
        assert_eq!(kind("host:99999"), Some(RuleErrorKind::PortOutOfRange));
        assert_eq!(kind(" \u{3000} "), Some(RuleErrorKind::Empty));
    }
}
