//! A stand-in for GitHub's and GitLab's REST APIs on 127.0.0.1 (one thread, std only,
//! stopped on drop): it records every call (method, path, authorization, JSON body) and
//! answers as they do for what Terrace calls: a pull request's comments (GitHub's issue
//! comments, GitLab's merge request notes: listed, created, edited in place) and commit
//! statuses. GitLab's API is under `/api/v4`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub authorization: String,
    pub body: Value,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    /// (pull request number, comment id, body)
    comments: Vec<(u64, u64, String)>,
}

pub struct FakeGitHub {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeGitHub {
    pub fn start() -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (state, stop) = (Arc::new(Mutex::new(State::default())), Arc::new(AtomicBool::new(false)));
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    serve(stream, &s);
                }
            }
        });
        FakeGitHub { url, state, stop, thread: Some(thread) }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The comments on pull request `number`, oldest first.
    pub fn comments(&self, number: u64) -> Vec<String> {
        self.state.lock().unwrap().comments.iter().filter(|c| c.0 == number).map(|c| c.2.clone()).collect()
    }

    /// The states posted for the status `context` (GitLab: `name`) of commit `sha`, in order.
    pub fn statuses(&self, sha: &str, context: &str) -> Vec<String> {
        let path = format!("/statuses/{sha}");
        self.calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with(&path))
            .filter(|c| c.body["context"] == context || c.body["name"] == context)
            .map(|c| c.body["state"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let (mut length, mut authorization) = (0usize, String::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((&header, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => authorization = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = target.split('?').next().unwrap_or("").to_string();
    let (status, answer) = {
        let mut s = state.lock().unwrap();
        s.calls.push(Call { method: method.clone(), path: path.clone(), authorization, body: body.clone() });
        route(&mut s, &method, &path, &body)
    };
    let text = answer.to_string();
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn route(s: &mut State, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["repos", _, _, "issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let list: Vec<Value> = s
                .comments
                .iter()
                .filter(|c| c.0 == n)
                .map(|c| json!({ "id": c.1, "body": c.2, "user": { "login": "terrace-bot" } }))
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["repos", _, _, "issues", n, "comments"]) => {
            let id = 1000 + s.comments.len() as u64;
            let text = body["body"].as_str().unwrap_or("").to_string();
            s.comments.push((n.parse().unwrap_or(0), id, text.clone()));
            (201, json!({ "id": id, "body": text }))
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let text = body["body"].as_str().unwrap_or("").to_string();
            match s.comments.iter_mut().find(|c| c.1 == id) {
                Some(c) => {
                    c.2 = text.clone();
                    (200, json!({ "id": id, "body": text }))
                }
                None => (404, json!({ "message": "Not Found" })),
            }
        }
        ("POST", ["repos", _, _, "statuses", _]) => {
            (201, json!({ "state": body["state"], "context": body["context"] }))
        }
        ("GET", ["api", "v4", "projects", _, "merge_requests", n, "notes"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let list: Vec<Value> = s
                .comments
                .iter()
                .filter(|c| c.0 == n)
                .map(|c| json!({ "id": c.1, "body": c.2, "system": false, "author": { "username": "terrace-bot" } }))
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["api", "v4", "projects", _, "merge_requests", n, "notes"]) => {
            let id = 1000 + s.comments.len() as u64;
            let text = body["body"].as_str().unwrap_or("").to_string();
            s.comments.push((n.parse().unwrap_or(0), id, text.clone()));
            (201, json!({ "id": id, "body": text, "system": false }))
        }
        ("PUT", ["api", "v4", "projects", _, "merge_requests", _, "notes", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let text = body["body"].as_str().unwrap_or("").to_string();
            match s.comments.iter_mut().find(|c| c.1 == id) {
                Some(c) => {
                    c.2 = text.clone();
                    (200, json!({ "id": id, "body": text, "system": false }))
                }
                None => (404, json!({ "message": "404 Not found" })),
            }
        }
        ("POST", ["api", "v4", "projects", _, "statuses", _]) => {
            (201, json!({ "status": body["state"], "name": body["name"] }))
        }
        _ => (404, json!({ "message": "Not Found" })),
    }
}
