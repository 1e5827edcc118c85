//! GitHub's webhook payloads (the recorded fixtures of crates/forge) pointed at a test
//! repository: its `file://` URL as the clone URL, and the refs and commits of the test.

use serde_json::{Value, json};

use crate::support::fixture;

/// The repository every payload names: `acme/infra`, cloned from `url`.
fn repository(v: &mut Value, url: &str) {
    v["repository"]["clone_url"] = json!(url);
    v["repository"]["full_name"] = json!("acme/infra");
}

/// A push of `after` (over `before`) to `branch`.
pub fn push(url: &str, branch: &str, before: &str, after: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture("github", "push")).unwrap();
    repository(&mut v, url);
    v["ref"] = json!(format!("refs/heads/{branch}"));
    v["before"] = json!(before);
    v["after"] = json!(after);
    v["head_commit"]["id"] = json!(after);
    serde_json::to_vec(&v).unwrap()
}

/// A GitLab merge request `iid` from `head_ref` at `head` into `base_ref`, opened, in
/// project `acme/platform/infra` cloned from `url`.
pub fn merge_request(url: &str, iid: u64, head_ref: &str, head: &str, base_ref: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&fixture("gitlab", "merge_request_open")).unwrap();
    v["project"]["git_http_url"] = json!(url);
    let mr = &mut v["object_attributes"];
    mr["iid"] = json!(iid);
    mr["source_branch"] = json!(head_ref);
    mr["target_branch"] = json!(base_ref);
    mr["last_commit"]["id"] = json!(head);
    serde_json::to_vec(&v).unwrap()
}

/// A pull request `number` from `head_ref` at `head` into `base_ref`; `action` is
/// `opened` or `synchronize`.
pub fn pull_request(url: &str, action: &str, number: u64, head_ref: &str, head: &str, base_ref: &str) -> Vec<u8> {
    let name = if action == "synchronize" { "pull_request_synchronize" } else { "pull_request_opened" };
    let mut v: Value = serde_json::from_slice(&fixture("github", name)).unwrap();
    repository(&mut v, url);
    v["action"] = json!(action);
    if action == "synchronize" {
        v["after"] = json!(head);
    }
    v["number"] = json!(number);
    let pr = &mut v["pull_request"];
    pr["number"] = json!(number);
    pr["head"]["sha"] = json!(head);
    pr["head"]["ref"] = json!(head_ref);
    pr["base"]["ref"] = json!(base_ref);
    pr["head"]["repo"]["clone_url"] = json!(url);
    pr["base"]["repo"]["clone_url"] = json!(url);
    serde_json::to_vec(&v).unwrap()
}
