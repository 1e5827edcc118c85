//! Preview environments per pull request, end to end on the real binary: pull-request
//! webhooks in GitHub's and GitLab's shapes, signed as they sign them, posted to the real
//! server; the previews made from `from`, kept current on every push and destroyed
//! (resources first) on close; the pull request's comment and commit statuses sent to a
//! recording stand-in of GitHub's API on 127.0.0.1.

#[path = "../server/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../../../forge/tests/support/mod.rs"]
mod fake_forge;

#[path = "../common/tools.rs"]
mod tools;

mod flow;
mod gitlab;
mod payloads;
mod recovery;
mod scale;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use fake_forge::{FakeApi, Kind};
use support::{Fixture, Server};

/// How long a preview may take to reach a state on a loaded machine.
pub const WITHIN: Duration = Duration::from_secs(120);

/// The token the server calls the stand-in GitHub and GitLab with.
pub const API_TOKEN: &str = "forge-test-token";

/// A project with preview classes, its server, a viewer token and stand-ins of GitHub's
/// and GitLab's APIs (on a runtime of their own).
pub struct Previews {
    pub f: Fixture,
    pub github: FakeApi,
    pub gitlab_api: FakeApi,
    /// Runs the stand-ins for as long as the fixture lives.
    _rt: tokio::runtime::Runtime,
    pub server: Option<Server>,
    pub token: String,
    /// A file holding the clock's offset (TERRACE_CLOCK_OFFSET=file:PATH), when set.
    pub clock: Option<std::path::PathBuf>,
}

impl Previews {
    pub fn new(yaml: &str) -> Previews {
        let f = Fixture::new(yaml);
        let token = f.token("viewer", "ci");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let github = rt.block_on(FakeApi::start(Kind::GitHub, API_TOKEN));
        let gitlab = rt.block_on(FakeApi::start(Kind::GitLab, API_TOKEN));
        Previews { f, github, gitlab_api: gitlab, _rt: rt, server: None, token, clock: None }
    }

    /// The folder where jobs keep their resources and their ledger.
    pub fn resources(&self) -> std::path::PathBuf {
        self.f.dir.path().join("resources")
    }

    pub fn start(&mut self) -> &Server {
        let clock = self.clock.as_ref().map(|c| format!("file:{}", c.display())).unwrap_or_default();
        let server = Server::start_with_env(
            &self.f.project(),
            &self.f.data(),
            &["--github-api-url", &self.github.base(), "--gitlab-api-url", &self.gitlab_api.base()],
            &[
                ("TERRACE_GITHUB_WEBHOOK_SECRET", payloads::SECRET),
                ("TERRACE_GITHUB_TOKEN", API_TOKEN),
                ("TERRACE_GITLAB_WEBHOOK_TOKEN", payloads::GITLAB_TOKEN),
                ("TERRACE_GITLAB_TOKEN", API_TOKEN),
                ("TERRACE_CLOCK_OFFSET", &clock),
            ],
        );
        self.server = Some(server);
        self.server()
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("server started")
    }

    /// Posts a GitHub delivery (the pull request is open on the stand-in unless the
    /// delivery closes it).
    pub fn github(&self, delivery: &str, body: &[u8]) -> String {
        self.note_pull(&self.github, body);
        payloads::post_github(self.server(), delivery, body)
    }

    pub fn gitlab(&self, uuid: &str, body: &[u8]) -> String {
        self.note_pull(&self.gitlab_api, body);
        payloads::post_gitlab(self.server(), uuid, body)
    }

