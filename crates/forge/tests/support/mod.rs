//! A local stand-in for the GitHub and GitLab REST APIs on 127.0.0.1: it records every
//! request (method, raw path, query, headers, body) and answers as the real APIs do for
//! the calls Terrace makes (comments/notes with pagination, statuses, pull requests),
//! keeping comments in memory. Failures can be queued to test retries.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path as sent, percent-encoding kept.
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

/// A failure answered instead of the next request; `apply` still performs the request
/// first (an answer lost after the work was done).
pub struct Injected {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
    apply: bool,
    /// Only a request with this method gets it ("" for any).
    method: &'static str,
}

impl Injected {
    pub fn new(status: u16, message: &str) -> Injected {
        Injected { status, headers: Vec::new(), body: json!({ "message": message }), apply: false, method: "" }
    }

    pub fn header(mut self, name: &'static str, value: impl ToString) -> Injected {
        self.headers.push((name, value.to_string()));
        self
    }

    /// The request is carried out before the failure is answered.
    pub fn applied(mut self) -> Injected {
        self.apply = true;
        self
    }

    pub fn on(mut self, method: &'static str) -> Injected {
        self.method = method;
        self
    }
}

#[derive(Clone, Debug)]
pub struct Note {
    pub id: u64,
    pub body: String,
    pub author: String,
    pub system: bool,
}

