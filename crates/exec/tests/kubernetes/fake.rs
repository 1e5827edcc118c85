//! A recording fake of the Kubernetes API server, on 127.0.0.1. It is NOT a cluster: it
//! runs no container. It answers the requests the kubernetes executor makes with the
//! object shapes the Kubernetes API documents (Secret, Job, Pod, Status, and watch
//! events as newline-separated JSON), plays each Job's pod through the life a `Script`
//! describes (the test builds the step's real command from the same values, so the same
//! test runs against a real cluster), and records every request (method, path, query,
//! body) so a test can assert the exact shapes sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Value,
}

/// What the next Jobs' pods do.
#[derive(Clone, Debug)]
pub struct Script {
    /// What the container prints.
    pub log: String,
    pub exit_code: i32,
    /// The container's termination reason (`Completed`, `Error`, `OOMKilled`).
    pub reason: String,
    /// What the container left in its termination message file.
    pub message: Option<String>,
    /// Runs until its Job is deleted, or `FakeCluster::finish`.
    pub hold: bool,
    /// Never starts: the container waits for this reason (`ErrImagePull`) and message.
    pub waiting: Option<(String, String)>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            log: String::new(),
            exit_code: 0,
            reason: "Completed".into(),
            message: None,
            hold: false,
            waiting: None,
        }
    }
}

/// One Job's pod: its current object (None once deleted) and its log.
struct PodSim {
    name: String,
    object: watch::Sender<Option<Value>>,
    log: String,
    script: Script,
}

#[derive(Default)]
struct Objects {
    secrets: BTreeMap<String, Value>,
    jobs: BTreeMap<String, Value>,
    pods: BTreeMap<String, Arc<PodSim>>,
    version: u64,
}

#[derive(Default)]
struct State {
    recorded: Mutex<Vec<Recorded>>,
    changed: Notify,
    script: Mutex<Script>,
    objects: Mutex<Objects>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fake, listening until dropped.
pub struct FakeCluster {
    pub url: String,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeCluster {
    pub async fn start() -> FakeCluster {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let state = shared.clone();
            async move { handle(&state, method, uri, body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCluster { url, state, server }
    }

    /// What the pods of the Jobs created from now on do.
    pub fn script(&self, script: Script) {
        *lock(&self.state.script) = script;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.recorded).clone()
    }

    /// Waits (at most a minute) until a recorded request satisfies `what`.
    pub async fn wait_for(&self, what: impl Fn(&Recorded) -> bool) -> Recorded {
        self.wait_until(|all| all.iter().any(&what)).await;
        self.requests().into_iter().find(what).expect("seen")
    }

    /// Waits (at most a minute) until the requests recorded so far satisfy `what`.
    pub async fn wait_until(&self, what: impl Fn(&[Recorded]) -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let notified = self.state.changed.notified();
                if what(&lock(&self.state.recorded)) {
                    return;
                }
                notified.await;
            }
        });
        if waited.await.is_err() {
            panic!("the requests did not come in a minute; got {:#?}", self.requests());
        }
    }

    /// Ends a held pod as its script says.
    pub fn finish(&self, job: &str) {
        let pod = lock(&self.state.objects).pods.get(job).cloned().expect("a pod for the job");
        terminate(&self.state, &pod, pod.script.exit_code, &pod.script.reason, pod.script.message.clone());
    }

    /// The names of the Jobs and Secrets that exist now.
    pub fn objects(&self) -> (Vec<String>, Vec<String>) {
        let o = lock(&self.state.objects);
        (o.jobs.keys().cloned().collect(), o.secrets.keys().cloned().collect())
    }
}

fn handle(state: &Arc<State>, method: Method, uri: Uri, body: Bytes) -> Response {
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('=').map(|(k, v)| (k.to_string(), decode(v))))
        .collect();
    let body_json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    lock(&state.recorded).push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: body_json.clone(),
    });
    state.changed.notify_waiters();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["api", "v1", "namespaces", ns, "secrets"]) => create_secret(state, ns, body_json),
        ("DELETE", ["api", "v1", "namespaces", _, "secrets", name]) => delete_secret(state, name),
        ("GET", ["api", "v1", "namespaces", _, "secrets"]) => list(state, "SecretList", "v1", &query, |o| &o.secrets),
        ("POST", ["apis", "batch", "v1", "namespaces", ns, "jobs"]) => create_job(state, ns, body_json),
        ("GET", ["apis", "batch", "v1", "namespaces", _, "jobs"]) => {
            list(state, "JobList", "batch/v1", &query, |o| &o.jobs)
        }
        ("GET", ["apis", "batch", "v1", "namespaces", _, "jobs", name]) => match lock(&state.objects).jobs.get(*name) {
            Some(job) => answer(StatusCode::OK, job.clone()),
            None => not_found("jobs.batch", name),
        },
        ("DELETE", ["apis", "batch", "v1", "namespaces", _, "jobs", name]) => delete_job(state, name),
        ("GET", ["api", "v1", "namespaces", _, "pods"]) if query.get("watch").map(String::as_str) == Some("true") => {
            watch_pods(state, &query)
        }
        ("GET", ["api", "v1", "namespaces", _, "pods", name, "log"]) => follow_log(state, name),
        _ => answer(
            StatusCode::NOT_FOUND,
            status_object(404, "NotFound", &format!("the fake has no route {method} {path}")),
        ),
    }
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn answer(code: StatusCode, body: Value) -> Response {
    (code, [("content-type", "application/json")], body.to_string()).into_response()
}

