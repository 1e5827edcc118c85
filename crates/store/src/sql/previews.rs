//! Preview records: a webhook's wish upserted only when it differs (a redelivery writes
//! nothing), the reconciler's writes under compare-and-set on `version`.

use time::OffsetDateTime;

use super::SqlStore;
use crate::db::value::{now_db, ts};
use crate::db::{Row, Stmt, Tx};
use crate::previews::{PreviewRecord, PreviewWish, SlotClaim};
use crate::store::Result;

const T: &str = "previews";

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT project, environment, class, preview_id, forge, repository, full_name, number, head_sha, branch, \
             wanted, why, variables, state, reason, deployed_sha, deployed_variables, pending_sha, pending_variables, \
             request_id, comment_id, attempts, next_at, version, created_at, updated_at, expires_at FROM previews ",
            $rest
        )
    };
}

fn from_row(mut r: Row) -> Result<PreviewRecord> {
    Ok(PreviewRecord {
        project: r.text(0)?,
        environment: r.text(1)?,
        class: r.text(2)?,
        preview_id: r.text(3)?,
        forge: r.text(4)?,
        repository: r.text(5)?,
        full_name: r.text(6)?,
        number: r.num(7)?,
        head_sha: r.text(8)?,
        branch: r.text(9)?,
        wanted: r.bool(10)?,
        why: r.text_opt(11)?,
        variables: r.json(12)?,
        state: r.parsed(13)?,
        reason: r.text_opt(14)?,
        deployed_sha: r.text_opt(15)?,
        deployed_variables: r.json_opt(16)?,
        pending_sha: r.text_opt(17)?,
        pending_variables: r.json_opt(18)?,
        request_id: r.text_opt(19)?,
        comment_id: r.num_opt(20)?,
        attempts: r.num(21)?,
        next_at: r.ts(22)?,
        version: r.int(23)?,
        created_at: r.ts(24)?,
        updated_at: r.ts(25)?,
        expires_at: r.ts_opt(26)?,
    })
}

fn by_name(project: &str, env: &str) -> Stmt {
    Stmt::new(T, select!("WHERE project = $1 AND environment = $2"))
        .bind(project)
        .bind(env)
        .doing(format!("read preview {project}/{env}"))
}

fn json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| crate::error::StoreError::Invalid(format!("encode preview: {e}")))
}

/// The wish columns differ from the row's (`excluded` on insert, the new values on update).
const DIFFERS: &str = "previews.head_sha <> $1 OR previews.branch <> $2 OR previews.wanted <> $3 \
     OR COALESCE(previews.why, '') <> COALESCE($4, '') OR previews.variables <> $5 OR previews.class <> $6";

pub(super) async fn wish(s: &SqlStore, w: &PreviewWish) -> Result<(Option<PreviewRecord>, bool)> {
    let now = now_db()?;
    let variables = json(&w.variables)?;
    let number = i64::try_from(w.number).unwrap_or(i64::MAX);
    let mut tx = Tx::new();
    let write = if w.wanted {
        let sql = format!(
            "INSERT INTO previews (head_sha, branch, wanted, why, variables, class, project, environment, preview_id, \
             forge, repository, full_name, number, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'queued', $14, $14) \
             ON CONFLICT (project, environment) DO UPDATE SET head_sha = excluded.head_sha, \
             branch = excluded.branch, wanted = excluded.wanted, why = excluded.why, variables = excluded.variables, \
             class = excluded.class, version = previews.version + 1, updated_at = excluded.updated_at \
             WHERE {DIFFERS} RETURNING version"
        );
        Stmt::dynamic(T, sql)
            .bind(&w.head_sha)
            .bind(&w.branch)
            .bind(w.wanted)
            .bind(w.why.as_deref())
            .bind(variables)
            .bind(&w.class)
            .bind(&w.project)
            .bind(&w.environment)
            .bind(&w.preview_id)
            .bind(&w.forge)
            .bind(&w.repository)
            .bind(&w.full_name)
            .bind(number)
            .bind(now)
    } else {
        let sql = format!(
            "UPDATE previews SET head_sha = $1, branch = $2, wanted = $3, why = $4, variables = $5, class = $6, \
             version = version + 1, updated_at = $9 WHERE project = $7 AND environment = $8 AND ({DIFFERS}) \
             RETURNING version"
        );
        Stmt::dynamic(T, sql)
            .bind(&w.head_sha)
            .bind(&w.branch)
            .bind(w.wanted)
            .bind(w.why.as_deref())
            .bind(variables)
            .bind(&w.class)
            .bind(&w.project)
            .bind(&w.environment)
            .bind(now)
    };
    let written = tx.push(write.doing(format!("record what pull request {}#{} asks", w.full_name, w.number)));
    let read = tx.push(by_name(&w.project, &w.environment));
    let mut outs = s.db.write(tx).await?;
    let changed = !outs[written].rows.is_empty();
    let record = outs[read].rows.pop().map(from_row).transpose()?;
    Ok((record, changed))
}

pub(super) async fn get(s: &SqlStore, project: &str, env: &str) -> Result<Option<PreviewRecord>> {
    s.db.query_opt(by_name(project, env)).await?.map(from_row).transpose()
}

