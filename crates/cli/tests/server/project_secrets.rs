//! Project-scope secrets (`terrace secret set NAME` without `--env`) in local mode and
//! through a real `terrace server`, with the same output: every environment's runs read
//! them, a clone's too, an environment's own secret of that name wins; `list` shows each
//! with its scope; values are masked in the logs and never printed nor stored in clear.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;
use crate::terraform::walk;

/// Every value set in this test: none may be printed or stored in clear.
const VALUES: [&str; 3] = ["proj-db-4410", "proj-shared-6612", "prod-db-9931"];

/// Where a command runs: local mode on a data folder, or through the server.
#[derive(Clone, Copy)]
enum Mode<'a> {
    Local(&'a Path),
    Server(&'a Server, &'a str),
}

/// `terrace ARGS` in `mode` with `stdin`: (exit code, stdout, stderr), checked for leaks.
fn cli(f: &Fixture, mode: Mode, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut command = Command::new(bin());
    command.args(args).current_dir(f.project()).env_remove("TERRACE_MASTER_KEY");
    match mode {
        Mode::Local(data) => command.arg("--data").arg(data).env_remove("TERRACE_SERVER"),
        Mode::Server(server, token) => command.env("TERRACE_SERVER", &server.url).env("TERRACE_TOKEN", token),
    };
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    for v in VALUES {
        assert!(!stdout.contains(v) && !stderr.contains(v), "{v} printed by {args:?}:\n{stdout}\n{stderr}");
    }
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// `cli` that must succeed.
fn ok(f: &Fixture, mode: Mode, args: &[&str], stdin: Option<&str>) -> (String, String) {
    let (code, stdout, stderr) = cli(f, mode, args, stdin);
    assert_eq!(code, 0, "terrace {args:?}:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// A `secret list --json` answer as (name, scope) pairs; checks who set each is shown.
fn listed(f: &Fixture, mode: Mode, env: Option<&str>) -> Vec<String> {
    let mut args = vec!["secret", "list", "--json"];
    args.extend(env.iter().flat_map(|e| ["--env", *e]));
    let list: Value = serde_json::from_str(&ok(f, mode, &args, None).0).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(s["updated_by"].as_str().is_some_and(|b| !b.is_empty()), "{s}");
            assert!(s["updated_at"].as_str().is_some(), "{s}");
            assert!(s.get("value").is_none(), "{s}");
            format!("{}:{}", s["name"].as_str().unwrap(), s["scope"].as_str().unwrap())
        })
        .collect()
}

/// `up ENV`, then what its job saw and its log line as `terrace logs` prints it.
fn up(f: &Fixture, mode: Mode, env: &str) -> String {
    ok(f, mode, &["up", env], None);
    let seen = std::fs::read_to_string(f.dir.path().join(format!("seen-{env}"))).expect("the job wrote what it saw");
    let (log, _) = ok(f, mode, &["logs", &format!("{env}#1")], None);
    let line = log.lines().find(|l| l.contains("db=")).unwrap_or_else(|| panic!("no job line:\n{log}")).to_string();
    assert!(line.contains("db=*** shared=***"), "masked: {line}");
    std::fs::remove_file(f.dir.path().join(format!("seen-{env}"))).unwrap();
    seen
}

/// The whole story in one mode: what a user sees, with the parts that differ by mode
/// (who set a secret, when) left out, so both modes' transcripts compare equal.
fn story(f: &Fixture, mode: Mode) -> Vec<String> {
    let mut said = Vec::new();
    said.push(ok(f, mode, &["secret", "set", "DB_PW"], Some("proj-db-4410\n")).1);
    said.push(ok(f, mode, &["secret", "set", "SHARED_PW"], Some("proj-shared-6612")).1);
    said.push(ok(f, mode, &["secret", "set", "DB_PW", "--env", "prod"], Some("prod-db-9931")).1);
    said.push(format!("{:?}", listed(f, mode, None)));
    said.push(format!("{:?}", listed(f, mode, Some("prod"))));
    said.push(format!("{:?}", listed(f, mode, Some("dev"))));
    let table = ok(f, mode, &["secret", "list", "--env", "prod"], None).0;
    assert!(table.contains("SCOPE") && table.contains("environment") && table.contains("project"), "{table}");

    said.push(up(f, mode, "dev"));
    said.push(up(f, mode, "prod"));
    ok(f, mode, &["env", "clone", "dev", "--to", "dev-copy"], None);
    said.push(up(f, mode, "dev-copy"));

    // prod's own gone: the project's shows through; the project's gone: no environment has it.
    said.push(ok(f, mode, &["secret", "delete", "DB_PW", "--env", "prod"], None).1);
    said.push(format!("{:?}", listed(f, mode, Some("prod"))));
    said.push(ok(f, mode, &["secret", "delete", "SHARED_PW"], None).1);
    said.push(format!("{:?}", listed(f, mode, None)));
    let (code, _, stderr) = cli(f, mode, &["secret", "delete", "SHARED_PW"], None);
    assert!(stderr.contains("SHARED_PW"), "{stderr}");
    said.push(format!("delete again: {code}"));
    let (code, _, stderr) = cli(f, mode, &["secret", "set", "bad-name"], Some("x"));
    said.push(format!("bad name: {code} {}", stderr.trim()));
    said
}

#[test]
fn project_secrets_reach_every_environment_alike_in_local_and_client_mode() {
    let f = Fixture::new("");
    let seen = f.dir.path().display().to_string();
    f.write(
        "proj/terrace.yaml",
        &format!(
            "project: shop\nenvironments: {{dev: {{}}, prod: {{}}}}\njobs:\n  a:\n    events: [start]\n    \
             variables: {{DB: '${{secret:DB_PW}}', SHARED: '${{secret:SHARED_PW}}'}}\n    commands:\n      start: |\n        \
             echo \"db=$DB shared=$SHARED\"\n        printf '%s|%s' \"$DB\" \"$SHARED\" > {seen}/seen-$TERRACE_ENVIRONMENT\n"
        ),
    );
    let local_data = f.dir.path().join("local-data");
    let local = story(&f, Mode::Local(&local_data));

    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let client = story(&f, Mode::Server(&server, &token));
    assert!(server.stop());

    assert_eq!(local, client, "local and client mode say the same");
    let expected_lists = [
        r#"["DB_PW:project", "SHARED_PW:project"]"#,
        r#"["DB_PW:environment", "SHARED_PW:project"]"#,
        r#"["DB_PW:project", "SHARED_PW:project"]"#,
    ];
    assert_eq!(&local[3..6], expected_lists, "{local:#?}");
    assert_eq!(
        &local[6..9],
        ["proj-db-4410|proj-shared-6612", "prod-db-9931|proj-shared-6612", "proj-db-4410|proj-shared-6612"],
        "dev, prod (its own DB_PW), and a clone of dev read them"
    );
    assert!(local[0].contains("secret DB_PW set for the project"), "{}", local[0]);
    assert!(local[2].contains("secret DB_PW set for environment `prod`"), "{}", local[2]);
    assert!(local[9].contains("deleted from environment `prod`"), "{}", local[9]);
    assert_eq!(local[10], r#"["DB_PW:project", "SHARED_PW:project"]"#);
    assert!(local[11].contains("secret SHARED_PW deleted from the project"), "{}", local[11]);
    assert_eq!(local[12], r#"["DB_PW:project"]"#);
    assert_eq!(local[13], "delete again: 2");
    assert!(local[14].starts_with("bad name: 2") && local[14].contains("not a variable name"), "{}", local[14]);

    for data in [local_data, f.data()] {
        for file in walk(&data) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            for v in VALUES {
                assert!(!bytes.windows(v.len()).any(|w| w == v.as_bytes()), "{v} in clear in {}", file.display());
            }
        }
    }
}

/// The API's project-scope routes: set, list with the scope and never the value, the
/// environment's list with what it inherits, refusals naming the field, 404s.
#[test]
fn the_api_sets_lists_and_deletes_project_secrets_without_returning_values() {
    let f = one_job_project("#!/bin/sh\necho hi\n");
    let token = f.token("operator", "op");
    let mut server = f.start(&[]);
    let api = server.api(Some(&token));
    let put = |path: &str, value: &str| api.json("PUT", path, Some(&format!(r#"{{"value": "{value}"}}"#)));
    assert_eq!(put("/projects/shop/secrets/REGISTRY", VALUES[1]).0, 204);
    assert_eq!(put("/projects/shop/environments/dev/secrets/DB_PW", VALUES[2]).0, 204);

    let project = api.ok("GET", "/projects/shop/secrets", None);
    assert_eq!(project.as_array().unwrap().len(), 1, "{project}");
    assert_eq!((project[0]["name"].as_str(), project[0]["scope"].as_str()), (Some("REGISTRY"), Some("project")));
    assert_eq!(project[0]["updated_by"], "api:op", "{project}");
    let dev = api.ok("GET", "/projects/shop/environments/dev/secrets", None);
    let scopes: Vec<(&str, &str)> =
        dev.as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), s["scope"].as_str().unwrap())).collect();
    assert_eq!(scopes, [("DB_PW", "environment"), ("REGISTRY", "project")]);
    let shown = api.ok("GET", "/projects/shop/environments/dev", None);
    assert_eq!(shown["secrets"], serde_json::json!(["DB_PW", "REGISTRY"]), "the environment's view names both");
    for answer in [&project, &dev, &shown] {
        for v in VALUES {
            assert!(!answer.to_string().contains(v), "{v} in an answer: {answer}");
        }
    }

    let (status, bad) = put("/projects/shop/secrets/not-a-name", "x");
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("not a variable name"), "{bad}");
    assert_eq!(put("/projects/nope/secrets/REGISTRY", "x").0, 404, "an unknown project");
    assert_eq!(api.json("DELETE", "/projects/shop/secrets/REGISTRY", None).0, 204);
    assert_eq!(api.json("DELETE", "/projects/shop/secrets/REGISTRY", None).0, 404, "already gone");
    assert_eq!(api.ok("GET", "/projects/shop/secrets", None), serde_json::json!([]));
    assert!(server.stop());
}
