//! Live progress of a request running on a server, replayed as the engine's `Progress`
//! events in the order local mode prints them. Each poll reads the pipeline's runs in one
//! listing (one consistent read of the store: a job that started is seen with the end of
//! the jobs it waited for) and the new log lines of each, derives each run's events in
//! their fixed order (started, lines, retrying, finished; a skipped job only finished),
//! and merges the runs by time, so a dependency's end is always shown before its
//! dependent's start.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use terrace_engine::Progress;
use terrace_model::RunId;
use terrace_model::log::{LogBatch, Stream};
use terrace_store::RunState;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Client, seg};
use crate::exit::CliError;
use crate::render::progress;

const POLL: Duration = Duration::from_millis(500);

/// What was already shown of one run.
#[derive(Default)]
struct Shown {
    attempts: u32,
    offset: u64,
    finished: bool,
    /// The reason of the last attempt that ended, from its summary line (for "retrying").
    last_reason: String,
    /// The time of the last event shown, so the run's own events stay in order.
    last: Option<OffsetDateTime>,
}

/// One event to show, with what orders it among the others of the same poll.
struct Item {
    at: OffsetDateTime,
    run: usize,
    seq: usize,
    event: Progress,
}

fn ts(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// Polls request `id` until it is final, showing its runs' progress; returns the request.
pub async fn follow(client: &Client, id: &str, quiet: bool) -> Result<Value, CliError> {
    let display = progress::observer(quiet);
    let mut pipeline: Option<(String, String, String)> = None; // (pipeline, project, environment)
    let mut shown: HashMap<String, Shown> = HashMap::new();
    let mut last_pass = false;
    // The pipeline's runs are the newest of its environment (one event at a time per
    // environment, every run created at its start): once counted, read only that many.
    let mut window: usize = 1000;
    let result = loop {
        let request: Value = client.get(&format!("/requests/{}", seg(id))).await?;
        let final_state = !matches!(request["state"].as_str(), Some("queued" | "running" | "awaiting_approval"));
        if pipeline.is_none()
            && let Some(first) = request["run_ids"].as_array().and_then(|a| a.first()).and_then(Value::as_str)
        {
            let run: Value = client.get(&format!("/runs/{}", seg(first))).await?;
            let text = |k: &str| run[k].as_str().unwrap_or_default().to_string();
            pipeline = Some((text("pipeline_id"), text("project"), text("environment")));
        }
        let mut all_done = true;
        if let Some((pid, project, env)) = &pipeline {
            let path = format!("/runs?project={}&environment={}&limit={window}", seg(project), seg(env));
            let page: Value = client.get(&path).await?;
            let mut runs: Vec<Value> = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["pipeline_id"].as_str() == Some(pid.as_str()))
                .cloned()
                .collect();
            // Created in plan order, one after the other: ids (UUIDv7) sort that way.
            runs.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            if !runs.is_empty() {
                window = runs.len();
            }
            if shown.is_empty() && !runs.is_empty() {
                let jobs = runs.iter().map(|r| r["job"].as_str().unwrap_or("?").to_string()).collect();
                display.observe(Progress::Planned { jobs });
            }
            let mut items = Vec::new();
            for (index, run) in runs.iter().enumerate() {
                let key = run["id"].as_str().unwrap_or_default().to_string();
                let s = shown.entry(key.clone()).or_default();
                if !s.finished {
                    events_of(client, index, run, s, &mut items).await?;
                }
                all_done &= s.finished;
            }
            items.sort_by_key(|i| (i.at, i.run, i.seq));
            for item in items {
                display.observe_at(item.event, item.at);
            }
        }
        if final_state {
            // Runs end before their request: one more pass shows what a last read missed.
            if all_done || pipeline.is_none() || last_pass {
                break request;
            }
            last_pass = true;
            continue;
        }
        tokio::time::sleep(POLL).await;
    };
    display.finish();
    Ok(result)
}

