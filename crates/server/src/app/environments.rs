//! Environments of a project: the ones its file defines and the ones the store has a
//! record of, with state, outputs (secrets masked; admins may reveal, and each reveal
//! is audited) and each job's last run.

use serde::Deserialize;
use terrace_engine::runtime_env::provenance;
use terrace_model::Project;
use terrace_model::names::output_variable;
use terrace_store::control::Role;
use terrace_store::{EnvPage, EnvironmentRecord};

use super::access::clip;
use super::events::check_limit;
use super::projects::{self, Loaded};
use super::views::{EnvironmentPage, EnvironmentSummary, EnvironmentView, MASK, OutputView, RunView};
use super::{App, AppError, AppResult, Caller, ServerStore};

/// An environment as listings show it; `record` is none for one with no record.
pub fn summary(project: &Project, name: &str, record: Option<&EnvironmentRecord>) -> EnvironmentSummary {
    let (origin, source) = provenance(project, name, record);
    let runtime = record.and_then(|r| r.runtime.as_ref());
    EnvironmentSummary {
        defined: origin == "declared",
        origin,
        source,
        project: project.name.clone(),
        name: name.to_string(),
        state: record.map(|r| r.state.to_string()).unwrap_or_else(|| "absent".into()),
        failed_job: record.and_then(|r| r.failed_job.clone()),
        reason: record.and_then(|r| r.reason.clone()),
        base: runtime.map(|d| d.base.clone()),
        variables: runtime.map(|d| d.variables.clone()),
        created_by: runtime.map(|d| d.created_by.clone()),
        id: record.map(|r| r.id),
        created_at: record.map(|r| r.created_at),
        updated_at: record.map(|r| r.updated_at),
    }
}

/// Environments per page unless `limit` says otherwise (at most 1,000, as every list).
pub const PAGE_DEFAULT: u32 = 100;
/// The longest `after` accepted (no environment name comes near it).
const AFTER_MAX: usize = 1024;

/// Filters of `GET /api/v1/projects/{project}/environments`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnvListQuery {
    /// At most this many, in name order (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only environments whose name sorts after this one (byte order): the `next` of the
    /// previous page.
    pub after: Option<String>,
}

/// One page of the union of the environments the file defines and those with a record,
/// in name order. Both sources are read from `after` on, `limit + 1` of each at most,
/// so a page costs one index seek whatever the number of records.
pub async fn list(app: &App, caller: &Caller, project: &str, q: EnvListQuery) -> AppResult<EnvironmentPage> {
    caller.require(Role::Viewer)?;
    let limit = check_limit(q.limit)?.unwrap_or(PAGE_DEFAULT);
    if let Some(after) = &q.after
        && (after.len() > AFTER_MAX || after.contains('\0'))
    {
        return Err(AppError::bad("after", format!("`after` must be an environment name (at most {AFTER_MAX} bytes)")));
    }
    let Loaded { project, .. } = projects::load(app, project).await?;
    let take = limit as usize + 1;
    let page = EnvPage { limit: limit + 1, after: q.after.clone() };
    let records = app.store.list_environments(&project.name, &page).await?;
    let mut defined: Vec<&String> =
        project.environments.keys().filter(|n| q.after.as_ref().is_none_or(|a| *n > a)).collect();
    defined.sort_unstable();
    defined.truncate(take);

    // Merge two name-ordered lists, each name once.
    let mut items = Vec::with_capacity(take);
    let (mut d, mut r) = (defined.into_iter().peekable(), records.iter().peekable());
    while items.len() < take {
        let item = match (d.peek().copied(), r.peek().copied()) {
            (None, None) => break,
            (Some(name), Some(rec)) if name.as_str() == rec.name => {
                d.next();
                r.next();
                summary(&project, name, Some(rec))
            }
            (Some(name), Some(rec)) if name.as_str() < rec.name.as_str() => {
                d.next();
                summary(&project, name, None)
            }
            (Some(name), None) => {
                d.next();
                summary(&project, name, None)
            }
            (_, Some(rec)) => {
                r.next();
                summary(&project, &rec.name, Some(rec))
            }
        };
        items.push(item);
    }
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|e| e.name.clone())
    } else {
        None
    };
    Ok(EnvironmentPage { items, next })
}

