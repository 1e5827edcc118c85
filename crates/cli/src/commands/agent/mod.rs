//! `terrace agent --server URL --pool NAME`: a worker of an agent pool. It pulls the
//! steps of its pool from the server (a long poll: no inbound port), runs each with its
//! own executor in a fresh folder, and reports to the server: its log (masked here, with
//! the step's secrets), lease renewals, and its end with the output file. The pool token
//! (TERRACE_AGENT_TOKEN) can do nothing else. When a report is refused because the step
//! was taken back (the agent was presumed dead), the step is stopped and forgotten.

mod report;
mod run;

use std::process::ExitCode;
use std::time::Duration;

use terrace_server::agents::protocol::{PULL_WAIT_SECS, PullBody, StepPayload};

use crate::args::Global;
use crate::exit::CliError;
use crate::out::errln;
use crate::server_args::AgentArgs;

/// The variable holding the agent's pool token.
pub const AGENT_TOKEN_ENV: &str = "TERRACE_AGENT_TOKEN";

/// The server's answer to a pull.
enum Pulled {
    Step(Box<StepPayload>),
    Nothing,
}

/// Talks to the server's agent endpoints.
#[derive(Clone)]
pub(crate) struct Link {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Link {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/agent{path}", self.base)
    }

    /// POSTs `body`; the answer's status and body.
    pub(crate) async fn post<T: serde::Serialize>(&self, path: &str, body: &T) -> Result<(u16, Vec<u8>), String> {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach the server at {}: {e}", self.base))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| format!("the server's answer broke off: {e}"))?;
        Ok((status, bytes.to_vec()))
    }

    async fn pull(&self, body: &PullBody) -> Result<Pulled, CliError> {
        let (status, bytes) = self.post("/pull", body).await.map_err(CliError::Failed)?;
        match status {
            200 => serde_json::from_slice(&bytes)
                .map(|s| Pulled::Step(Box::new(s)))
                .map_err(|e| CliError::Failed(format!("the server sent a step this agent cannot read: {e}"))),
            204 => Ok(Pulled::Nothing),
            401 | 403 => Err(CliError::usage(format!("the server refused this agent: {}", message(&bytes)))),
            _ => Err(CliError::Failed(format!("pulling a step failed ({status}): {}", message(&bytes)))),
        }
    }
}

/// The message of an API error body, else the body itself.
pub(crate) fn message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect())
}

pub async fn agent(g: &Global, args: AgentArgs) -> Result<ExitCode, CliError> {
    let Some(server) = g.server.clone() else {
        return Err(CliError::usage("`terrace agent` needs the server to pull from: --server URL (or TERRACE_SERVER)"));
    };
    let token = std::env::var(AGENT_TOKEN_ENV).ok().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        CliError::usage(format!(
            "`terrace agent` needs its pool token in {AGENT_TOKEN_ENV} (make one with `terrace token create --pool {} --name NAME`)",
            args.pool
        ))
    })?;
    let name = args.name.clone().unwrap_or_else(|| format!("{}-{}", terrace_engine::hostname(), std::process::id()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(PULL_WAIT_SECS + 30))
        .build()
        .map_err(|e| CliError::Failed(format!("cannot make an HTTP client: {e}")))?;
    let link = Link { base: server.trim_end_matches('/').to_string(), token: token.trim().to_string(), http };
    let work = match &args.work {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("terrace-agent-{name}")),
    };
    std::fs::create_dir_all(&work).map_err(|e| CliError::Failed(format!("cannot create {}: {e}", work.display())))?;
    // What a killed run of this agent left on this host's Docker Engine goes first: its
    // attempts were taken back by the server once their lease expired, so nothing of them
    // may keep running. The containers are known by their owner label, pool and name.
    let owner = format!("agent/{}/{name}", args.pool);
    let swept = terrace_exec::DockerExecutor::new().sweep_owner(&owner).await;
    if swept > 0 {
        errln!("removed {swept} container(s) an earlier run of agent `{name}` left");
    }
    errln!("terrace agent `{name}` of pool `{}` pulling from {server}", args.pool);
    let pull = PullBody { agent: name.clone(), pool: args.pool.clone() };
    let mut failures = 0u32;
    loop {
        match link.pull(&pull).await {
            Ok(Pulled::Step(step)) => {
                failures = 0;
                run::run(&link, &work, &owner, *step).await;
            }
            Ok(Pulled::Nothing) => failures = 0,
            Err(e @ CliError::Usage(_)) => return Err(e),
            Err(e) => {
                // A server restarting, a network cut: try again, more slowly each time.
                failures += 1;
                errln!("{e}");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(failures.min(10)))).await;
            }
        }
    }
}
