//! `terrace promote` against registries that require authentication (the reference
//! registry, `docker-registry`, on 127.0.0.1): htpasswd Basic auth, and Bearer tokens from
//! a token service the registry's `auth: token` trusts (served by the test). The
//! credentials are the environment's secrets `REGISTRY_USERNAME` / `REGISTRY_PASSWORD`;
//! without them the promotion fails clearly and moves nothing; the password never shows.

mod common;

#[path = "../../registry/tests/support/mod.rs"]
mod registry_support;

use std::io::Write;
use std::process::Stdio;

use common::TestProject;
use registry_support::image::{Pusher, image};
use registry_support::registry::{Auth, Registry};
use registry_support::token::{ISSUER, SERVICE, TokenServer};

const REPO: &str = "library/software";
const USER: &str = "deployer";
const PASSWORD: &str = "s3cret-Registry-Pa55";

fn project(host: &str) -> TestProject {
    let p = TestProject::new("project: p\n");
    let marks = p.root().join("marks");
    p.write(
        "terrace.yaml",
        &format!(
            "project: p\nvariables:\n  MARKS: {marks}\nartifacts:\n  software:\n    image: {host}/{REPO}\n\
             environments:\n  dev: {{}}\njobs:\n  service:\n    artifacts: [software]\n    events: [start]\n    \
             commands:\n      start: 'echo \"$SOFTWARE_VERSION $SOFTWARE_DIGEST\" >> \"$MARKS\"'\n",
            marks = marks.display()
        ),
    );
    p
}

fn set_secret(p: &TestProject, name: &str, value: &str) {
    let mut child = p.command(&["secret", "set", name, "--env", "dev"]).stdin(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(value.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "secret set {name}");
}

/// Without credentials: refused, nothing moved; with the secrets: promoted and redeployed.
fn promote_with_and_without_credentials(p: &TestProject, rt: &tokio::runtime::Runtime, push: &Pusher, digest: &str) {
    let refused = p.run(&["promote", "software", "--version", "0.0.3", "--to", "dev"]).code(1);
    assert!(refused.stderr.contains("requires authentication"), "{}", refused.stderr);
    assert_eq!(rt.block_on(push.digest_of(REPO, "dev")), None, "nothing moved");

    set_secret(p, "REGISTRY_USERNAME", USER);
    set_secret(p, "REGISTRY_PASSWORD", PASSWORD);
    let out = p.run(&["promote", "software", "--version", "0.0.3", "--to", "dev"]).ok();
    assert!(out.stdout.contains(&format!("software 0.0.3 ({digest}) is now `dev` in `dev`")), "{}", out.stdout);
    assert_eq!(rt.block_on(push.digest_of(REPO, "dev")).as_deref(), Some(digest));
    let marks = std::fs::read_to_string(p.root().join("marks")).unwrap_or_default();
    assert_eq!(marks.trim(), format!("0.0.3 {digest}"), "the consumer redeployed once");
    for text in [&refused.stdout, &refused.stderr, &out.stdout, &out.stderr] {
        assert!(!text.contains(PASSWORD), "the password showed: {text}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn promote_to_a_registry_with_basic_auth() {
    let rt = runtime();
    let registry = Registry::start(Auth::Htpasswd { user: USER.into(), password: PASSWORD.into() });
    let v3 = image("0.0.3", "amd64");
    let push = Pusher::basic(&registry.host, USER, PASSWORD);
    rt.block_on(push.image(REPO, "0.0.3", &v3));
    promote_with_and_without_credentials(&project(&registry.host), &rt, &push, &v3.digest);
}

#[test]
fn promote_to_a_registry_with_bearer_tokens() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let tokens = std::sync::Arc::new(rt.block_on(TokenServer::start(dir.path(), USER, PASSWORD)));
    let registry = Registry::start(Auth::Token {
        realm: tokens.realm.clone(),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
        root_pem: tokens.root_pem.clone(),
    });
    let v3 = image("0.0.3", "amd64");
    let for_push = tokens.clone();
    let push = Pusher::new(&registry.host, move |repo| Some(format!("Bearer {}", for_push.push_token(repo))));
    rt.block_on(push.image(REPO, "0.0.3", &v3));
    let before = tokens.requests();
    promote_with_and_without_credentials(&project(&registry.host), &rt, &push, &v3.digest);
    assert!(tokens.requests() > before, "the promotion asked the token service");
}
