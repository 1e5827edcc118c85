//! Pipelines and job runs: creation (each run held from the start by the process that
//! creates it, under a lease) and the queries the engine and the CLI ask (by id or id
//! prefix, filtered lists, the newest run per job, active runs).

use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use time::OffsetDateTime;

use super::{SqlStore, environments, events, fence};
use crate::db::value::{now_db, text, ts, ts_to_db};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::{Owner, RunLease};
use crate::records::{
    EnvChange, NewPipeline, NewRun, OpenedRun, PipelineEnd, RunFilter, RunInputs, RunRecord, RunState,
};
use crate::store::Result;

macro_rules! columns {
    () => {
        "id, pipeline_id, environment_id, project, environment, job, event, forced, trigger, state, reason, \
         exit_code, inputs_hash, attempts, owner, lease_expires_at, created_at, started_at, finished_at, \
         plan_summary, artifacts, lease_token, number, input_parts, inputs_changed, commit_sha, inputs, image"
    };
}

const T: &str = "runs";
const DEFAULT_LIMIT: u32 = 100;
/// Newest first; the id (UUIDv7) breaks ties between runs created in the same nanosecond.
const NEWEST_FIRST: &str = " ORDER BY created_at DESC, id DESC";

pub(super) fn from_row(mut r: Row) -> Result<RunRecord> {
    let inputs: Option<crate::records::PipelineInputs> = r.json_opt(26)?;
    Ok(RunRecord {
        id: r.parsed(0)?,
        pipeline_id: r.parsed_opt(1)?,
        environment_id: r.parsed(2)?,
        project: r.text(3)?,
        environment: r.text(4)?,
        job: r.text(5)?,
        event: r.parsed(6)?,
        forced: r.bool(7)?,
        trigger: r.text(8)?,
        state: r.parsed(9)?,
        reason: r.text_opt(10)?,
        exit_code: r.num_opt(11)?,
        inputs_hash: r.text_opt(12)?,
        attempts: r.num(13)?,
        owner: r.text_opt(14)?,
        lease_expires_at: r.ts_opt(15)?,
        created_at: r.ts(16)?,
        started_at: r.ts_opt(17)?,
        finished_at: r.ts_opt(18)?,
        plan: r.json_opt(19)?,
        artifacts: r.text_opt(20)?,
        lease_token: r.num(21)?,
        number: r.num(22)?,
        input_parts: r.json_opt(23)?,
        inputs_changed: r.json_opt(24)?,
        commit: r.text_opt(25)?,
        inputs,
        image: r.text_opt(27)?,
    })
}

fn all(rows: Vec<Row>) -> Result<Vec<RunRecord>> {
    rows.into_iter().map(from_row).collect()
}

/// The statements creating `run`, queued and held by `holder` under lease 1 until `until`:
/// its environment's run counter moves on by one and the run takes that number (the
/// counter's row lock orders two creations in one environment on PostgreSQL). Returns the
/// index of the insert, whose answer is the run's row. `inputs` is its pipeline's, as JSON.
fn insert(
    tx: &mut Tx,
    run: &NewRun,
    holder: &Owner,
    until: OffsetDateTime,
    now: i64,
    inputs: Option<&str>,
) -> Result<usize> {
    tx.push(
        Stmt::new(
            "run_numbers",
            "INSERT INTO run_numbers (project, environment, newest) VALUES ($1, $2, 1) \
             ON CONFLICT (project, environment) DO UPDATE SET newest = run_numbers.newest + 1",
        )
        .bind(&run.project)
        .bind(&run.environment)
        .doing(format!("number run {}", run.id)),
    );
    Ok(tx.push(
        Stmt::new(
            T,
            concat!(
                "INSERT INTO runs (id, pipeline_id, environment_id, project, environment, job, event, forced, trigger, \
                 state, attempts, owner, lease_expires_at, lease_token, created_at, number, commit_sha, inputs) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 0, $10, $11, 1, $12, \
                 (SELECT newest FROM run_numbers WHERE project = $4 AND environment = $5), $13, $14) RETURNING ",
                columns!()
            ),
        )
        .bind(text(run.id))
        .bind(run.pipeline_id.map(text))
        .bind(text(run.environment_id))
        .bind(&run.project)
        .bind(&run.environment)
        .bind(&run.job)
        .bind(run.event.as_str())
        .bind(run.forced)
        .bind(&run.trigger)
        .bind(holder.as_str())
        .bind(ts(until)?)
        .bind(now)
        .bind(run.commit.as_deref())
        .bind(inputs)
        .doing(format!("create run {}", run.id)),
    ))
}

