//! A step an agent runs says so in the run's log (docs/agents.md: "the run's log says
//! `running on agent NAME`"), before the job's first line, also when the agent claims and
//! ends it between two of the server's polls. The real server and agent, on 127.0.0.1.

#[allow(dead_code)]
#[path = "server/support.rs"]
mod support;

use std::process::{Child, Command, Stdio};

use support::*;

/// `terrace agent`, killed when dropped.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_quick_step_on_an_agent_names_the_agent_before_its_lines() {
    let f = Fixture::new(
        "project: shop\nenvironments:\n  dev: {}\njobs:\n  app:\n    source: app\n    pool: builds\n    \
         events: [start]\n    commands: {start: 'echo quick-step'}\n",
    );
    f.write("proj/app/keep", "");
    let admin = f.token("admin", "me");
    let out = Command::new(bin())
        .args(["token", "create", "--pool", "builds", "--name", "b1", "--data"])
        .arg(f.data())
        .env_remove("TERRACE_SERVER")
        .output()
        .expect("token create --pool");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pool_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let server = f.start(&[]);
    let _agent = Agent(
        Command::new(bin())
            .args(["agent", "--server", &server.url, "--pool", "builds", "--name", "runner-7", "--work"])
            .arg(f.dir.path().join("work"))
            .env("TERRACE_AGENT_TOKEN", &pool_token)
            .env_remove("TERRACE_SERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn terrace agent"),
    );
    // Five quick steps in a row: the agent is long-polling from the second one on, so each is
    // claimed at once and ends well within one of the server's polls.
    let (code, _, stderr) = terrace(&server, &admin, &f.project(), &["up", "dev"]);
    assert_eq!(code, 0, "{stderr}");
    for _ in 0..4 {
        let (code, _, stderr) =
            terrace(&server, &admin, &f.project(), &["run", "app", "--env", "dev", "--event", "start"]);
        assert_eq!(code, 0, "{stderr}");
    }
    for n in 1..=5 {
        let (code, log, stderr) = terrace(&server, &admin, &f.project(), &["logs", &format!("dev#{n}")]);
        assert_eq!(code, 0, "{stderr}");
        let named = log.find("running on agent `runner-7`");
        let line = log.find("quick-step");
        assert!(named.is_some() && line.is_some() && named < line, "dev#{n}:\n{log}");
    }
}
