//! Environments of a project: the ones its file defines and the ones the store has a
//! record of, with state, outputs (secrets masked; admins may reveal, and each reveal
//! is audited) and each job's last run.

use terrace_model::names::output_variable;
use terrace_store::EnvironmentRecord;
use terrace_store::control::Role;

use super::access::clip;
use super::projects::{self, Loaded};
use super::views::{EnvironmentSummary, EnvironmentView, MASK, OutputView, RunView};
use super::{App, AppError, AppResult, Caller};

fn summary(project: &str, name: &str, record: Option<&EnvironmentRecord>, defined: bool) -> EnvironmentSummary {
    EnvironmentSummary {
        project: project.to_string(),
        name: name.to_string(),
        state: record.map(|r| r.state.to_string()).unwrap_or_else(|| "absent".into()),
        failed_job: record.and_then(|r| r.failed_job.clone()),
        reason: record.and_then(|r| r.reason.clone()),
        defined,
        updated_at: record.map(|r| r.updated_at),
    }
}

pub async fn list(app: &App, caller: &Caller, project: &str) -> AppResult<Vec<EnvironmentSummary>> {
    caller.require(Role::Viewer)?;
    let Loaded { project, .. } = projects::load(app, project).await?;
    let records = app.store.list_environments(Some(&project.name)).await?;
    let mut out: Vec<EnvironmentSummary> = project
        .environments
        .keys()
        .map(|name| summary(&project.name, name, records.iter().find(|r| &r.name == name), true))
        .collect();
    for r in records.iter().filter(|r| !project.environments.contains_key(&r.name)) {
        out.push(summary(&project.name, &r.name, Some(r), false));
    }
    Ok(out)
}

/// Fails with 404 unless the environment is defined or has a record.
pub(crate) async fn require_known(app: &App, loaded: &Loaded, env: &str) -> AppResult<Option<EnvironmentRecord>> {
    let record = app.store.get_environment(&loaded.project.name, env).await?;
    if record.is_none() && loaded.project.environment(env).is_none() {
        return Err(AppError::not_found("environment", clip(env)));
    }
    Ok(record)
}

pub async fn show(app: &App, caller: &Caller, project: &str, env: &str, reveal: bool) -> AppResult<EnvironmentView> {
    caller.require(Role::Viewer)?;
    if reveal {
        caller.require(Role::Admin)?;
    }
    let loaded = projects::load(app, project).await?;
    let record = require_known(app, &loaded, env).await?;
    let defined = loaded.project.environment(env).is_some();
    let (outputs, jobs) = match &record {
        Some(r) => (app.store.outputs(r.id).await?, app.store.last_runs(r.id).await?),
        None => (vec![], vec![]),
    };
    if reveal && outputs.iter().any(|o| o.sensitive) {
        let revealed: Vec<String> =
            outputs.iter().filter(|o| o.sensitive).map(|o| format!("{}.{}", o.job, o.name)).collect();
        app.store
            .audit(
                &caller.actor(),
                "outputs.reveal",
                &format!("environment:{}/{env}", loaded.project.name),
                Some(&revealed.join(", ")),
            )
            .await?;
    }
    let outputs = outputs
        .into_iter()
        .map(|o| OutputView {
            variable: output_variable(&o.job, &o.name),
            value: if o.sensitive && !reveal { MASK.to_string() } else { o.value },
            job: o.job,
            name: o.name,
            sensitive: o.sensitive,
            run_id: o.run_id,
        })
        .collect();
    let secrets = app.store.list_secrets(&loaded.project.name, env).await?.into_iter().map(|s| s.name).collect();
    Ok(EnvironmentView {
        summary: summary(&loaded.project.name, env, record.as_ref(), defined),
        outputs,
        jobs: jobs.into_iter().map(RunView::from).collect(),
        secrets,
    })
}
