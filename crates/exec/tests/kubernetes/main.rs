//! The kubernetes executor against a recording fake of the Kubernetes API server
//! (`fake.rs`): a recording, not a cluster. No container runs; the fake answers with the
//! shapes the API documents and plays each pod's life from a `Script` built from the
//! same values as the step's real command, and the tests assert the requests sent.
//!
//! With `TERRACE_TEST_KUBECONFIG=/path/to/kubeconfig` the same tests run against that
//! real cluster instead (kind or k3d, docs/kubernetes.md): the commands really run in
//! `busybox`, and only the assertions on the fake's recordings are skipped.

mod fake;
mod upload;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use fake::{FAKE_DIGEST, FakeCluster, Recorded, Script};
use serde_json::json;
use terrace_exec::{
    ExecEvent, ExecOutcome, Executor, ExitStatus, Handle, KubernetesExecutor, Limits, Resources, SecretSet, StepIo,
    StepSpec,
};
use tokio::sync::mpsc;

const IMAGE: &str = "busybox:1.36";
const NAMESPACE: &str = "terrace-test";

/// The cluster a test runs against: the fake (with its recordings), or a real one.
struct Cluster {
    fake: Option<FakeCluster>,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        if let Some(real) = std::env::var_os("TERRACE_TEST_KUBECONFIG") {
            return Cluster { fake: None, kubeconfig: real.into(), _dir: dir };
        }
        let fake = FakeCluster::start().await;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: \
                 tester\n  user:\n    token: fake-token\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    \
                 user: tester\n    namespace: {NAMESPACE}\ncurrent-context: fake\n",
                fake.url
            ),
        )
        .unwrap();
        Cluster { fake: Some(fake), kubeconfig, _dir: dir }
    }

    fn executor(&self) -> KubernetesExecutor {
        KubernetesExecutor::with_kubeconfig(&self.kubeconfig)
    }

    fn script(&self, script: Script) {
        if let Some(f) = &self.fake {
            f.script(script);
        }
    }
}

/// A step's files on Terrace's host.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::create_dir_all(dir.path().join("input")).unwrap();
        std::fs::create_dir_all(dir.path().join("output")).unwrap();
        std::fs::write(dir.path().join("input/params.json"), r#"{"size":"small"}"#).unwrap();
        Files { dir }
    }

    fn output(&self) -> PathBuf {
        self.dir.path().join("output/output.json")
    }
}

fn step(files: &Files, shell: &str) -> StepSpec {
    StepSpec {
        run: "0193f7e2-7c1a-7d3b-9a55-3e1f0c2b4d6e".into(),
        attempt: 1,
        argv: vec!["sh".into(), "-c".into(), shell.into()],
        image: Some(IMAGE.into()),
        container: Default::default(),
        workdir: files.dir.path().join("src"),
        input: Some(files.dir.path().join("input/params.json")),
        output_file: Some(files.output()),
        env: vec![("GREETING".into(), "hello".into()), ("API_KEY".into(), "s3cr3t-value".into())],
        resources: Resources { cpu: Some("250m".into()), memory: Some("64Mi".into()) },
        limits: Limits { max_duration: Some(Duration::from_secs(300)), kill_grace: Duration::from_secs(2) },
        capture_stdout: false,
        agent: None,
    }
}

/// The step's io, the secret masked, and the receiving end of its log.
fn step_io() -> (StepIo, mpsc::Receiver<ExecEvent>) {
    let secrets = SecretSet::new();
    secrets.add("s3cr3t-value");
    let (tx, rx) = mpsc::channel(64);
    (StepIo { secrets, events: tx, cancel: Default::default() }, rx)
}

/// Everything the log received, once the step is over.
async fn log_of(mut rx: mpsc::Receiver<ExecEvent>) -> String {
    let mut text = String::new();
    while let Some(ExecEvent::Lines(batch)) = rx.recv().await {
        text.push_str(batch.text());
    }
    text
}

async fn wait(handle: &mut Box<dyn Handle>) -> ExecOutcome {
    tokio::time::timeout(Duration::from_secs(120), handle.wait()).await.expect("the step ended in 2 minutes").unwrap()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn find<'a>(requests: &'a [Recorded], method: &str, path_end: &str) -> Vec<&'a Recorded> {
    requests.iter().filter(|r| r.method == method && r.path.ends_with(path_end)).collect()
}