fn insert_pipeline(
    id: PipelineId,
    env: EnvironmentId,
    event: Event,
    trigger: &str,
    now: i64,
    inputs: Option<&str>,
) -> Stmt {
    Stmt::new(
        "pipelines",
        "INSERT INTO pipelines (id, environment_id, event, state, trigger, created_at, inputs) \
         VALUES ($1, $2, $3, 'running', $4, $5, $6)",
    )
    .bind(text(id))
    .bind(text(env))
    .bind(event.as_str())
    .bind(trigger)
    .bind(now)
    .bind(inputs)
    .doing(format!("create a pipeline of environment {env}"))
}

pub(super) async fn create_pipeline(
    s: &SqlStore,
    env: EnvironmentId,
    event: Event,
    trigger: &str,
) -> Result<PipelineId> {
    let id = PipelineId::new();
    let mut tx = Tx::new();
    tx.push(insert_pipeline(id, env, event, trigger, now_db()?, None));
    s.db.write(tx).await?;
    Ok(id)
}

/// The pipeline's opening records in one transaction: the environment's state while it
/// runs, the pipeline, and every run, each held by `holder`.
pub(super) async fn open_pipeline(
    s: &SqlStore,
    p: &NewPipeline,
    holder: &Owner,
    until: OffsetDateTime,
) -> Result<(PipelineId, Vec<OpenedRun>)> {
    let id = PipelineId::new();
    let now = now_db()?;
    let mut tx = Tx::new();
    if let Some(state) = p.env_state {
        let env = p.environment_id;
        tx.one(environments::state_stmt(env, state, None, None)?, move || StoreError::not_found("environment", env));
    }
    let inputs = serde_json::to_string(&p.inputs).map_err(|e| StoreError::Invalid(format!("run inputs: {e}")))?;
    tx.push(insert_pipeline(id, p.environment_id, p.event, &p.trigger, now, Some(&inputs)));
    let mut inserts = Vec::with_capacity(p.runs.len());
    for run in &p.runs {
        let mut run = run.clone();
        run.pipeline_id = Some(id);
        inserts.push(insert(&mut tx, &run, holder, until, now, Some(&inputs))?);
    }
    let mut outs = s.db.write(tx).await?;
    let mut opened = Vec::with_capacity(p.runs.len());
    for (run, i) in p.runs.iter().zip(inserts) {
        let row = outs[i].rows.pop().ok_or_else(|| StoreError::Corrupt(format!("run {} not returned", run.id)))?;
        let number = from_row(row)?.number;
        opened.push(OpenedRun { lease: RunLease { id: run.id, owner: holder.clone(), token: 1 }, number });
    }
    Ok((id, opened))
}