pub(super) async fn list(s: &SqlStore, project: Option<&str>) -> Result<Vec<PreviewRecord>> {
    let stmt = match project {
        Some(p) => Stmt::new(T, select!("WHERE project = $1 ORDER BY created_at DESC, environment")).bind(p),
        None => Stmt::new(T, select!("ORDER BY created_at DESC, project, environment")),
    };
    s.db.query(stmt.doing("list previews")).await?.into_iter().map(from_row).collect()
}

pub(super) async fn due(s: &SqlStore, now: OffsetDateTime, limit: u32) -> Result<Vec<PreviewRecord>> {
    let stmt = Stmt::new(
        T,
        select!("WHERE (state <> 'deleted' OR wanted = 1) AND next_at <= $1 ORDER BY updated_at, environment LIMIT $2"),
    )
    .bind(ts(now)?)
    .bind(limit)
    .doing("read the previews to reconcile");
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}

/// The reconciler's write of `p`, when the record is still at `p.version`; `slot_cap`
/// adds the condition that fewer than that many other previews of its class hold a slot
/// (the states `PreviewState::holds_slot` names: neither queued nor deleted).
fn update_stmt(p: &PreviewRecord, slot_cap: Option<u32>) -> Result<Stmt> {
    let deployed = p.deployed_variables.as_ref().map(json).transpose()?;
    let pending = p.pending_variables.as_ref().map(json).transpose()?;
    let mut stmt = Stmt::new(
        T,
        "UPDATE previews SET state = $1, reason = $2, deployed_sha = $3, deployed_variables = $4, \
         request_id = $5, comment_id = $6, attempts = $7, next_at = $8, created_at = $9, expires_at = $10, \
         updated_at = $11, pending_sha = $15, pending_variables = $16, version = version + 1 \
         WHERE project = $12 AND environment = $13 AND version = $14",
    )
    .bind(p.state.as_str())
    .bind(p.reason.as_deref())
    .bind(p.deployed_sha.as_deref())
    .bind(deployed)
    .bind(p.request_id.as_deref())
    .bind(p.comment_id.map(|c| i64::try_from(c).unwrap_or(i64::MAX)))
    .bind(p.attempts)
    .bind(ts(p.next_at)?)
    .bind(ts(p.created_at)?)
    .bind(p.expires_at.map(ts).transpose()?)
    .bind(now_db()?)
    .bind(&p.project)
    .bind(&p.environment)
    .bind(p.version)
    .bind(p.pending_sha.as_deref())
    .bind(pending);
    if let Some(cap) = slot_cap {
        stmt.push(" AND (SELECT COUNT(*) FROM previews o WHERE o.project = $12 AND o.class = ")
            .push_arg(&p.class)
            .push(" AND o.environment <> $13 AND o.state NOT IN ('queued', 'deleted')) < ")
            .push_arg(i64::from(cap));
    }
    Ok(stmt.doing(format!("update preview {}/{}", p.project, p.environment)))
}

pub(super) async fn update(s: &SqlStore, p: &PreviewRecord) -> Result<bool> {
    let mut tx = Tx::new();
    let i = tx.push(update_stmt(p, None)?);
    let outs = s.db.write(tx).await?;
    Ok(outs[i].changed == 1)
}

/// Counts the class's other slot holders and writes `p` only under `max`, in one
/// transaction that no other claim of the class interleaves with.
pub(super) async fn claim_slot(s: &SqlStore, p: &PreviewRecord, max: u32) -> Result<SlotClaim> {
    let mut tx = Tx::new();
    if let Some(lock) = s.db.lock_step(format!("terrace-preview-slots:{}/{}", p.project, p.class)) {
        tx.push(lock);
    }
    let write = tx.push(update_stmt(p, Some(max))?);
    let count = tx.push(
        Stmt::new(
            T,
            "SELECT COUNT(*) FROM previews WHERE project = $1 AND class = $2 AND environment <> $3 \
             AND state NOT IN ('queued', 'deleted')",
        )
        .bind(&p.project)
        .bind(&p.class)
        .bind(&p.environment)
        .doing(format!("count the previews of class `{}` holding a slot", p.class)),
    );
    let mut outs = s.db.write(tx).await?;
    if outs[write].changed == 1 {
        return Ok(SlotClaim::Claimed);
    }
    let holding: u32 = match outs[count].rows.first_mut() {
        Some(row) => row.num(0)?,
        None => 0,
    };
    Ok(if holding >= max { SlotClaim::Full(holding) } else { SlotClaim::Moved })
}

#[async_trait::async_trait]
impl crate::previews::PreviewStore for SqlStore {
    async fn wish_preview(&self, wish: &PreviewWish) -> Result<(Option<PreviewRecord>, bool)> {
        self::wish(self, wish).await
    }
    async fn get_preview(&self, project: &str, environment: &str) -> Result<Option<PreviewRecord>> {
        get(self, project, environment).await
    }
    async fn list_previews(&self, project: Option<&str>) -> Result<Vec<PreviewRecord>> {
        list(self, project).await
    }
    async fn previews_due(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<PreviewRecord>> {
        due(self, now, limit).await
    }
    async fn update_preview(&self, updated: &PreviewRecord) -> Result<bool> {
        update(self, updated).await
    }
    async fn claim_preview_slot(&self, updated: &PreviewRecord, max: u32) -> Result<SlotClaim> {
        claim_slot(self, updated, max).await
    }
}
