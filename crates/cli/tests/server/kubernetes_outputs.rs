//! Outputs of `executor: kubernetes` come back by upload: a real `terrace server` on
//! 127.0.0.1 runs the job against the recording fake of the Kubernetes API (nothing of
//! Kubernetes runs here), and the pod's part is played for real by the wrapped command of
//! the recorded Job, `terrace attempt-wrap -- PROGRAM...`, run as a local process with the
//! URL and token of the recorded Secret. Its upload is what the run then shows; the
//! endpoint refuses every other token, a token used once, and a body over the limit; a
//! file over the limit is refused by the wrapper and a malformed one fails the run, each
//! with the same error as on every executor; the program's exit status is the wrapper's.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::k8s_fake::{FakeCluster, Recorded, Script};
use crate::support::*;

const SECRET: &str = "s3cr3t-db-password-77";

fn kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\nusers:\n- name: t\n  \
         user:\n    token: fake-token\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: t\n    \
         namespace: jobs\ncurrent-context: fake\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A port free now on 127.0.0.1: the server's URL must be known before it starts, since
/// it is the URL its pods upload to.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A project of one kubernetes job running `shell` with `/bin/sh -c`.
fn fixture(shell: &str) -> Fixture {
    fixture_of("image: registry.example/db-migrate:3\n    entrypoint: [/bin/sh, -c]", shell)
}

/// A project of one kubernetes job of `image` (its YAML lines) running `shell`.
fn fixture_of(image: &str, shell: &str) -> Fixture {
    let shell = shell.replace('\'', "''");
    Fixture::new(&format!(
        "project: shop
executor: kubernetes
environments:
  dev: {{}}
jobs:
  db:
    {image}
    events: [start]
    commands: {{start: ['{shell}']}}
    variables:
      DB_PASSWORD: {{value: {SECRET}, secret: true}}
"
    ))
}

struct Setup {
    f: Fixture,
    rt: tokio::runtime::Runtime,
    fake: FakeCluster,
    server: Server,
    api: Api,
}

fn start(shell: &str, exit_code: i32) -> Setup {
    start_with(fixture(shell), exit_code)
}

fn start_with(f: Fixture, exit_code: i32) -> Setup {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeCluster::start());
    // The pod's end is played once the wrapper has run (`finish`), with its status.
    fake.script(Script { hold: true, exit_code, reason: "Completed".into(), ..Script::default() });
    let config = kubeconfig(f.dir.path(), &fake.url);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}");
    let server = Server::spawn(
        Command::new(bin()),
        &listen,
        &f.project(),
        &f.data(),
        &["--kubernetes-server-url", &url, "--kubernetes-helper-image", "registry.example/terrace-helper:test"],
        &[("KUBECONFIG", config.to_str().unwrap())],
    );
    let api = server.api(Some(&f.token("admin", "ops")));
    Setup { f, rt, fake, server, api }
}

