//! Pull-request webhooks as GitHub and GitLab send them (the recorded fixtures of
//! crates/forge), for the repositories and commits of a test, signed or tokened as the
//! forges do, posted to the real server.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Server, client};

pub const SECRET: &str = "preview-hook-secret";
pub const GITLAB_TOKEN: &str = "preview-gitlab-token";

/// A commit id (40 hex characters) made of `seed` repeated: `sha("a1")`.
pub fn sha(seed: &str) -> String {
    seed.repeat(40 / seed.len() + 1)[..40].to_string()
}

fn fixture(forge: &str, name: &str) -> Value {
    let path = format!("{}/../forge/tests/fixtures/{forge}/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A GitHub `pull_request` event: `action` (opened, reopened, synchronize, labeled,
/// unlabeled, closed) of pull request `number` of `repo` (`OWNER/REPO`) at `head`.
pub struct Pr<'a> {
    pub repo: &'a str,
    pub number: u64,
    pub head: &'a str,
    pub branch: &'a str,
    pub labels: &'a [&'a str],
    pub draft: bool,
}

impl Pr<'_> {
    pub fn github(&self, action: &str, merged: bool) -> Vec<u8> {
        let name = match action {
            "closed" => "pull_request_closed",
            "labeled" | "unlabeled" => "pull_request_labeled",
            "synchronize" => "pull_request_synchronize",
            _ => "pull_request_opened",
        };
        let mut v = fixture("github", name);
        v["action"] = json!(action);
        v["number"] = json!(self.number);
        v["repository"]["full_name"] = json!(self.repo);
        v["repository"]["name"] = json!(self.repo.split('/').nth(1).unwrap());
        v["repository"]["html_url"] = json!(format!("https://github.com/{}", self.repo));
        if action == "synchronize" {
            v["after"] = json!(self.head);
        }
        if matches!(action, "labeled" | "unlabeled") {
            v["label"] = json!({ "name": self.labels.first().copied().unwrap_or("preview") });
        }
        let pr = &mut v["pull_request"];
        pr["number"] = json!(self.number);
        pr["draft"] = json!(self.draft);
        pr["state"] = json!(if action == "closed" { "closed" } else { "open" });
        pr["merged"] = json!(merged);
        pr["head"]["sha"] = json!(self.head);
        pr["head"]["ref"] = json!(self.branch);
        pr["labels"] = Value::Array(self.labels.iter().map(|l| json!({ "name": l })).collect());
        serde_json::to_vec(&v).unwrap()
    }

    /// A GitLab `Merge Request Hook`: `open`, `reopen`, `close`, `merge`, or `update`
    /// (with `oldrev` when commits changed, else a label change).
    pub fn gitlab(&self, action: &str, oldrev: Option<&str>) -> Vec<u8> {
        let name = match (action, oldrev) {
            ("update", Some(_)) => "merge_request_update_commits",
            ("update", None) => "merge_request_update_labels",
            _ => "merge_request_open",
        };
        let mut v = fixture("gitlab", name);
        v["project"]["path_with_namespace"] = json!(self.repo);
        v["project"]["web_url"] = json!(format!("https://gitlab.com/{}", self.repo));
        let labels: Vec<Value> = self.labels.iter().map(|l| json!({ "title": l })).collect();
        v["labels"] = Value::Array(labels);
        let oa = &mut v["object_attributes"];
        oa["action"] = json!(action);
        oa["iid"] = json!(self.number);
        oa["state"] = json!(match action {
            "close" => "closed",
            "merge" => "merged",
            _ => "opened",
        });
        oa["draft"] = json!(self.draft);
        oa["source_branch"] = json!(self.branch);
        oa["last_commit"]["id"] = json!(self.head);
        match oldrev {
            Some(old) => oa["oldrev"] = json!(old),
            None => {
                if let Some(o) = oa.as_object_mut() {
                    o.remove("oldrev");
                }
            }
        }
        serde_json::to_vec(&v).unwrap()
    }
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts a GitHub delivery; returns the answer's `status` (`queued`, `duplicate`, ...).
#[track_caller]
pub fn post_github(server: &Server, delivery: &str, body: &[u8]) -> String {
    let resp = client()
        .post(format!("{}/hooks/github", server.url))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", sign(body))
        .body(body.to_vec())
        .send()
        .expect("POST /hooks/github");
    let status = resp.status().as_u16();
    let v: Value = resp.json().unwrap_or(Value::Null);
    assert_eq!(status, 202, "{v}");
    v["status"].as_str().unwrap_or_default().to_string()
}

#[track_caller]
pub fn post_gitlab(server: &Server, uuid: &str, body: &[u8]) -> String {
    let resp = client()
        .post(format!("{}/hooks/gitlab", server.url))
        .header("content-type", "application/json")
        .header("x-gitlab-event", "Merge Request Hook")
        .header("x-gitlab-event-uuid", uuid)
        .header("x-gitlab-token", GITLAB_TOKEN)
        .body(body.to_vec())
        .send()
        .expect("POST /hooks/gitlab");
    let status = resp.status().as_u16();
    let v: Value = resp.json().unwrap_or(Value::Null);
    assert_eq!(status, 202, "{v}");
    v["status"].as_str().unwrap_or_default().to_string()
}
