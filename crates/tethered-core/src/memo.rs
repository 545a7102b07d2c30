//! A small direct-mapped memo of recent "allowed" decisions, one per thread.
//!
//! A decision is a handful of hash probes into the rule tables; a repeated target (a busy
//! client talks to few hosts) is answered from one compact array instead.
//!
//! Only what cannot go stale is stored: decisions that allowed, keyed by everything they
//! depend on — the host, the port, the scope chain and the policy epoch (bumped whenever the
//! global policy changes). The caller stores only decisions that did not depend on the
//! IP -> hostname cache, which changes on every lookup.

/// Hosts longer than this are decided every time (real hostnames are far shorter).
const MEMO_HOST_MAX: usize = 62;
const SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Slot {
    epoch: u64,
    chain: u64,
    port: i32,
    len: u8,
    host: [u8; MEMO_HOST_MAX],
}

const EMPTY: Slot = Slot {
    epoch: 0,
    chain: 0,
    port: 0,
    len: 0,
    host: [0; MEMO_HOST_MAX],
};

pub struct DecisionMemo {
    slots: [Slot; SLOTS],
}

impl Default for DecisionMemo {
    fn default() -> Self {
        Self {
            slots: [EMPTY; SLOTS],
        }
    }
}

/// FNV-1a over the host's bytes mixed with the port and chain: a slot index.
fn slot_of(host: &[u8], port: i32, chain: u64) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in host {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= u64::from(port as u32) ^ chain.rotate_left(32);
    h = h.wrapping_mul(0x0100_0000_01b3);
    // The top 6 bits: one of the 64 slots.
    (h >> 58) as usize
}

impl DecisionMemo {
    /// True when `host:port` under `chain` was allowed at `epoch`. Epoch 0 never matches.
    pub fn allowed(&self, epoch: u64, chain: u64, host: &str, port: i32) -> bool {
        let bytes = host.as_bytes();
        if epoch == 0 || bytes.len() > MEMO_HOST_MAX {
            return false;
        }
        let slot = &self.slots[slot_of(bytes, port, chain)];
        slot.epoch == epoch
            && slot.chain == chain
            && slot.port == port
            && usize::from(slot.len) == bytes.len()
            && slot.host[..bytes.len()] == *bytes
    }

    /// Remembers that `host:port` under `chain` is allowed at `epoch`.
    pub fn remember(&mut self, epoch: u64, chain: u64, host: &str, port: i32) {
        let bytes = host.as_bytes();
        if epoch == 0 || bytes.len() > MEMO_HOST_MAX {
            return;
        }
        let slot = &mut self.slots[slot_of(bytes, port, chain)];
        slot.epoch = epoch;
        slot.chain = chain;
        slot.port = port;
        slot.len = bytes.len() as u8;
        slot.host[..bytes.len()].copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_the_exact_key() {
        let mut memo = DecisionMemo::default();
        memo.remember(1, 0, "api.stripe.com", 443);
        assert!(memo.allowed(1, 0, "api.stripe.com", 443));
        assert!(!memo.allowed(1, 0, "api.stripe.com", 80), "another port");
        assert!(
            !memo.allowed(1, 0, "api.stripe.co", 443),
            "a prefix of the host"
        );
        assert!(!memo.allowed(1, 0, "api.stripe.comm", 443), "a longer host");
        assert!(
            !memo.allowed(1, 7, "api.stripe.com", 443),
            "another scope chain"
        );
        assert!(
            !memo.allowed(2, 0, "api.stripe.com", 443),
            "a newer policy epoch"
        );
    }

    #[test]
    fn epoch_zero_and_long_hosts_are_never_remembered() {
        let mut memo = DecisionMemo::default();
        memo.remember(0, 0, "a.test", 1);
        assert!(!memo.allowed(0, 0, "a.test", 1));
        let long = "a".repeat(MEMO_HOST_MAX + 1);
        memo.remember(1, 0, &long, 1);
        assert!(!memo.allowed(1, 0, &long, 1));
    }

    #[test]
    fn a_colliding_entry_replaces_the_slot() {
        let mut memo = DecisionMemo::default();
        // Fill well past the slot count: every lookup is either the exact entry or a miss.
        for i in 0..1000 {
            memo.remember(3, 0, &format!("h{i}.test"), 443);
        }
        let hits = (0..1000)
            .filter(|i| memo.allowed(3, 0, &format!("h{i}.test"), 443))
            .count();
        assert!(hits <= SLOTS && hits > 0, "{hits}");
        assert!(!memo.allowed(3, 0, "never.test", 443));
    }
}