#[tokio::test]
async fn a_step_runs_as_one_job_with_its_variables_in_a_secret_and_its_outputs_come_back() {
    let cluster = Cluster::start().await;
    let output = r#"{"url":{"value":"https://app.example","sensitive":false}}"#;
    let shell =
        format!("echo \"$GREETING from the pod, key $API_KEY\"; printf '%s' '{output}' > \"$TERRACE_OUTPUT_FILE\"");
    cluster.script(Script {
        log: "hello from the pod, key s3cr3t-value\n".into(),
        message: Some(output.into()),
        ..Script::default()
    });
    let files = Files::new();
    let (io, rx) = step_io();
    let mut handle = cluster.executor().start(step(&files, &shell), io).await.unwrap();
    let outcome = wait(&mut handle).await;
    // What the pod's status said the image resolved to (a real cluster: its own digest).
    let ran = handle.image_ran().expect("the pod's imageID");
    drop(handle);
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert!(ran.contains("busybox@sha256:") && !ran.contains("://"), "{ran}");
    let log = log_of(rx).await;
    assert_eq!(log, "hello from the pod, key ***\n", "the log is followed and masked");
    assert_eq!(std::fs::read_to_string(files.output()).unwrap(), output, "the termination message is the output file");

    let Some(fake) = &cluster.fake else { return };
    assert_eq!(ran, format!("busybox@{FAKE_DIGEST}"));
    let requests = fake.requests();
    // The environment: one Secret, values in base64, the files where the pod sees them.
    let secrets = find(&requests, "POST", &format!("/api/v1/namespaces/{NAMESPACE}/secrets"));
    assert_eq!(secrets.len(), 2, "{secrets:#?}");
    let env = &secrets[0].body;
    let env_name = env["metadata"]["name"].as_str().unwrap().to_string();
    assert!(env_name.starts_with("terrace-0193f7e2-7c1a-7d3b-9a55-3e1f0c2b4d6e-1-"), "{env_name}");
    assert_eq!(env["data"]["API_KEY"], b64("s3cr3t-value"));
    assert_eq!(env["data"]["GREETING"], b64("hello"));
    assert_eq!(env["data"]["TERRACE_OUTPUT_FILE"], b64("/terrace-output/output.json"));
    assert_eq!(env["data"]["TERRACE_JOB_INPUT"], b64("/data/input/params.json"));
    assert_eq!(env["metadata"]["labels"]["terrace/run"], "0193f7e2-7c1a-7d3b-9a55-3e1f0c2b4d6e");
    let input = &secrets[1].body;
    assert_eq!(input["data"]["params.json"], b64(r#"{"size":"small"}"#));

    // The Job: one run of the image, no retries of its own, the deadline and resources.
    let jobs = find(&requests, "POST", &format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs"));
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0].body;
    let job_name = job["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(job_name, env_name);
    assert_eq!((&job["apiVersion"], &job["kind"]), (&json!("batch/v1"), &json!("Job")));
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 300);
    assert_eq!(job["metadata"]["labels"]["terrace/attempt"], "1");
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["automountServiceAccountToken"], false);
    let c = &pod["containers"][0];
    assert_eq!(c["image"], IMAGE);
    assert_eq!(c["args"], json!(["sh", "-c", shell]));
    assert!(c.get("command").is_none(), "the image's entrypoint is kept: {c}");
    assert_eq!(c["envFrom"], json!([{"secretRef": {"name": env_name, "optional": false}}]));
    assert!(c.get("env").is_none() && !job.to_string().contains("s3cr3t-value"), "no value in the Job: {job}");
    assert_eq!(c["resources"]["requests"], json!({"cpu": "250m", "memory": "64Mi"}));
    assert_eq!(c["resources"]["limits"], json!({"cpu": "250m", "memory": "64Mi"}));
    assert_eq!(c["terminationMessagePath"], "/terrace-output/output.json");
    assert_eq!(pod["volumes"][1]["secret"]["secretName"], format!("{env_name}-input"));

    // Followed through a watch of its pod and its log, then removed with its Secrets.
    let watch = find(&requests, "GET", &format!("/api/v1/namespaces/{NAMESPACE}/pods"));
    assert_eq!(watch[0].query["watch"], "true");
    assert_eq!(watch[0].query["labelSelector"], format!("terrace/job={job_name}"));
    let log = find(&requests, "GET", "/log");
    assert_eq!(log[0].path, format!("/api/v1/namespaces/{NAMESPACE}/pods/{job_name}-x7k2p/log"));
    assert_eq!((log[0].query["follow"].as_str(), log[0].query["container"].as_str()), ("true", "job"));
    let deleted = find(&requests, "DELETE", &format!("/jobs/{job_name}"));
    assert_eq!(deleted[0].body["propagationPolicy"], "Foreground");
    assert_eq!(find(&requests, "DELETE", &format!("/secrets/{env_name}")).len(), 1);
    assert_eq!(find(&requests, "DELETE", &format!("/secrets/{env_name}-input")).len(), 1);
    assert_eq!(fake.objects(), (vec![], vec![]), "nothing is left in the cluster");
}

#[tokio::test]
async fn a_failing_job_gives_its_exit_code_and_one_killed_for_memory_says_so() {
    let cluster = Cluster::start().await;
    let files = Files::new();
    cluster.script(Script { log: "failing\n".into(), exit_code: 3, reason: "Error".into(), ..Script::default() });
    let (io, rx) = step_io();
    let mut handle = cluster.executor().start(step(&files, "echo failing; exit 3"), io).await.unwrap();
    assert_eq!(wait(&mut handle).await.status, ExitStatus::Exited(3));
    drop(handle);
    assert_eq!(log_of(rx).await, "failing\n");

    // A real cluster needs a program that outgrows its limit; `tail /dev/zero` does.
    cluster.script(Script { exit_code: 137, reason: "OOMKilled".into(), ..Script::default() });
    let (io, _rx) = step_io();
    let mut s = step(&files, "tail /dev/zero");
    s.resources.memory = Some("16Mi".into());
    let mut handle = cluster.executor().start(s, io).await.unwrap();
    assert_eq!(wait(&mut handle).await.status, ExitStatus::OutOfMemory);
}

#[tokio::test]
async fn cancelling_deletes_the_job_in_the_foreground() {
    let cluster = Cluster::start().await;
    let files = Files::new();
    cluster.script(Script { log: "working\n".into(), hold: true, ..Script::default() });
    let (io, rx) = step_io();
    let cancel = io.cancel.clone();
    let mut handle = cluster.executor().start(step(&files, "echo working; sleep 3600"), io).await.unwrap();
    match &cluster.fake {
        // Cancelled once its log is being followed: the pod runs.
        Some(fake) => drop(fake.wait_for(|r| r.path.ends_with("/log")).await),
        None => drop(tokio::time::timeout(Duration::from_secs(120), wait_for_line(rx)).await),
    }
    cancel.cancel();
    assert_eq!(wait(&mut handle).await.status, ExitStatus::Cancelled);
    let Some(fake) = &cluster.fake else { return };
    let name = handle.id().split_once('/').unwrap().1.to_string();
    let deleted = find(&fake.requests(), "DELETE", &format!("/jobs/{name}")).into_iter().next().cloned().unwrap();
    assert_eq!(deleted.body, json!({"propagationPolicy": "Foreground"}));
    assert_eq!(fake.objects(), (vec![], vec![]));
}

/// Until the first log line (a real cluster's pod is running).
async fn wait_for_line(mut rx: mpsc::Receiver<ExecEvent>) {
    rx.recv().await;
}

#[tokio::test]
async fn max_duration_stops_the_job_as_timed_out() {
    let cluster = Cluster::start().await;
    let files = Files::new();
    cluster.script(Script { hold: true, ..Script::default() });
    let (io, _rx) = step_io();
    let mut s = step(&files, "sleep 3600");
    s.limits.max_duration = Some(Duration::from_secs(2));
    let mut handle = cluster.executor().start(s, io).await.unwrap();
    assert_eq!(wait(&mut handle).await.status, ExitStatus::TimedOut);
    let Some(fake) = &cluster.fake else { return };
    let requests = fake.requests();
    let job = &find(&requests, "POST", "/jobs")[0].body;
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 2);
    assert_eq!(fake.objects(), (vec![], vec![]));
}

