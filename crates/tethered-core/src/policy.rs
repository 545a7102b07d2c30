//! A compiled allow list and its decisions (BEHAVIOUR.md §4).

use std::collections::{HashMap, HashSet};

type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;
type FastSet<K> = HashSet<K, foldhash::quality::RandomState>;
use std::net::IpAddr;

use crate::ip::{format_ip_py, parse_ip};
use crate::netset::NetSet;
use crate::normalize::{has_invalid_chars, is_localhost, normalize_host};
use crate::ports::PortSet;
use crate::rule::{Rule, RuleError, parse_rule};
use crate::wildcard::WildcardSet;

/// An allow list compiled for lookups whose cost barely grows with its size: exact hosts in a
/// hash map, wildcards in one glob set, networks indexed by prefix length.
pub struct Policy {
    exact: FastMap<String, PortSet>,
    exact_any_port: FastSet<String>,
    wildcards: WildcardSet,
    networks: NetSet,
    allow_localhost: bool,
    rule_count: usize,
    /// The parsed rules, kept for introspection (scope/global overlap warnings).
    rules: Vec<Rule>,
}

impl Policy {
    /// Parses and compiles `rules`; the first malformed rule is reported with its index.
    pub fn new<S: AsRef<str>>(
        rules: &[S],
        allow_localhost: bool,
    ) -> Result<Policy, (usize, RuleError)> {
        let mut exact: FastMap<String, PortSet> = FastMap::default();
        let mut exact_any_port = FastSet::default();
        let mut wild = Vec::new();
        let mut networks = NetSet::default();
        let mut parsed = Vec::with_capacity(rules.len());
        for (index, raw) in rules.iter().enumerate() {
            let rule = parse_rule(raw.as_ref()).map_err(|e| (index, e))?;
            parsed.push(rule.clone());
            match rule {
                Rule::Exact { host, port: None } => {
                    exact_any_port.insert(host);
                }
                Rule::Exact { host, port } => exact.entry(host).or_default().add(port),
                Rule::Wildcard { parsed, port, .. } => wild.push((parsed, port)),
                Rule::Network { net, port } => networks.insert(net, port),
            }
        }
        Ok(Policy {
            exact,
            exact_any_port,
            wildcards: WildcardSet::new(wild),
            networks,
            allow_localhost,
            rule_count: rules.len(),
            rules: parsed,
        })
    }

    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn allow_localhost(&self) -> bool {
        self.allow_localhost
    }

    /// Upstream's `is_allowed(host, port)`: `port` None is a DNS lookup (no port known).
    pub fn allows(&self, host: &str, port: Option<u16>) -> bool {
        self.allows_normalized(&normalize_host(host), port)
    }

    /// `is_allowed(h, port, _normalized=True)`.
    pub fn allows_normalized(&self, h: &str, port: Option<u16>) -> bool {
        if has_invalid_chars(h) {
            return false;
        }
        let ip = parse_ip(h);
        if self.allow_localhost && is_localhost(h, ip.as_ref()) {
            return true;
        }
        match ip {
            Some(ip) => self.allows_ip(&ip, port),
            None => self.allows_hostname(h, port),
        }
    }

    /// The connect-time check of an IP that a lookup resolved from `resolved_from`
    /// (BEHAVIOUR.md §4.6, global layer): allowed when the hostname or the IP matches.
    pub fn allows_resolved(&self, ip: &str, port: Option<u16>, resolved_from: &str) -> bool {
        self.allows(resolved_from, port) || self.allows(ip, port)
    }

    /// Upstream's `_check_ip`: networks, then wildcard patterns against the IP's text.
    /// Exact hostname rules never apply to an IP.
    fn allows_ip(&self, ip: &IpAddr, port: Option<u16>) -> bool {
        if self.networks.contains(ip, port) {
            return true;
        }
        if !self.wildcards.ip_capable() {
            return false;
        }
        if self.wildcards.matches(&format_ip_py(ip), port) {
            return true;
        }
        match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .is_some_and(|m| self.wildcards.matches(&m.to_string(), port)),
            IpAddr::V4(_) => false,
        }
    }

    /// Upstream's `_check_hostname`.
    fn allows_hostname(&self, h: &str, port: Option<u16>) -> bool {
        self.exact_any_port.contains(h)
            || self.exact.get(h).is_some_and(|ports| ports.allows(port))
            || self.wildcards.matches(h, port)
    }
}