/// What the pod was given: the Job's main container and the step's environment.
#[derive(Clone)]
struct Pod {
    job: String,
    command: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Setup {
    fn start_event(&self) -> String {
        let made = self.api.ok("POST", "/projects/shop/environments/dev/events", Some(r#"{"event": "start"}"#));
        made["request_id"].as_str().unwrap().to_string()
    }

    fn pod(&self) -> Pod {
        let created = |r: &Recorded| r.method == "POST" && r.path.ends_with("/jobs");
        let job = self.rt.block_on(self.fake.wait_for(created)).body;
        let secret = self.fake.requests().into_iter().find(|r| r.method == "POST" && r.path.ends_with("/secrets"));
        let secret = secret.expect("the step's Secret").body;
        let c = &job["spec"]["template"]["spec"]["containers"][0];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
        };
        let env = secret["data"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let value = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
                (k.clone(), String::from_utf8(value).unwrap())
            })
            .collect();
        Pod {
            job: job["metadata"]["name"].as_str().unwrap().to_string(),
            command: strings(&c["command"]),
            args: strings(&c["args"]),
            env,
        }
    }

    /// The pod's container, for real, as a local process: the recorded command with this
    /// build's `terrace` where the init container put it, the recorded environment (the
    /// output file in a temporary folder in place of the pod's `/terrace-output`).
    fn run_pod(&self, pod: &Pod) -> (i32, String, String) {
        assert_eq!(pod.command[0], "/terrace-tools/terrace");
        let output_dir = self.f.dir.path().join("pod-output");
        std::fs::create_dir_all(&output_dir).unwrap();
        let out = Command::new(bin())
            .args(&pod.command[1..])
            .args(&pod.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .envs(pod.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("TERRACE_OUTPUT_FILE", output_dir.join("output.json"))
            .output()
            .expect("run terrace attempt-wrap");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    fn end_pod(&self, pod: &Pod) {
        self.fake.finish(&pod.job);
    }

    fn upload(&self, token: Option<&str>, path: &str, body: Vec<u8>) -> (u16, Value) {
        let mut req = client().put(format!("{}/api/v1{path}", self.server.url)).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let answer = req.send().unwrap();
        let status = answer.status().as_u16();
        (status, serde_json::from_str(&answer.text().unwrap_or_default()).unwrap_or(Value::Null))
    }
}

fn var<'a>(pod: &'a Pod, name: &str) -> &'a str {
    pod.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn the_wrapper_uploads_the_output_file_with_its_attempts_token_and_the_run_shows_it() {
    let s = start(
        "echo \"migrating with $DB_PASSWORD, upload token [$TERRACE_OUTPUT_TOKEN]\"; \
         printf '{\"endpoint\": {\"value\": \"db.internal:5432\", \"sensitive\": false}}' > \"$TERRACE_OUTPUT_FILE\"",
        0,
    );
    let request = s.start_event();
    let pod = s.pod();

    // The recorded Job: the wrapper copied in by an init container of the helper image,
    // the program run under it, no termination message, and no token anywhere in it.
    let job = s.fake.requests().into_iter().find(|r| r.method == "POST" && r.path.ends_with("/jobs")).unwrap().body;
    let spec = &job["spec"]["template"]["spec"];
    let init = &spec["initContainers"][0];
    assert_eq!(init["image"], "registry.example/terrace-helper:test");
    assert_eq!(init["command"], serde_json::json!(["/terrace", "attempt-wrap", "--copy-to", "/terrace-tools/terrace"]));
    assert_eq!(pod.command, ["/terrace-tools/terrace", "attempt-wrap", "--", "/bin/sh", "-c"]);
    assert!(spec["containers"][0].get("terminationMessagePath").is_none(), "{spec}");
    let token = var(&pod, "TERRACE_OUTPUT_TOKEN").to_string();
    let url = var(&pod, "TERRACE_OUTPUT_URL").to_string();
    assert!(!job.to_string().contains(&token) && !job.to_string().contains(SECRET), "{job}");
    let run = job["metadata"]["labels"]["terrace/run"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/api/v1/runs/{run}/attempts/1/output", s.server.url));
    let path = format!("/runs/{run}/attempts/1/output");

    // Only that token opens the endpoint, for that attempt only; a file over the limit
    // is refused unread (the ticket stays good).
    let good = br#"{"x": {"value": "1"}}"#.to_vec();
    let (status, body) = s.upload(None, &path, good.clone());
    assert_eq!(status, 401, "{body}");
    let (status, body) = s.upload(s.api.token.as_deref(), &path, good.clone());
    assert_eq!(status, 401, "an API token: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not an output token"), "{body}");
    let pool = s.f.pool_token("builds", "agent-1");
    assert_eq!(s.upload(Some(&pool), &path, good.clone()).0, 401, "a pool token");
    let (status, body) = s.upload(Some(&token), &format!("/runs/{run}/attempts/2/output"), good.clone());
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("another attempt"), "{body}");
    let (status, body) = s.upload(Some(&token), &path, vec![b' '; 1024 * 1024 + 10]);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");

    let (code, stdout, stderr) = s.run_pod(&pod);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), format!("migrating with {SECRET}, upload token []"), "the program never sees the token");
    let (status, body) = s.upload(Some(&token), &path, good);
    assert_eq!(status, 403, "used once: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("already used"), "{body}");

    s.end_pod(&pod);
    let done = s.api.wait_request(&request, Duration::from_secs(120));
    assert_eq!(done["state"], "succeeded", "{done}\n{}", s.server.log());
    let env = s.api.ok("GET", "/projects/shop/environments/dev", None);
    let endpoint = env["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "endpoint").cloned();
    assert_eq!(endpoint.expect("the uploaded output")["value"], "db.internal:5432", "{env}");
    // The attempt is over: its token is refused.
    let (status, _) = s.upload(Some(&token), &path, b"{}".to_vec());
    assert_eq!(status, 401);
    assert!(!s.server.log().contains(&token), "the token is never logged");
    assert_eq!(s.fake.objects(), (vec![], vec![]), "the Job and its Secrets are gone");
}

#[test]
fn a_malformed_output_file_fails_the_run_as_anywhere_and_the_programs_status_passes_through() {
    let s = start("printf '{\"endpoint\": {\"value\": tru}}' > \"$TERRACE_OUTPUT_FILE\"", 0);
    let request = s.start_event();
    let pod = s.pod();
    let (code, _, stderr) = s.run_pod(&pod);
    assert_eq!(code, 0, "the server kept the file and the run fails with its error: {stderr}");
    assert!(stderr.contains("not valid JSON") && stderr.contains("at line 1 column"), "{stderr}");
    s.end_pod(&pod);
    let done = s.api.wait_request(&request, Duration::from_secs(120));
    assert_eq!(done["state"], "failed", "{done}");
    let run = done["run_ids"][0].as_str().unwrap();
    let shown = s.api.ok("GET", &format!("/runs/{run}"), None);
    let reason = shown.to_string();
    assert!(
        reason.contains("output file: not valid JSON") && reason.contains("none of its entries were applied"),
        "the same refusal as on the local executor: {shown:#}"
    );

    // The program's status is the wrapper's; a file over the limit is not sent, and the
    // wrapper says why (in the pod's log) and fails.
    let (code, _, _) = s.run_pod(&Pod { args: vec!["exit 3".into()], ..pod.clone() });
    assert_eq!(code, 3);
    let big = "head -c 2000000 /dev/zero | tr '\\0' ' ' > \"$TERRACE_OUTPUT_FILE\"";
    let (code, _, stderr) = s.run_pod(&Pod { args: vec![big.into()], ..pod });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("it holds 2000000 bytes, over the limit of 1 MiB"), "{stderr}");
}

#[test]
fn without_an_entrypoint_the_images_own_is_read_from_its_registry_and_wrapped() {
    let registry = crate::registry::Registry::start();
    registry.push_image_running("team/cfn", "1", &["/bin/sh", "-c"]);
    let image = format!("{}/team/cfn:1", registry.host);
    let shell = "printf '{\"stack\": {\"value\": \"up\", \"sensitive\": false}}' > \"$TERRACE_OUTPUT_FILE\"";
    let s = start_with(fixture_of(&format!("image: {image}"), shell), 0);
    let request = s.start_event();
    let pod = s.pod();
    assert_eq!(
        pod.command,
        ["/terrace-tools/terrace", "attempt-wrap", "--", "/bin/sh", "-c"],
        "the image's ENTRYPOINT"
    );
    assert_eq!(pod.args, [shell], "the event's command in place of its CMD");
    let (code, stdout, stderr) = s.run_pod(&pod);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    s.end_pod(&pod);
    let done = s.api.wait_request(&request, Duration::from_secs(120));
    assert_eq!(done["state"], "succeeded", "{done}\n{}", s.server.log());
    let env = s.api.ok("GET", "/projects/shop/environments/dev", None);
    let stack = env["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "stack").cloned();
    assert_eq!(stack.expect("the uploaded output")["value"], "up", "{env}");
}
