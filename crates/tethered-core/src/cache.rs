//! The IP -> hostname cache (BEHAVIOUR.md §6.1): filled from the answers of lookups that were
//! allowed, consulted when a socket connects to an IP, so the IP is judged by its name.

use lru::LruCache;
use std::num::NonZeroUsize;

/// Upstream's `_IP_MAP_MAX_SIZE`.
pub const IP_CACHE_CAPACITY: usize = 4096;

pub struct IpHostCache {
    entries: LruCache<String, String>,
    /// The last answer `record_answer` stored, and whether the cache changed in any other way
    /// since (an insert, a lookup that reordered it, a clear): while it did not, recording the
    /// same answer again would leave the cache exactly as it is, so it is skipped.
    last_host: String,
    last_ips: Vec<String>,
    touched: bool,
}

impl Default for IpHostCache {
    fn default() -> Self {
        Self::with_capacity(IP_CACHE_CAPACITY)
    }
}

impl IpHostCache {
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: LruCache::new(capacity),
            last_host: String::new(),
            last_ips: Vec::new(),
            touched: true,
        }
    }

    /// Records one lookup's answer: each of `ips` mapped to `host`, in order (the last one
    /// ends up most recently used). A repeat of the previous answer with nothing else in
    /// between costs two string comparisons: busy clients resolve the same names over and over.
    pub fn record_answer(&mut self, host: &str, ips: &[&str]) {
        let repeat = !self.touched
            && self.last_host == host
            && self.last_ips.len() == ips.len()
            && self.last_ips.iter().zip(ips).all(|(a, b)| a == b);
        if repeat {
            return;
        }
        for ip in ips {
            self.put(ip, host);
        }
        host.clone_into(&mut self.last_host);
        self.last_ips.truncate(ips.len());
        for (i, ip) in ips.iter().enumerate() {
            match self.last_ips.get_mut(i) {
                Some(kept) => (*ip).clone_into(kept),
                None => self.last_ips.push((*ip).to_string()),
            }
        }
        self.touched = false;
    }

    /// Maps `ip` to `host`, overwriting (refreshing) an existing entry and evicting the least
    /// recently used one when full. The last hostname resolved to a shared IP wins.
    pub fn insert(&mut self, ip: &str, host: &str) {
        self.touched = true;
        self.put(ip, host);
    }

    fn put(&mut self, ip: &str, host: &str) {
        match self.entries.get_mut(ip) {
            Some(existing) => {
                if existing != host {
                    host.clone_into(existing);
                }
            }
            None => {
                self.entries.put(ip.to_string(), host.to_string());
            }
        }
    }

    /// The hostname `ip` was resolved from, marking the entry as recently used.
    pub fn lookup(&mut self, ip: &str) -> Option<&str> {
        let found = self.entries.get(ip).map(String::as_str);
        self.touched |= found.is_some();
        found
    }

    pub fn clear(&mut self) {
        self.touched = true;
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_answer_leaves_the_cache_as_recording_it_again_would() {
        let mut cache = IpHostCache::with_capacity(3);
        cache.record_answer("a.test", &["192.0.2.1", "192.0.2.2"]);
        cache.record_answer("a.test", &["192.0.2.1", "192.0.2.2"]); // skipped: nothing changed
        assert_eq!(cache.len(), 2);
        // A lookup reorders the cache: the same answer must be recorded again (refreshing it).
        assert_eq!(cache.lookup("192.0.2.1"), Some("a.test"));
        cache.record_answer("a.test", &["192.0.2.1", "192.0.2.2"]);
        cache.insert("192.0.2.3", "c.test");
        cache.insert("192.0.2.4", "d.test"); // evicts the least recently used: 192.0.2.1
        assert_eq!(cache.lookup("192.0.2.1"), None);
        assert_eq!(cache.lookup("192.0.2.2"), Some("a.test"));
        // Another host for the same addresses, then the first again: each one is recorded.
        cache.record_answer("b.test", &["192.0.2.2"]);
        assert_eq!(cache.lookup("192.0.2.2"), Some("b.test"));
        cache.record_answer("a.test", &["192.0.2.2"]);
        assert_eq!(cache.lookup("192.0.2.2"), Some("a.test"));
        // A clear forgets the last answer too.
        cache.clear();
        cache.record_answer("a.test", &["192.0.2.2"]);
        assert_eq!(cache.lookup("192.0.2.2"), Some("a.test"));
    }

    #[test]
    fn refreshes_and_evicts_least_recently_used() {
        let mut cache = IpHostCache::with_capacity(2);
        cache.insert("192.0.2.1", "a.test");
        cache.insert("192.0.2.2", "b.test");
        assert_eq!(cache.lookup("192.0.2.1"), Some("a.test"));
        cache.insert("192.0.2.3", "c.test");
        assert_eq!(cache.lookup("192.0.2.2"), None, "LRU entry evicted");
        cache.insert("192.0.2.1", "z.test");
        assert_eq!(
            cache.lookup("192.0.2.1"),
            Some("z.test"),
            "refresh overwrites"
        );
        assert_eq!(cache.len(), 2);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn default_capacity_is_upstreams() {
        let mut cache = IpHostCache::default();
        for i in 0..(IP_CACHE_CAPACITY + 10) {
            cache.insert(&format!("10.0.{}.{}", i / 256, i % 256), "h.test");
        }
        assert_eq!(cache.len(), IP_CACHE_CAPACITY);
        assert_eq!(cache.lookup("10.0.0.0"), None);
    }
}
