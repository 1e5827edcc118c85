//! `terrace logs RUN [-f]` against a server: pages of the run's log from offset 0, and
//! with `-f` new lines until the run ends.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use super::{Client, seg};
use crate::args::{Global, LogsArgs};
use crate::exit::CliError;

const FOLLOW_POLL: Duration = Duration::from_millis(500);

pub async fn logs(client: &Client, g: &Global, a: &LogsArgs) -> Result<ExitCode, CliError> {
    let scope = super::run_scope(client, g, &a.run).await;
    let mut out = std::io::stdout().lock();
    let mut offset = 0u64;
    loop {
        let page: Value = client.get(&format!("/runs/{}/logs?offset={offset}&{scope}", seg(&a.run))).await?;
        let lines = page["lines"].as_array().cloned().unwrap_or_default();
        offset = page["next_offset"].as_u64().unwrap_or(offset);
        for l in lines.iter().filter(|l| a.attempt.is_none_or(|n| l["attempt"].as_u64() == Some(u64::from(n)))) {
            let written = if a.json {
                writeln!(out, "{l}")
            } else {
                writeln!(
                    out,
                    "{} {:<7} {}",
                    l["ts"].as_str().unwrap_or(""),
                    l["stream"].as_str().unwrap_or(""),
                    l["text"].as_str().unwrap_or("")
                )
            };
            if let Err(e) = written {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e.into());
            }
        }
        let _ = out.flush();
        let active = matches!(page["run_state"].as_str(), Some("queued" | "running"));
        if lines.is_empty() {
            if !(a.follow && active) {
                return Ok(ExitCode::SUCCESS);
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
}
