//! Port sets attached to exact hosts and networks.

/// The ports a group of rules allows: every port, or a short list.
#[derive(Clone, Debug, Default)]
pub struct PortSet {
    any: bool,
    ports: Vec<u16>,
}

impl PortSet {
    pub fn add(&mut self, port: Option<u16>) {
        match port {
            None => self.any = true,
            Some(p) if !self.ports.contains(&p) => self.ports.push(p),
            Some(_) => {}
        }
    }

    /// A check without a port (a DNS lookup) matches rules with any port (BEHAVIOUR.md §4.4).
    pub fn allows(&self, port: Option<u16>) -> bool {
        match port {
            None => true,
            Some(p) => self.any || self.ports.contains(&p),
        }
    }
}

/// Port match of one rule: no port on either side matches.
pub fn port_matches(rule_port: Option<u16>, port: Option<u16>) -> bool {
    match (rule_port, port) {
        (Some(r), Some(p)) => r == p,
        _ => true,
    }
}
