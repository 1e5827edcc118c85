//! Job runs: filtered lists, one run with its attempts, cancelling the request that
//! runs it, and reading its (already masked) log from any offset.

use serde::Deserialize;
use terrace_engine::RunRefError;
use terrace_model::RunId;
use terrace_store::control::{RequestFilter, RequestState, Role};
use terrace_store::{RunCursor, RunFilter, RunRecord, RunState};

use super::access::clip;
use super::events::check_limit;
use super::views::{LogPage, RequestView, RunPage, RunView};
use super::{App, AppError, AppResult, Caller};

/// Most lines one log read returns.
pub const LOG_PAGE: u32 = 5_000;

/// Filters of `GET /api/v1/runs`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    pub project: Option<String>,
    pub environment: Option<String>,
    pub job: Option<String>,
    /// queued, running, succeeded, failed, timed_out, skipped, interrupted, cancelled.
    pub state: Option<String>,
    /// At most this many, newest first (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Only runs older than this place in the list: the `next` of the previous page.
    pub before: Option<String>,
}

/// Runs per page unless `limit` says otherwise.
pub const PAGE_DEFAULT: u32 = 100;

/// One page of runs, newest first; one more run than asked is read to tell whether
/// another page follows.
pub async fn list(app: &App, caller: &Caller, q: RunQuery) -> AppResult<RunPage> {
    caller.require(Role::Viewer)?;
    let state = q
        .state
        .as_deref()
        .map(|s| s.parse::<RunState>().map_err(|_| AppError::bad("state", format!("unknown run state `{}`", clip(s)))))
        .transpose()?;
    let before = q
        .before
        .as_deref()
        .map(|b| b.parse::<RunCursor>().map_err(|e| AppError::bad("before", format!("`{}`: {e}", clip(b)))))
        .transpose()?;
    let limit = check_limit(q.limit)?.unwrap_or(PAGE_DEFAULT);
    let filter =
        RunFilter { project: q.project, environment: q.environment, job: q.job, state, limit: Some(limit + 1), before };
    let mut runs = app.store.list_runs(&filter).await?;
    let next = if runs.len() > limit as usize {
        runs.truncate(limit as usize);
        runs.last().map(|r| RunCursor::of(r).to_string())
    } else {
        None
    };
    Ok(RunPage { items: runs.into_iter().map(RunView::from).collect(), next })
}

/// Where `/runs/{id}` looks for a run named by its short form.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunAt {
    /// The project whose run `ENV#N` names (needed only when several projects have that environment).
    pub project: Option<String>,
}

/// A run by its short form `ENV#N`, its id or a unique prefix of it (as `terrace logs dev#17`
/// takes); an ambiguous reference is refused with its candidates.
pub(crate) async fn find(app: &App, id: &str, at: &RunAt) -> AppResult<RunRecord> {
    if let Ok(id) = id.parse::<RunId>() {
        let missing = || AppError::Unknown(RunRefError::NotFound(id.to_string()).to_string());
        return app.store.get_run(id).await?.ok_or_else(missing);
    }
    let short =
        id.rsplit_once('#').is_some_and(|(env, n)| !env.is_empty() && env.len() <= 128 && n.parse::<u64>().is_ok());
    let prefix = !id.is_empty() && id.len() <= 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if !(short || prefix) {
        return Err(AppError::bad(
            "id",
            format!("`{}` is not a run: give ENV#N (as listings show it), a run id or a prefix of one", clip(id)),
        ));
    }
    match terrace_engine::find_run(app.store.as_ref(), at.project.as_deref(), id).await {
        Ok(run) => Ok(run),
        Err(RunRefError::Store(e)) => Err(e.into()),
        Err(e @ RunRefError::NotFound(_)) => Err(AppError::Unknown(e.to_string())),
        Err(e @ RunRefError::Ambiguous { .. }) => Err(AppError::bad("id", e.to_string())),
    }
}

pub async fn show(app: &App, caller: &Caller, id: &str, at: &RunAt) -> AppResult<RunView> {
    caller.require(Role::Viewer)?;
    Ok(find(app, id, at).await?.into())
}

/// Cancels the request running this run: its jobs are stopped and their runs end
/// `cancelled`.
pub async fn cancel(app: &App, caller: &Caller, id: &str, at: &RunAt) -> AppResult<RequestView> {
    caller.require(Role::Operator)?;
    let run = find(app, id, at).await?;
    if !run.state.is_active() {
        return Err(AppError::Conflict(format!("run {} already ended ({})", run.id, run.state)));
    }
    let filter = RequestFilter {
        project: Some(run.project.clone()),
        environment: Some(run.environment.clone()),
        state: Some(RequestState::Running),
        limit: Some(10),
    };
    let holder = app.store.list_requests(&filter).await?.into_iter().find(|r| r.run_ids.contains(&run.id));
    let Some(request) = holder else {
        return Err(AppError::Conflict(format!(
            "run {} is not held by a request of this server (a local `terrace` process runs it)",
            run.id
        )));
    };
    let after =
        app.store.cancel_request(request.id).await?.ok_or_else(|| AppError::not_found("request", request.id))?;
    app.store.audit(&caller.actor(), "run.cancel", &format!("run:{}", run.id), Some(&request.id.to_string())).await?;
    Ok(after.into())
}

/// Lines from `offset` on, and the run's state when they were read.
pub async fn logs(app: &App, caller: &Caller, id: &str, at: &RunAt, offset: u64) -> AppResult<LogPage> {
    caller.require(Role::Viewer)?;
    let run = find(app, id, at).await?;
    read_page(app, run.id, offset).await
}

/// One page of a run's log; the state is read first so that a final state means the
/// page holds every line there will be (from `offset`, up to the page size).
pub(crate) async fn read_page(app: &App, run: RunId, offset: u64) -> AppResult<LogPage> {
    let state = app.store.get_run(run).await?.ok_or_else(|| AppError::not_found("run", run))?.state;
    let lines = app.store.read_logs(run, offset, LOG_PAGE).await?;
    let next_offset = lines.last().map(|l| l.offset + 1).unwrap_or(offset);
    Ok(LogPage {
        run_id: run,
        lines: lines.into_iter().map(Into::into).collect(),
        next_offset,
        run_state: state.to_string(),
    })
}
