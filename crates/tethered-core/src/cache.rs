//! The IP -> hostname cache (BEHAVIOUR.md §6.1): filled from the answers of lookups that were
//! allowed, consulted when a socket connects to an IP, so the IP is judged by its name.

use lru::LruCache;
use std::num::NonZeroUsize;

/// Upstream's `_IP_MAP_MAX_SIZE`.
pub const IP_CACHE_CAPACITY: usize = 4096;

pub struct IpHostCache {
    entries: LruCache<String, String>,
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
        }
    }

    /// Maps `ip` to `host`, overwriting (refreshing) an existing entry and evicting the least
    /// recently used one when full. The last hostname resolved to a shared IP wins.
    pub fn insert(&mut self, ip: &str, host: &str) {
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
        self.entries.get(ip).map(String::as_str)
    }

    pub fn clear(&mut self) {
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
