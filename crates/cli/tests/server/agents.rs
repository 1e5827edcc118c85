//! Agents of a pool on two hosts (network and UTS namespaces, `hosts`), pulling from one
//! `terrace server` through their host's gateway: the pool's jobs run on them, their
//! logs arrive masked, their outputs reach the environment. After `kill -9` of one agent
//! mid-run, its attempt is taken back once the lease expired and ends exactly once
//! (failed, naming the agent), the retry runs on the other agent, and every run ends
//! once. An agent whose token is of another pool, or no token at all, gets nothing.
//!
//! Needs the right to make namespaces (root); without it the test says why and skips,
//! except under CI=true where it fails.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::hosts::{Forwarder, Host, skip};
use crate::replicas::starts;
use crate::support::*;

const ENVIRONMENTS: usize = 3;

/// An agent process, killed when dropped.
struct Agent {
    child: Child,
    log: std::path::PathBuf,
}

impl Agent {
    fn spawn(mut command: Command, f: &Fixture, name: &str, url: &str, pool: &str, token: &str) -> Agent {
        let log = f.dir.path().join(format!("agent-{name}.log"));
        let work = f.dir.path().join(format!("work-{name}"));
        let child = command
            .args(["agent", "--server", url, "--pool", pool, "--name", name, "--work"])
            .arg(&work)
            .env("TERRACE_AGENT_TOKEN", token)
            .env_remove("TERRACE_SERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("agent log"))
            .spawn()
            .expect("spawn terrace agent");
        Agent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each run notes its host and its process as it starts, writes its outputs (one a
/// secret it then prints), waits a second (longer while HOLD exists), notes its end.
fn project(f: &Fixture, ledger: &Path, hold: &Path) {
    let envs: String = (0..ENVIRONMENTS).map(|i| format!("  e{i}: {{pool: builds}}\n")).collect();
    f.write(
        "proj/terrace.yaml",
        &format!(
            "project: shop\nvariables:\n  LEDGER: {}\n  HOLD: {}\nenvironments:\n{envs}jobs:\n  app:\n    \
             source: app\n    max_restarts: 1\n    events: [start]\n    commands:\n      start: ./start.sh\n",
            ledger.display(),
            hold.display()
        ),
    );
    f.write(
        "proj/app/start.sh",
        "#!/bin/sh\necho \"start $TERRACE_RUN_ID $(hostname) $$\" >> \"$LEDGER\"\n\
         printf '{\"url\": {\"value\": \"http://%s\", \"sensitive\": false}, \"pw\": {\"value\": \"s3cret-%s-pw\", \
         \"sensitive\": true}}' \"$TERRACE_ENVIRONMENT\" \"$TERRACE_ENVIRONMENT\" > \"$TERRACE_OUTPUT_FILE\"\n\
         echo \"the password is s3cret-$TERRACE_ENVIRONMENT-pw\"\n\
         i=0\nwhile [ $i -lt 10 ] || [ -e \"$HOLD\" ]; do sleep 0.1; i=$((i+1)); done\n\
         echo \"done $TERRACE_RUN_ID $(hostname)\" >> \"$LEDGER\"\n",
    );
}

fn log_text(api: &Api, run: &str) -> String {
    let page = api.ok("GET", &format!("/runs/{run}/logs?offset=0"), None);
    page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap_or_default().to_string() + "\n")
        .collect()
}

#[test]
fn a_pools_agents_on_two_hosts_run_its_jobs_and_a_killed_agents_attempt_ends_once() {
    let hosts = (Host::create(2, "agent-a"), Host::create(3, "agent-b"));
    let (host_a, host_b) = match hosts {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return skip(&format!("cannot make network namespaces here: {e}")),
    };
    let f = Fixture::new("");
    let (ledger, hold) = (f.dir.path().join("ledger"), f.dir.path().join("hold"));
    project(&f, &ledger, &hold);
    let op = f.token("operator", "op");
    let (builds_a, builds_b, other) =
        (f.pool_token("builds", "a"), f.pool_token("builds", "b"), f.pool_token("other", "c"));
    let server = f.start(&["--lease", "2s", "--max-runs", "3"]);
    let api = server.api(Some(&op));
    let (fwd_a, fwd_b) =
        (Forwarder::start(host_a.gateway, server.addr()), Forwarder::start(host_b.gateway, server.addr()));

    // Tokens that are not this pool's get nothing: a token of another pool is refused for
    // this pool, an API token and no token at all are refused outright.
    let url = server.url.clone();
    for (name, token) in [("intruder", other.as_str()), ("user", op.as_str()), ("nobody", "trc_0000")] {
        let mut wrong = Agent::spawn(Command::new(bin()), &f, name, &url, "builds", token);
        let status = eventually(Duration::from_secs(60), "the agent with a wrong token to exit", || {
            wrong.child.try_wait().expect("wait")
        });
        assert_eq!(status.code(), Some(2), "{}", wrong.log());
        assert!(wrong.log().contains("refused this agent"), "{}", wrong.log());
    }
    let idle = Agent::spawn(Command::new(bin()), &f, "idle", &url, "other", &other);

    std::fs::write(&hold, "").unwrap();
    let url_a = format!("http://{}", fwd_a.addr);
    let url_b = format!("http://{}", fwd_b.addr);
    let mut agent_a = Agent::spawn(host_a.command(bin()), &f, "agent-a", &url_a, "builds", &builds_a);
    let agent_b = Agent::spawn(host_b.command(bin()), &f, "agent-b", &url_b, "builds", &builds_b);
    let ids: Vec<String> = (0..ENVIRONMENTS)
        .map(|i| {
            let path = format!("/projects/shop/environments/e{i}/events");
            api.ok("POST", &path, Some(r#"{"event": "start"}"#))["request_id"].as_str().unwrap().to_string()
        })
        .collect();

    // Kill agent A while it runs a job (held running by HOLD).
    let (cut_run, cut_pid) = eventually(Duration::from_secs(90), "agent A to run a job", || {
        let text = std::fs::read_to_string(&ledger).unwrap_or_default();
        starts(&text).into_iter().find(|(_, host, _)| host == "agent-a").map(|(run, _, pid)| (run, pid))
    });
    eventually(Duration::from_secs(60), "agent B to run a job", || {
        let text = std::fs::read_to_string(&ledger).unwrap_or_default();
        starts(&text).into_iter().find(|(_, host, _)| host == "agent-b")
    });
    let _ = agent_a.child.kill();
    let _ = agent_a.child.wait();

    // Once its lease expired, the attempt is taken back: the run's log says so, and names A.
    eventually(Duration::from_secs(60), "the server to take back agent A's step", || {
        log_text(&api, &cut_run).contains("agent `agent-a` stopped renewing").then_some(())
    });
    // Host A's own cleanup, which this test stands in for: its orphaned job goes.
    let group = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(cut_pid))).expect("the orphaned job holds on");
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).expect("stop the orphaned job");
    std::fs::remove_file(&hold).unwrap();

    for id in &ids {
        let request = api.wait_request(id, Duration::from_secs(120));
        assert_eq!(request["state"], "succeeded", "{request}\nagent B:\n{}\nserver:\n{}", agent_b.log(), server.log());
    }
    let ledger_text = std::fs::read_to_string(&ledger).unwrap();
    let runs: Vec<Value> = api.ok("GET", "/runs?limit=50", None)["items"].as_array().unwrap().clone();
    assert_eq!(runs.len(), ENVIRONMENTS, "{runs:?}");
    for run in &runs {
        let id = run["id"].as_str().unwrap();
        assert_eq!(run["state"], "succeeded", "{run}");
        let done: Vec<&str> = ledger_text.lines().filter(|l| l.starts_with(&format!("done {id} "))).collect();
        assert_eq!(done.len(), 1, "run {id} completed once, on a live agent:\n{ledger_text}");
        let log = log_text(&api, id);
        assert!(log.contains("the password is ***") && !log.contains("s3cret-"), "masked on the agent:\n{log}");
        let expected = if id == cut_run { 2 } else { 1 };
        assert_eq!(run["attempts"], expected, "{run}\n{log}");
    }
    // The killed agent's attempt ended once, as failed, and the retry ran on agent B.
    let log = log_text(&api, &cut_run);
    assert_eq!(log.matches("stopped renewing its lease").count(), 1, "{log}");
    assert!(log.contains("attempt 2 of 2") && log.contains("running on agent `agent-b`"), "{log}");
    assert!(!ledger_text.lines().any(|l| l.starts_with("done ") && l.ends_with(" agent-a")), "{ledger_text}");
    for i in 0..ENVIRONMENTS {
        let env = api.ok("GET", &format!("/projects/shop/environments/e{i}"), None);
        let outputs = env["outputs"].as_array().unwrap();
        let url = outputs.iter().find(|o| o["name"] == "url").expect("url output");
        assert_eq!(url["value"], format!("http://e{i}"), "{env}");
        let pw = outputs.iter().find(|o| o["name"] == "pw").expect("pw output");
        assert_eq!(pw["value"], "***", "{env}");
    }
    assert!(!idle.log().contains("step "), "the agent of another pool ran nothing:\n{}", idle.log());
}
