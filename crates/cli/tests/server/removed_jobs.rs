//! Removed jobs through a server: the client's `plan`, `status`, `up`, `job delete` and
//! `--keep-removed` behave and print as local mode does, and the API lists removed jobs.

use crate::support::*;

/// `app` plus the jobs named, each exporting `<JOB>_URL` and appending its delete (with
/// its own variable) to `marker`.
fn project(marker: &std::path::Path, jobs: &[&str]) -> String {
    let mut yaml =
        "project: shop\nenvironments:\n  dev: {}\njobs:\n  app:\n    events: [start]\n    commands: {start: \
                    'true'}\n"
            .to_string();
    for job in jobs {
        let upper = job.to_uppercase();
        yaml.push_str(&format!(
            "  {job}:\n    events: [start, delete]\n    variables: {{WHO: {job}-v1}}\n    commands:\n      start: 'printf \
             \"{{\\\"{upper}_URL\\\": {{\\\"value\\\": \\\"http://{job}\\\", \\\"sensitive\\\": false}}}}\" > \
             \"$TERRACE_OUTPUT_FILE\"'\n      delete: 'echo \"deleted $WHO\" >> {}'\n",
            marker.display()
        ));
    }
    yaml
}

fn outputs(server: &Server, token: &str) -> Vec<String> {
    let env = server.api(Some(token)).ok("GET", "/projects/shop/environments/dev", None);
    env["outputs"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn removed_jobs_are_deleted_listed_and_forgotten_through_the_server_as_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let f = Fixture::new(&project(&marker, &["one", "two", "three"]));
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);

    let (code, out, err) = terrace(&server, &token, &f.project(), &["up", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(outputs(&server, &token), ["ONE_URL", "THREE_URL", "TWO_URL"]);
    f.write("proj/terrace.yaml", &project(&marker, &[]));

    let (code, out, _) = terrace(&server, &token, &f.project(), &["plan", "dev"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("one: removed: its delete will run"), "{out}");
    let (_, out, _) = terrace(&server, &token, &f.project(), &["status", "dev"]);
    assert!(
        out.lines().any(|l| l.starts_with("two")
            && l.contains("removed: its delete will run")
            && l.contains("applied by run dev#3")),
        "{out}"
    );
    let api = server.api(Some(&token));
    let env = api.ok("GET", "/projects/shop/environments/dev", None);
    let removed: Vec<&str> =
        env["removed_jobs"].as_array().unwrap().iter().map(|r| r["job"].as_str().unwrap()).collect();
    assert_eq!(removed, ["one", "three", "two"]);

    // One alone, with its old definition.
    let (code, out, err) = terrace(&server, &token, &f.project(), &["job", "delete", "one", "--env", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "deleted one-v1\n");
    assert_eq!(outputs(&server, &token), ["THREE_URL", "TWO_URL"]);

    // The API refuses keep_removed where it means nothing, and a job never applied.
    let (status, _) =
        api.json("POST", "/projects/shop/environments/dev/events", Some(r#"{"event":"stop","keep_removed":true}"#));
    assert_eq!(status, 422);
    let (status, body) =
        api.json("POST", "/projects/shop/environments/dev/events", Some(r#"{"event":"delete","job":"one"}"#));
    assert_eq!(status, 422, "{body}");

    // up runs the others' deletes.
    let (code, out, err) = terrace(&server, &token, &f.project(), &["up", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("three: removed from terrace.yaml: its delete ran; its outputs and record are gone"), "{out}");
    let mut lines: Vec<String> = std::fs::read_to_string(&marker).unwrap().lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["deleted one-v1", "deleted three-v1", "deleted two-v1"]);
    assert!(outputs(&server, &token).is_empty());

    // --keep-removed forgets, and says so.
    f.write("proj/terrace.yaml", &project(&marker, &["four"]));
    let (code, out, err) = terrace(&server, &token, &f.project(), &["up", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    f.write("proj/terrace.yaml", &project(&marker, &[]));
    let (code, out, err) = terrace(&server, &token, &f.project(), &["destroy", "dev", "--keep-removed"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("environment `dev` deleted"), "{out}");
    assert!(out.contains("four: removed and forgotten: its delete did not run"), "{out}");
    assert!(out.contains("outputs dropped: FOUR_URL"), "{out}");
    assert!(!std::fs::read_to_string(&marker).unwrap().contains("four"));
    assert!(server.stop());
}

#[test]
fn plan_all_and_approvals_name_removed_jobs_through_the_server_as_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("marker");
    let with_prod = |yaml: String| yaml.replace("  dev: {}\n", "  dev: {}\n  prod:\n    approval: required\n");
    let f = Fixture::new(&with_prod(project(&marker, &["one"])));
    let token = f.token("operator", "op");
    let server = f.start(&[]);
    let (code, out, err) = terrace(&server, &token, &f.project(), &["up", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = terrace(&server, &token, &f.project(), &["up", "prod"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = terrace(&server, &token, &f.project(), &["approve", "prod#1"]);
    assert_eq!(code, 0, "{out}{err}");
    f.write("proj/terrace.yaml", &with_prod(project(&marker, &[])));

    let (code, out, err) = terrace(&server, &token, &f.project(), &["plan", "--all"]);
    assert_eq!(code, 0, "{out}{err}");
    for env in ["dev", "prod"] {
        assert!(
            out.lines().any(|l| l.starts_with(env) && l.contains("one") && l.contains("removed: its delete will run")),
            "{out}"
        );
    }
    assert!(out.contains("2 removed job(s) whose delete will run"), "{out}");

    let (code, out, err) = terrace(&server, &token, &f.project(), &["up", "prod"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("start of `prod`; one: removed: its delete will run awaits approval"), "{out}");
    let waiting = server.api(Some(&token)).ok("GET", "/approvals?state=awaiting_approval", None);
    assert_eq!(waiting[0]["summary"], "start of `prod`; one: removed: its delete will run", "{waiting}");
    let id = waiting[0]["id"].as_str().unwrap();
    let (code, out, err) = terrace(&server, &token, &f.project(), &["approve", id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "deleted one-v1\n");
}