/// The events of one run since the last poll, in the run's own order.
async fn events_of(
    client: &Client,
    index: usize,
    run: &Value,
    s: &mut Shown,
    items: &mut Vec<Item>,
) -> Result<(), CliError> {
    let job = run["job"].as_str().unwrap_or("?").to_string();
    let Ok(run_id) = run["id"].as_str().unwrap_or_default().parse::<RunId>() else { return Ok(()) };
    let state: Option<RunState> = run["state"].as_str().and_then(|v| serde_json::from_value(Value::from(v)).ok());
    let ended = state.is_some_and(|st| !st.is_active());
    let attempts = run["attempts"].as_u64().unwrap_or(0) as u32;
    let short =
        terrace_store::short_ref(run["environment"].as_str().unwrap_or("?"), run["number"].as_u64().unwrap_or(0));
    let mut push = |s: &mut Shown, at: Option<OffsetDateTime>, event: Progress| {
        let at = match (at, s.last) {
            (Some(at), Some(last)) => at.max(last),
            (Some(at), None) => at,
            (None, last) => last.unwrap_or_else(OffsetDateTime::now_utc),
        };
        s.last = Some(at);
        let seq = items.len();
        items.push(Item { at, run: index, seq, event });
    };
    // A skipped run is shown as local mode shows it: its end only. A skip as unchanged
    // records an attempt holding one note; until the run's first line says it really runs
    // (the opening `run ...` line comes with its attempt), nothing of it is shown.
    if state == Some(RunState::Skipped) {
        s.finished = true;
        let reason = run["reason"].as_str().map(str::to_string);
        push(s, ts(&run["finished_at"]), Progress::Finished { job, run: run_id, state: RunState::Skipped, reason });
        return Ok(());
    }
    if attempts >= 1 && s.attempts == 0 && !ended {
        let page: Value = client.get(&format!("/runs/{}/logs?offset=0", seg(&run_id.to_string()))).await?;
        let first = page["lines"].as_array().and_then(|l| l.first()).and_then(|l| l["text"].as_str());
        if first.is_none_or(|t| t.starts_with("skipped: ")) {
            return Ok(());
        }
    }
    if attempts >= 1 && s.attempts == 0 {
        s.attempts = 1;
        push(
            s,
            ts(&run["started_at"]),
            Progress::Started { job: job.clone(), run: run_id, short: short.clone(), attempt: 1 },
        );
    }
    // The log from where it was left; for an ended run, to its end (it was written first).
    if s.attempts >= 1 || attempts >= 1 {
        loop {
            let page: Value =
                client.get(&format!("/runs/{}/logs?offset={}", seg(&run_id.to_string()), s.offset)).await?;
            let lines = page["lines"].as_array().cloned().unwrap_or_default();
            for line in &lines {
                let attempt = line["attempt"].as_u64().unwrap_or(1) as u32;
                let at = ts(&line["ts"]);
                while attempt > s.attempts {
                    s.attempts += 1;
                    let reason = std::mem::take(&mut s.last_reason);
                    let n = s.attempts;
                    push(s, at, Progress::Retrying { job: job.clone(), attempt: n, reason });
                    push(s, at, Progress::Started { job: job.clone(), run: run_id, short: short.clone(), attempt: n });
                }
                let (Some(stream), Some(text), Some(at)) =
                    (line["stream"].as_str().and_then(Stream::parse), line["text"].as_str(), at)
                else {
                    continue;
                };
                if stream == Stream::Terrace
                    && let Some(reason) = summary_reason(text, attempt)
                {
                    s.last_reason = reason;
                }
                let mut batch = LogBatch::new(at, stream);
                batch.push(text);
                push(s, Some(at), Progress::Lines { job: job.clone(), batches: vec![batch].into() });
            }
            s.offset = page["next_offset"].as_u64().unwrap_or(s.offset);
            if !ended || lines.is_empty() {
                break;
            }
        }
    }
    if let (true, Some(state)) = (ended, state) {
        s.finished = true;
        let reason = run["reason"].as_str().map(str::to_string);
        push(s, ts(&run["finished_at"]), Progress::Finished { job, run: run_id, state, reason });
    }
    Ok(())
}

/// The reason in an attempt's summary line (`attempt 1 failed: exit status 3`).
fn summary_reason(text: &str, attempt: u32) -> Option<String> {
    let rest = text.strip_prefix(&format!("attempt {attempt} "))?;
    Some(rest.split_once(": ").map(|(_, r)| r.to_string()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::summary_reason;

    #[test]
    fn the_reason_of_an_attempt_comes_from_its_summary() {
        assert_eq!(summary_reason("attempt 1 failed: exit status 3", 1).as_deref(), Some("exit status 3"));
        assert_eq!(summary_reason("attempt 2 succeeded", 2).as_deref(), Some(""));
        assert_eq!(summary_reason("attempt 1 failed: x", 2), None);
    }
}
