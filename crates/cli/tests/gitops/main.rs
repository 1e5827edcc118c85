//! GitOps from git end to end, on the real binary: projects registered from real
//! repositories (bare, `file://`), webhooks in GitHub's shape signed as GitHub signs
//! them, a push that re-reads the project and plans-and-applies the environments that
//! follow the branch at the pushed commit, and a pull request planned (never applied)
//! with one comment and commit statuses sent to a recording stand-in of GitHub's API.

#[path = "../server/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../common/git.rs"]
#[allow(dead_code)]
mod git;

#[path = "../common/tools.rs"]
mod tools;

mod checkouts;
#[path = "../../../git/tests/support/http_backend.rs"]
#[allow(dead_code)]
mod http_backend;

mod fake_github;
mod parallel_plans;
mod payloads;
mod private_repo;
mod pull_requests;
mod pushes;
mod rollback;
