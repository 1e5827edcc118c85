//! Typed getters over `marked_yaml` nodes. Each getter reports a wrong type as a
//! diagnostic (what was expected, what was found, where) and returns `None`, so the
//! walker keeps going and collects every problem in one pass.

use marked_yaml::Node;
use marked_yaml::types::{MarkedScalarNode, Span};

use super::Diagnostic;

/// A 1-based position in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };

    pub fn of(span: &Span) -> Pos {
        span.start().map_or(Pos::START, |m| Pos { line: m.line(), column: m.column() })
    }
}

/// The problems found so far.
#[derive(Default)]
pub(super) struct Diags(pub Vec<Diagnostic>);

impl Diags {
    pub fn error(&mut self, at: Pos, message: impl Into<String>) {
        self.0.push(Diagnostic { line: at.line, column: at.column, message: message.into() });
    }
}

/// Whether `node` is YAML's null: a plain empty scalar, `~` or `null`. Quoted `""` is a
/// string, which is why the loader keeps the "plain" flag (`may_coerce`).
pub(super) fn is_null(node: &Node) -> bool {
    matches!(node, Node::Scalar(s) if s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
}

/// "number" or "boolean" when `s` is a plain (unquoted) scalar that YAML reads as one,
/// where Terrace expects text: `commands: {start: 42}` is a slip, not a program.
pub(super) fn plain_non_string(s: &MarkedScalarNode) -> Option<&'static str> {
    if !s.may_coerce() {
        return None;
    }
    let t = s.as_str();
    if matches!(t, "true" | "false" | "True" | "False" | "TRUE" | "FALSE") {
        return Some("boolean");
    }
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    let number = digits(unsigned)
        || t.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        || t.strip_prefix("0o").is_some_and(|o| !o.is_empty() && o.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        || matches!(unsigned, ".inf" | ".Inf" | ".INF")
        || matches!(t, ".nan" | ".NaN" | ".NAN")
        || {
            let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
                Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
                None => (unsigned, None),
            };
            let mantissa_ok = match mantissa.split_once('.') {
                Some((i, f)) => {
                    (digits(i) || i.is_empty()) && (digits(f) || f.is_empty()) && !(i.is_empty() && f.is_empty())
                }
                None => digits(mantissa),
            };
            mantissa_ok && exponent.is_none_or(digits) && (mantissa.contains('.') || exponent.is_some())
        };
    number.then_some("number")
}

/// How a node reads in "found ..." messages.
pub(super) fn describe(node: &Node) -> String {
    match node {
        _ if is_null(node) => "nothing (null)".into(),
        Node::Scalar(s) => format!("`{}`", shorten(s.as_str())),
        Node::Sequence(_) => "a list".into(),
        Node::Mapping(_) => "a mapping".into(),
    }
}

/// Cuts long or multi-line text for a message, on a character boundary.
pub(super) fn shorten(text: &str) -> String {
    crate::names::clip(text)
}

/// One value to read: the node, where to point when the node has no reliable position
/// of its own (block collections and empty scalars), and how to name it in messages.
#[derive(Clone)]
pub(super) struct Slot<'a> {
    pub node: &'a Node,
    pub at: Pos,
    pub label: String,
}

impl<'a> Slot<'a> {
    pub fn new(node: &'a Node, at: Pos, label: impl Into<String>) -> Self {
        Slot { node, at, label: label.into() }
    }

    /// Where to report a problem with the value itself. Block mappings and sequences
    /// start one token late in `marked_yaml`, so only scalars use their own position.
    pub fn pos(&self) -> Pos {
        match self.node {
            Node::Scalar(s) if !is_null(self.node) => Pos::of(s.span()),
            _ => self.at,
        }
    }

    fn wrong_type(&self, d: &mut Diags, expected: &str) {
        d.error(self.pos(), format!("{} must be {expected}, found {}", self.label, describe(self.node)));
    }

    /// The entries of a mapping; null counts as an empty mapping (`dev:` reads as `dev: {}`).
    pub fn entries(&self, d: &mut Diags, expected: &str) -> Option<Vec<(&'a MarkedScalarNode, &'a Node)>> {
        match self.node {
            Node::Mapping(m) => Some(m.iter().collect()),
            _ if is_null(self.node) => Some(Vec::new()),
            _ => {
                self.wrong_type(d, expected);
                None
            }
        }
    }

