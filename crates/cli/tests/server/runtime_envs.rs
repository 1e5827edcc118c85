//! Environments made at run time through a server: `terrace env clone | list | delete` in
//! client mode print what local mode prints, the API answers with where each comes from,
//! and a delete that fails keeps the environment `failed` until one succeeds.

use crate::support::*;

#[test]
fn clones_are_made_run_listed_and_deleted_through_the_server() {
    let f = one_job_project("#!/bin/sh\necho \"size=$SIZE in $TERRACE_ENVIRONMENT\"\n");
    // The delete fails while the flag file exists.
    let flag = f.dir.path().join("fail-delete");
    f.write(
        "proj/app/delete.sh",
        &format!("#!/bin/sh\nif [ -e '{}' ]; then echo cannot >&2; exit 3; fi\necho deleted\n", flag.display()),
    );
    let token = f.token("operator", "op");
    let admin = f.token("admin", "root");
    let mut server = f.start(&[]);

    let (code, out, err) =
        terrace(&server, &token, &f.project(), &["env", "clone", "dev", "--to", "dev-2", "--var", "SIZE=xl"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("environment `dev-2` created from `dev` (stopped): start it with `terrace up dev-2`"),
        "{out}"
    );
    let (code, _, err) = terrace(&server, &token, &f.project(), &["env", "clone", "dev", "--to", "dev-2"]);
    assert_eq!(code, 2, "a taken name is the caller's to fix: {err}");
    assert!(err.contains("environment `dev-2` already exists"), "{err}");

    let (code, out, err) = terrace(&server, &token, &f.project(), &["up", "dev-2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("environment `dev-2` is running"), "{out}");
    let api = server.api(Some(&token));
    let env = api.ok("GET", "/projects/shop/environments/dev-2", None);
    assert_eq!(
        (env["origin"].as_str(), env["source"].as_str(), env["defined"].as_bool()),
        (Some("clone"), Some("dev"), Some(false))
    );
    let run = env["jobs"][0]["id"].as_str().unwrap().to_string();
    let (_, log, _) = terrace(&server, &token, &f.project(), &["logs", &run]);
    assert!(log.contains("size=xl in dev-2"), "{log}");

    let (code, out, _) = terrace(&server, &token, &f.project(), &["env", "list", "--json"]);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<(&str, &str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["origin"].as_str().unwrap(), e["state"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("dev", "declared", "absent"), ("dev-2", "clone", "running")]);

    let (code, _, err) = terrace(&server, &token, &f.project(), &["env", "delete", "dev"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("environment `dev` is not one made at run time"), "{err}");

    std::fs::write(&flag, "").unwrap();
    let (code, out, _) = terrace(&server, &token, &f.project(), &["env", "delete", "dev-2"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("environment `dev-2` failed at job `app`"), "{out}");
    assert_eq!(api.ok("GET", "/projects/shop/environments/dev-2", None)["state"], "failed");
    std::fs::remove_file(&flag).unwrap();
    let (code, out, err) = terrace(&server, &token, &f.project(), &["env", "delete", "dev-2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("environment `dev-2` deleted"), "{out}");
    let (status, v) = api.json("GET", "/projects/shop/environments/dev-2", None);
    assert_eq!(status, 404, "{v}");
    let audit = server.api(Some(&admin)).ok("GET", "/audit", None).to_string();
    assert!(audit.contains("environment.clone") && audit.contains("environment:shop/dev-2"), "{audit}");
    assert!(server.stop());
}
