//! Run ids a person can type: every listing shows a run as `ENV#N` (its number in its
//! environment), and every command that takes a run takes that, its id, or a unique
//! prefix of the id; an ambiguous one lists the candidates.

mod common;

use common::TestProject;

const PROJECT: &str = "project: p\nenvironments: {dev: {}, prod: {}}\njobs:\n  a:\n    events: [start]\n    \
                       commands: {start: 'echo hello from a'}\n  b:\n    depends_on: [a]\n    events: [start]\n    \
                       commands: {start: 'echo broken >&2; exit 3'}\n";

#[test]
fn runs_are_named_env_hash_number_everywhere() {
    let p = TestProject::new(PROJECT);
    let up = p.run(&["up", "dev"]).code(1);
    assert!(up.stderr.contains("a: started (run dev#1, attempt 1)"), "{}", up.stderr);
    assert!(up.stderr.contains("b: started (run dev#2, attempt 1)"), "{}", up.stderr);
    assert!(up.stdout.contains("(terrace logs dev#2)"), "the summary names the run to read:\n{}", up.stdout);
    p.run(&["up", "prod"]).code(1);

    // Listings show the short form.
    let runs = p.run(&["runs"]).ok().stdout;
    for short in ["dev#1", "dev#2", "prod#1", "prod#2"] {
        assert!(runs.contains(short), "{short} in:\n{runs}");
    }
    let status = p.run(&["status", "dev"]).ok().stdout;
    assert!(status.contains("dev#1") && status.contains("dev#2"), "{status}");
    let json = p.json(&["runs", "--env", "dev"]);
    let numbers: Vec<u64> = json.as_array().unwrap().iter().map(|r| r["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [2, 1], "newest first");
    let up = p.run(&["up", "dev", "--json"]).code(1).json();
    assert_eq!(TestProject::job_in(&up, "a")["number"], 3);

    // Every command that takes a run takes it.
    assert!(p.log("dev#1").contains("hello from a"));
    assert!(p.log("prod#2").contains("broken"));
    let show = p.json(&["run", "show", "dev#2"]);
    assert_eq!((show["job"].as_str(), show["environment"].as_str()), (Some("b"), Some("dev")));
    let id = show["id"].as_str().unwrap().to_string();
    assert_eq!(p.json(&["run", "show", &id])["number"], 2);
    let unknown = p.run(&["logs", "dev#99"]).code(2);
    assert!(unknown.stderr.contains("no run `dev#99`"), "{}", unknown.stderr);

    // UUIDv7 ids of one session share their first digits: a short prefix is ambiguous,
    // and the answer lists the candidates by their short form.
    let ambiguous = p.run(&["logs", &id[..4]]).code(2);
    assert!(ambiguous.stderr.contains("matches several runs"), "{}", ambiguous.stderr);
    for short in ["dev#1", "dev#2", "prod#1"] {
        assert!(ambiguous.stderr.contains(short), "{short} among the candidates:\n{}", ambiguous.stderr);
    }
    assert!(ambiguous.stderr.contains("job `b`"), "{}", ambiguous.stderr);
}
