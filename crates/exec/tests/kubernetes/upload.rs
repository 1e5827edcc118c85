//! Outputs by upload, against the fake: the executor opens a ticket per step (here an
//! inbox in memory; the server's keeps them in its store), wraps the job's program with
//! the helper image's `terrace`, gives the pod the URL and token through the step's
//! Secret only, and writes what was uploaded where Terrace reads output files. The pod's
//! upload is played by the test with the token the Secret carried (crates/cli's
//! `server/kubernetes_outputs.rs` runs the real wrapper against a real server).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use terrace_exec::kubernetes::upload::{ImageCommand, ImageCommands, OutputInbox, Ticket, Uploads};
use terrace_exec::{ExecError, Executor, ExitStatus};

use super::fake::Script;
use super::*;

/// One ticket: (run, attempt, token, upload).
type Held = (String, u32, String, Option<Vec<u8>>);

/// Tickets by id.
#[derive(Default)]
struct MemoryInbox {
    tickets: Mutex<BTreeMap<String, Held>>,
    opened: Mutex<u32>,
}

impl MemoryInbox {
    /// What the server's endpoint does for a pod: keeps the file of the ticket with `token`.
    fn upload(&self, token: &str, bytes: &[u8]) -> bool {
        let mut tickets = self.tickets.lock().unwrap();
        match tickets.values_mut().find(|t| t.2 == token && t.3.is_none()) {
            Some(t) => {
                t.3 = Some(bytes.to_vec());
                true
            }
            None => false,
        }
    }

