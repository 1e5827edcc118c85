//! `terrace preview list` and `GET /api/v1/projects/{p}/previews`: each preview with its
//! environment, pull request, state, age, TTL and URL, the same in local and client mode.

use std::collections::BTreeMap;

use serde_json::Value;
use terrace_store::{PreviewStore, PreviewWish, SqlStore};

use crate::support::*;

const YAML: &str = "project: shop\nenvironments:\n  preview: {}\njobs:\n  app:\n    source: .\n    events: [start, delete]\n    \
    commands: {start: \"true\", delete: \"true\"}\npreviews:\n  hello:\n    repository: github.com/acme/hello\n    from: preview\n    \
    variables: {CODE_VERSION: \"${pr.head_sha}\"}\n    ttl: 72h\n    url: https://{id}.previews.example.com\n";

/// Preview records written straight on the store, as the webhooks would.
fn seed(data: &std::path::Path) {
    std::fs::create_dir_all(data).expect("data dir");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let store = SqlStore::open_sqlite(&data.join("terrace.db"), data_key(data)).await.expect("open store");
        for (number, sha) in [(7u64, "abc123"), (8, "def456")] {
            let id = terrace_model::preview::preview_id("acme/hello", number);
            let wish = PreviewWish {
                project: "shop".into(),
                class: "hello".into(),
                environment: terrace_model::preview::preview_environment(&id),
                preview_id: id,
                forge: "github".into(),
                repository: "github.com/acme/hello".into(),
                full_name: "acme/hello".into(),
                number,
                head_sha: sha.into(),
                branch: "feature".into(),
                wanted: true,
                why: None,
                variables: BTreeMap::from([("CODE_VERSION".to_string(), sha.to_string())]),
            };
            store.wish_preview(&wish).await.expect("wish");
        }
        store.close().await;
    });
}

fn terrace(f: &Fixture, server: Option<(&Server, &str)>, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("--project").arg(f.project());
    match server {
        Some((s, token)) => cmd.arg("--server").arg(&s.url).env("TERRACE_TOKEN", token),
        None => cmd.arg("--data").arg(f.data()).env_remove("TERRACE_SERVER"),
    };
    let out = cmd.args(args).output().expect("run terrace");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn previews_are_listed_with_their_pull_request_state_age_and_ttl() {
    let f = Fixture::new(YAML);
    seed(&f.data());
    let local: Vec<Value> = serde_json::from_str(&terrace(&f, None, &["preview", "list", "--json"])).unwrap();
    assert_eq!(local.len(), 2, "{local:?}");
    let id = terrace_model::preview::preview_id("acme/hello", 7);
    let seven = local.iter().find(|p| p["number"] == 7).expect("PR 7");
    assert_eq!(seven["environment"], format!("pr-{id}"));
    assert_eq!(seven["repository"], "github.com/acme/hello");
    assert_eq!(seven["state"], "queued");
    assert_eq!(seven["url"], format!("https://{id}.previews.example.com"));
    assert_eq!(seven["ttl"], "72h");
    assert!(seven["age_seconds"].as_i64().is_some(), "{seven}");

    let text = terrace(&f, None, &["preview", "list"]);
    assert!(text.starts_with("ENVIRONMENT"), "{text}");
    assert!(text.contains(&format!("pr-{id}")) && text.contains("github.com/acme/hello#7"), "{text}");

    let token = f.token("viewer", "ci");
    let server = f.start(&[]);
    // The server deploys them (their class copies `preview`): once both run, both modes
    // list the same.
    eventually(std::time::Duration::from_secs(120), "both previews running", || {
        let api = server.api(Some(&token)).ok("GET", "/projects/shop/previews", None);
        let items = api["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2 && items.iter().all(|p| p["state"] == "running")).then_some(())
    });
    let local: Vec<Value> = serde_json::from_str(&terrace(&f, None, &["preview", "list", "--json"])).unwrap();
    let client: Vec<Value> =
        serde_json::from_str(&terrace(&f, Some((&server, &token)), &["preview", "list", "--json"])).unwrap();
    let strip = |v: &[Value]| -> Vec<Value> {
        v.iter()
            .map(|p| {
                let mut p = p.clone();
                p.as_object_mut().unwrap().remove("age_seconds");
                p
            })
            .collect()
    };
    assert_eq!(strip(&client), strip(&local), "client mode lists what local mode lists");
}