    /// A string; numbers and other plain scalars read as their text.
    pub fn string(&self, d: &mut Diags, expected: &str) -> Option<String> {
        match self.node {
            Node::Scalar(s) if !is_null(self.node) => {
                if s.as_str().contains('\0') {
                    d.error(
                        self.pos(),
                        format!("{} contains a NUL character, which no path, command or variable can hold", self.label),
                    );
                    return None;
                }
                Some(s.as_str().to_string())
            }
            _ => {
                self.wrong_type(d, expected);
                None
            }
        }
    }

    /// Only the plain words `true` and `false`: YAML 1.1's yes/no/on/off are too easy to
    /// write by accident, and a quoted "true" is a string.
    pub fn boolean(&self, d: &mut Diags) -> Option<bool> {
        match self.node {
            Node::Scalar(s) if s.may_coerce() && s.as_str() == "true" => Some(true),
            Node::Scalar(s) if s.may_coerce() && s.as_str() == "false" => Some(false),
            _ => {
                self.wrong_type(d, "true or false (only these two words are booleans here)");
                None
            }
        }
    }

    /// A plain non-negative whole number up to `max`.
    pub fn number(&self, d: &mut Diags, max: u32) -> Option<u32> {
        let value = match self.node {
            Node::Scalar(s) if s.may_coerce() && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.as_str().parse::<u32>().ok().filter(|n| *n <= max)
            }
            _ => None,
        };
        if value.is_none() {
            self.wrong_type(d, &format!("a whole number from 0 to {max} written as plain digits"));
        }
        value
    }

    /// The items of a list, each a slot named "item N of <label>".
    pub fn items(&self, d: &mut Diags, expected: &str) -> Option<Vec<Slot<'a>>> {
        match self.node {
            Node::Sequence(seq) => Some(
                seq.iter()
                    .enumerate()
                    .map(|(i, item)| Slot::new(item, self.at, format!("item {} of {}", i + 1, self.label)))
                    .collect(),
            ),
            _ => {
                self.wrong_type(d, expected);
                None
            }
        }
    }

    /// A list of strings, each with its position; null counts as an empty list.
    pub fn strings(&self, d: &mut Diags) -> Option<Vec<(String, Pos)>> {
        if is_null(self.node) {
            return Some(Vec::new());
        }
        if let Node::Scalar(s) = self.node {
            // The likeliest slip: `events: start` for `events: [start]`.
            let text = shorten(s.as_str());
            d.error(
                self.pos(),
                format!("{} must be a list of strings, found `{text}` (write `[{text}]` for a list)", self.label),
            );
            return None;
        }
        let items = self.items(d, "a list of strings")?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match item.string(d, "a string") {
                Some(s) => out.push((s, item.pos())),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// Reports every key of `entries` outside `allowed`, listing the allowed keys and the
/// closest one when it looks like a typo.
pub(super) fn check_keys(d: &mut Diags, entries: &[(&MarkedScalarNode, &Node)], allowed: &[&str], owner: &str) {
    for (key, _) in entries {
        if !allowed.contains(&key.as_str()) {
            d.error(Pos::of(key.span()), unknown(&format!("key `{}` in {owner}", shorten(key.as_str())), key, allowed));
        }
    }
}

/// "unknown <what>: expected one of a, b, c; did you mean `b`?"
pub(super) fn unknown(what: &str, word: &str, allowed: &[&str]) -> String {
    let mut message = format!("unknown {what}: expected one of {}", allowed.join(", "));
    if let Some(close) = closest(word, allowed) {
        message.push_str(&format!("; did you mean `{close}`?"));
    }
    message
}

/// Finds the entry of `entries` named `key`.
pub(super) fn get<'a>(entries: &[(&'a MarkedScalarNode, &'a Node)], key: &str) -> Option<(Pos, &'a Node)> {
    entries.iter().find(|(k, _)| k.as_str() == key).map(|(k, v)| (Pos::of(k.span()), *v))
}

/// The candidate nearest to `word` by edit distance, if near enough to be a typo.
pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), *c))
        .filter(|(dist, c)| *dist > 0 && *dist <= 2.max(c.len() / 3) && *dist < c.len())
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters; keys are short, so the quadratic cost is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(closest("comands", &["commands", "events"]), Some("commands"));
        assert_eq!(closest("Depends-On", &["depends_on", "input"]), Some("depends_on"));
        assert_eq!(closest("xyz", &["commands", "events"]), None);
        assert_eq!(closest("commands", &["commands"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn shorten_is_char_safe() {
        assert_eq!(shorten(&"é".repeat(50)), format!("{}…", "é".repeat(40)));
        assert_eq!(shorten("a\nb"), "a…");
        assert_eq!(shorten("ab"), "ab");
    }
}
