//! An agent runs a pool's `executor: docker` job in a container of its own Docker Engine:
//! the image is found (or pulled) there, the working copy is mounted (at /data/src, as
//! on the server's docker executor), the job's memory
//! limit is applied, its log arrives masked and its output file reaches the environment.
//!
//! Needs the Docker Engine and a static busybox (scripts/test installs it) to build the
//! image FROM scratch; without them the test says why and skips, except under CI=true
//! where it fails.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::hosts::skip;
use crate::support::*;

pub(crate) const IMAGE: &str = "terrace-test/agent-busybox:1";

/// Builds the job's image (busybox as /bin) on this machine's Docker Engine.
pub(crate) fn build_image() -> Result<(), String> {
    let busybox = std::env::var("TERRACE_TEST_BUSYBOX").unwrap_or_else(|_| "/bin/busybox".into());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::copy(&busybox, dir.path().join("busybox")).map_err(|e| format!("no static busybox at {busybox}: {e}"))?;
    let dockerfile =
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n";
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).map_err(|e| e.to_string())?;
    let out = Command::new("docker")
        .args(["build", "-q", "-t", IMAGE])
        .arg(dir.path())
        .output()
        .map_err(|e| format!("cannot run the docker CLI: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("docker build failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
    }
}

#[test]
fn an_agent_runs_a_docker_job_in_a_container_of_its_own_engine() {
    if let Err(why) = build_image() {
        return skip(&format!("cannot build a test image on the Docker Engine here: {why}"));
    }
    let f = Fixture::new(&format!(
        "project: shop\nenvironments:\n  dev: {{pool: builds}}\njobs:\n  app:\n    executor: docker\n    image: {IMAGE}\n    \
         source: app\n    entrypoint: [/bin/sh, -c]\n    resources: {{memory: 64Mi}}\n    events: [start]\n    commands:\n      start: ['cd /data/src && ./start.sh']\n"
    ));
    f.write(
        "proj/app/start.sh",
        "#!/bin/sh\nprintf '{\"pw\": {\"value\": \"s3cret-agent-pw\", \"sensitive\": true}}' > \"$TERRACE_OUTPUT_FILE\"\n\
         echo \"the password is s3cret-agent-pw\"\n\
         mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)\n\
         where=host; [ -f /.dockerenv ] && where=container\n\
         printf '{\"where\": {\"value\": \"%s\", \"sensitive\": false}, \"memory\": {\"value\": \"%s\", \"sensitive\": false}, \
         \"greeting\": {\"value\": \"%s\", \"sensitive\": false}, \"pw\": {\"value\": \"s3cret-agent-pw\", \"sensitive\": true}}' \"$where\" \"$mem\" \"$(cat hello.txt)\" > \"$TERRACE_OUTPUT_FILE\"\n",
    );
    f.write("proj/app/hello.txt", "hello from the working copy");
    let pool_token = f.pool_token("builds", "b1");
    let op = f.token("operator", "op");
    let mut server = f.start(&["--lease", "5s"]);
    let api = server.api(Some(&op));
    let agent_log = f.dir.path().join("agent.log");
    let mut agent = Command::new(bin())
        .args(["agent", "--server", &server.url, "--pool", "builds", "--name", "docker-agent", "--work"])
        .arg(f.dir.path().join("work"))
        .env("TERRACE_AGENT_TOKEN", &pool_token)
        .env_remove("TERRACE_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&agent_log).unwrap())
        .spawn()
        .expect("spawn terrace agent");

    let made = api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
    let request = api.wait_request(made["request_id"].as_str().unwrap(), Duration::from_secs(180));
    let agent_text = std::fs::read_to_string(&agent_log).unwrap_or_default();
    let _ = agent.kill();
    let _ = agent.wait();
    let run = request["run_ids"][0].as_str().unwrap();
    let page = api.ok("GET", &format!("/runs/{run}/logs?offset=0"), None);
    let log: String =
        page["lines"].as_array().unwrap().iter().filter_map(|l| l["text"].as_str()).collect::<Vec<_>>().join("\n");
    assert_eq!(request["state"], "succeeded", "{request}\n{log}\nagent:\n{agent_text}\nserver:\n{}", server.log());
    assert!(log.contains("running on agent `docker-agent`"), "{log}");
    // The run names the image the agent ran: a local image, by its id.
    let id = Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", IMAGE]).output().unwrap();
    let shown = api.ok("GET", &format!("/runs/{run}"), None);
    assert_eq!(shown["image"], String::from_utf8_lossy(&id.stdout).trim(), "{shown}");
    assert!(log.contains("the password is ***") && !log.contains("s3cret-"), "masked on the agent:\n{log}");
    let env = api.ok("GET", "/projects/shop/environments/dev", None);
    let output = |name: &str| {
        let outputs = env["outputs"].as_array().unwrap();
        outputs.iter().find(|o| o["name"] == name).map(|o| o["value"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(output("where").as_deref(), Some("container"), "{env}");
    assert_eq!(output("greeting").as_deref(), Some("hello from the working copy"), "{env}");
    assert_eq!(output("memory").as_deref(), Some("67108864"), "the job's memory limit: {env}");
    let left =
        Command::new("docker").args(["ps", "-aq", "--filter", &format!("label=terrace.run={run}")]).output().unwrap();
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty(), "the container was removed");
    assert!(server.stop(), "{}", server.log());
}
