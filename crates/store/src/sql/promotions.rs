//! Promotions and pins: a promotion is recorded before the registry is touched, and its
//! end (state, the environment's pin, the audit entry and the environment's history)
//! commits in one transaction, so nothing is recorded as done that was not.

use terrace_model::EnvironmentId;

use super::{SqlStore, events};
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::promotions::{NewPromotion, PinRecord, PromotionId, PromotionKind, PromotionRecord, PromotionState};
use crate::store::Result;

const T: &str = "promotions";

macro_rules! columns {
    () => {
        "id, project, artifact, from_env, to_env, version, digest, old_version, old_digest, kind, skip_order, state, \
         reason, requested_by, created_at, finished_at"
    };
}

fn from_row(mut r: Row) -> Result<PromotionRecord> {
    Ok(PromotionRecord {
        id: r.parsed(0)?,
        project: r.text(1)?,
        artifact: r.text(2)?,
        from_env: r.text_opt(3)?,
        to_env: r.text(4)?,
        version: r.text(5)?,
        digest: r.text(6)?,
        old_version: r.text_opt(7)?,
        old_digest: r.text_opt(8)?,
        kind: r.parsed(9)?,
        skip_order: r.bool(10)?,
        state: r.parsed(11)?,
        reason: r.text_opt(12)?,
        requested_by: r.text(13)?,
        created_at: r.ts(14)?,
        finished_at: r.ts_opt(15)?,
    })
}

fn pin_from_row(mut r: Row) -> Result<PinRecord> {
    Ok(PinRecord {
        project: r.text(0)?,
        environment: r.text(1)?,
        artifact: r.text(2)?,
        version: r.text(3)?,
        digest: r.text(4)?,
        previous_version: r.text_opt(5)?,
        previous_digest: r.text_opt(6)?,
        held: r.bool(7)?,
        promotion_id: r.parsed(8)?,
        updated_by: r.text(9)?,
        updated_at: r.ts(10)?,
    })
}

pub(super) async fn create(s: &SqlStore, p: NewPromotion) -> Result<PromotionRecord> {
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(
            T,
            concat!(
                "INSERT INTO promotions (id, project, artifact, from_env, to_env, version, digest, old_version, \
                 old_digest, kind, skip_order, state, requested_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ",
                columns!()
            ),
        )
        .bind(text(p.id))
        .bind(&p.project)
        .bind(&p.artifact)
        .bind(p.from_env.as_deref())
        .bind(&p.to_env)
        .bind(&p.version)
        .bind(&p.digest)
        .bind(p.old_version.as_deref())
        .bind(p.old_digest.as_deref())
        .bind(p.kind.as_str())
        .bind(i64::from(p.skip_order))
        .bind(p.state.as_str())
        .bind(&p.requested_by)
        .bind(now_db()?)
        .doing(format!("record promotion {}", p.id)),
    );
    let mut outs = s.db.write(tx).await?;
    let row = std::mem::take(&mut outs[i].rows).pop().ok_or_else(|| StoreError::not_found("promotion", p.id))?;
    from_row(row)
}

pub(super) async fn get(s: &SqlStore, id: PromotionId) -> Result<Option<PromotionRecord>> {
    let stmt = Stmt::new(T, concat!("SELECT ", columns!(), " FROM promotions WHERE id = $1"))
        .bind(text(id))
        .doing(format!("read promotion {id}"));
    s.db.query_opt(stmt).await?.map(from_row).transpose()
}

/// Newest first; `to_env` and `artifact` narrow it.
pub(super) async fn list(
    s: &SqlStore,
    project: &str,
    to_env: Option<&str>,
    artifact: Option<&str>,
    limit: u32,
) -> Result<Vec<PromotionRecord>> {
    let mut q = Stmt::dynamic(T, concat!("SELECT ", columns!(), " FROM promotions WHERE project = $1").to_string())
        .bind(project);
    if let Some(env) = to_env {
        q.push(" AND to_env = ").push_arg(env);
    }
    if let Some(a) = artifact {
        q.push(" AND artifact = ").push_arg(a);
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_arg(limit);
    s.db.query(q.doing("list promotions")).await?.into_iter().map(from_row).collect()
}

pub(super) async fn set_state(
    s: &SqlStore,
    id: PromotionId,
    state: PromotionState,
    reason: Option<&str>,
) -> Result<()> {
    let finished = matches!(state, PromotionState::Failed | PromotionState::Rejected).then(now_db).transpose()?;
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(T, "UPDATE promotions SET state = $1, reason = $2, finished_at = $3 WHERE id = $4")
            .bind(state.as_str())
            .bind(reason)
            .bind(finished)
            .bind(text(id))
            .doing(format!("update promotion {id}")),
    );
    s.db.write(tx).await.map(drop)
}

