//! `terrace COMMAND --help` of every command ends with examples (the README: "`terrace
//! --help` and `terrace COMMAND --help` (each with examples)"), and every example is a
//! command line the binary accepts as written.

mod common;

use std::process::Command;

use common::bin;

fn help(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin()).args(args).arg("--help").output().expect("run terrace");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The commands `terrace --help` lists (help itself aside).
fn commands() -> Vec<String> {
    let (ok, text, _) = help(&[]);
    assert!(ok);
    let list = text.split("Commands:\n").nth(1).and_then(|t| t.split("\n\n").next()).expect("a command list");
    list.lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// Words as a shell splits them, double quotes included (the examples use no other quoting).
fn split(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => (quoted, any) = (!quoted, true),
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => (word, any) = (word + &c.to_string(), true),
        }
    }
    if any {
        words.push(word);
    }
    words
}

#[test]
fn every_command_help_has_examples_that_parse() {
    let commands = commands();
    assert!(commands.len() > 20, "{commands:?}");
    let mut problems = Vec::new();
    for command in &commands {
        let (ok, text, err) = help(&[command]);
        assert!(ok, "terrace {command} --help: {err}");
        let Some(examples) = text.split("Examples:\n").nth(1) else {
            problems.push(format!("terrace {command} --help has no examples"));
            continue;
        };
        let lines: Vec<&str> = examples.lines().take_while(|l| l.starts_with("  ")).map(str::trim).collect();
        assert!(!lines.is_empty(), "terrace {command} --help: empty examples");
        // Each example up to its comment (two spaces) or a redirection, with --help after
        // it: clap refuses an unknown command or option before it looks at --help.
        for line in lines.iter().filter_map(|l| l.strip_prefix("terrace ")) {
            let line = line.split("  ").next().unwrap_or_default();
            // (a comment inside quotes cannot be told apart; the examples have none)
            let line = line.split(" > ").next().unwrap_or_default();
            let words = split(line);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let (ok, _, err) = help(&words);
            if !ok {
                problems.push(format!("terrace {command} --help: example `terrace {line}` does not parse: {err}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
