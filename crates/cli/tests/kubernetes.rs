//! `executor: kubernetes` through the real binary, against the recording fake of the
//! Kubernetes API server of crates/exec's tests: a recording, not a cluster (nothing of
//! Kubernetes runs on this machine). The binary finds it the way it finds a real cluster,
//! through `KUBECONFIG`; the test checks what the run recorded and what was sent.

#[path = "common/mod.rs"]
mod common;
#[path = "../../exec/tests/kubernetes/fake.rs"]
#[allow(dead_code)]
mod fake;

use std::time::{Duration, Instant};

use common::TestProject;
use fake::{FAKE_DIGEST, FakeCluster, Script};

const SECRET: &str = "s3cr3t-db-password-77";
const OUTPUT: &str = r#"{"endpoint":{"value":"db.internal:5432","sensitive":false}}"#;

fn kubeconfig(p: &TestProject, server: &str) -> std::path::PathBuf {
    let path = p.root().join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\nusers:\n- name: t\n  \
         user:\n    token: fake-token\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: t\n    \
         namespace: from-context\ncurrent-context: fake\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_job_runs_as_a_kubernetes_job_and_its_outputs_and_masked_log_are_recorded() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeCluster::start());
    fake.script(Script {
        log: format!("migrating with {SECRET}\n"),
        message: Some(OUTPUT.into()),
        ..Script::default()
    });
    let p = TestProject::new(&format!(
        "project: shop
executor: kubernetes
environments:
  dev: {{}}
jobs:
  db:
    image: registry.example/db-migrate:3
    entrypoint: [/bin/sh, -c]
    events: [start]
    commands: {{start: ['echo \"migrating with $DB_PASSWORD\"; printf %s ''{OUTPUT}'' > \"$TERRACE_OUTPUT_FILE\"']}}
    resources: {{cpu: 500m, memory: 128Mi}}
    max_duration: 10m
    variables:
      DB_PASSWORD: {{value: {SECRET}, secret: true}}
"
    ));
    let config = kubeconfig(&p, &fake.url);
    let out = p.run_with(&["up", "dev", "--json"], |c| {
        c.env("KUBECONFIG", &config).env("TERRACE_KUBERNETES_NAMESPACE", "jobs");
    });
    let out = out.ok().json();
    let db = TestProject::job_in(&out, "db");
    assert_eq!(db["state"], "succeeded", "{out:#}");
    let log = p.log(db["run_id"].as_str().unwrap());
    assert!(log.contains("migrating with ***") && !log.contains(SECRET), "{log}");
    let outputs = p.json(&["outputs", "dev"]);
    let endpoint = outputs.as_array().unwrap().iter().find(|o| o["name"] == "endpoint").expect("endpoint");
    assert_eq!(endpoint["value"], "db.internal:5432", "{outputs:#}");
    // The image the pod ran, as its status said (imageID), not only the reference asked for.
    let run = &p.runs_of("db")[0];
    assert_eq!(run["image"], format!("registry.example/db-migrate@{FAKE_DIGEST}"), "{run:#}");

    let requests = fake.requests();
    let job =
        &requests.iter().find(|r| r.method == "POST" && r.path == "/apis/batch/v1/namespaces/jobs/jobs").unwrap().body;
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example/db-migrate:3");
    assert_eq!(c["command"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["resources"]["limits"], serde_json::json!({"cpu": "500m", "memory": "128Mi"}));
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 600);
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert!(!job.to_string().contains(SECRET), "no secret in the Job: {job}");
    let secret = &requests.iter().find(|r| r.method == "POST" && r.path.ends_with("/secrets")).unwrap().body;
    use base64::Engine as _;
    assert_eq!(secret["data"]["DB_PASSWORD"], base64::engine::general_purpose::STANDARD.encode(SECRET));
    assert!(requests.iter().any(|r| r.method == "DELETE" && r.path.contains("/jobs/")));
    assert_eq!(fake.objects(), (vec![], vec![]), "the Job and its Secret are gone");
}

#[test]
fn a_job_that_needs_an_image_built_says_to_push_one() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeCluster::start());
    let p = TestProject::new(
        "project: shop\nexecutor: kubernetes\nenvironments:\n  dev: {}\njobs:\n  db:\n    dockerfile: Dockerfile\n    \
         events: [start]\n    commands: {start: [migrate]}\n",
    );
    p.write("Dockerfile", "FROM scratch\n");
    let config = kubeconfig(&p, &fake.url);
    let out = p.run_with(&["up", "dev", "--json"], |c| {
        c.env("KUBECONFIG", &config);
    });
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("push it to a registry the cluster can reach"), "{text}");
    assert!(fake.requests().iter().all(|r| r.method != "POST"), "nothing was created");
}

#[test]
fn a_job_still_running_when_terrace_is_killed_is_followed_to_its_end_not_run_again() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeCluster::start());
    fake.script(Script { log: "working\n".into(), message: Some(OUTPUT.into()), hold: true, ..Script::default() });
    let p = TestProject::new(&format!(
        "project: shop
executor: kubernetes
environments:
  dev: {{}}
jobs:
  db:
    image: registry.example/db-migrate:3
    entrypoint: [/bin/sh, -c]
    events: [start]
    commands: {{start: ['echo working; sleep 30; printf %s ''{OUTPUT}'' > \"$TERRACE_OUTPUT_FILE\"']}}
"
    ));
    let config = kubeconfig(&p, &fake.url);
    let quiet = |c: &mut std::process::Command| {
        c.env("KUBECONFIG", &config).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    };
    let mut up = p.command(&["up", "dev"]);
    quiet(&mut up);
    let mut up = up.spawn().unwrap();
    // Killed once its log line is stored: the step's handle was recorded before (the
    // store's writes are in order, and the handle's is made before the log is asked for).
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        assert!(Instant::now() < deadline, "the job never ran");
        let runs = p.json(&["runs"]);
        if let Some(id) = runs.as_array().unwrap().first().map(|r| r["id"].as_str().unwrap().to_string())
            && p.log(&id).contains("working")
        {
            break id;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    up.kill().unwrap();
    up.wait().unwrap();

    // The next command finds the holder dead and follows the Job, which still runs.
    let mut next = p.command(&["runs", "--json"]);
    quiet(&mut next);
    let mut next = next.spawn().unwrap();
    rt.block_on(fake.wait_until(|all| all.iter().filter(|r| r.query.contains_key("watch")).count() == 2));
    let (jobs, _) = fake.objects();
    fake.finish(&jobs[0]);
    assert!(next.wait().unwrap().success());

    let runs = p.json(&["runs"]);
    assert_eq!(runs[0]["id"], run);
    assert_eq!(runs[0]["state"], "succeeded", "{runs:#}");
    let log = p.log(&run);
    assert!(log.contains("re-attached after its holder stopped"), "{log}");
    let outputs = p.json(&["outputs", "dev"]);
    assert_eq!(outputs[0]["value"], "db.internal:5432", "{outputs:#}");
    let requests = fake.requests();
    assert_eq!(requests.iter().filter(|r| r.method == "POST" && r.path.ends_with("/jobs")).count(), 1, "not run again");
    assert_eq!(fake.objects(), (vec![], vec![]), "removed at its end");
}
