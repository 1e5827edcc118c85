//! The secrets of one run and how they are masked as `***` in its log lines.
//! The set is shared by the log readers and the output-file watcher, and grows while
//! the job runs; the matcher is rebuilt only when a new secret arrives.

use std::borrow::Cow;
use std::sync::{Arc, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

const MASK: &str = "***";

/// A growing set of secret values; clones share the same set.
#[derive(Clone, Default)]
pub struct SecretSet {
    inner: Arc<RwLock<Arc<Matcher>>>,
}

impl SecretSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one secret. Logs are masked per line, so a multi-line secret is also
    /// added line by line.
    pub fn add(&self, secret: &str) {
        self.extend([secret.to_string()]);
    }

    pub fn extend<I: IntoIterator<Item = String>>(&self, secrets: I) {
        let mut fresh = Vec::new();
        for secret in secrets {
            if secret.contains('\n') {
                fresh.extend(secret.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()));
            }
            // The whole multi-line value can never match inside one line; it is kept so
            // `mask` on a multi-line text still hides it whole.
            fresh.push(secret);
        }
        fresh.retain(|s| !s.trim().is_empty());
        if fresh.is_empty() {
            return;
        }
        let mut guard = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let current = &guard.secrets;
        let mut secrets: Vec<String> = current.clone();
        for s in fresh {
            if !secrets.contains(&s) {
                secrets.push(s);
            }
        }
        if secrets.len() != current.len() {
            *guard = Arc::new(Matcher::build(secrets));
        }
    }

    /// Replaces every occurrence of every secret by `***`; the longest secret wins
    /// where two overlap.
    pub fn mask<'a>(&self, line: &'a str) -> Cow<'a, str> {
        match self.snapshot().mask_bytes(line.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(line),
            // Matches of UTF-8 secrets in UTF-8 text start and end on char boundaries.
            Cow::Owned(v) => {
                Cow::Owned(String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
            }
        }
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
        self.inner.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl std::fmt::Debug for SecretSet {
    // Never print the values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretSet({} secrets)", self.len())
    }
}

/// An immutable automaton over one version of the set.
#[derive(Default)]
pub(crate) struct Matcher {
    secrets: Vec<String>,
    automaton: Option<AhoCorasick>,
    pub(crate) max_len: usize,
}

impl Matcher {
    fn build(secrets: Vec<String>) -> Self {
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&secrets)
            .map_err(|e| tracing::error!("cannot build the secret matcher: {e}"))
            .ok();
        let max_len = secrets.iter().map(String::len).max().unwrap_or(0);
        Matcher { secrets, automaton, max_len }
    }

    /// Masks `hay`; borrowed when nothing matched (the common case, no copy).
    pub(crate) fn mask_bytes<'a>(&self, hay: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(ac) = &self.automaton else {
            return Cow::Borrowed(hay);
        };
        let mut matches = ac.find_iter(hay).peekable();
        if matches.peek().is_none() {
            return Cow::Borrowed(hay);
        }
        let mut out = Vec::with_capacity(hay.len());
        let mut last = 0;
        for m in matches {
            out.extend_from_slice(&hay[last..m.start()]);
            out.extend_from_slice(MASK.as_bytes());
            last = m.end();
        }
        out.extend_from_slice(&hay[last..]);
        Cow::Owned(out)
    }

    /// The end of a match that starts before `cut` and ends after it, if any: cutting
    /// there would leave half a secret on each side.
    pub(crate) fn straddling_end(&self, hay: &[u8], cut: usize) -> Option<usize> {
        let ac = self.automaton.as_ref()?;
        let m = ac.find_iter(hay).find(|m| m.end() > cut)?;
        (m.start() < cut).then_some(m.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence() {
        let s = SecretSet::new();
        s.add("hunter2");
        assert_eq!(s.mask("pw=hunter2 again hunter2"), "pw=*** again ***");
        assert!(matches!(s.mask("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn empty_set_and_blank_secrets_mask_nothing() {
        let s = SecretSet::new();
        assert_eq!(s.mask("a b c"), "a b c");
        s.add("");
        s.add("  \t ");
        s.extend(vec![String::new(), "\n".to_string()]);
        assert!(s.is_empty());
        assert_eq!(s.max_len(), 0);
        assert_eq!(s.mask("a   b"), "a   b");
    }

    #[test]
    fn overlapping_secrets_mask_the_longer() {
        let s = SecretSet::new();
        s.extend(["abc".to_string(), "abcdef".to_string(), "def".to_string()]);
        assert_eq!(s.mask("xabcdefx"), "x***x");
        assert_eq!(s.mask("xabcx defx"), "x***x ***x");
        // Overlap where neither contains the other: leftmost first, then the rest.
        let t = SecretSet::new();
        t.extend(["abcd".to_string(), "cdef".to_string()]);
        assert_eq!(t.mask("abcdef"), "***ef");
        assert_eq!(t.max_len(), 4);
    }

    #[test]
    fn multi_line_secret_is_masked_line_by_line() {
        let s = SecretSet::new();
        s.add("-----BEGIN KEY-----\r\nMIIEow\n\n-----END KEY-----");
        assert_eq!(s.mask("-----BEGIN KEY-----"), "***");
        assert_eq!(s.mask("  MIIEow"), "  ***");
        assert_eq!(s.mask("x-----END KEY-----"), "x***");
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn many_secrets() {
        let s = SecretSet::new();
        s.extend((0..100).map(|i| format!("secret-{i:03}-value")));
        let line: String = (0..100).map(|i| format!("[secret-{i:03}-value]")).collect();
        assert_eq!(s.mask(&line), "[***]".repeat(100));
        assert_eq!(s.len(), 100);
    }

    #[test]
    fn clones_share_the_set_and_duplicates_do_not_rebuild() {
        let s = SecretSet::new();
        let c = s.clone();
        c.add("tok");
        assert_eq!(s.mask("a tok"), "a ***");
        let before = s.snapshot();
        s.add("tok");
        assert!(Arc::ptr_eq(&before, &s.snapshot()));
        assert_eq!(format!("{s:?}"), "SecretSet(1 secrets)");
    }

    #[test]
    fn unicode_secret() {
        let s = SecretSet::new();
        s.add("mötörhead");
        assert_eq!(s.mask("é mötörhead é"), "é *** é");
    }

    #[test]
    fn straddling_match() {
        let s = SecretSet::new();
        s.add("abcdef");
        let m = s.snapshot();
        assert_eq!(m.straddling_end(b"xxabcdefyy", 4), Some(8));
        assert_eq!(m.straddling_end(b"xxabcdefyy", 2), None);
        assert_eq!(m.straddling_end(b"xxabcdefyy", 8), None);
    }
}
