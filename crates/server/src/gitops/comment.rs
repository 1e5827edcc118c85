//! What a pull request is told: one comment (a table, per environment and job, of what
//! the plan would do) and a commit status per environment, from the plan requests'
//! records. The text names each run (`prod#3`) so `terrace logs prod#3` shows it whole.

use std::fmt::Write;

use serde_json::Value;
use terrace_forge::{PullRequest, StatusState};
use terrace_store::control::{RequestRecord, RequestState};

use super::links::Links;

/// A plan queued for a pull request.
#[derive(Clone, Debug)]
pub(super) struct Planned {
    pub project: String,
    pub environment: String,
    pub request: terrace_store::control::RequestId,
}

/// The commit status of an environment whose plan request ended.
pub(super) fn status_of(r: &RequestRecord) -> (StatusState, String) {
    match r.state {
        RequestState::Succeeded => (StatusState::Success, summary_line(r)),
        RequestState::Cancelled => (StatusState::Cancelled, "plan cancelled".into()),
        _ => (StatusState::Failure, format!("plan failed: {}", one_line(r.reason.as_deref().unwrap_or("failed"), 120))),
    }
}

/// `2 to add, 1 to change, 0 to destroy` over every job, or `no changes`.
fn summary_line(r: &RequestRecord) -> String {
    let (mut add, mut change, mut destroy) = (0, 0, 0);
    for job in jobs(r) {
        let plan = &job["plan"];
        add += plan["add"].as_u64().unwrap_or(0);
        change += plan["change"].as_u64().unwrap_or(0);
        destroy += plan["destroy"].as_u64().unwrap_or(0);
    }
    if add + change + destroy == 0 {
        "no changes".into()
    } else {
        format!("{add} to add, {change} to change, {destroy} to destroy")
    }
}

fn jobs(r: &RequestRecord) -> Vec<&Value> {
    r.outcome.as_ref().and_then(|o| o["jobs"].as_array()).map(|a| a.iter().collect()).unwrap_or_default()
}

/// `text` on one line, without characters that break a Markdown table, at most `max`.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    let flat = flat.replace('|', "\\|");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn plan_cell(job: &Value) -> String {
    match job["state"].as_str() {
        Some("succeeded") => {
            let p = &job["plan"];
            match p.is_null() || p["empty"].as_bool() == Some(true) {
                true => "no changes".into(),
                false => format!(
                    "**{} to add, {} to change, {} to destroy**",
                    p["add"].as_u64().unwrap_or(0),
                    p["change"].as_u64().unwrap_or(0),
                    p["destroy"].as_u64().unwrap_or(0)
                ),
            }
        }
        Some("skipped") => "skipped".into(),
        Some(state) => format!("❌ {state}: {}", one_line(job["reason"].as_str().unwrap_or(""), 200)),
        None => "?".into(),
    }
}

/// The comment's Markdown (the forge client adds Terrace's marker).
pub(super) fn render(
    pr: &PullRequest,
    planned: &[Planned],
    finished: &[Option<RequestRecord>],
    pending: bool,
    links: &Links,
) -> String {
    let head: String = pr.head_sha.chars().take(12).collect();
    let several = planned.iter().any(|p| p.project != planned[0].project);
    let name = |p: &Planned| if several { format!("{}/{}", p.project, p.environment) } else { p.environment.clone() };
    let mut out = format!("### Terrace plan for `{head}` (into `{}`)\n\n", pr.base_ref);
    if planned.is_empty() {
        let _ = writeln!(out, "No environment follows `{}`: nothing to plan.", pr.base_ref);
        return out;
    }
    out.push_str("| Environment | Job | Plan | Run |\n|---|---|---|---|\n");
    for (i, p) in planned.iter().enumerate() {
        let env = name(p);
        let record = finished.get(i).and_then(Option::as_ref);
        let Some(r) = record.filter(|_| !pending) else {
            let _ = writeln!(out, "| `{env}` | | ⏳ planning… | |");
            continue;
        };
        let jobs = jobs(r);
        if jobs.is_empty() {
            let why = one_line(r.reason.as_deref().unwrap_or("no job has a plan"), 200);
            let cell = if r.state == RequestState::Succeeded { why } else { format!("❌ {}: {why}", r.state) };
            let _ = writeln!(out, "| `{env}` | | {cell} | |");
            continue;
        }
        for job in jobs {
            let run = job["number"].as_u64().map(|n| format!("`{}#{n}`", p.environment)).unwrap_or_default();
            let run = match job["run_id"].as_str().and_then(|id| links.run(id)) {
                Some(url) if !run.is_empty() => format!("[{run}]({url})"),
                _ => run,
            };
            let _ =
                writeln!(out, "| `{env}` | `{}` | {} | {run} |", job["job"].as_str().unwrap_or("?"), plan_cell(job));
        }
    }
    if !pending {
        out.push_str("\nA plan is never applied from a pull request: merging applies the environments that follow ");
        let _ = writeln!(out, "`{}`. See a run's full plan with `terrace logs ENV#N`.", pr.base_ref);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_stay_on_one_line() {
        assert_eq!(one_line("a|b\nc", 10), "a\\|b c");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
