//! The secrets of one run and how they are masked as `***` in its log lines.
//! The set is shared by the log readers and the output-file watcher, and grows while
//! the job runs; the matcher is rebuilt only when a new secret arrives.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind, packed};

const MASK: &str = "***";
/// The most patterns one SIMD (Teddy) searcher takes.
const PACKED_MAX: usize = 64;

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
        let known: HashSet<&str> = guard.secrets.iter().map(String::as_str).collect();
        fresh.sort_unstable();
        fresh.dedup();
        fresh.retain(|s| !known.contains(s.as_str()));
        if fresh.is_empty() {
            return;
        }
        let secrets = guard.secrets.iter().cloned().chain(fresh).collect();
        *guard = Arc::new(Matcher::build(secrets));
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

/// Immutable automata over one version of the set.
#[derive(Default)]
pub(crate) struct Matcher {
    secrets: Vec<String>,
    /// Leftmost-longest matches: fast (prefiltered) and finds where secrets are.
    leftmost: Option<AhoCorasick>,
    /// The same matches by SIMD, one searcher per `PACKED_MAX` secrets (empty when one
    /// cannot be built: the automaton then searches alone).
    packed: Vec<packed::Searcher>,
    /// Standard semantics, to also find the occurrences that overlap another one.
    overlapping: Option<AhoCorasick>,
    /// Whether an occurrence can overlap another without being inside it; when not,
    /// the leftmost-longest matches alone cover every occurrence.
    can_overlap: bool,
    /// The automata could not be built: everything is masked rather than nothing.
    broken: bool,
    pub(crate) max_len: usize,
}

impl Matcher {
    fn build(secrets: Vec<String>) -> Self {
        // Leftmost-first over the secrets longest first finds the same matches as
        // leftmost-longest: at the leftmost start, the first pattern listed that matches
        // is the longest.
        let mut longest_first: Vec<&str> = secrets.iter().map(String::as_str).collect();
        longest_first.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let leftmost = AhoCorasick::builder().match_kind(MatchKind::LeftmostFirst).build(&longest_first);
        // The SIMD searcher (Teddy) takes up to 64 patterns: a bigger set gets several,
        // each a pass over the text, still faster than the automaton, whose prefilter
        // prefers a "rare" byte and, with generated secrets sharing a prefix (`s3cr3t-...`),
        // stops on a digit every few bytes of a log (docs/PERFORMANCE.md, D).
        let packed: Option<Vec<packed::Searcher>> = longest_first
            .chunks(PACKED_MAX)
            .map(|chunk| {
                packed::Config::new().match_kind(packed::MatchKind::LeftmostFirst).builder().extend(chunk).build()
            })
            .collect();
        let packed = packed.unwrap_or_default();
        let overlapping = AhoCorasick::builder().match_kind(MatchKind::Standard).build(&secrets);
        let broken = leftmost.is_err() || overlapping.is_err();
        if let Some(e) = leftmost.as_ref().err().or(overlapping.as_ref().err()) {
            tracing::error!("cannot build the secret matcher, masking whole lines: {e}");
        }
        let max_len = secrets.iter().map(String::len).max().unwrap_or(0);
        let can_overlap = can_overlap(&secrets);
        Matcher {
            secrets,
            leftmost: leftmost.ok(),
            packed,
            overlapping: overlapping.ok(),
            can_overlap,
            broken,
            max_len,
        }
    }

    /// The byte ranges to mask: the union of every occurrence of every secret, so
    /// where two secrets overlap (`abcd`, `cdef` in `abcdef`) no part of either shows.
    fn ranges(&self, hay: &[u8]) -> Vec<(usize, usize)> {
        let everything = || if hay.is_empty() { Vec::new() } else { vec![(0, hay.len())] };
        if self.broken {
            return everything();
        }
        let (Some(leftmost), Some(overlapping)) = (&self.leftmost, &self.overlapping) else { return Vec::new() };
        // In order of their start.
        let leftmost_matches: Box<dyn Iterator<Item = (usize, usize)>> = match self.packed.as_slice() {
            [] => Box::new(leftmost.find_iter(hay).map(|m| (m.start(), m.end()))),
            [one] => Box::new(one.find_iter(hay).map(|m| (m.start(), m.end()))),
            // Each searcher finds its own secrets' leftmost-longest matches; together they
            // may overlap, which the union below absorbs.
            several => {
                let mut found: Vec<(usize, usize)> =
                    several.iter().flat_map(|p| p.find_iter(hay).map(|m| (m.start(), m.end()))).collect();
                found.sort_unstable();
                Box::new(found.into_iter())
            }
        };
        let mut all: Vec<(usize, usize)> = if self.can_overlap {
            // Every occurrence overlaps a leftmost-longest match, so the slower
            // overlapping search only runs in windows around those.
            let reach = self.max_len.saturating_sub(1);
            let mut windows: Vec<(usize, usize)> = Vec::new();
            for (start, end) in leftmost_matches {
                let (a, b) = (start.saturating_sub(reach), (end + reach).min(hay.len()));
                match windows.last_mut() {
                    Some(w) if a <= w.1 => w.1 = w.1.max(b),
                    _ => windows.push((a, b)),
                }
            }
            let mut all = Vec::new();
            for (a, b) in windows {
                let Some(window) = hay.get(a..b) else { return everything() };
                let Ok(found) = overlapping.try_find_overlapping_iter(window) else { return everything() };
                all.extend(found.map(|m| (a + m.start(), a + m.end())));
            }
            all
        } else {
            leftmost_matches.collect()
        };
        // Overlapping matches come in order of their end, not their start.
        if self.can_overlap {
            all.sort_unstable();
        }
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(all.len());
        for (start, end) in all {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }

    /// Masks `hay`; borrowed when nothing matched (the common case, no copy).
    pub(crate) fn mask_bytes<'a>(&self, hay: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Vec::new();
        self.mask_with(hay, &mut out);
        // A masked text always holds at least one mask.
        if out.is_empty() { Cow::Borrowed(hay) } else { Cow::Owned(out) }
    }

