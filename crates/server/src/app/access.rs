//! Who is calling: API tokens (random 32 bytes, shown once, stored as their SHA-256)
//! and the role check every endpoint makes. SHA-256 without salt or stretching is
//! enough here because a token has 256 bits of entropy: no dictionary can guess it.

use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use terrace_store::control::{Role, TokenId, TokenRecord};

use super::views::{TokenCreated, TokenView};
use super::{App, AppError, AppResult};

/// The prefix of every token, so a leaked one is easy to recognise in a scan.
pub const TOKEN_PREFIX: &str = "trc_";

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Fails with 403 unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> AppResult<()> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(AppError::Forbidden { needed, have: self.role, token: self.name.clone() })
        }
    }

    /// How runs and audit entries name the caller.
    pub fn actor(&self) -> String {
        format!("api:{}", self.name)
    }
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh token: the prefix and 32 random bytes in hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Checks a bearer token.
pub async fn authenticate(app: &App, token: Option<&str>) -> AppResult<Caller> {
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(AppError::Unauthenticated(
            "no API token: send `Authorization: Bearer <token>` (create one with `terrace token create`)".into(),
        ));
    };
    let hash = hash_token(token);
    if let Some(caller) = app.recent_tokens.get(&hash) {
        return Ok(caller);
    }
    match app.store.token_by_hash(&hash).await? {
        Some(t) => {
            let caller = Caller { name: t.name, role: t.role };
            app.recent_tokens.put(hash, caller.clone());
            Ok(caller)
        }
        None => Err(AppError::Unauthenticated("unknown or revoked API token".into())),
    }
}

fn check_name(name: &str) -> AppResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok { Ok(()) } else { Err(AppError::bad("name", "a token name is 1-64 characters of A-Z a-z 0-9 - _ . @")) }
}

/// Creates a token; its secret is in the answer and nowhere else.
pub async fn create_token(app: &App, caller: &Caller, name: &str, role: Role) -> AppResult<TokenCreated> {
    caller.require(Role::Admin)?;
    check_name(name)?;
    let token = new_token();
    let record = app.store.create_token(name, role, &hash_token(&token)).await.map_err(|e| match e {
        terrace_store::StoreError::Invalid(m) => AppError::Conflict(m),
        other => other.into(),
    })?;
    app.store.audit(&caller.actor(), "token.create", &format!("token:{}", record.name), Some(role.as_str())).await?;
    Ok(TokenCreated { token, token_info: TokenView::from(record) })
}

pub async fn list_tokens(app: &App, caller: &Caller) -> AppResult<Vec<TokenView>> {
    caller.require(Role::Admin)?;
    Ok(app.store.list_tokens().await?.into_iter().map(TokenView::from).collect())
}

pub async fn revoke_token(app: &App, caller: &Caller, id: &str) -> AppResult<()> {
    caller.require(Role::Admin)?;
    let id: TokenId = id.parse().map_err(|_| AppError::bad("id", format!("`{}` is not a token id", clip(id))))?;
    if !app.store.revoke_token(id).await? {
        return Err(AppError::not_found("token", id));
    }
    // Effective at once here; other replicas forget it within `recent::TTL`.
    app.recent_tokens.clear();
    app.store.audit(&caller.actor(), "token.revoke", &format!("token:{id}"), None).await?;
    Ok(())
}

/// Creates a token straight on the store (the first admin token, before any exists).
pub async fn bootstrap_token(
    store: &dyn terrace_store::ControlStore,
    name: &str,
    role: Role,
) -> AppResult<(String, TokenRecord)> {
    check_name(name)?;
    let token = new_token();
    let record = store.create_token(name, role, &hash_token(&token)).await?;
    store.audit("cli:token-create", "token.create", &format!("token:{name}"), Some(role.as_str())).await?;
    Ok((token, record))
}

/// Creates a pool token straight on the store: it lets agents of `pool` pull and report
/// that pool's steps, nothing else. Its secret is returned and nowhere kept.
pub async fn bootstrap_pool_token(
    store: &dyn terrace_store::AgentStore,
    name: &str,
    pool: &str,
) -> AppResult<(String, terrace_store::PoolTokenRecord)> {
    check_name(name)?;
    let ok = !pool.is_empty()
        && pool.len() <= 64
        && pool.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(AppError::bad("pool", "a pool name is 1-64 characters of A-Z a-z 0-9 - _ ."));
    }
    let token = new_token();
    let record = store.create_pool_token(name, pool, &hash_token(&token)).await?;
    Ok((token, record))
}

/// At most 80 characters of untrusted input, for messages.
pub fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The newest entries of the audit log (reveals, token and secret changes, cancels).
pub async fn audit_log(app: &App, caller: &Caller, limit: Option<u32>) -> AppResult<Vec<super::views::AuditView>> {
    caller.require(Role::Admin)?;
    let limit = super::events::check_limit(limit)?.unwrap_or(100);
    Ok(app.store.audit_log(limit).await?.into_iter().map(Into::into).collect())
}
