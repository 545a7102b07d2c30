//! Network rules indexed by prefix length, so a lookup costs one hash probe per distinct
//! prefix length in the list (at most 33 for IPv4, 129 for IPv6), not one test per rule.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ports::PortSet;

#[derive(Debug, Default)]
pub struct NetSet {
    /// (prefix length, masked address -> ports), longest prefix first.
    v4: Vec<(u8, HashMap<u32, PortSet>)>,
    v6: Vec<(u8, HashMap<u128, PortSet>)>,
}

fn v4_mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn v6_mask(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

fn slot<K, V: Default>(levels: &mut Vec<(u8, HashMap<K, V>)>, len: u8) -> &mut HashMap<K, V> {
    let pos = match levels.iter().position(|(l, _)| *l == len) {
        Some(pos) => pos,
        None => {
            levels.push((len, HashMap::new()));
            levels.sort_by_key(|level| std::cmp::Reverse(level.0));
            levels.iter().position(|(l, _)| *l == len).unwrap_or(0)
        }
    };
    &mut levels[pos].1
}

impl NetSet {
    pub fn insert(&mut self, net: IpNet, port: Option<u16>) {
        match net {
            IpNet::V4(n) => {
                let key = u32::from(n.network());
                slot(&mut self.v4, n.prefix_len())
                    .entry(key)
                    .or_default()
                    .add(port);
            }
            IpNet::V6(n) => {
                let key = u128::from(n.network());
                slot(&mut self.v6, n.prefix_len())
                    .entry(key)
                    .or_default()
                    .add(port);
            }
        }
    }

    fn contains_v4(&self, ip: Ipv4Addr, port: Option<u16>) -> bool {
        let bits = u32::from(ip);
        self.v4.iter().any(|(len, map)| {
            map.get(&(bits & v4_mask(*len)))
                .is_some_and(|p| p.allows(port))
        })
    }

    fn contains_v6(&self, ip: Ipv6Addr, port: Option<u16>) -> bool {
        let bits = u128::from(ip);
        self.v6.iter().any(|(len, map)| {
            map.get(&(bits & v6_mask(*len)))
                .is_some_and(|p| p.allows(port))
        })
    }

    /// Upstream's network half of `_check_ip`: IPv4 networks also match IPv4-mapped IPv6
    /// addresses; IPv6 networks match only IPv6 addresses.
    pub fn contains(&self, ip: &IpAddr, port: Option<u16>) -> bool {
        match ip {
            IpAddr::V4(v4) => self.contains_v4(*v4, port),
            IpAddr::V6(v6) => {
                self.contains_v6(*v6, port)
                    || v6
                        .to_ipv4_mapped()
                        .is_some_and(|m| self.contains_v4(m, port))
            }
        }
    }
}
