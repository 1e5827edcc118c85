//! Pool tokens through the API (admins only): an agent's credential for one worker pool,
//! which can pull and report that pool's steps and nothing else. Created (the secret is
//! in the answer, once), listed, revoked; every change audited.

use serde::{Deserialize, Serialize};
use terrace_store::control::Role;
use terrace_store::{PoolTokenId, PoolTokenRecord};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::access::{self, Caller, clip};
use super::{App, AppError, AppResult};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PoolTokenView {
    #[schema(value_type = String, format = Uuid)]
    pub id: PoolTokenId,
    pub name: String,
    /// The worker pool whose steps its agents pull.
    pub pool: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<PoolTokenRecord> for PoolTokenView {
    fn from(t: PoolTokenRecord) -> Self {
        PoolTokenView { id: t.id, name: t.name, pool: t.pool, created_at: t.created_at, revoked_at: t.revoked_at }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PoolTokenCreated {
    /// The secret, shown only in this answer (`TERRACE_AGENT_TOKEN` of `terrace agent`).
    pub token: String,
    #[serde(flatten)]
    pub token_info: PoolTokenView,
}

pub async fn create(app: &App, caller: &Caller, name: &str, pool: &str) -> AppResult<PoolTokenCreated> {
    caller.require(Role::Admin)?;
    let (token, record) = access::bootstrap_pool_token(app.store.as_ref(), name, pool).await.map_err(|e| match e {
        // The store refuses a name taken already (field-less); bad names name their field.
        AppError::Unprocessable { field: None, message } => AppError::Conflict(message),
        other => other,
    })?;
    app.store
        .audit(&caller.actor(), "pool_token.create", &format!("pool_token:{}", record.name), Some(&record.pool))
        .await?;
    Ok(PoolTokenCreated { token, token_info: record.into() })
}

pub async fn list(app: &App, caller: &Caller) -> AppResult<Vec<PoolTokenView>> {
    caller.require(Role::Admin)?;
    Ok(app.store.list_pool_tokens().await?.into_iter().map(PoolTokenView::from).collect())
}

pub async fn revoke(app: &App, caller: &Caller, id: &str) -> AppResult<()> {
    caller.require(Role::Admin)?;
    let id: PoolTokenId =
        id.parse().map_err(|_| AppError::bad("id", format!("`{}` is not a pool token id", clip(id))))?;
    if !app.store.revoke_pool_token(id).await? {
        return Err(AppError::not_found("pool token", id));
    }
    app.store.audit(&caller.actor(), "pool_token.revoke", &format!("pool_token:{id}"), None).await?;
    Ok(())
}
