//! A preview class's `max` holds across replicas: two `terrace server` replicas on one
//! PostgreSQL receive the webhooks of eight pull requests at once (each replica half of
//! them); never more than `max` previews hold resources at a time, the others queue and
//! start as slots free, and each preview is made once.
//!
//! Needs TERRACE_TEST_POSTGRES_URL (scripts/test starts one); without it the test says
//! why and skips, except under CI=true where it fails.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::replicas::{MASTER_KEY, fresh_database, postgres_url};
use crate::support::*;

const MAX: usize = 3;
const PULLS: u64 = 8;
const WITHIN: Duration = Duration::from_secs(180);

fn yaml(ledger: &std::path::Path) -> String {
    format!(
        "project: shop\nvariables:\n  LEDGER: {}\nenvironments:\n  preview: {{}}\njobs:\n  app:\n    source: app\n    \
         events: [start, delete]\n    commands: {{start: ./up.sh, delete: ./down.sh}}\npreviews:\n  hello:\n    \
         repository: github.com/acme/hello\n    from: preview\n    variables: {{CODE_VERSION: \"${{pr.head_sha}}\"}}\n    \
         max: {MAX}\n",
        ledger.display()
    )
}

/// GitHub's `pull_request` delivery (`opened` or `closed`) of pull request `number`.
fn pull_request(number: u64, action: &str) -> Vec<u8> {
    let name = if action == "closed" { "pull_request_closed" } else { "pull_request_opened" };
    let mut v: Value = serde_json::from_slice(&fixture("github", name)).unwrap();
    v["action"] = json!(action);
    v["number"] = json!(number);
    v["repository"]["full_name"] = json!("acme/hello");
    v["repository"]["name"] = json!("hello");
    v["repository"]["html_url"] = json!("https://github.com/acme/hello");
    let pr = &mut v["pull_request"];
    pr["number"] = json!(number);
    pr["state"] = json!(if action == "closed" { "closed" } else { "open" });
    pr["draft"] = json!(false);
    pr["head"]["sha"] = json!(format!("{number:040x}"));
    serde_json::to_vec(&v).unwrap()
}

fn deliver(server: &Server, delivery: &str, body: &[u8]) {
    let (status, answer) = github(server, "pull_request", delivery, body, Some(sign(body)));
    assert_eq!(status, 202, "{answer}");
}

fn environment(number: u64) -> String {
    terrace_model::preview::preview_environment(&terrace_model::preview::preview_id("acme/hello", number))
}

/// The most previews that held resources at once, from the jobs' ledger (a preview
/// holds them from its `created` line to its `destroyed` line, inside its slot).
fn most_at_once(ledger: &str) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for line in ledger.lines() {
        if line.starts_with("created ") {
            now += 1;
            most = most.max(now);
        } else if line.starts_with("destroyed ") {
            now = now.saturating_sub(1);
        }
    }
    most
}

#[test]
fn a_preview_classs_max_holds_across_two_replicas_receiving_webhooks_at_once() {
    let Some(url) = postgres_url() else { return };
    let (db, _) = fresh_database(&url);
    let f = Fixture::new("");
    let ledger = f.dir.path().join("ledger");
    f.write("proj/terrace.yaml", &yaml(&ledger));
    f.write("proj/app/up.sh", "#!/bin/sh\necho \"created $TERRACE_ENVIRONMENT\" >> \"$LEDGER\"\n");
    f.write("proj/app/down.sh", "#!/bin/sh\necho \"destroyed $TERRACE_ENVIRONMENT\" >> \"$LEDGER\"\n");
    let out = Command::new(bin())
        .args(["token", "create", "--role", "viewer", "--name", "ci", "--database", &db, "--data"])
        .arg(f.data())
        .env_remove("TERRACE_SERVER")
        .env("TERRACE_MASTER_KEY", MASTER_KEY)
        .output()
        .expect("run terrace token create");
    assert!(out.status.success(), "token create: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let start = |name: &str| {
        let data = f.dir.path().join(format!("data-{name}"));
        let env = [("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET), ("TERRACE_MASTER_KEY", MASTER_KEY)];
        Server::spawn(Command::new(bin()), "127.0.0.1:0", &f.project(), &data, &["--database", &db], &env)
    };
    let servers = [start("a"), start("b")];
    let api = servers[0].api(Some(&token));
    let previews = || -> Vec<Value> {
        api.ok("GET", "/projects/shop/previews", None)["items"].as_array().cloned().unwrap_or_default()
    };
    let count = |items: &[Value], state: &str| items.iter().filter(|p| p["state"] == state).count();

    // Opened at once, each replica receiving half of them.
    std::thread::scope(|s| {
        for n in 1..=PULLS {
            let server = &servers[(n % 2) as usize];
            s.spawn(move || deliver(server, &format!("open-{n}"), &pull_request(n, "opened")));
        }
    });
    // Rounds: the previews holding the slots run, the rest queue behind `max`; closing
    // the running ones frees their slots for the queued, until every one has run.
    let mut closed: Vec<u64> = Vec::new();
    while closed.len() < PULLS as usize {
        let open = PULLS as usize - closed.len();
        let settled = eventually(WITHIN, "the previews to run or queue", || {
            let items = previews();
            let running = count(&items, "running");
            let quiet = items.len() == PULLS as usize
                && items.iter().all(|p| match p["state"].as_str() {
                    Some("running" | "deleted") => true,
                    Some("queued") => p["reason"].is_string(),
                    _ => false,
                });
            (quiet && (running == open.min(MAX) || running > MAX)).then_some(items)
        });
        assert_eq!(count(&settled, "running"), open.min(MAX), "{settled:#?}");
        if let Some(queued) = settled.iter().find(|p| p["state"] == "queued") {
            let reason = queued["reason"].as_str().unwrap();
            assert!(reason.contains(&format!("{MAX} of {MAX} previews")), "{queued}");
        }
        let running: Vec<u64> =
            settled.iter().filter(|p| p["state"] == "running").map(|p| p["number"].as_u64().unwrap()).collect();
        for n in running {
            deliver(&servers[(n % 2) as usize], &format!("close-{n}"), &pull_request(n, "closed"));
            closed.push(n);
        }
        eventually(WITHIN, "the closed previews to be destroyed", || {
            (count(&previews(), "deleted") == closed.len()).then_some(())
        });
    }
    eventually(WITHIN, "every preview to be destroyed", || {
        (count(&previews(), "deleted") == PULLS as usize).then_some(())
    });

    let text = std::fs::read_to_string(&ledger).unwrap();
    assert!(most_at_once(&text) <= MAX, "more than {MAX} previews held resources at once:\n{text}");
    for n in 1..=PULLS {
        let created = format!("created {}", environment(n));
        assert_eq!(text.lines().filter(|l| *l == created).count(), 1, "each preview made once:\n{text}");
    }
    for mut server in servers {
        assert!(server.stop(), "{}", server.log());
    }
}
