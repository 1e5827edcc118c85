//! Live progress of a request running on a server, drawn by the same renderer as local
//! mode: the request's runs and their new log lines are polled and replayed as the
//! engine's `Progress` events.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use terrace_engine::Progress;
use terrace_model::log::{LogBatch, Stream};

use super::{Client, seg};
use crate::exit::CliError;
use crate::render::progress;

const POLL: Duration = Duration::from_millis(500);

/// A run being followed.
struct Followed {
    job: String,
    offset: u64,
    done: bool,
}

/// Polls request `id` until it is final, showing its runs' progress; returns the request.
pub async fn follow(client: &Client, id: &str, quiet: bool) -> Result<Value, CliError> {
    let display = progress::observer(quiet);
    let mut runs: BTreeMap<String, Followed> = BTreeMap::new();
    let mut drained = false;
    let result = loop {
        let request: Value = client.get(&format!("/requests/{}", seg(id))).await?;
        let final_state = !matches!(request["state"].as_str(), Some("queued" | "running"));
        for run in request["run_ids"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !runs.contains_key(run) {
                let r: Value = client.get(&format!("/runs/{}", seg(run))).await?;
                let job = r["job"].as_str().unwrap_or("?").to_string();
                if let Ok(id) = run.parse() {
                    let attempt = r["attempts"].as_u64().unwrap_or(1).max(1) as u32;
                    display.observe(Progress::Started { job: job.clone(), run: id, attempt });
                }
                runs.insert(run.to_string(), Followed { job, offset: 0, done: false });
            }
        }
        for (run, f) in runs.iter_mut().filter(|(_, f)| !f.done) {
            let page: Value = client.get(&format!("/runs/{}/logs?offset={}", seg(run), f.offset)).await?;
            let batches: Vec<LogBatch> = page["lines"].as_array().into_iter().flatten().filter_map(log_line).collect();
            f.offset = page["next_offset"].as_u64().unwrap_or(f.offset);
            let empty = batches.is_empty();
            if !empty {
                display.observe(Progress::Lines { job: f.job.clone(), batches: batches.into() });
            }
            let state: Option<terrace_store::RunState> =
                page["run_state"].as_str().and_then(|s| serde_json::from_value(Value::from(s)).ok());
            if let (true, Some(state), Ok(run_id)) = (empty, state, run.parse())
                && !state.is_active()
            {
                let r: Value = client.get(&format!("/runs/{}", seg(run))).await?;
                let reason = r["reason"].as_str().map(str::to_string);
                display.observe(Progress::Finished { job: f.job.clone(), run: run_id, state, reason });
                f.done = true;
            }
        }
        if final_state {
            // One more pass drains the last lines of runs that ended with the request.
            if drained || runs.values().all(|f| f.done) {
                break request;
            }
            drained = true;
            continue;
        }
        tokio::time::sleep(POLL).await;
    };
    display.finish();
    Ok(result)
}

/// One line of the API's log page, as a batch of its own (only shown, never stored).
fn log_line(v: &Value) -> Option<LogBatch> {
    let ts = time::OffsetDateTime::parse(v["ts"].as_str()?, &time::format_description::well_known::Rfc3339).ok()?;
    let mut batch = LogBatch::new(ts, Stream::parse(v["stream"].as_str()?)?);
    batch.push(v["text"].as_str()?);
    Some(batch)
}
