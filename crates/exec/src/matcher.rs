//! The automata that find secrets in a batch of log text: SIMD (Teddy) searchers for the
//! common case, an Aho-Corasick automaton where they cannot be built, and an overlapping
//! search where two secrets can overlap. Built once per version of a run's secret set.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, packed};

use crate::overlap::can_overlap;

pub(crate) const MASK: &str = "***";
/// The most patterns one SIMD (Teddy) searcher takes.
const PACKED_MAX: usize = 64;
/// Above this many bytes of secrets in all, the automata are NFAs: a DFA's table grows
/// with states times byte classes (tens of MB for one 64 KiB random secret).
const DFA_MAX_BYTES: usize = 16 * 1024;

/// Immutable automata over one version of the set.
#[derive(Default)]
pub(crate) struct Matcher {
    pub(crate) secrets: Vec<String>,
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
    pub(crate) fn build(secrets: Vec<String>) -> Self {
        // Leftmost-first over the secrets longest first finds the same matches as
        // leftmost-longest: at the leftmost start, the first pattern listed that matches
        // is the longest.
        let mut longest_first: Vec<&str> = secrets.iter().map(String::as_str).collect();
        longest_first.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let total: usize = secrets.iter().map(String::len).sum();
        let kind = (total > DFA_MAX_BYTES).then_some(AhoCorasickKind::ContiguousNFA);
        let leftmost = AhoCorasick::builder().kind(kind).match_kind(MatchKind::LeftmostFirst).build(&longest_first);
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
        let overlapping = AhoCorasick::builder().kind(kind).match_kind(MatchKind::Standard).build(&secrets);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let m = Matcher::build(vec!["abcdef".to_string()]);
        assert_eq!(m.straddling_end(b"xxabcdefyy", 4), Some(8));
        assert_eq!(m.straddling_end(b"xxabcdefyy", 2), None);
        assert_eq!(m.straddling_end(b"xxabcdefyy", 8), None);
    }

    /// Past `DFA_MAX_BYTES` the automata are NFAs, and find the same ranges.
    #[test]
    fn a_large_secret_gets_nfas_that_mask_the_same() {
        // Letters from a linear congruential sequence: no period a search could trip on.
        let mut x: u32 = 12345;
        let big: String = (0..DFA_MAX_BYTES)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                char::from(b'a' + ((x >> 16) % 26) as u8)
            })
            .collect();
        let small = big[..DFA_MAX_BYTES / 2].to_string();
        let hay = format!("x{big}y{small}z{}", &big[3..]);
        let m = Matcher::build(vec![big.clone(), small.clone(), "abab".into()]);
        let automaton = Matcher { packed: vec![], ..Matcher::build(m.secrets.clone()) };
        let expected = vec![(1, 1 + big.len()), (2 + big.len(), 2 + big.len() + small.len())];
        assert_eq!(m.ranges(hay.as_bytes()), expected);
        assert_eq!(automaton.ranges(hay.as_bytes()), expected);
    }
}