fn status_object(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": if code < 400 { "Success" } else { "Failure" },
           "message": message, "reason": reason, "code": code})
}

fn not_found(kind: &str, name: &str) -> Response {
    answer(StatusCode::NOT_FOUND, status_object(404, "NotFound", &format!("{kind} \"{name}\" not found")))
}

fn stamp(o: &mut Objects, object: &mut Value, ns: &str) {
    o.version += 1;
    let meta = &mut object["metadata"];
    meta["namespace"] = json!(ns);
    meta["resourceVersion"] = json!(o.version.to_string());
    meta["uid"] = json!(format!("00000000-0000-0000-0000-{:012}", o.version));
    meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
}

fn create_secret(state: &Arc<State>, ns: &str, mut secret: Value) -> Response {
    let name = secret["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let mut o = lock(&state.objects);
    if o.secrets.contains_key(&name) {
        return answer(
            StatusCode::CONFLICT,
            status_object(409, "AlreadyExists", &format!("secrets \"{name}\" already exists")),
        );
    }
    stamp(&mut o, &mut secret, ns);
    o.secrets.insert(name, secret.clone());
    answer(StatusCode::CREATED, secret)
}

fn delete_secret(state: &Arc<State>, name: &str) -> Response {
    match lock(&state.objects).secrets.remove(name) {
        Some(_) => answer(
            StatusCode::OK,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                                 "details": {"name": name, "kind": "secrets"}}),
        ),
        None => not_found("secrets", name),
    }
}

fn list(
    state: &Arc<State>,
    kind: &str,
    api_version: &str,
    query: &BTreeMap<String, String>,
    of: impl Fn(&Objects) -> &BTreeMap<String, Value>,
) -> Response {
    let o = lock(&state.objects);
    let items: Vec<Value> = of(&o).values().filter(|v| selected(v, query)).cloned().collect();
    answer(
        StatusCode::OK,
        json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": o.version.to_string()}, "items": items}),
    )
}

/// Whether an object matches the query's `labelSelector` (`key=value`, comma-separated).
fn selected(object: &Value, query: &BTreeMap<String, String>) -> bool {
    let Some(selector) = query.get("labelSelector") else { return true };
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k].as_str() == Some(v),
        None => false,
    })
}

fn create_job(state: &Arc<State>, ns: &str, mut job: Value) -> Response {
    let name = job["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let script = lock(&state.script).clone();
    let mut o = lock(&state.objects);
    stamp(&mut o, &mut job, ns);
    job["status"] = json!({"active": 1, "startTime": "2026-01-01T00:00:00Z"});
    o.jobs.insert(name.clone(), job.clone());
    // The Job controller makes the pod from the template, with its own labels added.
    let template = &job["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    labels["batch.kubernetes.io/job-name"] = json!(name);
    labels["job-name"] = json!(name);
    let pod_name = format!("{name}-x7k2p");
    let container = &template["spec"]["containers"][0];
    let waiting = match &script.waiting {
        Some((reason, message)) => json!({"reason": reason, "message": message}),
        None => json!({"reason": "ContainerCreating"}),
    };
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "labels": labels,
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job["metadata"]["uid"], "controller": true}]},
        "spec": template["spec"].clone(),
        "status": {"phase": "Pending", "containerStatuses": [
            {"name": container["name"], "image": container["image"], "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": waiting}}]}
    });
    stamp(&mut o, &mut pod, ns);
    let (tx, _) = watch::channel(Some(pod));
    let sim = Arc::new(PodSim { name: pod_name, object: tx, log: script.log.clone(), script: script.clone() });
    o.pods.insert(name, sim.clone());
    drop(o);
    if script.waiting.is_none() {
        set_state(state, &sim, "Running", json!({"running": {"startedAt": "2026-01-01T00:00:01Z"}}));
        if !script.hold {
            terminate(state, &sim, script.exit_code, &script.reason, script.message.clone());
        }
    }
    state.changed.notify_waiters();
    answer(StatusCode::CREATED, job)
}

/// The digest the fake kubelet says an image resolved to.
pub const FAKE_DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn set_state(state: &Arc<State>, sim: &PodSim, phase: &str, container_state: Value) {
    let mut o = lock(&state.objects);
    let Some(mut pod) = sim.object.borrow().clone() else { return };
    pod["status"]["phase"] = json!(phase);
    pod["status"]["containerStatuses"][0]["state"] = container_state;
    // The kubelet fills imageID in once it started the container: what the image resolved to.
    if phase != "Pending" && pod["status"]["containerStatuses"][0]["imageID"] == "" {
        let image = pod["status"]["containerStatuses"][0]["image"].as_str().unwrap_or_default().to_string();
        let name = image.split('@').next().unwrap_or_default();
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let name = name[last_slash..].rfind(':').map_or(name, |i| &name[..last_slash + i]);
        pod["status"]["containerStatuses"][0]["imageID"] = json!(format!("docker-pullable://{name}@{FAKE_DIGEST}"));
    }
    o.version += 1;
    pod["metadata"]["resourceVersion"] = json!(o.version.to_string());
    sim.object.send_replace(Some(pod));
}