fn finish_pipeline_step(tx: &mut Tx, id: PipelineId, state: RunState) -> Result<()> {
    tx.one(
        Stmt::new("pipelines", "UPDATE pipelines SET state = $1, finished_at = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(now_db()?)
            .bind(text(id))
            .doing(format!("finish pipeline {id}")),
        move || StoreError::not_found("pipeline", id),
    );
    Ok(())
}

pub(super) async fn finish_pipeline(s: &SqlStore, id: PipelineId, state: RunState) -> Result<()> {
    let mut tx = Tx::new();
    finish_pipeline_step(&mut tx, id, state)?;
    s.db.write(tx).await.map(drop)
}

pub(super) async fn close_pipeline(s: &SqlStore, end: &PipelineEnd<'_>) -> Result<()> {
    let mut tx = Tx::new();
    let env = end.environment;
    match &end.change {
        EnvChange::Keep => {}
        EnvChange::Set { state, failed_job, reason } => {
            let stmt = environments::state_stmt(env, *state, *failed_job, *reason)?;
            tx.one(stmt, move || StoreError::not_found("environment", env));
        }
        EnvChange::Delete => environments::delete_steps(&mut tx, env),
    }
    finish_pipeline_step(&mut tx, end.pipeline, end.state)?;
    if let Some((kind, message)) = end.event {
        tx.push(events::insert(env, None, kind, message)?);
    }
    s.db.write(tx).await.map(drop)
}

pub(super) async fn create(s: &SqlStore, run: NewRun, holder: &Owner, until: OffsetDateTime) -> Result<RunRecord> {
    let mut tx = Tx::new();
    let i = insert(&mut tx, &run, holder, until, now_db()?, None)?;
    let mut outs = s.db.write(tx).await?;
    let row = outs[i].rows.pop().ok_or_else(|| StoreError::Corrupt(format!("run {} not returned", run.id)))?;
    from_row(row)
}

pub(super) async fn get(s: &SqlStore, id: RunId) -> Result<Option<RunRecord>> {
    let stmt = Stmt::new(T, concat!("SELECT ", columns!(), " FROM runs WHERE id = $1"))
        .bind(text(id))
        .doing(format!("read run {id}"));
    s.db.query_opt(stmt).await?.map(from_row).transpose()
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

pub(super) async fn find_by_prefix(s: &SqlStore, prefix: &str) -> Result<Vec<RunRecord>> {
    by_prefix(s, prefix, None, 2).await
}

async fn by_prefix(s: &SqlStore, prefix: &str, project: Option<&str>, limit: u32) -> Result<Vec<RunRecord>> {
    let Some(canonical) = canonical_prefix(prefix) else {
        return Ok(Vec::new());
    };
    // A range on the primary key: every id starting with `p` lies in [p, p || '~'],
    // since ids hold only [0-9a-f-], all below '~' (byte order; PostgreSQL's ids are
    // COLLATE "C").
    let mut q = Stmt::dynamic(T, concat!("SELECT ", columns!(), " FROM runs WHERE id >= ").to_string());
    q.push_arg(canonical.as_str()).push(" AND id <= ").push_arg(format!("{canonical}~"));
    if let Some(project) = project {
        q.push(" AND project = ").push_arg(project);
    }
    q.push(" ORDER BY id LIMIT ").push_arg(limit);
    all(s.db.query(q.doing(format!("find runs by prefix {canonical}"))).await?)
}

/// `ENV#N` as environment name and number, when `reference` has that form.
pub(crate) fn parse_short(reference: &str) -> Option<(&str, u64)> {
    let (env, number) = reference.trim().rsplit_once('#')?;
    let number = number.parse().ok()?;
    (!env.is_empty()).then_some((env, number))
}

pub(super) async fn find(s: &SqlStore, project: Option<&str>, reference: &str, limit: u32) -> Result<Vec<RunRecord>> {
    let Some((env, number)) = parse_short(reference) else {
        return by_prefix(s, reference, project, limit).await;
    };
    let Ok(number) = i64::try_from(number) else {
        return Ok(Vec::new());
    };
    let mut q = Stmt::dynamic(T, concat!("SELECT ", columns!(), " FROM runs WHERE environment = ").to_string());
    q.push_arg(env).push(" AND number = ").push_arg(number);
    if let Some(project) = project {
        q.push(" AND project = ").push_arg(project);
    }
    q.push(" ORDER BY project LIMIT ").push_arg(limit);
    all(s.db.query(q.doing(format!("find run {env}#{number}"))).await?)
}

pub(super) async fn list(s: &SqlStore, filter: &RunFilter) -> Result<Vec<RunRecord>> {
    let mut q = Stmt::dynamic(T, concat!("SELECT ", columns!(), " FROM runs WHERE 1 = 1").to_string());
    if let Some(project) = &filter.project {
        q.push(" AND project = ").push_arg(project);
    }
    if let Some(environment) = &filter.environment {
        q.push(" AND environment = ").push_arg(environment);
    }
    if let Some(job) = &filter.job {
        q.push(" AND job = ").push_arg(job);
    }
    if let Some(state) = filter.state {
        q.push(" AND state = ").push_arg(state.as_str());
    }
    if let Some(before) = &filter.before {
        // A row-value comparison in the order's own terms: the indexes ending with
        // (created_at, id) seek to it.
        q.push(" AND (created_at, id) < (").push_arg(ts_to_db(before.created_at)?);
        q.push(", ").push_arg(text(before.id)).push(")");
    }
    q.push(NEWEST_FIRST).push(" LIMIT ").push_arg(filter.limit.unwrap_or(DEFAULT_LIMIT));
    all(s.db.query(q.doing("list runs")).await?)
}

pub(super) async fn last_per_job(s: &SqlStore, env: EnvironmentId) -> Result<Vec<RunRecord>> {
    let stmt = Stmt::new(
        T,
        concat!(
            "SELECT ",
            columns!(),
            " FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY job ORDER BY created_at DESC, id DESC) AS newest \
             FROM runs WHERE environment_id = $1) AS latest WHERE newest = 1 ORDER BY job"
        ),
    )
    .bind(text(env))
    .doing(format!("read the last runs of environment {env}"));
    all(s.db.query(stmt).await?)
}

pub(super) async fn last_success_inputs(
    s: &SqlStore,
    env: EnvironmentId,
    job: &str,
    event: Event,
) -> Result<Option<String>> {
    let stmt = Stmt::new(
        T,
        "SELECT inputs_hash FROM runs \
         WHERE environment_id = $1 AND job = $2 AND event = $3 AND state = 'succeeded' AND inputs_hash IS NOT NULL \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(text(env))
    .bind(job)
    .bind(event.as_str())
    .doing(format!("read the last successful inputs of job {job}"));
    match s.db.query_opt(stmt).await? {
        Some(mut row) => row.text_opt(0),
        None => Ok(None),
    }
}

pub(super) async fn active(s: &SqlStore) -> Result<Vec<RunRecord>> {
    let stmt = Stmt::new(
        T,
        concat!("SELECT ", columns!(), " FROM runs WHERE state IN ('queued', 'running') ORDER BY created_at, id"),
    )
    .doing("list active runs");
    all(s.db.query(stmt).await?)
}

/// Records what `skip_unchanged` found of a run's inputs.
pub(super) async fn set_inputs(s: &SqlStore, lease: &RunLease, inputs: &RunInputs) -> Result<()> {
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    let parts = serde_json::to_string(&inputs.parts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let changed = serde_json::to_string(&inputs.changed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.push(
        Stmt::new(T, "UPDATE runs SET inputs_hash = $1, input_parts = $2, inputs_changed = $3 WHERE id = $4")
            .bind(inputs.hash.as_str())
            .bind(parts)
            .bind(changed)
            .bind(text(lease.id))
            .doing(format!("record the inputs of run {}", lease.id)),
    );
    s.db.write(tx).await.map(drop)
}

/// The newest successful (not skipped) run of `job` for `event` that recorded its inputs.
pub(super) async fn last_success(
    s: &SqlStore,
    env: EnvironmentId,
    job: &str,
    event: Event,
) -> Result<Option<RunRecord>> {
    let stmt = Stmt::new(
        T,
        concat!(
            "SELECT ",
            columns!(),
            " FROM runs WHERE environment_id = $1 AND job = $2 AND event = $3 AND state = 'succeeded' \
             AND inputs_hash IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1"
        ),
    )
    .bind(text(env))
    .bind(job)
    .bind(event.as_str())
    .doing(format!("read the last successful run of job {job}"));
    s.db.query_opt(stmt).await?.map(from_row).transpose()
}

/// The runs of the newest succeeded `start` pipeline of `env` that was no force run.
pub(super) async fn last_good_start(s: &SqlStore, env: EnvironmentId) -> Result<Vec<RunRecord>> {
    let stmt = Stmt::new(
        T,
        concat!(
            "SELECT ",
            columns!(),
            " FROM runs WHERE pipeline_id = (SELECT p.id FROM pipelines p WHERE p.environment_id = $1 \
             AND p.event = 'start' AND p.state = 'succeeded' \
             AND EXISTS (SELECT 1 FROM runs f WHERE f.pipeline_id = p.id AND f.forced = 0) \
             ORDER BY p.created_at DESC, p.id DESC LIMIT 1) ORDER BY created_at, id"
        ),
    )
    .bind(text(env))
    .doing(format!("read the last good start of environment {env}"));
    all(s.db.query(stmt).await?)
}

/// Records the image a container run ran (its registry digest, else its image id).
pub(super) async fn set_image(s: &SqlStore, lease: &RunLease, image: &str) -> Result<()> {
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    tx.push(
        Stmt::new(T, "UPDATE runs SET image = $1 WHERE id = $2")
            .bind(image)
            .bind(text(lease.id))
            .doing(format!("record the image of run {}", lease.id)),
    );
    s.db.write(tx).await.map(drop)
}

/// Records a plan run's summary and the folder of its saved plan.
pub(super) async fn set_plan(
    s: &SqlStore,
    lease: &RunLease,
    summary: &serde_json::Value,
    artifacts: Option<&str>,
) -> Result<()> {
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    tx.push(
        Stmt::new(T, "UPDATE runs SET plan_summary = $1, artifacts = $2 WHERE id = $3")
            .bind(summary.to_string())
            .bind(artifacts)
            .bind(text(lease.id))
            .doing(format!("record the plan of run {}", lease.id)),
    );
    s.db.write(tx).await.map(drop)
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
