//! Every command ends quietly when its output is closed (`terrace runs | head -1`): no
//! panic, no "Broken pipe", and the exit status of the command itself.

mod common;

use std::process::Stdio;

use common::TestProject;

const YAML: &str = "project: p\nenvironments: {dev: {}}\njobs:\n  a:\n    events: [start]\n    commands:\n      \
                    start: |\n        echo hello\n        printf '{\"X\": {\"value\": \"1\", \"sensitive\": false}}' > \"$TERRACE_OUTPUT_FILE\"\n  \
                    b:\n    depends_on: [a]\n    events: [start]\n    commands: {start: \"false\"}\n";

/// Runs `args` with stdout (or stderr too) a pipe whose reading end is already closed.
fn closed_output(p: &TestProject, args: &[&str], stderr_too: bool) -> (i32, String) {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let mut cmd = p.command(args);
    cmd.stdout(Stdio::from(write.try_clone().unwrap()));
    let (stderr, reader) = if stderr_too {
        (Stdio::from(write), None)
    } else {
        drop(write);
        (Stdio::piped(), Some(()))
    };
    let out = cmd.stderr(stderr).output().unwrap();
    let text = if reader.is_some() { String::from_utf8_lossy(&out.stderr).into_owned() } else { String::new() };
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn every_command_ends_quietly_on_a_closed_pipe() {
    let p = TestProject::new(YAML);
    p.run(&["up", "dev"]).code(1);
    let run = p.runs_of("a")[0]["id"].as_str().unwrap().to_string();
    let listings: &[&[&str]] = &[
        &["runs"],
        &["runs", "--json"],
        &["validate"],
        &["validate", "--json"],
        &["status"],
        &["status", "--json"],
        &["status", "dev"],
        &["outputs", "dev"],
        &["outputs", "dev", "--json"],
        &["logs", &run],
        &["logs", &run, "--json"],
        &["schema"],
        &["template", "list"],
        &["template", "show", "terraform"],
        &["server", "--openapi"],
        &["--help"],
    ];
    for args in listings {
        for stderr_too in [false, true] {
            let (code, stderr) = closed_output(&p, args, stderr_too);
            assert_eq!(code, 0, "terrace {args:?} (stderr closed too: {stderr_too}): {stderr}");
            assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "terrace {args:?}: {stderr}");
        }
    }
    // A run keeps its own exit status: 1, since `b` fails.
    for stderr_too in [false, true] {
        let (code, stderr) = closed_output(&p, &["up", "dev"], stderr_too);
        assert_eq!(code, 1, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
