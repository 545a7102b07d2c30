//! IP address and network parsing with the strictness of Python's `ipaddress` module.
//!
//! Python rejects what Rust's std parsers sometimes accept and vice versa (zone ids, netmask
//! prefixes, leading zeros), and a rule must parse here exactly when it parses upstream.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::pytext::is_ascii_digits;

/// `ipaddress.IPv4Address(s)`: strict dotted quad, decimal, no leading zeros, no shorthand.
pub fn parse_v4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if !is_ascii_digits(part) || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        *octet = part.parse::<u8>().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// Splits Python's IPv6 scope id (`fe80::1%eth0`); an empty scope or a second `%` is invalid.
fn split_scope(s: &str) -> Option<&str> {
    match s.split_once('%') {
        None => Some(s),
        Some((addr, scope)) if !scope.is_empty() && !scope.contains('%') => Some(addr),
        Some(_) => None,
    }
}

fn parse_hextet(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(s, 16).ok()
}

/// One `:`-separated piece of an IPv6 string; the embedded IPv4 tail becomes two values.
#[derive(Clone, Copy)]
enum Piece<'a> {
    Text(&'a str),
    Value(u16),
}

impl Piece<'_> {
    fn is_empty(self) -> bool {
        matches!(self, Piece::Text(""))
    }

    fn value(self) -> Option<u16> {
        match self {
            Piece::Text(t) => parse_hextet(t),
            Piece::Value(v) => Some(v),
        }
    }
}

/// `ipaddress.IPv6Address(s)` (Python 3.11 `_ip_int_from_string`), scope id accepted and ignored.
pub fn parse_v6(s: &str) -> Option<Ipv6Addr> {
    let s = split_scope(s)?;
    if s.is_empty() {
        return None;
    }
    let mut parts: Vec<Piece<'_>> = s.split(':').map(Piece::Text).collect();
    if parts.len() < 3 {
        return None;
    }
    if let Some(Piece::Text(last)) = parts.last().copied()
        && last.contains('.')
    {
        let o = parse_v4(last)?.octets();
        parts.pop();
        parts.push(Piece::Value(u16::from_be_bytes([o[0], o[1]])));
        parts.push(Piece::Value(u16::from_be_bytes([o[2], o[3]])));
    }
    let len = parts.len();
    if len > 9 {
        return None;
    }
    let mut skip_index = None;
    for (i, part) in parts.iter().enumerate().take(len - 1).skip(1) {
        if part.is_empty() {
            if skip_index.is_some() {
                return None;
            }
            skip_index = Some(i);
        }
    }
    let first_empty = parts[0].is_empty();
    let last_empty = parts[len - 1].is_empty();
    let (hi, lo, skipped) = match skip_index {
        Some(skip) => {
            let (mut hi, mut lo) = (skip, len - skip - 1);
            if first_empty {
                hi -= 1;
                if hi != 0 {
                    return None;
                }
            }
            if last_empty {
                lo -= 1;
                if lo != 0 {
                    return None;
                }
            }
            if hi + lo >= 8 {
                return None;
            }
            (hi, lo, 8 - hi - lo)
        }
        None => {
            if len != 8 || first_empty || last_empty {
                return None;
            }
            (len, 0, 0)
        }
    };
    let mut words = [0u16; 8];
    for (i, part) in parts.iter().take(hi).enumerate() {
        words[i] = part.value()?;
    }
    for (i, part) in parts[len - lo..].iter().enumerate() {
        words[hi + skipped + i] = part.value()?;
    }
    Some(Ipv6Addr::from(words))
}

/// `ipaddress.ip_address(s)`.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Some(v4) = parse_v4(s) {
        return Some(IpAddr::V4(v4));
    }
    if s.contains(':') {
        return parse_v6(s).map(IpAddr::V6);
    }
    None
}

/// Python's `_prefix_from_ip_int`: the prefix length of a contiguous netmask.
fn prefix_from_mask(mask: u32) -> Option<u8> {
    let trailing = mask.trailing_zeros();
    let prefix = 32 - trailing;
    let leading = mask.checked_shr(trailing).unwrap_or(0);
    let ones = 1u64.checked_shl(prefix).map_or(u64::MAX, |v| v - 1);
    (u64::from(leading) == ones).then_some(prefix as u8)
}

fn v4_prefix(s: &str) -> Option<u8> {
    if is_ascii_digits(s) {
        let p: u32 = s.parse().ok()?;
        return (p <= 32).then_some(p as u8);
    }
    // Python also accepts a netmask (255.255.0.0) or a hostmask (0.0.255.255).
    let mask = u32::from(parse_v4(s)?);
    prefix_from_mask(mask).or_else(|| prefix_from_mask(!mask))
}

fn v6_prefix(s: &str) -> Option<u8> {
    if !is_ascii_digits(s) {
        return None;
    }
    let p: u32 = s.trim_start_matches('0').parse().unwrap_or(0);
    (p <= 128 && s.len() <= 10).then_some(p as u8)
}

