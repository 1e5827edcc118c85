//! Tests of `source: {git, ref, path}`: what is accepted, and each rule broken.

use super::parse_project;
use super::tests::{only, with_job};
use crate::project::GitSource;

fn git_job(source: &str) -> String {
    with_job(&format!("events: [start]\ncommands: {{start: ./run.sh}}\nsource: {source}"))
}

#[test]
fn a_git_source_is_read_with_its_defaults() {
    let p = parse_project("t", &git_job("{git: 'https://example.com/acme/infra.git', ref: main}")).unwrap();
    assert_eq!(
        p.jobs["db"].git,
        Some(GitSource {
            url: "https://example.com/acme/infra.git".into(),
            reference: "main".into(),
            path: String::new(),
            token_secret: None,
            ssh_key_secret: None,
        })
    );
    let p =
        parse_project("t", &git_job("{git: /srv/repo, ref: v1, path: stacks/net/, token: '${secret:GH}'}")).unwrap();
    let git = p.jobs["db"].git.clone().unwrap();
    assert_eq!((git.path.as_str(), git.token_secret.as_deref()), ("stacks/net", Some("GH")));
    // A folder stays a folder.
    let p = parse_project("t", &git_job("app")).unwrap();
    assert_eq!((p.jobs["db"].git.clone(), p.jobs["db"].source.to_str()), (None, Some("app")));
}

#[test]
fn each_broken_rule_is_named_where_it_is() {
    assert_eq!(only(&git_job("{ref: main}")), "6:5: `source` of job `db` needs `git`: the repository's URL");
    assert_eq!(
        only(&git_job("{git: /srv/repo}")),
        "6:5: `source` of job `db` needs `ref`: the branch, tag or commit to check out"
    );
    assert!(
        only(&git_job("{git: 'https://me:tok@example.com/r.git', ref: main}"))
            .contains("holds credentials: give a token as `token: ${secret:NAME}` instead"),
    );
    assert!(only(&git_job("{git: /srv/repo, ref: 'a..b'}")).contains("is not a valid git ref"));
    assert!(only(&git_job("{git: /srv/repo, ref: main, path: ../up}")).contains("`..` is not allowed"));
    let err = only(&git_job("{git: /srv/repo, ref: main, token: ghp_plaintext}"));
    assert!(err.contains("must be a secret reference `${secret:NAME}`") && !err.contains("ghp_plaintext"), "{err}");
    assert!(only(&git_job("{git: /srv/repo, ref: main, branch: x}")).contains("unknown key `branch`"));
}

#[test]
fn environments_follow_a_branch_and_say_what_a_failure_leads_to() {
    use crate::project::OnFailure;
    let text = "project: p\nenvironments:\n  prod: {branch: main, on_failure: rollback}\n  tmp: {on_failure: destroy}\n  dev: {}\njobs: {}\n";
    let p = parse_project("t", text).unwrap();
    assert_eq!(p.environments["prod"].branch.as_deref(), Some("main"));
    assert_eq!(p.environments["prod"].on_failure, OnFailure::Rollback);
    assert_eq!(p.environments["tmp"].on_failure, OnFailure::Destroy);
    assert_eq!((p.environments["dev"].branch.clone(), p.environments["dev"].on_failure), (None, OnFailure::None));
    let err = only("project: p\nenvironments:\n  prod: {on_failure: rolback}\njobs: {}\n");
    assert!(
        err.starts_with("3:22: ") && err.contains("rollback, destroy, none") && err.contains("did you mean `rollback`"),
        "{err}"
    );
    let err = only("project: p\nenvironments:\n  prod: {branch: 'a b'}\njobs: {}\n");
    assert!(err.contains("`branch` of environment `prod`") && err.contains("is not a valid git ref"), "{err}");
}
