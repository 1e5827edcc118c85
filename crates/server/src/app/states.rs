//! Terraform states kept in the store, as people read them (`terrace state list|show|pull`):
//! the versions of a job's state (serial, lineage, the run that wrote it, when), what a
//! version holds (resources, outputs with secrets masked), and the raw document (admins
//! only, audited: it holds every secret of the infrastructure in clear). The store-level
//! functions serve local mode too, so both modes print the same thing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use terrace_model::RunId;
use terrace_store::control::Role;
use terrace_store::{StateKey, StateVersion, Store};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::access::clip;
use super::environments::require_known;
use super::projects;
use super::state_summary::{StateContents, summarize};
use super::{App, AppError, AppResult, Caller};

/// One version of a state.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StateVersionView {
    /// 1, 2, ... in the order the store received them.
    pub version: u64,
    /// Terraform's own serial and lineage (one lineage: one line of history).
    pub serial: Option<u64>,
    pub lineage: Option<String>,
    pub size: u64,
    pub sha256: String,
    /// The run that wrote it (none for an import), and its short form (`dev#17`).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub run_id: Option<RunId>,
    pub run: Option<String>,
    /// `run`, or where an import came from (`import:<path>`).
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// Who holds a state's lock.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StateLockView {
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub run_id: RunId,
    pub run: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// The versions of one job's state, newest first, and its lock.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StateVersionsView {
    pub project: String,
    pub environment: String,
    pub job: String,
    pub lock: Option<StateLockView>,
    pub versions: Vec<StateVersionView>,
}

/// What one version of a state holds.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StateView {
    pub project: String,
    pub environment: String,
    pub job: String,
    pub version: StateVersionView,
    #[serde(flatten)]
    pub contents: StateContents,
}

/// `?version=N` of show and pull (default: the newest).
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version number from the list (default: the newest).
    #[param(minimum = 1)]
    pub version: Option<u64>,
}

/// Short forms of runs, each looked up once.
struct Shorts<'a>(&'a dyn Store, HashMap<RunId, Option<String>>);

impl Shorts<'_> {
    async fn of(&mut self, run: Option<RunId>) -> AppResult<Option<String>> {
        let Some(run) = run else { return Ok(None) };
        if let Some(s) = self.1.get(&run) {
            return Ok(s.clone());
        }
        let short = self.0.get_run(run).await?.map(|r| r.short());
        self.1.insert(run, short.clone());
        Ok(short)
    }
}

async fn version_view(shorts: &mut Shorts<'_>, v: StateVersion) -> AppResult<StateVersionView> {
    Ok(StateVersionView {
        run: shorts.of(v.run_id).await?,
        version: v.version,
        serial: v.serial,
        lineage: v.lineage,
        size: v.size,
        sha256: v.sha256,
        run_id: v.run_id,
        source: v.source,
        created_at: v.created_at,
    })
}

/// Every version of the state of `key` (none: an empty list) and who holds its lock.
pub async fn versions(store: &dyn Store, key: &StateKey) -> AppResult<StateVersionsView> {
    let mut shorts = Shorts(store, HashMap::new());
    let mut versions = Vec::new();
    for v in store.state_versions(key).await? {
        versions.push(version_view(&mut shorts, v).await?);
    }
    let lock = match store.state_lock(key).await? {
        Some(l) => Some(StateLockView {
            run: shorts.of(Some(l.run_id)).await?,
            id: l.id,
            run_id: l.run_id,
            created_at: l.created_at,
        }),
        None => None,
    };
    Ok(StateVersionsView {
        project: key.project.clone(),
        environment: key.environment.clone(),
        job: key.job.clone(),
        lock,
        versions,
    })
}

/// One version (the newest by default) with its body, or 404 naming what is missing.
pub async fn read(store: &dyn Store, key: &StateKey, version: Option<u64>) -> AppResult<(StateVersionView, Vec<u8>)> {
    let Some((v, body)) = store.read_state(key, version).await? else {
        let what = match version {
            Some(n) => format!("{key} version {n}"),
            None => key.to_string(),
        };
        return Err(AppError::not_found("state", clip(&what)));
    };
    Ok((version_view(&mut Shorts(store, HashMap::new()), v).await?, body))
}

/// What one version holds, sensitive outputs masked.
pub async fn contents(store: &dyn Store, key: &StateKey, version: Option<u64>) -> AppResult<StateView> {
    let (v, body) = read(store, key, version).await?;
    let contents = summarize(&body).map_err(|why| {
        AppError::unprocessable(None, format!("version {} of the state of {key} is not readable: {why}", v.version))
    })?;
    Ok(StateView {
        project: key.project.clone(),
        environment: key.environment.clone(),
        job: key.job.clone(),
        version: v,
        contents,
    })
}

/// The state of a job the project defines (or once defined: its state may outlive it).
async fn key(app: &App, project: &str, env: &str, job: &str) -> AppResult<StateKey> {
    let loaded = projects::load(app, project).await?;
    require_known(app, &loaded, env).await?;
    Ok(StateKey::new(&loaded.project.name, env, job))
}

pub async fn list(app: &App, caller: &Caller, project: &str, env: &str, job: &str) -> AppResult<StateVersionsView> {
    caller.require(Role::Viewer)?;
    let key = key(app, project, env, job).await?;
    versions(app.store.as_ref(), &key).await
}

pub async fn show(
    app: &App,
    caller: &Caller,
    project: &str,
    env: &str,
    job: &str,
    q: VersionQuery,
) -> AppResult<StateView> {
    caller.require(Role::Viewer)?;
    let key = key(app, project, env, job).await?;
    contents(app.store.as_ref(), &key, q.version).await
}

/// The raw document, as Terraform wrote it: every secret in clear, so admins only, and
/// each pull is in the audit log.
pub async fn pull(
    app: &App,
    caller: &Caller,
    project: &str,
    env: &str,
    job: &str,
    q: VersionQuery,
) -> AppResult<Vec<u8>> {
    caller.require(Role::Admin)?;
    let key = key(app, project, env, job).await?;
    let (v, body) = read(app.store.as_ref(), &key, q.version).await?;
    let detail = format!("version {}", v.version);
    app.store.audit(&caller.actor(), "state.pull", &format!("state:{key}"), Some(&detail)).await?;
    Ok(body)
}
