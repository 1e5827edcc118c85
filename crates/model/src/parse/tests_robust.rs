//! The parser on garbage: it must answer every input with a project or with positioned
//! problems, never a panic or a stack overflow (these run on the 2 MiB test stack).

use super::parse_project;
use super::tests::problems;

fn assert_sane(text: &str) {
    if let Err(e) = parse_project("t", text) {
        assert!(!e.problems.is_empty(), "an error without problems for {text:?}");
        for p in &e.problems {
            assert!(p.line >= 1 && p.column >= 1 && !p.message.is_empty(), "{p:?} for {text:?}");
            // The loader's panic guard must stay unused.
            assert!(!p.message.contains("internal error"), "the YAML loader panicked on {text:?}");
        }
    }
}

#[test]
fn empty_and_comment_only_files_miss_the_project() {
    for text in ["", "\n\n", "# only a comment\n", "---\n", "---\n# c\n", "\u{feff}"] {
        assert_eq!(
            problems(text),
            ["1:1: missing the required key `project` (the project's name, e.g. `project: shop`)"],
            "{text:?}"
        );
    }
}

#[test]
fn the_top_level_must_be_a_mapping() {
    assert_eq!(
        problems("- a\n- b\n"),
        [
            "1:1: the top level must be a mapping with the keys project, variables, environments, jobs, executor, artifacts, previews, notifications; found a list"
        ]
    );
    assert_eq!(
        problems("just words"),
        [
            "1:1: the top level must be a mapping with the keys project, variables, environments, jobs, executor, artifacts, previews, notifications; found a single value"
        ]
    );
}

#[test]
fn a_syntax_error_is_one_problem_with_its_position() {
    assert_eq!(
        problems("project: p\njobs: {a: [\n"),
        ["3:1: invalid YAML: while parsing a node, did not find expected node content"]
    );
    assert_eq!(
        problems("project: p\njobs:\n\tdb: {}\n"),
        [
            "3:1: invalid YAML: tabs disallowed within this context (block indentation) (YAML indents with spaces only; replace the tab with spaces)"
        ]
    );
    // The scanner blames the line before; the tab is what the position names.
    assert!(
        problems("project: p\n\tjobs: {}\n")[0]
            .starts_with("2:1: invalid YAML: while scanning a plain scalar, found a tab")
    );
}

#[test]
fn duplicate_keys_name_both_places() {
    assert_eq!(
        problems(
            "project: p\njobs:\n  db: {events: [start], commands: {start: x}}\n  db: {events: [stop], commands: {stop: y}}\n  db: {events: [start], commands: {start: z}}\n"
        ),
        [
            "4:3: duplicate key `db`: it is already set at line 3, column 3; each key may appear once",
            "5:3: duplicate key `db`: it is already set at line 3, column 3; each key may appear once"
        ]
    );
    assert_eq!(problems("{project: p, project: q}").len(), 1);
}

#[test]
fn yaml_features_outside_the_format_are_refused() {
    assert_eq!(
        problems("project: &n p\nx: *n\n"),
        ["1:10: YAML anchors and aliases (`&name`, `*name`) are not supported in terrace.yaml: write the value out"]
    );
    assert!(problems("project: !!str p\n")[0].starts_with("1:10: YAML tags"));
    assert!(problems("? [a]\n: b\n")[0].contains("a mapping key must be a plain name"));
    assert_eq!(
        problems("project: p\n---\nproject: q\n"),
        ["2:1: a second YAML document starts here; terrace.yaml holds exactly one document"]
    );
}

#[test]
fn deep_nesting_is_refused_before_the_loader_recurses() {
    let block_list = "- ".repeat(20_000) + "x";
    let block_map: String = (0..3_000).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    let flow = "[".repeat(50_000);
    let flow_in_block = format!("{}{}", "- ".repeat(50), "{a: ".repeat(10_000));
    for text in [block_list, block_map, flow, flow_in_block] {
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
    }
    let deep_ok: String = (0..40).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    assert!(problems(&deep_ok)[0].contains("unknown key `k0`"));
}

#[test]
fn binary_and_odd_text_is_answered() {
    let nul = "project: p\nvariables:\n  A: \"a\\0b\"\n";
    assert_eq!(
        problems(nul),
        ["3:6: variable `A` of the project contains a NUL character, which no path, command or variable can hold"]
    );
    for text in [
        "\u{0}\u{1}\u{2}\u{7f}",
        "project: \u{0}",
        "\u{fffd}\u{fffd}: \u{200b}",
        "project: p\r\njobs:\r\n  db: {events: [start], commands: {start: x}}\r\n",
        "project: p\rjobs: {}",
        &"é".repeat(10_000),
        "project: p\njobs:\n  \"\": {}\n",
        "project:\njobs:\n  db:\n",
        "{{{{}}}}",
        "project: '",
        "%YAML 9.9\n---\nproject: p\n",
        "...\n...\n",
        "project: p\n...\nproject: q\n",
    ] {
        assert_sane(text);
    }
}

/// Deterministic xorshift, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

#[test]
fn random_token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        ":",
        ": ",
        "- ",
        "\n",
        "  ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "\"",
        "'",
        "#",
        "&a ",
        "*a",
        "!t ",
        "? ",
        "|",
        ">",
        "\t",
        "\0",
        "é",
        "${",
        "}",
        "project",
        "jobs",
        "events",
        "commands",
        "start",
        "depends_on",
        "variables",
        "environments",
        "TERRACE_X",
        "true",
        "null",
        "~",
        "10m",
        "..",
        "/",
        "db",
        "---\n",
        "...\n",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3_000 {
        let len = rng.next(40);
        let text: String = (0..len).map(|_| TOKENS[rng.next(TOKENS.len())]).collect();
        assert_sane(&text);
    }
}

#[test]
fn mutations_of_a_valid_file_never_panic() {
    let valid = "project: shop\nvariables:\n  A: { value: \"${env:X}\", secret: true }\nenvironments:\n  dev:\n    variables: { B: b }\njobs:\n  base:\n    events: [start, stop]\n    commands: { start: up, stop: [\"down\", \"-y\"] }\n  app:\n    depends_on: [base]\n    events: [start]\n    commands:\n      start: run\n    max_duration: 5m\n    max_restarts: 1\n";
    assert!(parse_project("t", valid).is_ok());
    let inserts = ["", " ", "\n", "-", ":", "[", "{", "\"", "x", "\t", "#", "..", "0"];
    let chars: Vec<char> = valid.chars().collect();
    let mut rng = Rng(42);
    for _ in 0..3_000 {
        let mut c = chars.clone();
        for _ in 0..1 + rng.next(3) {
            let at = rng.next(c.len());
            if rng.next(2) == 0 {
                c.remove(at);
            } else {
                for (i, ch) in inserts[rng.next(inserts.len())].chars().enumerate() {
                    c.insert(at + i, ch);
                }
            }
        }
        assert_sane(&c.into_iter().collect::<String>());
    }
}
