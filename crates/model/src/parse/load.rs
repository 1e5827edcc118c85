//! Turns the text into a `marked_yaml` tree, or into diagnostics a user can act on.
//! Also guards what the YAML loader cannot: nesting deep enough to overflow its stack,
//! and a second document that it would silently ignore.

use marked_yaml::{LoadError, LoaderOptions, Node};

use super::walk::{Diags, Pos};

/// Deepest block nesting (in columns) let through to the loader. `yaml-rust2` recurses
/// per nesting level and overflowed a 2 MiB thread stack at a few hundred levels; a
/// real `terrace.yaml` nests five levels.
const MAX_NESTING_COLUMNS: usize = 100;

/// Parses one YAML document whose top level is a mapping. `None` when the text is not
/// YAML the walker can read; the reasons are in `d`.
pub(super) fn load(text: &str, d: &mut Diags) -> Option<Node> {
    if let Some(at) = too_deep(text) {
        d.error(
            at,
            format!(
                "this line is indented or nested more than {MAX_NESTING_COLUMNS} columns deep; terrace.yaml needs only a few levels"
            ),
        );
        return None;
    }
    extra_documents(text, d);
    // Every duplicate is reported from the parser's events; the loader keeps the last
    // value, so the rest of the file is still checked in the same pass.
    super::duplicates::report(text, d);
    let options = LoaderOptions::default().error_on_duplicate_keys(false).prevent_coercion(true);
    // The loader has `unreachable!` arms; none is known to be reachable, but a parser
    // bug must become a diagnostic, not take down a server that validates a push.
    let loaded = std::panic::catch_unwind(|| marked_yaml::parse_yaml_with_options(0, text, options));
    match loaded {
        Ok(Ok(node)) => Some(node),
        Ok(Err(LoadError::TopLevelMustBeMapping(m)))
            if text.chars().skip(m.character()).all(|c| c.is_whitespace() || c == '\u{feff}') =>
        {
            // An empty document (`---` alone): the same as an empty file.
            Some(Node::Mapping(marked_yaml::types::MarkedMappingNode::new_empty(marked_yaml::Span::new_blank())))
        }
        Ok(Err(e)) => {
            let (at, message) = describe(text, &e);
            d.error(at, message);
            None
        }
        Err(_) => {
            d.error(Pos::START, "the YAML parser failed on this file (an internal error; please report it)");
            None
        }
    }
}

fn describe(text: &str, e: &LoadError) -> (Pos, String) {
    let pos = |m: &marked_yaml::Marker| Pos { line: m.line(), column: m.column() };
    match e {
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => {
            let found = match text.chars().nth(m.character()) {
                Some('-' | '[') => "a list",
                _ => "a single value",
            };
            (
                pos(m),
                format!("the top level must be a mapping with the keys {}; found {found}", super::TOP_KEYS.join(", ")),
            )
        }
        LoadError::UnexpectedAnchor(m) => (
            back_to(text, m, '&'),
            "YAML anchors and aliases (`&name`, `*name`) are not supported in terrace.yaml: write the value out".into(),
        ),
        LoadError::MappingKeyMustBeScalar(m) => {
            (pos(m), "a mapping key must be a plain name, found a list or a mapping used as a key".into())
        }
        LoadError::UnexpectedTag(m) => (
            back_to(text, m, '!'),
            "YAML tags (`!name`, `!!str`) are not supported in terrace.yaml: quote the value instead".into(),
        ),
        LoadError::DuplicateKey(dup) => {
            let first = Pos::of(dup.prev_key.span());
            (
                Pos::of(dup.key.span()),
                format!(
                    "duplicate key `{}`: it is already set at line {}, column {}; each key may appear once",
                    super::walk::shorten(dup.key.as_str()),
                    first.line,
                    first.column
                ),
            )
        }
        LoadError::ScanError(m, scan) => {
            let mut message = format!("invalid YAML: {}", scan.info());
            let mut at = pos(m);
            if scan.info().contains("tab") {
                message.push_str(" (YAML indents with spaces only; replace the tab with spaces)");
                at = next_tab(text, m).unwrap_or(at);
            }
            (at, message)
        }
    }
}

/// The scanner reports a tab just after it, or where the token it was reading started
/// (a line earlier); the tab itself is the first one from the start of that line on.
fn next_tab(text: &str, m: &marked_yaml::Marker) -> Option<Pos> {
    let mut at = Pos { line: m.line(), column: 1 };
    for c in text.chars().skip(m.character().saturating_sub(m.column().saturating_sub(1))) {
        match c {
            '\t' => return Some(at),
            '\n' => at = Pos { line: at.line + 1, column: 1 },
            _ => at.column += 1,
        }
    }
    None
}