/// The container ends: the pod's status says how; the Job's conditions follow.
fn terminate(state: &Arc<State>, sim: &PodSim, exit_code: i32, reason: &str, message: Option<String>) {
    let phase = if exit_code == 0 { "Succeeded" } else { "Failed" };
    let mut terminated = json!({"exitCode": exit_code, "reason": reason, "startedAt": "2026-01-01T00:00:01Z", "finishedAt": "2026-01-01T00:00:02Z"});
    if let Some(m) = message {
        terminated["message"] = json!(m);
    }
    set_state(state, sim, phase, json!({"terminated": terminated}));
    let mut o = lock(&state.objects);
    let job = sim.name.rsplit_once('-').map(|(j, _)| j.to_string()).unwrap_or_default();
    if let Some(j) = o.jobs.get_mut(&job) {
        let (kind, why) = if exit_code == 0 { ("Complete", None) } else { ("Failed", Some("BackoffLimitExceeded")) };
        j["status"] = json!({"conditions": [{"type": kind, "status": "True", "reason": why}],
                             "succeeded": (exit_code == 0) as i32, "failed": (exit_code != 0) as i32});
    }
    drop(o);
    state.changed.notify_waiters();
}

fn delete_job(state: &Arc<State>, name: &str) -> Response {
    let mut o = lock(&state.objects);
    let Some(mut job) = o.jobs.remove(name) else { return not_found("jobs.batch", name) };
    let pod = o.pods.remove(name);
    drop(o);
    // Foreground: the answer is the Job, marked for deletion until its pods are gone.
    job["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:03Z");
    job["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
    if let Some(pod) = pod {
        let running = pod
            .object
            .borrow()
            .as_ref()
            .is_some_and(|p| p["status"]["containerStatuses"][0]["state"]["terminated"].is_null());
        if running {
            terminate(state, &pod, 143, "Error", None);
        }
        pod.object.send_replace(None);
    }
    state.changed.notify_waiters();
    answer(StatusCode::OK, job)
}

/// The pods of one Job (the selector names it), as watch events: ADDED for the pod as it
/// is now, MODIFIED for each change, DELETED at its end.
fn watch_pods(state: &Arc<State>, query: &BTreeMap<String, String>) -> Response {
    let job = query.get("labelSelector").and_then(|s| s.strip_prefix("terrace/job=")).unwrap_or_default().to_string();
    let Some(sim) = lock(&state.objects).pods.get(&job).cloned() else {
        return (StatusCode::OK, [("content-type", "application/json")], Body::empty()).into_response();
    };
    let mut rx = sim.object.subscribe();
    let stream = async_stream(move |tx| async move {
        let mut last: Option<Value> = None;
        let mut first = true;
        loop {
            let now = rx.borrow_and_update().clone();
            match now {
                Some(pod) => {
                    let kind = if first { "ADDED" } else { "MODIFIED" };
                    first = false;
                    if tx.send(json!({"type": kind, "object": pod}).to_string() + "\n").await.is_err() {
                        return;
                    }
                    last = Some(pod);
                }
                None => {
                    if let Some(pod) = last.take() {
                        let _ = tx.send(json!({"type": "DELETED", "object": pod}).to_string() + "\n").await;
                    }
                    // A real watch stays open; this one has nothing more to say.
                    std::future::pending::<()>().await;
                }
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    });
    (StatusCode::OK, [("content-type", "application/json")], stream).into_response()
}

/// The container's log: what it printed, then (`follow`) open until it ends.
fn follow_log(state: &Arc<State>, pod_name: &str) -> Response {
    let sim = lock(&state.objects).pods.values().find(|p| p.name == pod_name).cloned();
    let Some(sim) = sim else { return not_found("pods", pod_name) };
    let mut rx = sim.object.subscribe();
    let log = sim.log.clone();
    let stream = async_stream(move |tx| async move {
        if tx.send(log).await.is_err() {
            return;
        }
        loop {
            let ended = match &*rx.borrow_and_update() {
                Some(p) => !p["status"]["containerStatuses"][0]["state"]["terminated"].is_null(),
                None => true,
            };
            if ended || rx.changed().await.is_err() {
                return;
            }
        }
    });
    (StatusCode::OK, [("content-type", "text/plain")], stream).into_response()
}

/// A streaming body fed by a task through a channel.
fn async_stream<F, Fut>(produce: F) -> Body
where
    F: FnOnce(tokio::sync::mpsc::Sender<String>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(16);
    tokio::spawn(produce(tx));
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(Ok::<_, std::io::Error>)));
    Body::from_stream(stream)
}
