//! README.md's "first hour" walk-through, run as written (the block between its
//! `first-hour` markers) with the `terrace` just built first on PATH, in an empty folder.

mod common;

use std::path::Path;

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let block = readme
        .split("<!-- first-hour:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- first-hour:end -->").next())
        .expect("README.md has the first-hour markers");
    let code = block.split("```sh\n").nth(1).and_then(|c| c.split("```").next()).expect("a sh block");
    code.to_string()
}

#[test]
fn the_readme_first_hour_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(common::bin()).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &walkthrough()])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("TERRACE_DATA")
        .env_remove("TERRACE_SERVER")
        .env_remove("TERRACE_MASTER_KEY")
        .env_remove("TERRACE_PROJECT_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let run = common::Run::from_output(out);
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, 0, "the walk-through failed:\n{all}");
    // What its comments promise.
    for promised in [
        "valid (project `hello`, 2 jobs, 1 environment)",
        "deploying 1.0 into vpc-dev with password *** and key ***",
        "dev#1",
        "dev#2",
        "app: skipped: unchanged since its last successful start, dev#2",
        "app | » runs: variable VERSION changed",
        "\"variable VERSION\"",
        "environment `dev` deleted",
    ] {
        assert!(all.contains(promised), "{promised} in:\n{all}");
    }
    for secret in ["pw-4711-x", "k3y-0123"] {
        assert!(!all.contains(secret), "{secret} printed:\n{all}");
    }
    assert!(all.lines().any(|l| l.trim() == "*"), ".gitignore shown:\n{all}");
}