/// `marked_yaml` reports an anchor or a tag at the node after it; this finds the `&` or
/// `!` token just before `m`, falling back to `m` itself.
fn back_to(text: &str, m: &marked_yaml::Marker, sigil: char) -> Pos {
    let before: Vec<char> = text.chars().take(m.character()).collect();
    let mut end = before.len();
    while end > 0 && before[end - 1].is_whitespace() {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && !before[start - 1].is_whitespace() {
        start -= 1;
    }
    if before.get(start) != Some(&sigil) {
        return Pos { line: m.line(), column: m.column() };
    }
    let line_start = before[..start].iter().rposition(|c| *c == '\n').map_or(0, |i| i + 1);
    Pos { line: 1 + before[..start].iter().filter(|c| **c == '\n').count(), column: start - line_start + 1 }
}

/// The first line whose nesting prefix (indentation, `- `, `? `, `: `, anchors and tags)
/// is wider than the limit. Every nested block collection starts at a greater column
/// than its parent, so this column bounds the depth the loader will recurse to.
fn too_deep(text: &str) -> Option<Pos> {
    for (i, line) in text.split('\n').enumerate() {
        let chars: Vec<char> = line.trim_end_matches('\r').chars().collect();
        let mut at = 0;
        let mut only_blank = true;
        while at < chars.len() {
            let separated = |k: usize| chars.get(k).is_none_or(|c| *c == ' ' || *c == '\t');
            match chars[at] {
                ' ' | '\t' => at += 1,
                '-' | '?' | ':' if separated(at + 1) => {
                    only_blank = false;
                    at += 1;
                }
                '-' if chars[at..].starts_with(&['-', '-', '-']) && separated(at + 3) => {
                    only_blank = false;
                    at += 3;
                }
                '&' | '!' => {
                    only_blank = false;
                    while at < chars.len() && !separated(at) {
                        at += 1;
                    }
                }
                _ => break,
            }
        }
        let rest_is_comment = chars.get(at).is_none_or(|c| *c == '#');
        if at > MAX_NESTING_COLUMNS && !(only_blank && rest_is_comment) {
            return Some(Pos { line: i + 1, column: MAX_NESTING_COLUMNS + 1 });
        }
    }
    None
}

/// Reports a second document (`---` after content, or content after `...`): the loader
/// reads the first document only and would drop the rest without a word.
fn extra_documents(text: &str, d: &mut Diags) {
    let marker = |line: &str, m: &str| {
        line.strip_prefix(m).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
    };
    let mut started = false;
    let mut ended = false;
    for (i, line) in text.split('\n').enumerate() {
        let at = Pos { line: i + 1, column: 1 };
        if marker(line, "---") {
            if started {
                d.error(at, "a second YAML document starts here; terrace.yaml holds exactly one document");
                return;
            }
            started = true;
            continue;
        }
        if marker(line, "...") {
            ended = true;
            continue;
        }
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') || (!started && line.starts_with('%')) {
            continue;
        }
        if ended {
            d.error(at, "content after the end of the document (`...`); terrace.yaml holds exactly one document");
            return;
        }
        started = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_bound_counts_indicators_anchors_and_indentation() {
        assert_eq!(too_deep("a:\n  b: 1\n"), None);
        assert_eq!(too_deep(&"- ".repeat(60)), Some(Pos { line: 1, column: 101 }));
        assert_eq!(too_deep(&format!("x: 1\n{}y", "- &a ".repeat(30))), Some(Pos { line: 2, column: 101 }));
        // Whitespace-only and comment lines nest nothing, however wide.
        assert_eq!(too_deep(&format!("{}\n{}# c\n", " ".repeat(300), " ".repeat(300))), None);
    }

    #[test]
    fn documents() {
        let count = |t: &str| {
            let mut d = Diags::default();
            extra_documents(t, &mut d);
            d.0.iter().map(|x| x.line).collect::<Vec<_>>()
        };
        assert_eq!(count("# c\n%YAML 1.2\n---\na: 1\n"), Vec::<usize>::new());
        assert_eq!(count("a: 1\n---\nb: 2\n"), [2]);
        assert_eq!(count("---\na: 1\n...\n# ok\nb: 2\n"), [5]);
        assert_eq!(count("a: |\n  ---\n"), Vec::<usize>::new());
    }
}
