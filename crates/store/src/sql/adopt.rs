//! A run taken over rather than taken back: its step still runs where its holder's end
//! did not stop it (a Kubernetes Job), so whoever finds the holder gone holds the run
//! under a fresh lease and follows that step to its end.

use terrace_model::RunId;
use time::OffsetDateTime;

use super::SqlStore;
use crate::db::value::{text, ts_to_db};
use crate::db::{Stmt, Tx};
use crate::owner::{Owner, RunLease};
use crate::store::Result;

/// Holds a running run for `holder` until `until`, provided it is still as seen (lease
/// `token` and, with `expired_before`, a lease that ended before then). The token is
/// bumped, so the old holder's every later write is refused. `None`: it moved on.
pub(super) async fn adopt(
    s: &SqlStore,
    run: RunId,
    token: u64,
    expired_before: Option<OffsetDateTime>,
    holder: &Owner,
    until: OffsetDateTime,
) -> Result<Option<RunLease>> {
    let mut stmt = Stmt::dynamic(
        "runs",
        "UPDATE runs SET owner = $1, lease_expires_at = $2, lease_token = lease_token + 1 \
         WHERE id = $3 AND lease_token = $4 AND state = 'running'"
            .to_string(),
    )
    .bind(holder.as_str())
    .bind(ts_to_db(until)?)
    .bind(text(run))
    .bind(i64::try_from(token).unwrap_or(i64::MAX));
    if let Some(t) = expired_before {
        stmt.push(" AND (lease_expires_at IS NULL OR lease_expires_at < ").push_arg(ts_to_db(t)?).push(")");
    }
    let mut tx = Tx::new();
    tx.push(stmt.doing(format!("take over run {run}")));
    let outs = s.db.write(tx).await?;
    Ok((outs.first().map(|o| o.changed) == Some(1)).then(|| RunLease {
        id: run,
        owner: holder.clone(),
        token: token + 1,
    }))
}