/// Fails with 404 unless the environment is defined or has a record.
pub(crate) async fn require_known(app: &App, loaded: &Loaded, env: &str) -> AppResult<Option<EnvironmentRecord>> {
    let record = app.store.get_environment(&loaded.project.name, env).await?;
    if record.is_none() && loaded.project.environment(env).is_none() {
        return Err(AppError::Unknown(loaded.project.unknown_environment(&clip(env))));
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
    let now = app.settings.clock.now();
    let view = view(app.store.as_ref(), &loaded.project, env, record.as_ref(), reveal, now).await?;
    if reveal && view.outputs.iter().any(|o| o.sensitive) {
        let revealed: Vec<String> =
            view.outputs.iter().filter(|o| o.sensitive).map(|o| format!("{}.{}", o.job, o.name)).collect();
        app.store
            .audit(
                &caller.actor(),
                "outputs.reveal",
                &format!("environment:{}/{env}", loaded.project.name),
                Some(&revealed.join(", ")),
            )
            .await?;
    }
    Ok(view)
}

/// One environment as `GET .../environments/{env}` and `terrace status ENV --json` show it,
/// read from `store` (a server's, or a local data folder's: both modes print this one
/// shape). `record` is none for an environment with no record (`state: absent`).
pub async fn view(
    store: &dyn ServerStore,
    project: &Project,
    env: &str,
    record: Option<&EnvironmentRecord>,
    reveal: bool,
    now: time::OffsetDateTime,
) -> AppResult<EnvironmentView> {
    let (outputs, jobs) = match record {
        Some(r) => (store.outputs(r.id).await?, store.last_runs(r.id).await?),
        None => (vec![], vec![]),
    };
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
    let secrets = store.list_secrets(&project.name, env).await?.into_iter().map(|s| s.name).collect();
    let waiting = terrace_store::ApprovalFilter {
        project: Some(project.name.clone()),
        environment: Some(env.to_string()),
        state: Some(terrace_store::ApprovalState::AwaitingApproval),
        limit: Some(100),
    };
    let mut approvals = Vec::new();
    for a in store.list_approvals(&waiting).await? {
        approvals.push(super::approvals::view_in(store, a).await?);
    }
    let (ttl, schedules, drift, removed_jobs) = match record {
        Some(r) => (
            terrace_engine::timed::ttl::status(project, r, store).await?,
            terrace_engine::timed::schedule::status(project, r, store, now).await?,
            terrace_engine::timed::drift::status(project, r, store, now).await?,
            terrace_engine::removed::summaries(project, store, r).await?,
        ),
        None => (None, vec![], None, vec![]),
    };
    Ok(EnvironmentView {
        summary: summary(project, env, record),
        outputs,
        jobs: jobs.into_iter().map(RunView::from).collect(),
        secrets,
        approvals,
        artifacts: store.artifact_pins(&project.name, env).await?,
        ttl,
        schedules,
        drift,
        removed_jobs,
    })
}

/// `terrace drift ENV`: the environment's drift and its checks, newest first.
pub async fn drift(
    app: &App,
    caller: &Caller,
    project: &str,
    env: &str,
    limit: u32,
) -> AppResult<terrace_engine::timed::drift::DriftHistory> {
    caller.require(Role::Viewer)?;
    let loaded = projects::load(app, project).await?;
    let record = require_known(app, &loaded, env).await?;
    let now = app.settings.clock.now();
    let limit = limit.clamp(1, 500);
    Ok(terrace_engine::timed::drift::history(&loaded.project, env, record.as_ref(), app.store.as_ref(), now, limit)
        .await?)
}

/// `terrace env extend ENV BY`: moves an ephemeral environment's destroy `by` later.
pub async fn extend(
    app: &App,
    caller: &Caller,
    project: &str,
    env: &str,
    body: super::views::ExtendBody,
) -> AppResult<terrace_engine::timed::ttl::TtlStatus> {
    caller.require(Role::Operator)?;
    let by = humantime::parse_duration(body.by.trim()).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
        AppError::bad("by", format!("`{}` is not a duration: write for example `24h`", clip(&body.by)))
    })?;
    let loaded = projects::load(app, project).await?;
    let record = require_known(app, &loaded, env).await?.ok_or_else(|| {
        AppError::Conflict(format!("environment `{}` has no record yet: start it before extending it", clip(env)))
    })?;
    let now = app.settings.clock.now();
    let status = terrace_engine::timed::ttl::extend(&loaded.project, &record, app.store.as_ref(), by, now).await?;
    let detail = format!("by {} to {}", humantime::format_duration(by), status.destroy_at);
    app.store
        .audit(&caller.actor(), "environment.extend", &format!("environment:{project}/{env}"), Some(&detail))
        .await?;
    Ok(status)
}

/// `terrace env clone SRC --to NEW`: a new environment made at run time from `env` (its
/// variables, parameters files and artifact versions; not its outputs, state or secrets).
pub async fn clone(
    app: &App,
    caller: &Caller,
    project: &str,
    env: &str,
    body: super::views::CloneBody,
) -> AppResult<EnvironmentSummary> {
    caller.require(Role::Operator)?;
    let loaded = projects::load(app, project).await?;
    require_known(app, &loaded, env).await?;
    let new = terrace_engine::NewEnvironment {
        from: env.to_string(),
        to: body.to.clone(),
        variables: body.variables,
        origin: "clone".into(),
        by: caller.actor(),
    };
    let record = terrace_engine::create_runtime_environment(&loaded.project, app.store.as_ref(), new).await?;
    let names: Vec<&String> = record.runtime.iter().flat_map(|d| d.variables.keys()).collect();
    let detail =
        format!("from {env}; variables: {}", if names.is_empty() { "-".to_string() } else { format!("{names:?}") });
    app.store
        .audit(
            &caller.actor(),
            "environment.clone",
            &format!("environment:{}/{}", loaded.project.name, record.name),
            Some(&detail),
        )
        .await?;
    let mut with_new = Project::clone(&loaded.project);
    terrace_engine::runtime_env::add(&mut with_new, std::slice::from_ref(&record));
    Ok(summary(&with_new, &record.name, Some(&record)))
}

/// `terrace env delete ENV`: the `delete` event of an environment made at run time,
/// queued like any event; its record and definition go when every job's delete succeeded.
/// A declared environment is refused (422): its delete is an event, and it stays declared.
pub async fn delete(app: &App, caller: &Caller, project: &str, env: &str) -> AppResult<super::views::EventAccepted> {
    caller.require(Role::Operator)?;
    let loaded = projects::load(app, project).await?;
    let record = require_known(app, &loaded, env).await?;
    if record.as_ref().is_none_or(|r| r.runtime.is_none()) {
        return Err(AppError::unprocessable(None, terrace_engine::runtime_env::declared_delete(&clip(env))));
    }
    let body = super::events::EventBody {
        event: "delete".into(),
        job: None,
        args: None,
        wait: None,
        plan: None,
        keep_removed: None,
    };
    super::events::submit(app, caller, project, env, body).await
}