pub struct State {
    kind: Kind,
    token: String,
    base: String,
    pub recorded: Vec<Recorded>,
    /// Comments per pull request number.
    pub comments: BTreeMap<u64, Vec<Note>>,
    /// Pull requests: number -> (state, merged).
    pub pulls: HashMap<u64, (&'static str, bool)>,
    /// GitLab: the state of each (sha, name) status.
    pub status_states: HashMap<(String, String), String>,
    pub inject: VecDeque<Injected>,
    /// The most items a page holds (the real APIs cap `per_page` at 100).
    pub page_size: usize,
    next_id: u64,
}

pub struct FakeApi {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeApi {
    pub async fn start(kind: Kind, token: &str) -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = match kind {
            Kind::GitHub => format!("http://{addr}"),
            Kind::GitLab => format!("http://{addr}/api/v4"),
        };
        let state = Arc::new(Mutex::new(State {
            kind,
            token: token.to_string(),
            base,
            recorded: Vec::new(),
            comments: BTreeMap::new(),
            pulls: HashMap::new(),
            status_states: HashMap::new(),
            inject: VecDeque::new(),
            page_size: 100,
            next_id: 1000,
        }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move { handle(&state, method, uri, headers, body) }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        FakeApi { addr, state, stop: Some(stop), task: Some(task) }
    }

    /// The base URL a client is given.
    pub fn base(&self) -> String {
        self.state.lock().unwrap().base.clone()
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().recorded.clone()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().recorded.clear();
    }

    pub fn inject(&self, injected: Injected) {
        self.state.lock().unwrap().inject.push_back(injected);
    }

    /// A comment by someone else on pull request `number`.
    pub fn seed_comment(&self, number: u64, body: &str, system: bool) {
        let mut state = self.state.lock().unwrap();
        let id = state.next_id;
        state.next_id += 1;
        state.comments.entry(number).or_default().push(Note { id, body: body.into(), author: "mona".into(), system });
    }

    pub fn comments(&self, number: u64) -> Vec<Note> {
        self.state.lock().unwrap().comments.get(&number).cloned().unwrap_or_default()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn handle(state: &Mutex<State>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = state.lock().unwrap();
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    state.recorded.push(recorded.clone());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {}", state.token)) {
        let message = if state.kind == Kind::GitHub { "Bad credentials" } else { "401 Unauthorized" };
        return answer(401, &[], json!({ "message": message }));
    }
    let matching = state.inject.iter().position(|i| i.method.is_empty() || i.method == recorded.method);
    if let Some(injected) = matching.and_then(|at| state.inject.remove(at)) {
        if injected.apply {
            route(&mut state, &recorded);
        }
        return answer(injected.status, &injected.headers, injected.body);
    }
    route(&mut state, &recorded)
}

fn answer(status: u16, headers: &[(&'static str, String)], body: Value) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(*name, value.parse().unwrap());
    }
    response
}

fn not_found() -> Response {
    answer(404, &[], json!({ "message": "Not Found" }))
}

fn route(state: &mut State, r: &Recorded) -> Response {
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let parts: &[&str] = match state.kind {
        Kind::GitHub => &parts,
        Kind::GitLab if parts.starts_with(&["api", "v4"]) => &parts[2..],
        Kind::GitLab => return not_found(),
    };
    let number = |s: &str| s.parse::<u64>().ok();
    match (state.kind, r.method.as_str(), parts) {
        (Kind::GitHub, "GET", ["repos", _, _, "issues", n, "comments"]) => list(state, number(n), r),
        (Kind::GitHub, "POST", ["repos", _, _, "issues", n, "comments"]) => create(state, number(n), r),
        (Kind::GitHub, "PATCH", ["repos", _, _, "issues", "comments", id]) => edit(state, number(id), r),
        (Kind::GitHub, "POST", ["repos", _, _, "statuses", sha]) => {
            let b = &r.body;
            answer(
                201,
                &[],
                json!({"id": 1, "sha": sha, "state": b["state"], "context": b["context"], "description": b["description"], "target_url": b["target_url"]}),
            )
        }
        (Kind::GitHub, "GET", ["repos", _, _, "pulls", n]) => match number(n).and_then(|n| state.pulls.get(&n)) {
            Some((s, merged)) => answer(
                200,
                &[],
                json!({"number": number(n), "state": s, "merged": merged, "head": {"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"}}),
            ),
            None => not_found(),
        },
        (Kind::GitLab, "GET", ["projects", _, "merge_requests", iid, "notes"]) => list(state, number(iid), r),
        (Kind::GitLab, "POST", ["projects", _, "merge_requests", iid, "notes"]) => create(state, number(iid), r),
        (Kind::GitLab, "PUT", ["projects", _, "merge_requests", _, "notes", id]) => edit(state, number(id), r),
        (Kind::GitLab, "POST", ["projects", _, "statuses", sha]) => {
            let (name, new) = (
                r.body["name"].as_str().unwrap_or("default").to_string(),
                r.body["state"].as_str().unwrap_or("").to_string(),
            );
            let old = state.status_states.insert((sha.to_string(), name.clone()), new.clone());
            if old.as_deref() == Some(new.as_str()) {
                // GitLab's answer to a status set to the state it already has.
                let run = if new == "running" { "run" } else { new.as_str() };
                return answer(
                    400,
                    &[],
                    json!({"message": format!("Cannot transition status via :{run} from :{new}")}),
                );
            }
            answer(
                201,
                &[],
                json!({"id": 93, "sha": sha, "status": new, "name": name, "target_url": r.body["target_url"], "description": r.body["description"]}),
            )
        }
        (Kind::GitLab, "GET", ["projects", _, "merge_requests", iid]) => {
            match number(iid).and_then(|n| state.pulls.get(&n)) {
                Some((s, _)) => answer(
                    200,
                    &[],
                    json!({"iid": number(iid), "state": s, "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}),
                ),
                None => answer(404, &[], json!({"message": "404 Not found"})),
            }
        }
        _ => not_found(),
    }
}

fn query(r: &Recorded, key: &str) -> Option<String> {
    r.query.split('&').find_map(|pair| pair.strip_prefix(&format!("{key}=")).map(str::to_string))
}

fn list(state: &State, number: Option<u64>, r: &Recorded) -> Response {
    let Some(number) = number else { return not_found() };
    let all = state.comments.get(&number).cloned().unwrap_or_default();
    let per_page = query(r, "per_page").and_then(|p| p.parse().ok()).unwrap_or(30usize).min(state.page_size);
    let page = query(r, "page").and_then(|p| p.parse().ok()).unwrap_or(1usize);
    let items: Vec<Value> =
        all.iter().skip((page - 1) * per_page).take(per_page).map(|n| render(state.kind, n)).collect();
    let more = all.len() > page * per_page;
    let mut headers = Vec::new();
    match state.kind {
        Kind::GitHub if more => {
            let next = format!("{}{}?per_page={per_page}&page={}", state.base, r.path, page + 1);
            headers.push(("link", format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"")));
        }
        Kind::GitLab => {
            headers.push(("x-page", page.to_string()));
            headers.push(("x-per-page", per_page.to_string()));
            headers.push(("x-next-page", if more { (page + 1).to_string() } else { String::new() }));
        }
        _ => {}
    }
    answer(200, &headers, Value::Array(items))
}

fn render(kind: Kind, note: &Note) -> Value {
    match kind {
        Kind::GitHub => {
            json!({"id": note.id, "body": note.body, "user": {"login": note.author}, "html_url": format!("https://github.com/acme/infra/pull/1#issuecomment-{}", note.id)})
        }
        Kind::GitLab => {
            json!({"id": note.id, "body": note.body, "author": {"username": note.author}, "system": note.system, "noteable_type": "MergeRequest"})
        }
    }
}

fn create(state: &mut State, number: Option<u64>, r: &Recorded) -> Response {
    let (Some(number), Some(body)) = (number, r.body["body"].as_str()) else { return not_found() };
    let id = state.next_id;
    state.next_id += 1;
    let note = Note { id, body: body.to_string(), author: "terrace-bot".into(), system: false };
    let rendered = render(state.kind, &note);
    state.comments.entry(number).or_default().push(note);
    answer(201, &[], rendered)
}

fn edit(state: &mut State, id: Option<u64>, r: &Recorded) -> Response {
    let kind = state.kind;
    let note = state.comments.values_mut().flatten().find(|n| Some(n.id) == id);
    match (note, r.body["body"].as_str()) {
        (Some(note), Some(body)) => {
            note.body = body.to_string();
            answer(200, &[], render(kind, note))
        }
        _ => not_found(),
    }
}
