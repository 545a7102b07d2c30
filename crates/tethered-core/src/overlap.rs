//! Scope/global overlap analysis for the advisory warnings of BEHAVIOUR.md §7.7: a scope rule
//! that the global policy can never allow, or allows only in part, is worth a warning when the
//! scope is created (scopes only narrow, so such a rule is dead or narrower than it reads).
//!
//! This follows upstream's classification, but on properly parsed rules (upstream splits
//! `2001:db8::1` into host `2001:db8:` and port 1 and warns spuriously).

use crate::policy::Policy;
use crate::rule::{Rule, parse_rule};

/// How much of a scope rule the global policy can allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlap {
    /// Fully reachable (or not worth a warning).
    Full,
    /// Broader than the global policy: only a subset is reachable.
    Partial,
    /// Never reachable.
    None,
}

fn ports_overlap(a: Option<u16>, b: Option<u16>) -> bool {
    a.is_none() || b.is_none() || a == b
}

fn wildcard_overlap(global: &Policy, pattern: &str, port: Option<u16>) -> Overlap {
    let mut partial = false;
    for rule in global.rules() {
        match rule {
            Rule::Wildcard {
                pattern: g,
                port: gp,
                ..
            } if g == pattern => {
                if *gp == port || gp.is_none() {
                    return Overlap::Full;
                }
                partial |= ports_overlap(*gp, port);
            }
            Rule::Exact { host, port: gp } => {
                let scope = crate::fnmatch::Pattern::parse(pattern);
                if scope.is_ok_and(|p| p.matches(host)) && ports_overlap(*gp, port) {
                    partial = true;
                }
            }
            _ => {}
        }
    }
    if partial {
        return Overlap::Partial;
    }
    let scope_tail = pattern.trim_start_matches(['*', '?']);
    for rule in global.rules() {
        if let Rule::Wildcard {
            pattern: g,
            port: gp,
            ..
        } = rule
        {
            let tail = g.trim_start_matches(['*', '?']);
            let suffix = !scope_tail.is_empty()
                && !tail.is_empty()
                && (scope_tail.ends_with(tail) || tail.ends_with(scope_tail));
            if suffix && ports_overlap(*gp, port) {
                return Overlap::Partial;
            }
        }
    }
    Overlap::None
}

fn network_overlap(global: &Policy, net: &ipnet::IpNet, port: Option<u16>) -> Overlap {
    let mut result = Overlap::None;
    for rule in global.rules() {
        let Rule::Network { net: g, port: gp } = rule else {
            continue;
        };
        let overlaps = g.contains(&net.network()) || net.contains(&g.network());
        if !overlaps || (port.is_some() && gp.is_some() && port != *gp) {
            continue;
        }
        if net.prefix_len() >= g.prefix_len() && (gp.is_none() || port == *gp) {
            return Overlap::Full;
        }
        result = Overlap::Partial;
    }
    result
}

/// A port that no rule of `global` names: a host allowed on it is allowed by a port-less rule.
fn unnamed_port(global: &Policy) -> u16 {
    let named: std::collections::HashSet<u16> = global
        .rules()
        .iter()
        .filter_map(|r| match r {
            Rule::Exact { port, .. } | Rule::Wildcard { port, .. } | Rule::Network { port, .. } => {
                *port
            }
        })
        .collect();
    (1..=u16::MAX).find(|p| !named.contains(p)).unwrap_or(0)
}

fn exact_overlap(global: &Policy, host: &str, port: Option<u16>) -> Overlap {
    if port.is_some() {
        return if global.allows(host, port) {
            Overlap::Full
        } else {
            Overlap::None
        };
    }
    if global.allows(host, Some(unnamed_port(global))) {
        Overlap::Full
    } else if global.allows(host, None) {
        Overlap::Partial
    } else {
        Overlap::None
    }
}

/// Classifies one raw scope rule against the global policy (an unparsable rule is `Full`:
/// it is reported by the scope's own validation, not here).
pub fn scope_rule_overlap(global: &Policy, raw: &str) -> Overlap {
    match parse_rule(raw) {
        Ok(Rule::Wildcard { pattern, port, .. }) => wildcard_overlap(global, &pattern, port),
        Ok(Rule::Network { net, port }) => network_overlap(global, &net, port),
        Ok(Rule::Exact { host, port }) => exact_overlap(global, &host, port),
        Err(_) => Overlap::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &[&str]) -> Policy {
        Policy::new(rules, true).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn classifies_like_upstream() {
        let g = policy(&[
            "*.stripe.com:443",
            "db.internal:5432",
            "10.0.0.0/8",
            "api.twilio.com",
        ]);
        assert_eq!(scope_rule_overlap(&g, "*.stripe.com:443"), Overlap::Full);
        assert_eq!(scope_rule_overlap(&g, "*.stripe.com"), Overlap::Partial);
        assert_eq!(scope_rule_overlap(&g, "*.api.stripe.com"), Overlap::Partial);
        assert_eq!(scope_rule_overlap(&g, "*.evil.test"), Overlap::None);
        assert_eq!(scope_rule_overlap(&g, "db.internal:5432"), Overlap::Full);
        assert_eq!(scope_rule_overlap(&g, "db.internal"), Overlap::Partial);
        assert_eq!(scope_rule_overlap(&g, "evil.test"), Overlap::None);
        assert_eq!(scope_rule_overlap(&g, "api.twilio.com"), Overlap::Full);
        assert_eq!(scope_rule_overlap(&g, "10.1.0.0/16"), Overlap::Full);
        assert_eq!(scope_rule_overlap(&g, "0.0.0.0/1"), Overlap::Partial);
        assert_eq!(scope_rule_overlap(&g, "192.168.0.0/16"), Overlap::None);
        assert_eq!(scope_rule_overlap(&g, "localhost"), Overlap::Full);
    }

    #[test]
    fn ipv6_exact_rules_are_not_split_into_host_and_port() {
        let g = policy(&["2001:db8::1"]);
        assert_eq!(scope_rule_overlap(&g, "2001:db8::1"), Overlap::Full);
    }
}