#[tokio::test]
async fn an_image_the_cluster_cannot_pull_fails_naming_it_and_leaves_nothing() {
    let cluster = Cluster::start().await;
    let files = Files::new();
    cluster.script(Script {
        waiting: Some(("ErrImagePull".into(), "pull access denied for nowhere/missing".into())),
        ..Script::default()
    });
    let (io, _rx) = step_io();
    let mut s = step(&files, "true");
    s.image = Some("nowhere/missing:1".into());
    let mut handle = cluster.executor().start(s, io).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(120), handle.wait()).await.unwrap().unwrap_err().to_string();
    assert!(err.contains("image `nowhere/missing:1`") && err.contains("ErrImagePull"), "{err}");
    let Some(fake) = &cluster.fake else { return };
    assert_eq!(fake.objects(), (vec![], vec![]));
}

#[tokio::test]
async fn a_job_still_running_after_a_restart_is_followed_to_its_end_with_its_outputs() {
    let cluster = Cluster::start().await;
    let files = Files::new();
    let output = r#"{"done":{"value":"yes","sensitive":false}}"#;
    cluster.script(Script { hold: true, message: Some(output.into()), ..Script::default() });
    let (io, _rx) = step_io();
    let shell = format!("sleep 5; printf '%s' '{output}' > \"$TERRACE_OUTPUT_FILE\"");
    let handle = cluster.executor().start(step(&files, &shell), io).await.unwrap();
    let id = handle.id().to_string();
    // The process that started it dies: nothing of it runs any more, its handle is gone
    // without cleaning up (as after a kill -9).
    std::mem::forget(handle);

    let mut attached = cluster.executor().attach(&id).await.unwrap();
    if let Some(fake) = &cluster.fake {
        let job = id.split_once('/').unwrap().1;
        // Only once the new process watches the pod does the fake end it.
        fake.wait_until(|all| all.iter().filter(|r| r.query.contains_key("watch")).count() == 2).await;
        fake.finish(job);
    }
    let outcome = wait(&mut attached).await;
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(std::fs::read_to_string(files.output()).unwrap(), output, "outputs go where the Job says");
    assert!(cluster.executor().attach(&id).await.is_err(), "the Job is removed at its end");
    if let Some(fake) = &cluster.fake {
        assert_eq!(fake.objects(), (vec![], vec![]));
    }
}