/// The promotion's successful end: its state, the environment's pin (the one it replaces
/// becomes the previous), an audit entry and an entry of the environment's history.
pub(super) async fn finish(s: &SqlStore, id: PromotionId, env: EnvironmentId, message: &str) -> Result<()> {
    let mut p = get(s, id).await?.ok_or_else(|| StoreError::not_found("promotion", id))?;
    // What it replaces is the pin as it is now (the caller holds the environment's
    // promotion lock), not as it was when the promotion was asked for: another promotion
    // may have finished in between.
    let current = pins(s, &p.project, &p.to_env).await?.into_iter().find(|pin| pin.artifact == p.artifact);
    (p.old_version, p.old_digest) = match current {
        Some(pin) => (Some(pin.version), Some(pin.digest)),
        None => (None, None),
    };
    let now = now_db()?;
    let mut tx = Tx::new();
    tx.one(
        Stmt::new(
            T,
            "UPDATE promotions SET state = 'done', reason = NULL, finished_at = $1, old_version = $2, old_digest = $3 \
             WHERE id = $4 AND state = 'started'",
        )
        .bind(now)
        .bind(p.old_version.as_deref())
        .bind(p.old_digest.as_deref())
        .bind(text(id))
        .doing(format!("finish promotion {id}")),
        move || StoreError::Invalid(format!("promotion {id} is not started")),
    );
    tx.push(
        Stmt::new(
            "artifact_pins",
            "INSERT INTO artifact_pins (project, environment, artifact, version, digest, previous_version, \
             previous_digest, held, promotion_id, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (project, environment, artifact) DO UPDATE SET \
                 previous_version = CASE WHEN $12 = 1 THEN NULL ELSE artifact_pins.version END, \
                 previous_digest = CASE WHEN $12 = 1 THEN NULL ELSE artifact_pins.digest END, \
                 version = excluded.version, digest = excluded.digest, held = excluded.held, \
                 promotion_id = excluded.promotion_id, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(&p.project)
        .bind(&p.to_env)
        .bind(&p.artifact)
        .bind(&p.version)
        .bind(&p.digest)
        .bind(p.old_version.as_deref())
        .bind(p.old_digest.as_deref())
        .bind(i64::from(p.kind == PromotionKind::Rollback))
        .bind(text(id))
        .bind(&p.requested_by)
        .bind(now)
        .bind(i64::from(p.kind == PromotionKind::Rollback))
        .doing(format!("pin {} in {}", p.artifact, p.to_env)),
    );
    let detail = serde_json::json!({
        "artifact": p.artifact,
        "from": p.from_env,
        "to": p.to_env,
        "version": p.version,
        "old_digest": p.old_digest,
        "new_digest": p.digest,
        "old_version": p.old_version,
        "skip_order": p.skip_order,
        "promotion": p.id,
    });
    let action = match p.kind {
        PromotionKind::Promote => "artifact.promote",
        PromotionKind::Rollback => "artifact.rollback",
    };
    tx.push(
        Stmt::new("audit_log", "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(now)
            .bind(&p.requested_by)
            .bind(action)
            .bind(format!("environment:{}/{}", p.project, p.to_env))
            .bind(detail.to_string())
            .doing(format!("audit promotion {id}")),
    );
    tx.push(events::insert(env, None, "promotion", message)?);
    s.db.write(tx).await.map(drop)
}

pub(super) async fn pins(s: &SqlStore, project: &str, env: &str) -> Result<Vec<PinRecord>> {
    let stmt = Stmt::new(
        "artifact_pins",
        "SELECT project, environment, artifact, version, digest, previous_version, previous_digest, held, \
         promotion_id, updated_by, updated_at FROM artifact_pins WHERE project = $1 AND environment = $2 \
         ORDER BY artifact",
    )
    .bind(project)
    .bind(env)
    .doing(format!("read the pins of {project}/{env}"));
    s.db.query(stmt).await?.into_iter().map(pin_from_row).collect()
}

/// Whether `digest` of `artifact` was promoted to `env` (the order rule).
pub(super) async fn was_promoted(s: &SqlStore, project: &str, env: &str, artifact: &str, digest: &str) -> Result<bool> {
    let stmt = Stmt::new(
        T,
        "SELECT 1 FROM promotions WHERE project = $1 AND to_env = $2 AND artifact = $3 AND digest = $4 \
         AND state = 'done' LIMIT 1",
    )
    .bind(project)
    .bind(env)
    .bind(artifact)
    .bind(digest)
    .doing(format!("look for promotions of {artifact} to {env}"));
    Ok(!s.db.query(stmt).await?.is_empty())
}
