//! Store answers kept for a moment. Under load every API request asked the store for its
//! token and its project before the page it wanted: two round trips to a SQLite thread
//! out of three (docs/PERFORMANCE.md, E). An entry lives `TTL`, so a token revoked or a
//! project registered on another replica is seen everywhere within a second; this
//! server's own changes drop the entry at once. Only records found are kept (a flood of
//! made-up tokens cannot grow it), at most `MAX` of them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(1);
const MAX: usize = 4096;

pub struct Recent<V> {
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Recent { entries: Mutex::new(HashMap::new()) }
    }
}

impl<V: Clone> Recent<V> {
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).filter(|(at, _)| at.elapsed() < TTL).map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: String, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_clear() {
        let r: Recent<u32> = Recent::default();
        assert_eq!(r.get("a"), None);
        r.put("a".into(), 1);
        assert_eq!(r.get("a"), Some(1));
        r.entries.lock().unwrap().get_mut("a").unwrap().0 -= TTL;
        assert_eq!(r.get("a"), None, "expired");
        r.put("a".into(), 2);
        r.clear();
        assert_eq!(r.get("a"), None);
        for i in 0..MAX + 10 {
            r.put(i.to_string(), 0);
        }
        assert!(r.entries.lock().unwrap().len() <= MAX);
    }
}
