//! Every duplicate key of every mapping, each with where the key was first set. The tree
//! loader stops at the first duplicate (or keeps only the last value), so this reads the
//! YAML parser's events itself; it runs after the nesting guard of `load`.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::walk::{Diags, Pos, shorten};

/// A mapping being read: the keys seen so far, and whether its next node is a key.
struct Mapping {
    keys: HashMap<String, Pos>,
    next_is_key: bool,
}

#[derive(Default)]
struct Scan {
    /// One entry per open collection; `None` for a sequence.
    open: Vec<Option<Mapping>>,
    found: Vec<(Pos, String)>,
}

impl Scan {
    /// Called when a node starts; true when it is a key of the innermost mapping.
    fn node_starts(&mut self) -> bool {
        match self.open.last_mut() {
            Some(Some(m)) => {
                let is_key = m.next_is_key;
                m.next_is_key = !is_key;
                is_key
            }
            _ => false,
        }
    }
}

impl MarkedEventReceiver for Scan {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = Pos { line: mark.line(), column: mark.col() + 1 };
        match ev {
            Event::Scalar(key, ..) => {
                if self.node_starts()
                    && let Some(Some(m)) = self.open.last_mut()
                {
                    match m.keys.get(&key) {
                        Some(first) => self.found.push((
                            at,
                            format!(
                                "duplicate key `{}`: it is already set at line {}, column {}; each key may appear once",
                                shorten(&key),
                                first.line,
                                first.column
                            ),
                        )),
                        None => {
                            m.keys.insert(key, at);
                        }
                    }
                }
            }
            Event::Alias(_) => {
                self.node_starts();
            }
            Event::MappingStart(..) => {
                self.node_starts();
                self.open.push(Some(Mapping { keys: HashMap::new(), next_is_key: true }));
            }
            Event::SequenceStart(..) => {
                self.node_starts();
                self.open.push(None);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.open.pop();
            }
            _ => {}
        }
    }
}

/// Reports every duplicate key. Syntax errors are left to the loader, which reports
/// them with more context; the duplicates before such an error are still reported.
pub(super) fn report(text: &str, d: &mut Diags) {
    let mut scan = Scan::default();
    let _ = Parser::new_from_str(text).load(&mut scan, false);
    for (at, message) in scan.found {
        d.error(at, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let mut d = Diags::default();
        report(text, &mut d);
        d.0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_duplicate_of_every_mapping() {
        let text = "project: p\njobs:\n  db: {}\n  db: {}\n  db: {}\nproject: q\nvariables: {A: 1, B: 2, A: 3}\n";
        assert_eq!(
            found(text),
            [
                "4:3: duplicate key `db`: it is already set at line 3, column 3; each key may appear once",
                "5:3: duplicate key `db`: it is already set at line 3, column 3; each key may appear once",
                "6:1: duplicate key `project`: it is already set at line 1, column 1; each key may appear once",
                "7:25: duplicate key `A`: it is already set at line 7, column 13; each key may appear once",
            ]
        );
    }

    #[test]
    fn equal_values_and_keys_of_other_mappings_are_not_duplicates() {
        assert!(found("a: a\nb: {a: a}\nc: [{a: 1}, {a: 2}]\nd:\n  - a\n  - a\n").is_empty());
        assert!(found("a: [").is_empty());
    }
}
