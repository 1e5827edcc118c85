//! Previews across failures: a server killed between a close and its destroy destroys
//! after restart; a destroy that fails leaves the preview `failed` (and its environment
//! visible) and is retried until it succeeds; a pull request closed while no server ran
//! is found by the sweep (the forge asked) and its preview destroyed; over `max`, a
//! preview waits in the queue and its comment says so.

use crate::payloads::Pr;
use crate::scale::{write_jobs, yaml};
use crate::support::eventually;
use crate::{Previews, WITHIN, env_of, ledger};

fn pr(number: u64) -> Pr<'static> {
    let head: &'static str = Box::leak(crate::payloads::sha("c3").into_boxed_str());
    Pr { repo: "acme/hello", number, head, branch: "feature", labels: &["preview"], draft: false }
}

#[test]
fn a_server_killed_after_a_close_still_destroys_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    std::fs::create_dir_all(&res).unwrap();
    let mut p = Previews::new(&yaml(&res, ""));
    write_jobs(&p);
    // The app's destroy waits for a file: the server is killed while it cannot have ended.
    p.f.write(
        "proj/app/down.sh",
        "#!/bin/sh\nwhile [ ! -e \"$RES/go\" ]; do sleep 0.1; done\nrm -rf \"$RES/$TERRACE_ENVIRONMENT/app\"\n\
         echo \"destroyed app $TERRACE_ENVIRONMENT\" >> \"$RES/ledger\"\n",
    );
    p.start();
    let env = env_of("acme/hello", 3);
    p.github("open-3", &pr(3).github("opened", false));
    p.wait(&env, "running");
    p.github("close-3", &pr(3).github("closed", false));
    p.wait(&env, "destroying");
    p.server.as_mut().unwrap().kill9();
    assert!(res.join(&env).join("infra").exists(), "nothing destroyed yet");
    std::fs::write(res.join("go"), "").unwrap();
    p.start();
    let deleted = p.wait(&env, "deleted");
    assert_eq!(deleted["wanted"], false);
    assert!(!p.env_exists(&env));
    let lines = ledger(&res);
    assert!(
        lines.contains(&format!("destroyed app {env}")) && lines.contains(&format!("destroyed infra {env}")),
        "{lines:?}"
    );
    assert!(!res.join(&env).exists(), "every resource destroyed");
}

#[test]
fn a_failed_destroy_stays_failed_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    std::fs::create_dir_all(&res).unwrap();
    let clock = dir.path().join("clock");
    std::fs::write(&clock, "").unwrap();
    let mut p = Previews::new(&yaml(&res, ""));
    write_jobs(&p);
    // The project's notifications go to the stand-in's /hook.
    let hook = format!("notifications:\n  ops:\n    webhook: {}/hook\n    on: [destroy_failed]\n", p.github.base());
    p.f.write("proj/terrace.yaml", &format!("{}{hook}", yaml(&res, "")));
    p.clock = Some(clock.clone());
    p.start();
    let env = env_of("acme/hello", 4);
    p.github("open-4", &pr(4).github("opened", false));
    p.wait(&env, "running");
    std::fs::write(res.join("fail-destroy"), "").unwrap();
    p.github("close-4", &pr(4).github("closed", false));
    let failed = p.wait(&env, "failed");
    let reason = failed["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("the destroy failed") && reason.contains("attempt 1"), "{reason}");
    assert!(p.env_exists(&env), "a failed destroy keeps the environment visible");
    let status = p.server().api(Some(&p.token)).ok("GET", &format!("/projects/shop/environments/{env}"), None);
    assert_eq!(status["state"], "failed", "{status}");
    let told = eventually(WITHIN, "the destroy_failed notification", || {
        p.github.recorded().into_iter().find(|r| r.path == "/hook" && r.body["kind"] == "destroy_failed")
    });
    assert_eq!(
        (told.body["environment"].as_str(), told.body["detail"]["pull_request"].as_u64()),
        (Some(&*env), Some(4))
    );
    assert!(told.body["text"].as_str().unwrap_or_default().contains("could not be destroyed"), "{:?}", told.body);
    // Fixed, and the backoff passed: the retry destroys it.
    std::fs::remove_file(res.join("fail-destroy")).unwrap();
    std::fs::write(&clock, "2h").unwrap();
    p.wait(&env, "deleted");
    assert!(!p.env_exists(&env));
    assert!(!res.join(&env).exists());
}

#[test]
fn a_close_missed_while_down_is_found_by_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    std::fs::create_dir_all(&res).unwrap();
    let mut p = Previews::new(&yaml(&res, "    max: 1\n"));
    write_jobs(&p);
    p.start();
    let (one, two) = (env_of("acme/hello", 1), env_of("acme/hello", 2));
    p.github("open-1", &pr(1).github("opened", false));
    p.wait(&one, "running");
    p.github("open-2", &pr(2).github("opened", false));
    eventually(WITHIN, "PR 2 queued behind max", || {
        p.preview(&two)
            .filter(|v| v["state"] == "queued" && v["reason"].as_str().is_some_and(|r| r.contains("1 of 1 previews")))
    });
    let comment = eventually(WITHIN, "the queued comment", || {
        p.comments(2).into_iter().find(|c| c.contains("queued: 1 of 1 previews"))
    });
    assert!(comment.contains(&two), "{comment}");

    // PR 1 closes while no server runs; the webhook never arrives.
    p.server.as_mut().unwrap().kill9();
    p.close_quietly(1, true);
    p.start();
    p.wait(&one, "deleted");
    let swept = p.preview(&one).unwrap();
    assert!(swept["reason"].as_str().unwrap_or_default().contains("found by the sweep"), "{swept}");
    // Its slot goes to the one that waited.
    p.wait(&two, "running");
    assert!(!res.join(&one).exists());
}

#[test]
fn the_ttl_destroys_a_preview_until_the_next_push() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    std::fs::create_dir_all(&res).unwrap();
    let clock = dir.path().join("clock");
    std::fs::write(&clock, "").unwrap();
    let mut p = Previews::new(&yaml(&res, "    ttl: 1h\n"));
    write_jobs(&p);
    p.clock = Some(clock.clone());
    p.start();
    let env = env_of("acme/hello", 5);
    p.github("open-5", &pr(5).github("opened", false));
    let running = p.wait(&env, "running");
    assert_eq!(running["ttl"], "1h");
    assert!(running["expires_at"].is_string(), "{running}");
    std::fs::write(&clock, "2h").unwrap();
    let gone = p.wait(&env, "deleted");
    assert!(gone["reason"].as_str().unwrap_or_default().contains("time to live (1h) ended"), "{gone}");
    assert!(!res.join(&env).exists());
    // A push brings it back, with a new time to live.
    let head: &'static str = Box::leak(crate::payloads::sha("f6").into_boxed_str());
    p.github("push-5", &Pr { head, ..pr(5) }.github("synchronize", false));
    let back = p.wait(&env, "running");
    assert_eq!(back["deployed_sha"], head);
}
