//! Pipelines and job runs: creation and the queries the engine and the CLI ask
//! (by id or id prefix, filtered lists, the newest run per job, active runs).

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};

use super::codec::{col, int, int_opt, now_db, parsed, parsed_opt, ts, ts_opt, ts_to_db};
use crate::error::StoreError;
use crate::records::{NewRun, RunFilter, RunRecord, RunState};
use crate::store::Result;

pub(super) const COLUMNS: &str = "id, pipeline_id, environment_id, project, environment, job, event, forced, \
     trigger, state, reason, exit_code, inputs_hash, attempts, owner, lease_expires_at, created_at, started_at, \
     finished_at, plan_summary, artifacts";
const T: &str = "runs";
const DEFAULT_LIMIT: u32 = 100;
/// Newest first; the id (UUIDv7) breaks ties between runs created in the same nanosecond.
const NEWEST_FIRST: &str = "ORDER BY created_at DESC, id DESC";

pub(super) fn from_row(row: &SqliteRow) -> Result<RunRecord> {
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
        plan: col::<Option<String>>(row, T, "plan_summary")?
            .map(|text| serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("runs.plan_summary: {e}"))))
            .transpose()?,
        artifacts: col(row, T, "artifacts")?,
    })
}

pub(super) async fn set_plan(
    pool: &SqlitePool,
    run: RunId,
    summary: &serde_json::Value,
    artifacts: &str,
) -> Result<()> {
    let done = sqlx::query("UPDATE runs SET plan_summary = ?, artifacts = ? WHERE id = ?")
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

fn all_from_rows(rows: Vec<SqliteRow>) -> Result<Vec<RunRecord>> {
    rows.iter().map(from_row).collect()
}

pub(super) async fn create_pipeline(
    pool: &SqlitePool,
    env: EnvironmentId,
    event: Event,
    trigger: &str,
) -> Result<PipelineId> {
    let id = PipelineId::new();
    sqlx::query(
        "INSERT INTO pipelines (id, environment_id, event, state, trigger, created_at) VALUES (?, ?, ?, ?, ?, ?)",
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

pub(super) async fn finish_pipeline(pool: &SqlitePool, id: PipelineId, state: RunState) -> Result<()> {
    let done = sqlx::query("UPDATE pipelines SET state = ?, finished_at = ? WHERE id = ?")
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

pub(super) async fn create(pool: &SqlitePool, run: NewRun) -> Result<RunRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO runs (id, pipeline_id, environment_id, project, environment, job, event, forced, trigger,
                           state, attempts, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) RETURNING {COLUMNS}"
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

pub(super) async fn get(pool: &SqlitePool, id: RunId) -> Result<Option<RunRecord>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM runs WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db_for("read run", id))?
        .map(|row| from_row(&row))
        .transpose()
}

/// The canonical (lower-case, hyphenated) form of a run id prefix given with or
/// without dashes; `None` when no id can start with it.
pub(crate) fn canonical_prefix(prefix: &str) -> Option<String> {
    let hex: String = prefix.trim().chars().filter(|&c| c != '-').map(|c| c.to_ascii_lowercase()).collect();
    if hex.len() > 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = String::with_capacity(36);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(c);
    }
    Some(out)
}

pub(super) async fn find_by_prefix(pool: &SqlitePool, prefix: &str) -> Result<Vec<RunRecord>> {
    let Some(canonical) = canonical_prefix(prefix) else {
        return Ok(Vec::new());
    };
    // A range on the primary key: every id starting with `p` lies in [p, p || '~'],
    // since ids hold only [0-9a-f-], all below '~'.
    let rows =
        sqlx::query(&format!("SELECT {COLUMNS} FROM runs WHERE id >= ?1 AND id <= ?1 || '~' ORDER BY id LIMIT 2"))
            .bind(&canonical)
            .fetch_all(pool)
            .await
            .map_err(StoreError::db_for("find runs by prefix", &canonical))?;
    all_from_rows(rows)
}

pub(super) async fn list(pool: &SqlitePool, filter: &RunFilter) -> Result<Vec<RunRecord>> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM runs WHERE 1 = 1"));
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

pub(super) async fn last_per_job(pool: &SqlitePool, env: EnvironmentId) -> Result<Vec<RunRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY job {NEWEST_FIRST}) AS newest
             FROM runs WHERE environment_id = ?
         ) WHERE newest = 1 ORDER BY job"
    ))
    .bind(env.to_string())
    .fetch_all(pool)
    .await
    .map_err(StoreError::db_for("read last runs of environment", env))?;
    all_from_rows(rows)
}

pub(super) async fn last_success_inputs(
    pool: &SqlitePool,
    env: EnvironmentId,
    job: &str,
    event: Event,
) -> Result<Option<String>> {
    sqlx::query_scalar(&format!(
        "SELECT inputs_hash FROM runs
         WHERE environment_id = ? AND job = ? AND event = ? AND state = ? AND inputs_hash IS NOT NULL
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

pub(super) async fn active(pool: &SqlitePool) -> Result<Vec<RunRecord>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM runs WHERE state IN (?, ?) ORDER BY created_at, id"))
        .bind(RunState::Queued.as_str())
        .bind(RunState::Running.as_str())
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("list active runs"))?;
    all_from_rows(rows)
}

#[cfg(test)]
mod tests {
    use super::canonical_prefix;

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(canonical_prefix("0190ABCD").as_deref(), Some("0190abcd"));
        assert_eq!(canonical_prefix("0190abcd1234").as_deref(), Some("0190abcd-1234"));
        assert_eq!(canonical_prefix("0190abcd-12-34-5").as_deref(), Some("0190abcd-1234-5"));
        assert_eq!(canonical_prefix(" 0190abcd-1234-7abc-8def-0123456789ab ").unwrap().len(), 36);
        assert_eq!(canonical_prefix("xyz"), None);
        assert_eq!(canonical_prefix(&"a".repeat(33)), None);
    }
}
