//! The secrets of one run and how they are masked as `***` in its log lines. The set is
//! shared by the log readers and the engine, and grows while the job runs; the matcher is
//! rebuilt off the async threads, only when a new secret arrives, in time linear in the
//! secrets' size. What can be a secret is bounded (see `check`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::matcher::Matcher;

/// Values shorter than this many characters are not masked: hiding every `a` or `42` of
/// every log would make logs unreadable and tell a reader the secret anyway.
pub const MIN_SECRET_CHARS: usize = 4;
/// The longest value the masker takes (64 KiB); the engine refuses longer secrets.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Why a value cannot be masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmaskable {
    /// Shorter than `MIN_SECRET_CHARS` characters: left in clear.
    TooShort,
    /// Longer than `MAX_SECRET_BYTES`: must be refused by whoever holds it.
    TooLong,
}

/// Whether `value` can be masked; blank values need no mask and pass.
pub fn check(value: &str) -> Result<(), Unmaskable> {
    if value.len() > MAX_SECRET_BYTES {
        Err(Unmaskable::TooLong)
    } else if !value.trim().is_empty() && value.chars().count() < MIN_SECRET_CHARS {
        Err(Unmaskable::TooShort)
    } else {
        Ok(())
    }
}

/// A growing set of secret values; clones share the same set.
#[derive(Clone, Default)]
pub struct SecretSet {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    current: RwLock<Arc<Matcher>>,
    /// Builds one at a time, so two that race cannot drop each other's secrets; readers
    /// never wait for a build, only for the swap of the finished matcher.
    building: Mutex<()>,
}

impl SecretSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one secret, building here (tests and blocking code).
    pub fn add(&self, secret: &str) {
        self.extend_blocking([secret.to_string()]);
    }

    /// Adds secrets; the matcher is rebuilt on a blocking thread, and the set holds them
    /// all when this returns. Values `check` refuses are left out.
    pub async fn extend<I: IntoIterator<Item = String>>(&self, secrets: I) {
        let secrets: Vec<String> = secrets.into_iter().collect();
        if secrets.is_empty() {
            return;
        }
        let me = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || me.extend_blocking(secrets)).await {
            tracing::error!("building the secret matcher failed: {e}");
        }
    }

    /// `extend`, building in the calling thread.
    pub fn extend_blocking<I: IntoIterator<Item = String>>(&self, secrets: I) {
        let mut fresh = Vec::new();
        for secret in secrets {
            match check(&secret) {
                Ok(()) => {}
                Err(Unmaskable::TooShort) => continue,
                Err(Unmaskable::TooLong) => {
                    tracing::warn!(bytes = secret.len(), "a secret over {MAX_SECRET_BYTES} bytes is not masked");
                    continue;
                }
            }
            // Logs are masked per batch of lines, but a secret may reach the pipe in two
            // reads: each of its lines is also a secret of its own.
            if secret.contains('\n') {
                let lines = secret.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
                fresh.extend(lines.filter(|l| check(l).is_ok()).map(str::to_string));
            }
            fresh.push(secret);
        }
        fresh.retain(|s| !s.trim().is_empty());
        if fresh.is_empty() {
            return;
        }
        let _building = self.inner.building.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.snapshot();
        let known: HashSet<&str> = current.secrets.iter().map(String::as_str).collect();
        fresh.sort_unstable();
        fresh.dedup();
        fresh.retain(|s| !known.contains(s.as_str()));
        if fresh.is_empty() {
            return;
        }
        let secrets = current.secrets.iter().cloned().chain(fresh).collect();
        let built = Arc::new(Matcher::build(secrets));
        *self.inner.current.write().unwrap_or_else(PoisonError::into_inner) = built;
    }

    /// Replaces every occurrence of every secret by `***`; overlapping occurrences are
    /// masked as one (as are adjacent ones), so a secret containing another is hidden whole.
    pub fn mask<'a>(&self, line: &'a str) -> Cow<'a, str> {
        match self.snapshot().mask_bytes(line.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(line),
            // Matches of UTF-8 secrets in UTF-8 text start and end on char boundaries.
            Cow::Owned(v) => {
                Cow::Owned(String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
            }
        }
    }

    /// Every secret of the set, to hand to an agent that must mask the same ones.
    pub fn values(&self) -> Vec<String> {
        self.snapshot().secrets.clone()
    }

    /// The length in bytes of the longest secret (0 when there is none).
    pub fn max_len(&self) -> usize {
        self.snapshot().max_len
    }

    pub fn len(&self) -> usize {
        self.snapshot().secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The matcher as it is now, to mask a whole batch without taking the lock per line.
    pub(crate) fn snapshot(&self) -> Arc<Matcher> {
        self.inner.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl std::fmt::Debug for SecretSet {
    // Never print the values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretSet({} secrets)", self.len())
    }
}

#[cfg(test)]
#[path = "mask_tests.rs"]
mod tests;
