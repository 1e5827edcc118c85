//! Whether two occurrences of secrets can overlap without one holding the other: then
//! masking needs the slower overlapping search. Decided in time linear in the secrets'
//! total length with an Aho-Corasick trie of our own (a quadratic check made a 64 KiB
//! repetitive secret cost seconds per rebuild).

/// One trie node: its children (byte, node), its failure link, and whether it or a
/// node on its failure chain is a proper prefix of some secret (has children).
struct Node {
    children: Vec<(u8, u32)>,
    fail: u32,
    prefix_on_chain: bool,
}

const ROOT: u32 = 0;

struct Trie {
    nodes: Vec<Node>,
}

fn child(nodes: &[Node], node: u32, byte: u8) -> Option<u32> {
    nodes[node as usize].children.iter().find(|(b, _)| *b == byte).map(|&(_, n)| n)
}

impl Trie {
    fn build(secrets: &[&[u8]]) -> Trie {
        let mut nodes = vec![Node { children: Vec::new(), fail: ROOT, prefix_on_chain: false }];
        for secret in secrets {
            let mut at = ROOT;
            for &byte in *secret {
                at = match child(&nodes, at, byte) {
                    Some(next) => next,
                    None => {
                        let next = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
                        nodes.push(Node { children: Vec::new(), fail: ROOT, prefix_on_chain: false });
                        nodes[at as usize].children.push((byte, next));
                        next
                    }
                };
            }
        }
        let mut trie = Trie { nodes };
        // Breadth first, so a node's failure target (shallower) is complete before it.
        let mut queue: std::collections::VecDeque<u32> = std::collections::VecDeque::from([ROOT]);
        while let Some(node) = queue.pop_front() {
            let fail = trie.nodes[node as usize].fail;
            if node != ROOT {
                let inherited = fail != ROOT && trie.nodes[fail as usize].prefix_on_chain;
                trie.nodes[node as usize].prefix_on_chain = !trie.nodes[node as usize].children.is_empty() || inherited;
            }
            for i in 0..trie.nodes[node as usize].children.len() {
                let (byte, next) = trie.nodes[node as usize].children[i];
                // The root's children fail to the root; deeper ones to where their
                // parent's failure goes on with the same byte (always shallower).
                trie.nodes[next as usize].fail = if node == ROOT { ROOT } else { trie.step(fail, byte) };
                queue.push_back(next);
            }
        }
        trie
    }

    /// The state after reading `byte` in state `from`, following failure links.
    fn step(&self, mut from: u32, byte: u8) -> u32 {
        loop {
            if let Some(next) = child(&self.nodes, from, byte) {
                return next;
            }
            if from == ROOT {
                return ROOT;
            }
            from = self.nodes[from as usize].fail;
        }
    }
}

/// Whether a proper suffix of one secret is a proper prefix of another (or of itself):
/// only then can an occurrence stick out of a leftmost-longest match.
pub(crate) fn can_overlap(secrets: &[String]) -> bool {
    let bytes: Vec<&[u8]> = secrets.iter().map(String::as_bytes).collect();
    let trie = Trie::build(&bytes);
    bytes.iter().any(|secret| {
        // The state after the secret minus its first byte is its longest proper suffix
        // that starts a secret; the shorter ones are on its failure chain.
        let state = secret.get(1..).unwrap_or_default().iter().fold(ROOT, |state, &byte| trie.step(state, byte));
        state != ROOT && trie.nodes[state as usize].prefix_on_chain
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, checked the slow way.
    fn brute_force(secrets: &[String]) -> bool {
        secrets.iter().any(|x| {
            (1..x.len()).any(|k| {
                let suffix = &x.as_bytes()[k..];
                secrets.iter().any(|y| y.len() > suffix.len() && y.as_bytes().starts_with(suffix))
            })
        })
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn known_cases() {
        assert!(!can_overlap(&v(&["abc", "abcdef", "def", "xyz"])));
        assert!(can_overlap(&v(&["abcd", "cdef"])));
        assert!(can_overlap(&v(&["abab"])));
        assert!(can_overlap(&v(&["aaaa", "b"])));
        assert!(!can_overlap(&v(&[])));
        assert!(!can_overlap(&v(&["a"])));
    }

    #[test]
    fn agrees_with_the_definition_on_many_small_sets() {
        // A deterministic walk over small alphabets, where overlaps are common.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let count = 1 + (next() % 4) as usize;
            let set: Vec<String> = (0..count)
                .map(|_| {
                    let len = 1 + (next() % 6) as usize;
                    (0..len).map(|_| (b'a' + (next() % 3) as u8) as char).collect()
                })
                .collect();
            assert_eq!(can_overlap(&set), brute_force(&set), "{set:?}");
        }
    }

    #[test]
    fn a_long_repetitive_secret_is_decided_in_linear_time() {
        // Quadratic work here was 2^31 byte comparisons; linear is 2^16 steps.
        let secret = "ab".repeat(32 * 1024);
        assert!(can_overlap(std::slice::from_ref(&secret)));
        let no_border = format!("{}b", "a".repeat(64 * 1024 - 1));
        assert!(!can_overlap(std::slice::from_ref(&no_border)));
    }
}
