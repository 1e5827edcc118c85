//! `on_failure: rollback` of a project from git: a push whose start fails is rolled back by
//! a start of its own, queued with the project read again at the last commit that applied
//! successfully, linked to the failed pipeline; the rollback leads to nothing more.

use std::time::Duration;

use crate::git::Upstream;
use crate::payloads;
use crate::pushes::settled;
use crate::support::{SECRET, Server, github, one_job_project, sign};

const PROJECT: &str = "project: infra
environments:
  prod: {branch: main, on_failure: rollback}
jobs:
  app:
    source: app
    events: [start]
    commands: {start: ./deploy.sh}
";

const DEPLOY: &str =
    "#!/bin/sh\necho \"deploying version=$(cat version) commit=$TERRACE_COMMIT\"\n! grep -q bad version\n";

#[test]
fn a_failed_push_is_rolled_back_to_the_last_good_commit_read_again_from_git() {
    let upstream = Upstream::new();
    let c0 =
        upstream.commit("main", &[("terrace.yaml", PROJECT), ("app/deploy.sh", DEPLOY), ("app/version", "0")], "v0");
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &[("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET)]);
    let api = server.api(Some(&admin));
    let body = format!(r#"{{"git": "{}", "branch": "main"}}"#, upstream.url());
    api.ok("POST", "/projects", Some(&body));

    let start_of = |key: &str, before: &str, after: &str| {
        let push = payloads::push(&upstream.url(), "main", before, after);
        let (status, _) = github(&server, "push", key, &push, Some(sign(&push)));
        assert_eq!(status, 202);
        let done = settled(&api, &format!("github:{key}"));
        let request = done["outcome"]["pipelines"]["done"][0]["starts"][0]["request"].as_str().unwrap().to_string();
        api.wait_request(&request, Duration::from_secs(120))
    };
    let good = upstream.commit("main", &[("app/version", "1")], "v1");
    assert_eq!(start_of("p-1", &c0, &good)["state"], "succeeded");

    let bad = upstream.commit("main", &[("app/version", "bad")], "v2");
    let failed = start_of("p-2", &good, &bad);
    assert_eq!(failed["state"], "failed", "{failed}");
    let follow = &failed["outcome"]["on_failure"];
    assert_eq!(
        (follow["action"].as_str(), follow["commit"].as_str()),
        (Some("rollback"), Some(good.as_str())),
        "{failed:#}"
    );
    let rollback =
        api.wait_request(follow["request_id"].as_str().expect("the rollback queued"), Duration::from_secs(120));
    assert_eq!(rollback["state"], "succeeded", "{rollback:#}");
    assert!(rollback["outcome"].get("on_failure").is_none());
    let run_id = rollback["run_ids"][0].as_str().unwrap();
    let run = api.ok("GET", &format!("/runs/{run_id}"), None);
    assert_eq!(run["commit"], good.as_str(), "{run}");
    assert_eq!(run["inputs"]["command"], "rollback");
    assert_eq!(run["inputs"]["on_failure_of"], failed["outcome"]["pipeline_id"]);
    let log = api.ok("GET", &format!("/runs/{run_id}/logs"), None).to_string();
    assert!(log.contains(&format!("deploying version=1 commit={good}")), "{log}");
    assert_eq!(api.ok("GET", "/projects/infra/environments/prod", None)["state"], "running");
    assert!(server.stop());
}