    fn open_tickets(&self) -> usize {
        self.tickets.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl OutputInbox for MemoryInbox {
    async fn open(&self, run: &str, attempt: u32, valid_for: Duration) -> Result<Ticket, ExecError> {
        assert!(valid_for >= Duration::from_secs(300), "at least the step's max_duration: {valid_for:?}");
        let mut n = self.opened.lock().unwrap();
        *n += 1;
        let (id, token) = (format!("ticket-{n}"), format!("upload-token-{n}-0123456789"));
        self.tickets.lock().unwrap().insert(id.clone(), (run.into(), attempt, token.clone(), None));
        Ok(Ticket { id, url: format!("http://terrace.example/api/v1/runs/{run}/attempts/{attempt}/output"), token })
    }

    async fn take(&self, id: &str) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(self.tickets.lock().unwrap().remove(id).and_then(|t| t.3))
    }

    async fn close_run(&self, run: &str) {
        self.tickets.lock().unwrap().retain(|_, t| t.0 != run);
    }
}

/// Images' own commands, as a registry would give them (crates/registry's tests read them
/// from a real one); unknown images are an error.
struct KnownImages;

#[async_trait::async_trait]
impl ImageCommands for KnownImages {
    async fn command(&self, image: &str) -> Result<ImageCommand, String> {
        match image {
            "registry.example/cfn:1" => {
                Ok(ImageCommand { entrypoint: vec!["/entrypoint.sh".into()], cmd: vec!["debug".into()] })
            }
            _ => Err(format!("manifest {image} does not exist")),
        }
    }
}

fn executor(cluster: &Cluster, inbox: &Arc<MemoryInbox>) -> terrace_exec::KubernetesExecutor {
    let uploads =
        Uploads { inbox: inbox.clone(), helper_image: "registry.example/terrace-helper:1".into(), images: None };
    cluster.executor().with_uploads(uploads)
}

fn executor_reading_images(cluster: &Cluster, inbox: &Arc<MemoryInbox>) -> terrace_exec::KubernetesExecutor {
    let uploads = Uploads {
        inbox: inbox.clone(),
        helper_image: "registry.example/terrace-helper:1".into(),
        images: Some(Arc::new(KnownImages)),
    };
    cluster.executor().with_uploads(uploads)
}

fn wrapped_step(files: &Files, shell: &str) -> StepSpec {
    let mut s = step(files, shell);
    s.container.entrypoint = Some(vec!["/bin/sh".into(), "-c".into()]);
    s.argv = vec![shell.into()];
    s
}

/// The step's Secret's values, decoded.
fn secret_values(fake: &FakeCluster) -> BTreeMap<String, String> {
    let requests = fake.requests();
    let secret = &find(&requests, "POST", "/secrets")[0].body;
    secret["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
            (k.clone(), String::from_utf8(bytes).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn the_pods_upload_becomes_the_output_file_and_its_ticket_is_closed() {
    let cluster = Cluster::start().await;
    // The real-cluster run needs a server the pod reaches: crates/cli's tests cover it.
    let Some(fake) = &cluster.fake else { return };
    let inbox = Arc::new(MemoryInbox::default());
    let output = r#"{"url":{"value":"https://app.example","sensitive":false}}"#;
    fake.script(Script { hold: true, log: "token upload-token-1-0123456789\n".into(), ..Script::default() });
    let files = Files::new();
    let (io, rx) = step_io();
    let shell = format!("printf '%s' '{output}' > \"$TERRACE_OUTPUT_FILE\"");
    let mut handle = executor(&cluster, &inbox).start(wrapped_step(&files, &shell), io).await.unwrap();
    let job = fake.wait_for(|r| r.method == "POST" && r.path.ends_with("/jobs")).await.body;

    let values = secret_values(fake);
    let token = values["TERRACE_OUTPUT_TOKEN"].clone();
    assert_eq!(
        values["TERRACE_OUTPUT_URL"],
        "http://terrace.example/api/v1/runs/0193f7e2-7c1a-7d3b-9a55-3e1f0c2b4d6e/attempts/1/output"
    );
    assert!(!job.to_string().contains(&token), "the token is in the Secret only: {job}");
    assert_eq!(job["metadata"]["annotations"]["terrace/output-ticket"], "ticket-1");
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(
        pod["initContainers"],
        json!([{
            "name": "terrace-tools",
            "image": "registry.example/terrace-helper:1",
            "command": ["/terrace", "attempt-wrap", "--copy-to", "/terrace-tools/terrace"],
            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
            "volumeMounts": [{"name": "terrace-tools", "mountPath": "/terrace-tools"}]
        }])
    );
    let c = &pod["containers"][0];
    assert_eq!(c["command"], json!(["/terrace-tools/terrace", "attempt-wrap", "--", "/bin/sh", "-c"]));
    assert_eq!(c["args"], json!([shell]));
    assert!(c.get("terminationMessagePath").is_none(), "no output in the pod's status: {c}");
    assert!(
        pod["volumes"].as_array().unwrap().iter().any(|v| v["name"] == "terrace-tools" && v["emptyDir"].is_object())
    );

    // The pod's wrapper sends the file; then the pod ends.
    assert!(inbox.upload(&token, output.as_bytes()));
    assert!(!inbox.upload(&token, b"{}"), "one upload per ticket");
    fake.finish(job["metadata"]["name"].as_str().unwrap());
    assert_eq!(wait(&mut handle).await.status, ExitStatus::Exited(0));
    drop(handle);
    assert_eq!(std::fs::read_to_string(files.output()).unwrap(), output);
    assert_eq!(inbox.open_tickets(), 0, "the ticket is closed: its token is refused from now on");
    assert_eq!(log_of(rx).await, "token ***\n", "the token is masked like a secret");
    assert_eq!(fake.objects(), (vec![], vec![]));
}

#[tokio::test]
async fn a_job_found_again_after_a_restart_takes_its_upload_by_the_ticket_on_the_job() {
    let cluster = Cluster::start().await;
    let Some(fake) = &cluster.fake else { return };
    let inbox = Arc::new(MemoryInbox::default());
    fake.script(Script { hold: true, ..Script::default() });
    let files = Files::new();
    let (io, _rx) = step_io();
    let handle = executor(&cluster, &inbox).start(wrapped_step(&files, "sleep 5"), io).await.unwrap();
    let id = handle.id().to_string();
    std::mem::forget(handle);
    let mut attached = executor(&cluster, &inbox).attach(&id).await.unwrap();
    let token = secret_values(fake)["TERRACE_OUTPUT_TOKEN"].clone();
    assert!(inbox.upload(&token, br#"{"done":{"value":"yes"}}"#));
    fake.wait_until(|all| all.iter().filter(|r| r.query.contains_key("watch")).count() == 2).await;
    fake.finish(id.split_once('/').unwrap().1);
    assert_eq!(wait(&mut attached).await.status, ExitStatus::Exited(0));
    assert_eq!(std::fs::read_to_string(files.output()).unwrap(), r#"{"done":{"value":"yes"}}"#);
    assert_eq!(inbox.open_tickets(), 0);
}

#[tokio::test]
async fn without_an_entrypoint_the_outputs_come_back_as_the_termination_message_and_the_log_says_so() {
    let cluster = Cluster::start().await;
    let Some(fake) = &cluster.fake else { return };
    let inbox = Arc::new(MemoryInbox::default());
    fake.script(Script { message: Some(r#"{"a":{"value":"1"}}"#.into()), ..Script::default() });
    let files = Files::new();
    let (io, rx) = step_io();
    let mut handle = executor(&cluster, &inbox).start(step(&files, "true"), io).await.unwrap();
    assert_eq!(wait(&mut handle).await.status, ExitStatus::Exited(0));
    drop(handle);
    let log = log_of(rx).await;
    assert!(log.contains("the job sets no `entrypoint:`") && log.contains("set `entrypoint:`"), "{log}");
    assert_eq!(std::fs::read_to_string(files.output()).unwrap(), r#"{"a":{"value":"1"}}"#);
    let requests = fake.requests();
    let c = &find(&requests, "POST", "/jobs")[0].body["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["terminationMessagePath"], "/terrace-output/output.json");
    assert!(!secret_values(fake).contains_key("TERRACE_OUTPUT_TOKEN"));
    assert_eq!(*inbox.opened.lock().unwrap(), 0, "no ticket opened");
}

#[tokio::test]
async fn a_cancelled_step_and_a_sweep_close_their_tickets() {
    let cluster = Cluster::start().await;
    let Some(fake) = &cluster.fake else { return };
    let inbox = Arc::new(MemoryInbox::default());
    fake.script(Script { hold: true, ..Script::default() });
    let files = Files::new();
    let (io, _rx) = step_io();
    let cancel = io.cancel.clone();
    let mut handle = executor(&cluster, &inbox).start(wrapped_step(&files, "sleep 3600"), io).await.unwrap();
    fake.wait_for(|r| r.path.ends_with("/log")).await;
    cancel.cancel();
    assert_eq!(wait(&mut handle).await.status, ExitStatus::Cancelled);
    assert_eq!(inbox.open_tickets(), 0);

    let (io, _rx) = step_io();
    let handle = executor(&cluster, &inbox).start(wrapped_step(&files, "sleep 3600"), io).await.unwrap();
    std::mem::forget(handle);
    assert_eq!(inbox.open_tickets(), 1);
    executor(&cluster, &inbox).sweep("0193f7e2-7c1a-7d3b-9a55-3e1f0c2b4d6e").await;
    assert_eq!(inbox.open_tickets(), 0);
}

#[tokio::test]
async fn without_an_entrypoint_the_images_own_command_is_wrapped_with_the_steps_arguments() {
    let cluster = Cluster::start().await;
    let Some(fake) = &cluster.fake else { return };
    let inbox = Arc::new(MemoryInbox::default());
    fake.script(Script::default());
    let files = Files::new();
    // A seed-shaped image: its ENTRYPOINT takes the event as its first argument.
    let mut s = step(&files, "unused");
    s.image = Some("registry.example/cfn:1".into());
    s.argv = vec!["start".into()];
    let (io, _rx) = step_io();
    let mut handle = executor_reading_images(&cluster, &inbox).start(s, io).await.unwrap();
    assert_eq!(wait(&mut handle).await.status, ExitStatus::Exited(0));
    drop(handle);
    let requests = fake.requests();
    let c = &find(&requests, "POST", "/jobs")[0].body["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"], json!(["/terrace-tools/terrace", "attempt-wrap", "--", "/entrypoint.sh"]));
    assert_eq!(c["args"], json!(["start"]), "the step's arguments in place of the image's CMD");

    // An image whose command cannot be read: the termination message, and the log says why.
    let mut s = step(&files, "true");
    s.image = Some("registry.example/missing:1".into());
    let (io, rx) = step_io();
    let mut handle = executor_reading_images(&cluster, &inbox).start(s, io).await.unwrap();
    assert_eq!(wait(&mut handle).await.status, ExitStatus::Exited(0));
    drop(handle);
    let log = log_of(rx).await;
    assert!(log.contains("the command of image `registry.example/missing:1` cannot be read (manifest"), "{log}");
    let requests = fake.requests();
    let c = &find(&requests, "POST", "/jobs")[1].body["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["terminationMessagePath"], "/terrace-output/output.json");
}