/// `ipaddress.ip_network(s, strict=False)`: host bits are zeroed.
pub fn parse_network(s: &str) -> Option<IpNet> {
    let mut split = s.split('/');
    let addr = split.next()?;
    let prefix = split.next();
    if split.next().is_some() {
        return None;
    }
    if let Some(v4) = parse_v4(addr) {
        let len = match prefix {
            None => 32,
            Some(p) => v4_prefix(p)?,
        };
        return Ipv4Net::new(v4, len).ok().map(|n| IpNet::V4(n.trunc()));
    }
    let v6 = parse_v6(addr)?;
    let len = match prefix {
        None => 128,
        Some(p) => v6_prefix(p)?,
    };
    Ipv6Net::new(v6, len).ok().map(|n| IpNet::V6(n.trunc()))
}

/// Python 3.11's `str(IPv6Address)`: lowercase hex, longest run of two or more zero hextets
/// compressed (first one on ties), never the embedded-IPv4 form.
pub fn format_v6_py(addr: &Ipv6Addr) -> String {
    let words = addr.segments();
    let (mut best_start, mut best_len) = (usize::MAX, 0);
    let mut i = 0;
    while i < 8 {
        if words[i] == 0 {
            let start = i;
            while i < 8 && words[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_start = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let mut out = String::with_capacity(39);
    let mut idx = 0;
    while idx < 8 {
        if best_len > 1 && idx == best_start {
            out.push_str(if idx == 0 { "::" } else { ":" });
            idx += best_len;
            continue;
        }
        let _ = write!(out, "{:x}", words[idx]);
        if idx < 7 {
            out.push(':');
        }
        idx += 1;
    }
    out
}

/// Python's `str(ip)`.
pub fn format_ip_py(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format_v6_py(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_is_strict() {
        assert!(parse_v4("192.0.2.1").is_some());
        assert!(parse_v4("010.0.0.1").is_none());
        assert!(parse_v4("127.1").is_none());
        assert!(parse_v4("1.2.3.256").is_none());
        assert!(parse_v4("1.2.3.4.").is_none());
        assert!(parse_v4("0.0.0.0").is_some());
    }

    #[test]
    fn v6_follows_python() {
        for ok in [
            "::",
            "::1",
            "2001:db8::1",
            "1:2:3:4:5:6:7:8",
            "1::",
            "::ffff:1.2.3.4",
            "fe80::1%eth0",
            "1:2:3:4:5:6:1.2.3.4",
            "1::8",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "2001:DB8::1",
        ] {
            assert!(parse_v6(ok).is_some(), "{ok} should parse");
        }
        for bad in [
            ":",
            "1:2",
            "1::2::3",
            "1:2:3:4:5:6:7:8:9",
            ":1::2",
            "1::2:",
            "12345::",
            "::1%",
            "::1%a%b",
            "1:2:3:4:5:6:7:8::",
            "::g",
            "1:2:3:4:5:6:7:1.2.3.4",
            ":::",
        ] {
            assert!(parse_v6(bad).is_none(), "{bad} should not parse");
        }
        assert_eq!(
            parse_v6("::ffff:1.2.3.4").map(|a| a.segments()[6]),
            Some(0x0102)
        );
        assert_eq!(
            parse_v6("1::8").map(|a| a.segments()),
            Some([1, 0, 0, 0, 0, 0, 0, 8])
        );
    }

    #[test]
    fn networks_follow_python() {
        assert_eq!(
            parse_network("192.0.2.1/24").map(|n| n.to_string()),
            Some("192.0.2.0/24".into())
        );
        assert_eq!(
            parse_network("10.0.0.0/255.0.0.0").map(|n| n.to_string()),
            Some("10.0.0.0/8".into())
        );
        assert_eq!(
            parse_network("10.0.0.0/0.255.255.255").map(|n| n.to_string()),
            Some("10.0.0.0/8".into())
        );
        assert_eq!(
            parse_network("2001:db8::1/32").map(|n| n.to_string()),
            Some("2001:db8::/32".into())
        );
        assert!(parse_network("10.0.0.0/33").is_none());
        assert!(parse_network("10.0.0.0/").is_none());
        assert!(parse_network("10.0.0.0/8/8").is_none());
        assert!(parse_network("fe80::1%eth0").is_some());
    }

    #[test]
    fn formats_like_python_311() {
        let f = |s: &str| parse_v6(s).map(|a| format_v6_py(&a));
        assert_eq!(f("2001:0DB8:0:0:0:0:0:1").as_deref(), Some("2001:db8::1"));
        assert_eq!(f("::ffff:192.0.2.1").as_deref(), Some("::ffff:c000:201"));
        assert_eq!(f("1:0:0:2:0:0:0:3").as_deref(), Some("1:0:0:2::3"));
        assert_eq!(f("1:0:2:3:4:5:6:7").as_deref(), Some("1:0:2:3:4:5:6:7"));
        assert_eq!(f("::").as_deref(), Some("::"));
        assert_eq!(f("1::").as_deref(), Some("1::"));
    }
}
