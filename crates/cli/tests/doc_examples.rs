//! Every `terrace.yaml` example of the README and the docs passes `terrace validate`, through
//! the real binary: a user who copies one gets no error but the files only they can provide
//! (source folders, parameters files). A fragment (no `project:`) gets a project name, and may
//! name environments the page declares elsewhere.

mod common;

use std::path::Path;

use common::TestProject;

/// The ```yaml blocks of one page, each with its line.
fn yaml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match current.as_mut() {
            None if line == "```yaml" || line == "```yml" => current = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.starts_with("```") => blocks.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    blocks
}

fn allowed(problem: &str, fragment: bool) -> bool {
    problem.contains("does not exist")
        || problem.ends_with("problem found")
        || problem.ends_with("problems found")
        || problem.contains(": valid (")
        || (fragment && problem.contains("which is not defined"))
}

#[test]
fn every_project_file_example_of_the_docs_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut failures = Vec::new();
    let mut seen = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (line, body) in yaml_blocks(&text) {
            let fragment = !body.starts_with("project:");
            let yaml = if fragment { format!("project: doc\n{body}") } else { body };
            let p = TestProject::new(&yaml);
            let run = p.run(&["validate"]);
            seen += 1;
            let bad: Vec<_> = run.stderr.lines().chain(run.stdout.lines()).filter(|l| !allowed(l, fragment)).collect();
            if !bad.is_empty() {
                failures.push(format!("{}:{line}:\n  {}", page.display(), bad.join("\n  ")));
            }
        }
    }
    assert!(seen >= 10, "only {seen} examples found");
    assert!(failures.is_empty(), "examples that do not validate:\n{}", failures.join("\n"));
}
