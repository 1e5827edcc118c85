//! A project registered from a private repository: git's own smart-HTTP server
//! (`git http-backend`) behind basic authentication on 127.0.0.1. Without a token the
//! registration is refused; with `--token-file` it is read, the token kept sealed and used
//! again when a push re-reads the project; the token is never in an answer, the project's
//! record or the server's log.

use std::process::Command;

use crate::git::{Upstream, git};
use crate::http_backend::GitHttpServer;
use crate::payloads;
use crate::pushes::settled;
use crate::support::{SECRET, Server, bin, github, one_job_project, sign};

const PROJECT: &str = "project: infra
environments:
  dev: {}
jobs:
  app:
    events: [start]
    commands: {start: 'true'}
";
const TOKEN: &str = "ghp_private_repo_token_4242";

#[test]
fn a_private_repository_is_read_with_its_token_kept_sealed() {
    let upstream = Upstream::new();
    let c1 = upstream.commit("main", &[("terrace.yaml", PROJECT)], "one");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let root = upstream.bare.parent().unwrap().to_path_buf();
    let http = rt.block_on(GitHttpServer::start(root, "x-access-token", TOKEN));
    let url = http.url("upstream.git");
    let f = one_job_project("#!/bin/sh\ntrue\n");
    let admin = f.token("admin", "root");
    let mut server = Server::start_with_env(&f.project(), &f.data(), &[], &[("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET)]);
    let add = |extra: &[&str]| {
        Command::new(bin())
            .args(["--server", &server.url, "project", "add", "--git", &url, "--branch", "main"])
            .args(extra)
            .env("TERRACE_TOKEN", &admin)
            .output()
            .unwrap()
    };

    // Without the token: refused, and the server said why.
    let refused = add(&[]);
    let why = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success(), "a private repository read without credentials");
    assert!(why.contains("register it with a token"), "{why}");
    let token_file = f.dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let added = add(&["--token-file", token_file.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&added.stdout).into_owned() + &String::from_utf8_lossy(&added.stderr);
    assert!(added.status.success(), "{said}");
    assert!(said.contains(&c1[..12]) && !said.contains(TOKEN), "{said}");
    let expected = {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}")))
    };
    let seen = http.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s.status == 200 && s.authorization.as_deref() == Some(&*expected)), "{seen:?}");
    let api = server.api(Some(&admin));
    let project = api.ok("GET", "/projects/infra", None);
    assert!(!project.to_string().contains(TOKEN), "{project}");

    // A push: re-read with the stored token.
    let c2 = upstream.commit("main", &[("v", "2")], "two");
    git(&upstream.bare, &["update-server-info"]);
    let push = payloads::push(&url, "main", &c1, &c2);
    github(&server, "push", "p-private", &push, Some(sign(&push)));
    let done = settled(&api, "github:p-private");
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(api.ok("GET", "/projects/infra", None)["git"]["commit"], c2.as_str());
    assert!(!done.to_string().contains(TOKEN), "{done}");
    assert!(server.stop());
    assert!(!server.log().contains(TOKEN), "the token reached the server's log");
    rt.block_on(http.stop());
}
