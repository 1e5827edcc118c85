//! `terrace import`: a project's local data folder moved into a server's store, so the
//! server goes on from where local mode stood: environments (their state), every run
//! with its attempts and log, outputs, Terraform state with every version (one lineage:
//! the server's next apply changes the same resources, it creates none again), and the
//! project's secrets of every scope (`terrace secret set`), so `${secret:NAME}` reads the
//! same value on the server.
//! Records keep their ids, numbers and times; what the server has already is left as it
//! is, so an import run twice moves nothing the second time.

use serde::Serialize;
use terrace_store::{EnvPage, ImportStore, RunCursor, RunFilter, StateKey, Store, StoreError};

/// Runs and log lines read from the source at a time.
const PAGE: u32 = 500;
const LOG_PAGE: u32 = 10_000;

/// What an import did to one environment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EnvironmentImport {
    pub environment: String,
    /// `imported` (new on the server), `updated` (an earlier import, completed), or
    /// `skipped` (the server has an environment of that name of its own).
    pub outcome: String,
    pub reason: Option<String>,
    pub runs: u64,
    pub outputs: u64,
}

/// What an import moved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub project: String,
    pub environments: Vec<EnvironmentImport>,
    /// `env/job` of each Terraform state moved, with its versions.
    pub states: Vec<(String, usize)>,
    /// States the server had already (its own, or an earlier import).
    pub states_kept: Vec<String>,
    pub secrets: SecretsImport,
}

/// How many of the project's secrets moved (counts only: no name, no value).
#[derive(Clone, Debug, Default, Serialize)]
pub struct SecretsImport {
    /// Secrets written to the server, sealed with its master key.
    pub moved: u64,
    /// Secrets the server had already (same scope and name): its value is left as it is.
    pub kept: u64,
}

/// Moves `project`'s records from `from` into `to`.
pub async fn import<F: Store + ImportStore, T: Store + ImportStore>(
    from: &F,
    to: &T,
    project: &str,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport { project: project.to_string(), ..Default::default() };
    let mut after = None;
    loop {
        let page = from.list_environments(project, &EnvPage { limit: PAGE, after: after.clone() }).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        for env in &page {
            report.environments.push(environment(from, to, env).await?);
        }
    }
    for key in from.state_keys(project, None).await? {
        let name = format!("{}/{}", key.environment, key.job);
        match state(from, to, &key).await? {
            Some(n) => report.states.push((name, n)),
            None => report.states_kept.push(name),
        }
    }
    // Opened with the source's key, sealed with the server's; the server's own win.
    let secrets = from.secrets_to_move(project).await?;
    let moved = to.import_secrets(project, &secrets).await?;
    report.secrets = SecretsImport { moved, kept: secrets.len() as u64 - moved };
    Ok(report)
}

async fn environment<T: Store + ImportStore>(
    from: &dyn Store,
    to: &T,
    env: &terrace_store::EnvironmentRecord,
) -> Result<EnvironmentImport, StoreError> {
    let mut done = EnvironmentImport { environment: env.name.clone(), ..Default::default() };
    match to.get_environment(&env.project, &env.name).await? {
        Some(there) if there.id == env.id => done.outcome = "updated".into(),
        Some(_) => {
            done.outcome = "skipped".into();
            done.reason = Some("the server has an environment of that name with its own history".into());
            return Ok(done);
        }
        None => {
            let filter = RunFilter {
                project: Some(env.project.clone()),
                environment: Some(env.name.clone()),
                limit: Some(1),
                ..Default::default()
            };
            if !to.list_runs(&filter).await?.is_empty() {
                done.outcome = "skipped".into();
                done.reason = Some("the server has runs of an environment of that name".into());
                return Ok(done);
            }
            if !to.import_environment(env).await? {
                done.outcome = "skipped".into();
                done.reason = Some("the server created an environment of that name meanwhile".into());
                return Ok(done);
            }
            done.outcome = "imported".into();
        }
    }
    // History first: outputs name the runs that wrote them.
    let mut before = None;
    loop {
        let filter = RunFilter {
            project: Some(env.project.clone()),
            environment: Some(env.name.clone()),
            limit: Some(PAGE),
            before,
            ..Default::default()
        };
        let runs = from.list_runs(&filter).await?;
        let Some(last) = runs.last() else { break };
        before = Some(RunCursor::of(last));
        for run in runs.iter().filter(|r| r.environment_id == env.id && !r.state.is_active()) {
            let attempts = from.attempts(run.id).await?;
            let mut log = Vec::new();
            loop {
                let lines = from.read_logs(run.id, log.len() as u64, LOG_PAGE).await?;
                if lines.is_empty() {
                    break;
                }
                log.extend(lines);
            }
            if to.import_run(run, &attempts, &log).await? {
                done.runs += 1;
            }
        }
    }
    let outputs = from.outputs(env.id).await?;
    done.outputs = to.import_outputs(env.id, &outputs).await?;
    // What it applied: a job removed from the file after the move still runs its delete.
    let applied = from.applied_jobs(env.id).await?;
    let mut snapshots = Vec::new();
    for hash in applied.iter().filter_map(|a| a.source_snapshot.as_deref()) {
        if let Some(tar_gz) = from.source_snapshot(hash).await?
            && !snapshots.iter().any(|s: &terrace_store::SourceSnapshot| s.hash == hash)
        {
            snapshots.push(terrace_store::SourceSnapshot { hash: hash.to_string(), tar_gz });
        }
    }
    // The snapshots first: the records that refer to them are then never without them.
    to.import_snapshots(&snapshots).await?;
    to.import_applied(env.id, &applied).await?;
    Ok(done)
}

/// Every version of one state, oldest first; `None` when the server has that state.
async fn state<T: Store + ImportStore>(from: &dyn Store, to: &T, key: &StateKey) -> Result<Option<usize>, StoreError> {
    if !to.state_versions(key).await?.is_empty() {
        return Ok(None);
    }
    let mut versions = Vec::new();
    for v in from.state_versions(key).await?.into_iter().rev() {
        if let Some(found) = from.read_state(key, Some(v.version)).await? {
            versions.push(found);
        }
    }
    let n = versions.len();
    Ok(to.import_state_versions(key, &versions).await?.then_some(n))
}