#[tokio::test]
async fn a_sweep_removes_what_a_dead_run_left() {
    let cluster = Cluster::start().await;
    let files = Files::new();
    cluster.script(Script { hold: true, ..Script::default() });
    let (io, _rx) = step_io();
    let handle = cluster.executor().start(step(&files, "sleep 3600"), io).await.unwrap();
    std::mem::forget(handle);
    cluster.executor().sweep("0193f7e2-7c1a-7d3b-9a55-3e1f0c2b4d6e").await;
    let Some(fake) = &cluster.fake else { return };
    let requests = fake.requests();
    let listed = find(&requests, "GET", "/jobs");
    assert_eq!(listed[0].query["labelSelector"], "terrace/run=0193f7e2-7c1a-7d3b-9a55-3e1f0c2b4d6e");
    assert_eq!(fake.objects(), (vec![], vec![]));
}

#[tokio::test]
async fn cancelling_a_job_found_again_deletes_it_even_with_nobody_waiting() {
    let cluster = Cluster::start().await;
    let files = Files::new();
    cluster.script(Script { hold: true, ..Script::default() });
    let (io, _rx) = step_io();
    let handle = cluster.executor().start(step(&files, "sleep 3600"), io).await.unwrap();
    let id = handle.id().to_string();
    std::mem::forget(handle);
    // Recovery stopping an orphan: attach, cancel, drop.
    let attached = cluster.executor().attach(&id).await.unwrap();
    attached.cancel();
    drop(attached);
    let Some(fake) = &cluster.fake else { return };
    let name = id.split_once('/').unwrap().1.to_string();
    let deleted = fake.wait_for(|r| r.method == "DELETE" && r.path.ends_with(&format!("/jobs/{name}"))).await;
    assert_eq!(deleted.body["propagationPolicy"], "Foreground");
    fake.wait_for(|r| r.method == "DELETE" && r.path.ends_with(&format!("/secrets/{name}"))).await;
}

#[tokio::test]
async fn dropping_a_job_found_again_leaves_it_to_whoever_follows_it() {
    let cluster = Cluster::start().await;
    let files = Files::new();
    cluster.script(Script { hold: true, ..Script::default() });
    let (io, _rx) = step_io();
    let handle = cluster.executor().start(step(&files, "sleep 3600"), io).await.unwrap();
    let id = handle.id().to_string();
    std::mem::forget(handle);
    drop(cluster.executor().attach(&id).await.unwrap());
    // Found again once more: it still runs (the first finder did not delete it).
    let mut again = cluster.executor().attach(&id).await.unwrap();
    let Some(fake) = &cluster.fake else { return };
    assert!(fake.requests().iter().all(|r| r.method != "DELETE"), "{:#?}", fake.requests());
    fake.wait_until(|all| all.iter().filter(|r| r.query.contains_key("watch")).count() == 3).await;
    fake.finish(id.split_once('/').unwrap().1);
    assert_eq!(wait(&mut again).await.status, ExitStatus::Exited(0));
    let deletes = fake.requests().into_iter().filter(|r| r.method == "DELETE" && r.path.contains("/jobs/")).count();
    assert_eq!(deletes, 1, "deleted once, by the one that followed it to its end");
}
