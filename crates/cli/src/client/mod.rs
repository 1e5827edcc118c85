//! Client mode: with `--server URL` (or TERRACE_SERVER) the commands talk to a `terrace
//! server` with the token in TERRACE_TOKEN, and print what local mode prints. API errors
//! become the same exit statuses: 2 for what the caller must fix, 1 for failures.

pub mod admin;
pub mod approvals;
pub mod envs;
pub mod events;
pub mod listings;
pub mod logs;
pub mod progress;
pub mod promote;
pub mod secrets;
pub mod states;

use std::process::ExitCode;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::args::{Command, Global};
use crate::context::load_project;
use crate::exit::CliError;

/// The variable holding the API token.
pub const TOKEN_ENV: &str = "TERRACE_TOKEN";

#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// Whether `command` has a client mode.
pub fn handles(command: &Command) -> bool {
    matches!(
        command,
        Command::Up(_)
            | Command::Down(_)
            | Command::Destroy(_)
            | Command::Plan(_)
            | Command::Run(_)
            | Command::Job(_)
            | Command::Status(_)
            | Command::Runs(_)
            | Command::Logs(_)
            | Command::Outputs(_)
            | Command::Request(_)
            | Command::Project(_)
            | Command::Audit(_)
            | Command::Approve(_)
            | Command::Reject(_)
            | Command::Approvals(_)
            | Command::Promote(_)
            | Command::Promotions(_)
            | Command::Env(_)
            | Command::Tick(_)
            | Command::Drift(_)
            | Command::State(_)
    )
}

pub async fn dispatch(g: &Global, command: Command) -> Result<ExitCode, CliError> {
    let client = Client::from_global(g)?;
    match command {
        Command::Up(a) => events::event(&client, g, a, terrace_model::Event::Start).await,
        Command::Down(a) => events::event(&client, g, a, terrace_model::Event::Stop).await,
        Command::Destroy(a) => events::event(&client, g, a, terrace_model::Event::Delete).await,
        Command::Plan(a) if a.all => events::plan_all(&client, g, &a.exec).await,
        Command::Plan(a) => events::event(&client, g, a.single()?, terrace_model::Event::Plan).await,
        Command::Job(crate::args::JobCommand::Delete(a)) => events::job_delete(&client, g, a).await,
        Command::Run(a) => match a.action {
            Some(action) => admin::run(&client, g, action).await,
            None => events::force_run(&client, g, a).await,
        },
        Command::Request(r) => admin::request(&client, g, r).await,
        Command::Project(p) => admin::project(&client, p).await,
        Command::Audit(a) => admin::audit(&client, a).await,
        Command::Status(a) => listings::status(&client, g, &a).await,
        Command::Runs(a) => listings::runs(&client, g, &a).await,
        Command::Outputs(a) => listings::outputs(&client, g, &a).await,
        Command::Logs(a) => logs::logs(&client, g, &a).await,
        Command::Approve(a) => approvals::decide(&client, a, terrace_store::Decision::Approve).await,
        Command::Reject(a) => approvals::decide(&client, a, terrace_store::Decision::Reject).await,
        Command::Approvals(a) => approvals::list(&client, g, &a).await,
        Command::Env(e) => envs::env(&client, g, e).await,
        Command::Drift(a) => listings::drift(&client, g, &a).await,
        Command::State(c) => states::state(&client, g, c).await,
        Command::Promote(a) => promote::promote(&client, g, a).await,
        Command::Promotions(a) => promote::list(&client, g, &a).await,
        Command::Tick(_) => Err(CliError::usage(
            "a terrace server runs what is due by itself: `terrace tick` is for local mode (run it without --server)",
        )),
        _ => Err(CliError::usage("this command has no client mode: run it without --server")),
    }
}

impl Client {
    pub fn from_global(g: &Global) -> Result<Client, CliError> {
        let Some(url) = g.server.as_deref() else {
            return Err(CliError::usage(
                "this command talks to a terrace server: pass --server URL or set TERRACE_SERVER",
            ));
        };
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::usage(format!("--server `{url}` must start with http:// or https://")));
        }
        let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.trim().is_empty());
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| CliError::Failed(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client { base, token, http })
    }

    /// Sends a request to `/api/v1{path}` and decodes the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, CliError> {
        let text = self.send(method, path, body).await?;
        let text = if text.is_empty() { b"null".as_slice() } else { &text };
        serde_json::from_slice(text).map_err(|e| CliError::Failed(format!("unexpected answer from the server ({e})")))
    }

    /// Sends a request to `/api/v1{path}`; the answer's body as it came, when successful.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Vec<u8>, CliError> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.trim());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp =
            req.send().await.map_err(|e| CliError::Failed(format!("cannot reach the server at {}: {e}", self.base)))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| CliError::Failed(format!("cannot read the server's answer: {e}")))?;
        if !status.is_success() {
            return Err(api_error(status, &String::from_utf8_lossy(&body)));
        }
        Ok(body.to_vec())
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.call(Method::GET, path, None).await
    }
}

/// An API error as the CLI reports it.
fn api_error(status: StatusCode, body: &str) -> CliError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| format!("the server answered {status}"));
    let hint = match status {
        StatusCode::UNAUTHORIZED => format!(" (set {TOKEN_ENV} to a token from `terrace token create`)"),
        _ => String::new(),
    };
    // A conflict is the state of things (an environment busy or being deleted, a request
    // that already ended), not a mistake in the command: exit 1, as local mode.
    if status.is_client_error() && status != StatusCode::CONFLICT {
        CliError::usage(format!("{message}{hint}"))
    } else {
        CliError::Failed(message)
    }
}

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?project=P` for a run named by its short form (`dev#17`), which names a run within a
/// project; empty for an id.
pub async fn run_scope(client: &Client, g: &Global, run: &str) -> String {
    if !run.contains('#') {
        return String::new();
    }
    match project_name(client, g).await {
        Ok(p) => format!("project={}", seg(&p)),
        Err(_) => String::new(),
    }
}

/// Fails as local mode does (the server's 404, exit 2) when the project has no environment
/// `env`: what an empty listing filtered on a mistyped name checks.
pub async fn require_known(client: &Client, project: &str, env: &str) -> Result<(), CliError> {
    let path = format!("/projects/{}/environments/{}", seg(project), seg(env));
    client.get::<serde::de::IgnoredAny>(&path).await.map(drop)
}

/// The project on the server: the one named by the local project file when there is
/// one, else the server's only project.
pub async fn project_name(client: &Client, g: &Global) -> Result<String, CliError> {
    if let Ok(loaded) = load_project(g) {
        return Ok(loaded.project.name);
    }
    let projects: Vec<Value> = client.get("/projects").await?;
    match projects.as_slice() {
        [one] => Ok(one["name"].as_str().unwrap_or_default().to_string()),
        [] => Err(CliError::usage("the server has no project: start it with --project PATH")),
        _ => Err(CliError::usage(
            "the server has several projects: run in the folder of the project's terrace.yaml, or pass --project",
        )),
    }
}
