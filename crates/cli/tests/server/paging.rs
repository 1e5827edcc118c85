//! The environment and run lists come in pages: walking `next` gives every item once,
//! in order, whatever the page size; environments the file defines but the store has no
//! record of are merged in name order.

use serde_json::Value;
use terrace_model::{Event, RunId};
use terrace_store::{Ending, EnvState, NewRun, Owner, RunState, SqlStore, Store};

use crate::support::*;

/// Records made straight on the server's store before it starts (no job runs).
fn seed(data: &std::path::Path, records: &[&str], runs_of_dev: usize) {
    std::fs::create_dir_all(data).expect("data dir");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let store = SqlStore::open_sqlite(&data.join("terrace.db"), data_key(data)).await.expect("open store");
        for name in records {
            let env = store.ensure_environment("shop", name).await.expect("ensure");
            if *name == "dev" {
                for _ in 0..runs_of_dev {
                    let run = NewRun {
                        id: RunId::new(),
                        pipeline_id: None,
                        environment_id: env.id,
                        project: "shop".into(),
                        environment: "dev".into(),
                        job: "app".into(),
                        event: Event::Start,
                        forced: false,
                        trigger: "test".into(),
                        commit: None,
                    };
                    // Made and ended by a holder of its own: nothing for the server to recover.
                    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
                    let run = store.create_run(run, &Owner::agent("seed"), until).await.expect("create run");
                    let ended = Ending::new(RunState::Succeeded, Some(0), None);
                    store.finish_run(&run.lease().expect("held"), &ended).await.expect("finish run");
                }
            }
        }
        store.close().await;
    });
}

/// Every page of `path` (which has no query yet), following `next` as `cursor`.
fn walk(api: &Api, path: &str, limit: usize, cursor: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("{path}?limit={limit}");
        if let Some(n) = &next {
            url.push_str(&format!("&{cursor}={}", url_encode(n)));
        }
        let page = api.ok("GET", &url, None);
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit, "{page}");
        all.extend(items);
        match page["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => return all,
        }
    }
    panic!("more than 100 pages of {path}");
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn lists_come_in_pages_and_defined_environments_merge_in_name_order() {
    let f = Fixture::new(
        "project: shop\nenvironments:\n  b: {}\n  zz: {}\n  dev: {}\n  m: {}\njobs:\n  app:\n    source: app\n    \
         events: [start]\n    commands:\n      start: \"true\"\n",
    );
    f.write("proj/app/.keep", "");
    seed(&f.data(), &["q", "dev", "a", "old", "c"], 7);
    let token = f.token("viewer", "reader");
    let mut server = f.start(&[]);
    let api = server.api(Some(&token));

    let want = ["a", "b", "c", "dev", "m", "old", "q", "zz"];
    for limit in 1..=9 {
        let envs = walk(&api, "/projects/shop/environments", limit, "after");
        let names: Vec<&str> = envs.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, want, "pages of {limit}");
        let by = |n: &str| envs.iter().find(|e| e["name"] == n).unwrap().clone();
        assert_eq!((by("b")["state"].clone(), by("b")["defined"].clone()), ("absent".into(), true.into()));
        assert_eq!((by("dev")["state"].clone(), by("dev")["defined"].clone()), ("stopped".into(), true.into()));
        assert_eq!((by("old")["state"].clone(), by("old")["defined"].clone()), ("stopped".into(), false.into()));
    }
    // The default page holds them all; the last page says so.
    let page = api.ok("GET", "/projects/shop/environments", None);
    assert_eq!(page["items"].as_array().unwrap().len(), want.len());
    assert!(page["next"].is_null(), "{page}");
    let page = api.ok("GET", "/projects/shop/environments?limit=3&after=dev", None);
    let names: Vec<&str> = page["items"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!((names, page["next"].as_str()), (vec!["m", "old", "q"], Some("q")));

    let newest_first: Vec<Value> = api.ok("GET", "/runs?limit=100", None)["items"].as_array().unwrap().clone();
    assert_eq!(newest_first.len(), 7);
    for limit in 1..=8 {
        assert_eq!(walk(&api, "/runs", limit, "before"), newest_first, "pages of {limit}");
    }
    let exact = api.ok("GET", "/runs?limit=7", None);
    assert!(exact["next"].is_null(), "a full last page has no next: {exact}");
    assert!(server.stop());
}

/// `terrace` with `args`, in local mode (`--data`) or against `server` with `token`.
fn status(f: &Fixture, server: Option<(&Server, &str)>, args: &[&str]) -> String {
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
fn status_lists_every_page_the_same_in_local_and_client_mode() {
    let f = Fixture::new(
        "project: shop\nenvironments:\n  dev: {}\njobs:\n  app:\n    source: .\n    events: [start]\n    commands:\n      start: \"true\"\n",
    );
    let names: Vec<String> = (0..1203).map(|i| format!("env-{i:04}")).collect();
    std::fs::create_dir_all(f.data()).expect("data dir");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let store = SqlStore::open_sqlite(&f.data().join("terrace.db"), data_key(&f.data())).await.expect("open store");
        for name in names.iter().rev() {
            store.ensure_environment("shop", name).await.expect("ensure");
        }
        let e = store.get_environment("shop", "env-0777").await.unwrap().unwrap();
        store.set_environment_state(e.id, EnvState::Failed, Some("app"), Some("exit 3\nsee the log")).await.unwrap();
        store.close().await;
    });

    let local = status(&f, None, &["status"]);
    let lines: Vec<&str> = local.lines().collect();
    assert_eq!(lines.len(), 1 + names.len(), "a header and every environment once, over 3 pages");
    let listed: Vec<&str> = lines[1..].iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(listed, names);
    let state_at = lines[0].find("STATE").unwrap();
    assert!(lines[1..].iter().all(|l| l[state_at..].starts_with("stopped") || l[state_at..].starts_with("failed")));
    assert!(lines[1 + 777].ends_with("exit 3 see the log"), "a reason stays on its line: {}", lines[1 + 777]);
    let json: Value = serde_json::from_str(&status(&f, None, &["status", "--json"])).expect("one JSON array");
    let json_names: Vec<&str> = json.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(json_names, names);

    let token = f.token("viewer", "reader");
    let mut server = f.start(&[]);
    assert_eq!(status(&f, Some((&server, &token)), &["status"]), local, "client mode prints what local mode prints");
    let json: Value = serde_json::from_str(&status(&f, Some((&server, &token)), &["status", "--json"])).unwrap();
    let json_names: Vec<&str> = json.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(json_names, names, "the defined but absent `dev` is not listed, as in local mode");
    assert!(server.stop());
}
