//! Pipelines and job runs on PostgreSQL: creation and the queries the engine and the
//! CLI ask (by id or id prefix, filtered lists, the newest run per job, active runs).

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder};
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};

use super::codec::{col, int, int_opt, json_opt, now_db, parsed, parsed_opt, ts, ts_opt, ts_to_db};
use crate::error::StoreError;
use crate::records::{NewRun, RunFilter, RunRecord, RunState};
use crate::sqlite::runs::canonical_prefix;
use crate::store::Result;

const COLUMNS: &str = "id, pipeline_id, environment_id, project, environment, job, event, forced, \
     trigger, state, reason, exit_code, inputs_hash, attempts, owner, lease_expires_at, created_at, started_at, \
     finished_at, plan_summary, artifacts";
const T: &str = "runs";
const DEFAULT_LIMIT: u32 = 100;
/// Newest first; the id (UUIDv7, byte-ordered) breaks ties of the same nanosecond.
const NEWEST_FIRST: &str = "ORDER BY created_at DESC, id DESC";

fn from_row(row: &PgRow) -> Result<RunRecord> {
    Ok(RunRecord {
        id: parsed(row, T, "id")?,
        pipeline_id: parsed_opt(row, T, "pipeline_id")?,
        environment_id: parsed(row, T, "environment_id")?,
        project: col(row, T, "project")?,
        environment: col(row, T, "environment")?,
        job: col(row, T, "job")?,
        event: parsed(row, T, "event")?,
        forced: col(row, T, "forced")?,
        trigger: col(row, T, "trigger")?,
        state: parsed(row, T, "state")?,
        reason: col(row, T, "reason")?,
        exit_code: int_opt(row, T, "exit_code")?,
        inputs_hash: col(row, T, "inputs_hash")?,
        attempts: int(row, T, "attempts")?,
        owner: col(row, T, "owner")?,
        lease_expires_at: ts_opt(row, T, "lease_expires_at")?,
        created_at: ts(row, T, "created_at")?,
        started_at: ts_opt(row, T, "started_at")?,
        finished_at: ts_opt(row, T, "finished_at")?,
        plan: json_opt(row, T, "plan_summary")?,
        artifacts: col(row, T, "artifacts")?,
    })
}

fn all_from_rows(rows: Vec<PgRow>) -> Result<Vec<RunRecord>> {
    rows.iter().map(from_row).collect()
}

pub(super) async fn set_plan(pool: &PgPool, run: RunId, summary: &serde_json::Value, artifacts: &str) -> Result<()> {
    let done = sqlx::query("UPDATE runs SET plan_summary = $1, artifacts = $2 WHERE id = $3")
        .bind(summary.to_string())
        .bind(artifacts)
        .bind(run.to_string())
        .execute(pool)
        .await
        .map_err(StoreError::db_for("record the plan of run", run))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("run", run));
    }
    Ok(())
}

pub(super) async fn create_pipeline(
    pool: &PgPool,
    env: EnvironmentId,
    event: Event,
    trigger: &str,
) -> Result<PipelineId> {
    let id = PipelineId::new();
    sqlx::query(
        "INSERT INTO pipelines (id, environment_id, event, state, trigger, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(env.to_string())
    .bind(event.as_str())
    .bind(RunState::Running.as_str())
    .bind(trigger)
    .bind(now_db()?)
    .execute(pool)
    .await
    .map_err(StoreError::db_for("create pipeline of environment", env))?;
    Ok(id)
}

pub(super) async fn finish_pipeline(pool: &PgPool, id: PipelineId, state: RunState) -> Result<()> {
    let done = sqlx::query("UPDATE pipelines SET state = $1, finished_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(now_db()?)
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(StoreError::db_for("finish pipeline", id))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("pipeline", id));
    }
    Ok(())
}

