//! A private git server for the tests: `git http-backend` (git's own smart-HTTP CGI)
//! behind a small HTTP server on 127.0.0.1 that demands basic authentication, as GitHub
//! and GitLab do for a private repository over https.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub status: u16,
}

pub struct GitHttpServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct State {
    root: PathBuf,
    expected: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl GitHttpServer {
    /// Serves the bare repositories under `root` to `user` with `password` only.
    pub async fn start(root: PathBuf, user: &str, password: &str) -> GitHttpServer {
        let expected =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = State { root, expected, seen: seen.clone() };
        let app = axum::Router::new()
            .fallback(move |method, uri, headers, body| serve(state.clone(), method, uri, headers, body));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        GitHttpServer { addr, seen, stop: Some(stop), task: Some(task) }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}", self.addr)
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

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(state: State, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let record = |status: u16| {
        let seen = Seen { path: uri.path().to_string(), authorization: authorization.clone(), status };
        state.seen.lock().unwrap().push(seen);
    };
    if authorization.as_deref() != Some(state.expected.as_str()) {
        record(401);
        return (StatusCode::UNAUTHORIZED, [("WWW-Authenticate", "Basic realm=\"terrace-test\"")], "").into_response();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.unwrap();
    feed.await.unwrap();
    let (head, payload) = split_cgi(&out.stdout);
    let mut status = StatusCode::OK;
    let mut response_headers = HeaderMap::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("status") {
            let code = value.trim().split(' ').next().unwrap_or("200");
            status = StatusCode::from_u16(code.parse().unwrap_or(500)).unwrap();
        } else if let (Ok(name), Ok(value)) =
            (axum::http::HeaderName::try_from(name.trim()), axum::http::HeaderValue::try_from(value.trim()))
        {
            response_headers.append(name, value);
        }
    }
    record(status.as_u16());
    (status, response_headers, payload.to_vec()).into_response()
}

/// CGI output: headers, a blank line, the body.
fn split_cgi(out: &[u8]) -> (&[u8], &[u8]) {
    for (sep, len) in [(&b"\r\n\r\n"[..], 4), (&b"\n\n"[..], 2)] {
        if let Some(at) = out.windows(len).position(|w| w == sep) {
            return (&out[..at], &out[at + len..]);
        }
    }
    (out, &[])
}