    /// Masks `hay` into `scratch` (cleared first) and returns it; `hay` itself when
    /// nothing matched. Reusing one scratch buffer per stream spares an allocation
    /// (and its page faults) per batch.
    pub(crate) fn mask_with<'a>(&self, hay: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let ranges = self.ranges(hay);
        if ranges.is_empty() {
            return hay;
        }
        scratch.clear();
        let mut last = 0;
        for (start, end) in ranges {
            scratch.extend_from_slice(hay.get(last..start).unwrap_or_default());
            scratch.extend_from_slice(MASK.as_bytes());
            last = end;
        }
        scratch.extend_from_slice(hay.get(last..).unwrap_or_default());
        scratch
    }

    /// The end of a masked range that starts before `cut` and ends after it, if any:
    /// cutting there would leave part of a secret on each side.
    pub(crate) fn straddling_end(&self, hay: &[u8], cut: usize) -> Option<usize> {
        let (start, end) = self.ranges(hay).into_iter().find(|&(_, end)| end > cut)?;
        (start < cut).then_some(end)
    }
}

/// Whether a proper suffix of one secret is a proper prefix of another (or of
/// itself): only then can an occurrence stick out of a leftmost-longest match.
fn can_overlap(secrets: &[String]) -> bool {
    let mut sorted: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
    sorted.sort_unstable();
    // The secrets that start with `p` follow each other in sorted order, from where
    // `p` would be; the first longer one, if any, comes at most second.
    let prefix_of_longer = |p: &[u8]| {
        let from = sorted.partition_point(|s| *s < p);
        sorted.get(from..).unwrap_or_default().iter().take_while(|s| s.starts_with(p)).any(|s| s.len() > p.len())
    };
    secrets.iter().any(|x| (1..x.len()).any(|k| x.as_bytes().get(k..).is_some_and(prefix_of_longer)))
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
        // Overlap where neither contains the other: no part of either shows.
        let t = SecretSet::new();
        t.extend(["abcd".to_string(), "cdef".to_string()]);
        assert_eq!(t.mask("abcdef"), "***");
        assert_eq!(t.mask("abcd-cdef abcdefcdef"), "***-*** ***");
        assert_eq!(t.max_len(), 4);
    }

    #[test]
    fn overlap_detection() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!can_overlap(&v(&["abc", "abcdef", "def", "xyz"])));
        assert!(can_overlap(&v(&["abcd", "cdef"])));
        assert!(can_overlap(&v(&["abab"])));
        let s = SecretSet::new();
        s.add("abab");
        assert_eq!(s.mask("ababab"), "***");
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
        // One at a time, as the watcher adds them: the same result.
        let one_by_one = SecretSet::new();
        (0..100).for_each(|i| one_by_one.add(&format!("secret-{i:03}-value")));
        assert_eq!(one_by_one.mask(&line), "[***]".repeat(100));
        assert_eq!(one_by_one.max_len(), "secret-000-value".len());
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

    /// The SIMD searcher (small sets) and the automaton (large ones) mask alike.
    #[test]
    fn simd_and_automaton_find_the_same_ranges() {
        let sets: [&[&str]; 3] =
            [&["ab", "abc", "b", "xyz"], &["s3cr3t-001", "s3cr3t-0012", "3cr"], &["aa", "a", "aaa"]];
        let hay = b"xabcab s3cr3t-0012 s3cr3t-001 aaaa b xyzab 3crx";
        for set in sets {
            let m = Matcher::build(set.iter().map(|s| s.to_string()).collect());
            assert_eq!(m.packed.len(), 1, "{set:?}");
            let simd = m.ranges(hay);
            let automaton = Matcher { packed: vec![], ..Matcher::build(m.secrets.clone()) }.ranges(hay);
            assert_eq!(simd, automaton, "{set:?}");
        }
    }

    /// A set too big for one SIMD searcher gets several, and masks as the automaton does.
    #[test]
    fn a_big_set_is_searched_by_several_simd_searchers() {
        let secrets: Vec<String> = (0..150).map(|i| format!("s3cr3t-{i:03}-{}", "x".repeat(i % 7))).collect();
        let m = Matcher::build(secrets.clone());
        assert_eq!(m.packed.len(), 3);
        let hay: String =
            (0..150).rev().map(|i| format!("a {} b s3cr3t-{i:03}", secrets[i])).collect::<Vec<_>>().join("\n");
        let automaton = Matcher { packed: vec![], ..Matcher::build(secrets.clone()) };
        assert_eq!(m.ranges(hay.as_bytes()), automaton.ranges(hay.as_bytes()));
        assert_eq!(m.ranges(hay.as_bytes()).len(), 150);
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
