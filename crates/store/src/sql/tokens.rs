//! API tokens of a `terrace server`, stored by the hash of their secret only.

use super::SqlStore;
use crate::control::{Role, TokenId, TokenRecord};
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::store::Result;

const T: &str = "api_tokens";

macro_rules! columns {
    () => {
        "id, name, role, created_at, last_used_at, revoked_at"
    };
}

/// How stale `last_used_at` may get: refreshing it on every call would make every API
/// read a database write.
const LAST_USED_RESOLUTION_NANOS: i64 = 60_000_000_000;

fn from_row(mut r: Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.parsed(0)?,
        name: r.text(1)?,
        role: r.parsed(2)?,
        created_at: r.ts(3)?,
        last_used_at: r.ts_opt(4)?,
        revoked_at: r.ts_opt(5)?,
    })
}

/// Stores a token by the hash of its secret; fails when the name is taken.
pub(super) async fn create(s: &SqlStore, name: &str, role: Role, hash: &str) -> Result<TokenRecord> {
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(
            T,
            concat!(
                "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING ",
                columns!()
            ),
        )
        .bind(text(TokenId::new()))
        .bind(name)
        .bind(role.as_str())
        .bind(hash)
        .bind(now_db()?)
        .doing(format!("create token {name}")),
    );
    let mut outs = match s.db.write(tx).await {
        Ok(outs) => outs,
        Err(StoreError::Database { source, .. }) if source.is_unique_violation() => {
            return Err(StoreError::Invalid(format!("a token named `{name}` already exists; pick another name")));
        }
        Err(e) => return Err(e),
    };
    let row = outs[i].rows.pop().ok_or_else(|| StoreError::Corrupt(format!("token {name} not returned")))?;
    from_row(row)
}

/// The live (not revoked) token with this hash; records its use, at most once per
/// resolution: a write on every API request would take the database's write lock for
/// each (SQLite has one), and serialise all readers' requests.
pub(super) async fn by_hash(s: &SqlStore, hash: &str) -> Result<Option<TokenRecord>> {
    let stmt =
        Stmt::new(T, concat!("SELECT ", columns!(), " FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"))
            .bind(hash)
            .doing("look up a token");
    let Some(token) = s.db.query_opt(stmt).await?.map(from_row).transpose()? else { return Ok(None) };
    let now = now_db()?;
    let last_used = token.last_used_at.map(crate::db::value::ts_to_db).transpose()?;
    if last_used.is_some_and(|t| t >= now - LAST_USED_RESOLUTION_NANOS) {
        return Ok(Some(token));
    }
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(
            T,
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(text(token.id))
        .bind(now - LAST_USED_RESOLUTION_NANOS)
        .doing("record a token's use"),
    );
    s.db.write(tx).await?;
    Ok(Some(token))
}

pub(super) async fn list(s: &SqlStore) -> Result<Vec<TokenRecord>> {
    let stmt =
        Stmt::new(T, concat!("SELECT ", columns!(), " FROM api_tokens ORDER BY created_at")).doing("list tokens");
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}

pub(super) async fn revoke(s: &SqlStore, id: TokenId) -> Result<bool> {
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(T, "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_db()?)
            .bind(text(id))
            .doing(format!("revoke token {id}")),
    );
    Ok(s.db.write(tx).await?[0].changed > 0)
}
