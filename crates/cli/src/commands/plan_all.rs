//! `terrace plan --all`: seed 003's test stage. Every environment of the project file is
//! planned, one after the other, and one table says per environment and job what would be
//! added, changed and destroyed, or what failed, and which jobs the file removed (their
//! delete will run with the next `up` or `destroy`). Local mode here; client mode asks the
//! server for the same plans (`client::events::plan_all`) and prints the same table.

use crate::out::outln;
use std::process::ExitCode;

use serde::Serialize;
use terrace_engine::{PipelineOutcome, Request};
use terrace_model::Event;
use terrace_store::RunState;

use crate::args::{ExecFlags, Global};
use crate::commands::lifecycle::{self, Gate};
use crate::context::session;
use crate::exit::CliError;
use crate::render::table;

/// One environment's plan: its outcome, or why it could not run.
pub type EnvPlan = (String, Result<PipelineOutcome, String>);

/// One row of the table (and one element of `jobs` in `--json`).
#[derive(Debug, Serialize)]
struct JobRow {
    job: String,
    state: RunState,
    /// `ENV#N`, for `terrace logs` and `terrace run --plan`.
    run: String,
    run_id: String,
    add: Option<u64>,
    change: Option<u64>,
    destroy: Option<u64>,
    /// No change at all (resources and outputs).
    empty: Option<bool>,
    reason: Option<String>,
}

/// A job the environment applied that the file no longer has.
#[derive(Debug, Serialize)]
struct RemovedRow {
    job: String,
    action: terrace_engine::removed::RemovedAction,
    /// "removed: its delete will run".
    note: String,
}

#[derive(Debug, Serialize)]
struct EnvRow {
    environment: String,
    /// Why the environment could not be planned (then `jobs` is empty).
    error: Option<String>,
    jobs: Vec<JobRow>,
    /// Jobs removed from the file that this environment applied.
    removed: Vec<RemovedRow>,
}

pub async fn plan_all(g: &Global, flags: &ExecFlags) -> Result<ExitCode, CliError> {
    let envs: Vec<String> = session(g).await?.loaded.project.environments.keys().cloned().collect();
    if envs.is_empty() {
        return Err(CliError::usage("terrace.yaml declares no environment: add them under `environments:`"));
    }
    let mut plans: Vec<EnvPlan> = Vec::new();
    for env in envs {
        let req = Request {
            env: env.clone(),
            event: Event::Plan,
            job: None,
            raw_args: vec![],
            secrets: Default::default(),
            commit: None,
            saved_plan: None,
            origin: Default::default(),
            resume: Default::default(),
        };
        let planned = match lifecycle::execute(session(g).await?, flags, req, Gate::Quiet).await {
            Ok((_, Some(outcome))) => Ok(outcome),
            Ok((_, None)) => Err("no plan was made".to_string()),
            Err(e) => Err(e.to_string()),
        };
        plans.push((env, planned));
    }
    print(&plans, flags.json)
}

fn count(plan: &serde_json::Value, key: &str) -> Option<u64> {
    plan.get(key).and_then(serde_json::Value::as_u64)
}

fn rows(plans: &[EnvPlan]) -> Vec<EnvRow> {
    plans
        .iter()
        .map(|(env, planned)| match planned {
            Err(e) => EnvRow { environment: env.clone(), error: Some(e.clone()), jobs: vec![], removed: vec![] },
            Ok(o) => EnvRow {
                environment: env.clone(),
                error: None,
                removed: o
                    .removed
                    .iter()
                    .map(|r| RemovedRow {
                        job: r.job.clone(),
                        action: r.action,
                        note: terrace_engine::removed::STATUS_NOTE.to_string(),
                    })
                    .collect(),
                jobs: o
                    .jobs
                    .iter()
                    .map(|j| {
                        let plan = j.plan.clone().unwrap_or_default();
                        JobRow {
                            job: j.job.clone(),
                            state: j.state,
                            run: terrace_store::short_ref(&o.environment, j.number),
                            run_id: j.run_id.to_string(),
                            add: count(&plan, "add"),
                            change: count(&plan, "change"),
                            destroy: count(&plan, "destroy"),
                            empty: plan.get("empty").and_then(serde_json::Value::as_bool),
                            reason: j.reason.clone(),
                        }
                    })
                    .collect(),
            },
        })
        .collect()
}

/// Prints the table (or the JSON) of every environment's plan. Exit 1 when one failed.
pub fn print(plans: &[EnvPlan], json: bool) -> Result<ExitCode, CliError> {
    let rows = rows(plans);
    let failed =
        rows.iter().filter(|e| e.error.is_some() || e.jobs.iter().any(|j| j.state != RunState::Succeeded)).count();
    let changes = rows.iter().flat_map(|e| &e.jobs).filter(|j| j.empty == Some(false)).count();
    let removed = rows.iter().map(|e| e.removed.len()).sum::<usize>();
    if json {
        let doc =
            serde_json::json!({ "environments": rows, "failed": failed, "with_changes": changes, "removed": removed });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let mut lines = Vec::new();
        for e in &rows {
            if let Some(error) = &e.error {
                lines.push(vec![e.environment.clone(), "-".into(), "-".into(), "-".into(), "-".into(), error.clone()]);
            } else if e.jobs.is_empty() && e.removed.is_empty() {
                let none = "no terraform or opentofu job to plan".to_string();
                lines.push(vec![e.environment.clone(), "-".into(), "-".into(), "-".into(), "-".into(), none]);
            }
            for j in &e.jobs {
                let result = match (j.state, j.empty) {
                    (RunState::Succeeded, Some(true)) => format!("no changes ({})", j.run),
                    (RunState::Succeeded, _) => format!("changes ({})", j.run),
                    (state, _) => format!(
                        "{state}: {} (terrace logs {})",
                        j.reason.as_deref().unwrap_or("no reason recorded"),
                        j.run
                    ),
                };
                lines.push(vec![
                    e.environment.clone(),
                    j.job.clone(),
                    num(j.add),
                    num(j.change),
                    num(j.destroy),
                    result,
                ]);
            }
            for r in &e.removed {
                let dash = || "-".to_string();
                lines.push(vec![e.environment.clone(), r.job.clone(), dash(), dash(), dash(), r.note.clone()]);
            }
        }
        table::print(&["ENVIRONMENT", "JOB", "ADD", "CHANGE", "DESTROY", "RESULT"], lines)?;
        let removed = match removed {
            0 => String::new(),
            n => format!(", {n} removed job(s) whose delete will run"),
        };
        outln!(
            "{} environment(s) planned: {changes} job(s) with changes{removed}, {failed} environment(s) with an error",
            rows.len()
        );
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