pub(super) async fn create(pool: &PgPool, run: NewRun) -> Result<RunRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO runs (id, pipeline_id, environment_id, project, environment, job, event, forced, trigger,
                           state, attempts, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11) RETURNING {COLUMNS}"
    ))
    .bind(run.id.to_string())
    .bind(run.pipeline_id.map(|p| p.to_string()))
    .bind(run.environment_id.to_string())
    .bind(&run.project)
    .bind(&run.environment)
    .bind(&run.job)
    .bind(run.event.as_str())
    .bind(run.forced)
    .bind(&run.trigger)
    .bind(RunState::Queued.as_str())
    .bind(now_db()?)
    .fetch_one(pool)
    .await
    .map_err(StoreError::db_for("create run", run.id))?;
    from_row(&row)
}

pub(super) async fn get(pool: &PgPool, id: RunId) -> Result<Option<RunRecord>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db_for("read run", id))?
        .map(|row| from_row(&row))
        .transpose()
}

pub(super) async fn find_by_prefix(pool: &PgPool, prefix: &str) -> Result<Vec<RunRecord>> {
    let Some(canonical) = canonical_prefix(prefix) else {
        return Ok(Vec::new());
    };
    // A range on the primary key, as in SQLite: ids hold only [0-9a-f-], all below '~'
    // in the byte order the column's "C" collation gives.
    let rows =
        sqlx::query(&format!("SELECT {COLUMNS} FROM runs WHERE id >= $1 AND id <= $1 || '~' ORDER BY id LIMIT 2"))
            .bind(&canonical)
            .fetch_all(pool)
            .await
            .map_err(StoreError::db_for("find runs by prefix", &canonical))?;
    all_from_rows(rows)
}

pub(super) async fn list(pool: &PgPool, filter: &RunFilter) -> Result<Vec<RunRecord>> {
    let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM runs WHERE 1 = 1"));
    if let Some(project) = &filter.project {
        q.push(" AND project = ").push_bind(project);
    }
    if let Some(environment) = &filter.environment {
        q.push(" AND environment = ").push_bind(environment);
    }
    if let Some(job) = &filter.job {
        q.push(" AND job = ").push_bind(job);
    }
    if let Some(state) = filter.state {
        q.push(" AND state = ").push_bind(state.as_str());
    }
    if let Some(before) = &filter.before {
        // A row-value comparison in the order's own terms: the indexes ending with
        // (created_at, id) seek to it.
        q.push(" AND (created_at, id) < (")
            .push_bind(ts_to_db(before.created_at)?)
            .push(", ")
            .push_bind(before.id.to_string())
            .push(")");
    }
    q.push(format!(" {NEWEST_FIRST} LIMIT ")).push_bind(i64::from(filter.limit.unwrap_or(DEFAULT_LIMIT)));
    let rows = q.build().fetch_all(pool).await.map_err(StoreError::db("list runs"))?;
    all_from_rows(rows)
}

pub(super) async fn last_per_job(pool: &PgPool, env: EnvironmentId) -> Result<Vec<RunRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY job {NEWEST_FIRST}) AS newest
             FROM runs WHERE environment_id = $1
         ) AS ranked WHERE newest = 1 ORDER BY job"
    ))
    .bind(env.to_string())
    .fetch_all(pool)
    .await
    .map_err(StoreError::db_for("read last runs of environment", env))?;
    all_from_rows(rows)
}

pub(super) async fn last_success_inputs(
    pool: &PgPool,
    env: EnvironmentId,
    job: &str,
    event: Event,
) -> Result<Option<String>> {
    sqlx::query_scalar(&format!(
        "SELECT inputs_hash FROM runs
         WHERE environment_id = $1 AND job = $2 AND event = $3 AND state = $4 AND inputs_hash IS NOT NULL
         {NEWEST_FIRST} LIMIT 1"
    ))
    .bind(env.to_string())
    .bind(job)
    .bind(event.as_str())
    .bind(RunState::Succeeded.as_str())
    .fetch_optional(pool)
    .await
    .map_err(StoreError::db_for("read last successful inputs of job", job))
}

pub(super) async fn active(pool: &PgPool) -> Result<Vec<RunRecord>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM runs WHERE state IN ($1, $2) ORDER BY created_at, id"))
        .bind(RunState::Queued.as_str())
        .bind(RunState::Running.as_str())
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("list active runs"))?;
    all_from_rows(rows)
}
