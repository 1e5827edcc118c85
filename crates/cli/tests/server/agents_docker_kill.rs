//! An agent killed (SIGKILL) while its docker job runs: the server takes the attempt back
//! once its lease expired, and the run ends exactly once. The dead agent's container
//! outlives it (nothing of the agent is left to stop it); the agent's next start on that
//! host, under the same pool and name, removes it: every container an agent makes carries
//! the `terrace.owner=agent/POOL/NAME` label, and the agent sweeps its own at start.
//!
//! Needs the Docker Engine and a static busybox (as agents_docker.rs); without them the
//! test says why and skips, except under CI=true where it fails.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::agents_docker::{IMAGE, build_image};
use crate::hosts::skip;
use crate::support::*;

const OWNER: &str = "agent/builds/docker-k";

fn containers(filter: &str) -> Vec<String> {
    let out = Command::new("docker").args(["ps", "-aq", "--filter", filter]).output().expect("docker ps");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

fn running(filter: &str) -> Vec<String> {
    let out = Command::new("docker").args(["ps", "-q", "--filter", filter]).output().expect("docker ps");
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

fn spawn_agent(url: &str, token: &str, work: &Path, log: &Path) -> Child {
    Command::new(bin())
        .args(["agent", "--server", url, "--pool", "builds", "--name", "docker-k", "--work"])
        .arg(work)
        .env("TERRACE_AGENT_TOKEN", token)
        .env_remove("TERRACE_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn terrace agent")
}

#[test]
fn a_killed_agents_docker_attempt_ends_once_and_its_next_start_removes_the_container() {
    if let Err(why) = build_image() {
        return skip(&format!("cannot build a test image on the Docker Engine here: {why}"));
    }
    // A container of an earlier, failed run of this test would be swept too early.
    for id in containers(&format!("label=terrace.owner={OWNER}")) {
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    }
    let f = Fixture::new(&format!(
        "project: shop\nenvironments:\n  dev: {{pool: builds}}\njobs:\n  app:\n    executor: docker\n    image: {IMAGE}\n    \
         entrypoint: [/bin/sh, -c]\n    events: [start]\n    commands:\n      start: ['echo holding; exec sleep 600']\n"
    ));
    let pool_token = f.pool_token("builds", "k1");
    let op = f.token("operator", "op");
    let mut server = f.start(&["--lease", "2s"]);
    let api = server.api(Some(&op));
    let work = f.dir.path().join("work");
    let (log_1, log_2) = (f.dir.path().join("agent-1.log"), f.dir.path().join("agent-2.log"));
    let mut agent = spawn_agent(&server.url, &pool_token, &work, &log_1);

    let made = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    let owner_filter = format!("label=terrace.owner={OWNER}");
    let container = eventually(Duration::from_secs(180), "the agent's container to run", || {
        running(&owner_filter).into_iter().next()
    });
    agent.kill().expect("SIGKILL the agent");
    let _ = agent.wait();

    // Taken back after the lease: the run ends once, naming the agent.
    let request = api.wait_request(made["request_id"].as_str().unwrap(), Duration::from_secs(120));
    let run = request["run_ids"][0].as_str().unwrap().to_string();
    let page = api.ok("GET", &format!("/runs/{run}/logs?offset=0"), None);
    let log: String =
        page["lines"].as_array().unwrap().iter().filter_map(|l| l["text"].as_str()).collect::<Vec<_>>().join("\n");
    assert_ne!(request["state"], "succeeded", "{request}\n{log}");
    assert_eq!(log.matches("stopped renewing its lease").count(), 1, "{log}");
    assert!(log.contains("agent `docker-k`"), "{log}");
    let shown = api.ok("GET", &format!("/runs/{run}"), None);
    assert_eq!(shown["attempts"], 1, "{shown}");
    assert!(shown["finished_at"].is_string(), "{shown}");

    // Nothing stopped the dead agent's container: it still runs, labelled with its run.
    assert_eq!(running(&format!("label=terrace.run={run}")), [container]);

    // The agent's next start removes it.
    let mut again = spawn_agent(&server.url, &pool_token, &work, &log_2);
    eventually(Duration::from_secs(60), "the restarted agent to remove the container", || {
        containers(&owner_filter).is_empty().then_some(())
    });
    let text = eventually(Duration::from_secs(30), "the restarted agent to say so", || {
        let text = std::fs::read_to_string(&log_2).unwrap_or_default();
        text.contains("removed 1 container(s)").then_some(text)
    });
    assert!(text.contains("agent `docker-k`"), "{text}");
    let _ = again.kill();
    let _ = again.wait();

    // Still ended once: the same attempt, the same end.
    let after = api.ok("GET", &format!("/runs/{run}"), None);
    assert_eq!(
        (&after["state"], &after["attempts"], &after["finished_at"]),
        (&shown["state"], &shown["attempts"], &shown["finished_at"])
    );
    assert!(server.stop(), "{}", server.log());
}