    /// What the stand-in answers about the pull request of `body` from now on.
    fn note_pull(&self, api: &FakeApi, body: &[u8]) {
        let v: Value = serde_json::from_slice(body).unwrap();
        let (number, state) = match v.get("object_attributes") {
            Some(mr) => (mr["iid"].as_u64().unwrap(), mr["state"].as_str().unwrap_or("opened")),
            None => {
                (v["pull_request"]["number"].as_u64().unwrap(), v["pull_request"]["state"].as_str().unwrap_or("open"))
            }
        };
        let state: &'static str = match state {
            "open" => "open",
            "opened" => "opened",
            "merged" => "merged",
            _ => "closed",
        };
        let merged = state == "merged" || v["pull_request"]["merged"] == true;
        api.state.lock().unwrap().pulls.insert(number, (state, merged));
    }

    /// Closes pull request `number` on the stand-in GitHub only (its webhook is lost).
    pub fn close_quietly(&self, number: u64, merged: bool) {
        self.github.state.lock().unwrap().pulls.insert(number, ("closed", merged));
    }

    /// Terrace's preview comments on pull request `number` of the stand-in GitHub.
    pub fn comments(&self, number: u64) -> Vec<String> {
        self.github
            .comments(number)
            .into_iter()
            .map(|n| n.body)
            .filter(|b| b.contains(terrace_forge::PREVIEW_COMMENT_MARKER))
            .collect()
    }

    /// The states set for status `terrace/<env>` of commit `sha`, in order.
    pub fn statuses(&self, sha: &str, env: &str) -> Vec<String> {
        let path = format!("/statuses/{sha}");
        self.github
            .recorded()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&path) && r.body["context"] == format!("terrace/{env}"))
            .map(|r| r.body["state"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn list(&self) -> Vec<Value> {
        let v = self.server().api(Some(&self.token)).ok("GET", "/projects/shop/previews", None);
        v["items"].as_array().cloned().unwrap_or_default()
    }

    pub fn preview(&self, env: &str) -> Option<Value> {
        self.list().into_iter().find(|p| p["environment"] == env)
    }

    /// Waits until preview `env` is in `state` (and, once there, returns it).
    #[track_caller]
    pub fn wait(&self, env: &str, state: &str) -> Value {
        let deadline = std::time::Instant::now() + WITHIN;
        loop {
            let seen = self.preview(env);
            if let Some(p) = seen.as_ref().filter(|p| p["state"] == state) {
                return p.clone();
            }
            if std::time::Instant::now() > deadline {
                let log = self.server.as_ref().map(|s| s.log()).unwrap_or_default();
                panic!("preview {env} not {state} after {WITHIN:?}: {seen:?}\nserver log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The runs of environment `env`: (job, event, state), oldest first.
    pub fn runs(&self, env: &str) -> Vec<(String, String, String)> {
        let path = format!("/runs?project=shop&environment={env}&limit=500");
        let v = self.server().api(Some(&self.token)).ok("GET", &path, None);
        let mut runs: Vec<(u64, String, String, String)> = v["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (r["number"].as_u64().unwrap_or(0), s("job"), s("event"), s("state"))
            })
            .collect();
        runs.sort();
        runs.into_iter().map(|(_, j, e, s)| (j, e, s)).collect()
    }

    /// Whether environment `env` still has a record.
    pub fn env_exists(&self, env: &str) -> bool {
        let (status, _) =
            self.server().api(Some(&self.token)).json("GET", &format!("/projects/shop/environments/{env}"), None);
        let v = self.server().api(Some(&self.token)).ok("GET", "/projects/shop/environments?limit=500", None);
        let listed =
            v["items"].as_array().is_some_and(|items| items.iter().any(|e| e["name"] == env && e["state"] != "absent"));
        status == 200 && listed
    }
}

/// The environment of pull request `number` of `repo`.
pub fn env_of(repo: &str, number: u64) -> String {
    terrace_model::preview::preview_environment(&terrace_model::preview::preview_id(repo, number))
}

/// Lines of the jobs' ledger (`created ENV CODE`, `destroyed ENV`), in order.
pub fn ledger(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("ledger")).unwrap_or_default().lines().map(str::to_string).collect()
}

impl Drop for Previews {
    fn drop(&mut self) {
        // The server first: it must not call the stand-ins while they stop.
        if let Some(mut s) = self.server.take() {
            s.kill9();
        }
    }
}
