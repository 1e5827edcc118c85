//! Fencing: the first statement of every write of a run or a request reads its holder
//! (locking the row until commit on PostgreSQL; SQLite's writer holds the whole database)
//! and refuses the transaction with `StoreError::LeaseLost` unless the writer's lease
//! still holds it: same owner, same token, still active. A take-back bumps the token,
//! so a holder that was presumed dead can never write again.

use std::fmt::Display;

use crate::db::value::text;
use crate::db::{StepOut, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::{Lease, Owner};
use crate::store::Result;

pub(super) fn run<Id: Display>(tx: &mut Tx, lease: &Lease<Id>) {
    fence(tx, "run", "runs", "SELECT owner, lease_token, state FROM runs WHERE id = $1", lease, &["queued", "running"]);
}

pub(super) fn request<Id: Display>(tx: &mut Tx, lease: &Lease<Id>) {
    let sql = "SELECT owner, lease_token, state FROM requests WHERE id = $1";
    fence(tx, "request", "requests", sql, lease, &["running"]);
}

pub(super) fn delivery(tx: &mut Tx, lease: &Lease<String>) {
    let sql = "SELECT owner, lease_token, state FROM webhook_deliveries WHERE key = $1";
    fence(tx, "webhook delivery", "webhook_deliveries", sql, lease, &["processing"]);
}

fn fence<Id: Display>(
    tx: &mut Tx,
    what: &'static str,
    table: &'static str,
    sql: &'static str,
    lease: &Lease<Id>,
    active: &'static [&'static str],
) {
    let id = lease.id.to_string();
    let (owner, token) = (lease.owner.clone(), lease.token);
    let stmt = Stmt::new(table, sql).bind(text(&id)).for_update().doing(format!("check the lease on {what} {id}"));
    tx.guarded(stmt, move |out| check(out, what, id, &owner, token, active));
}

fn check(out: &mut StepOut, what: &'static str, id: String, owner: &Owner, token: u64, active: &[&str]) -> Result<()> {
    let Some(row) = out.rows.first_mut() else {
        return Err(StoreError::NotFound { what, id });
    };
    let holder: Option<String> = row.text_opt(0)?;
    let held_token: u64 = row.num(1)?;
    let state: String = row.text(2)?;
    if holder.as_deref() == Some(owner.as_str()) && held_token == token && active.contains(&state.as_str()) {
        return Ok(());
    }
    let detail = if !active.contains(&state.as_str()) {
        format!("it has ended ({state})")
    } else {
        match holder {
            Some(h) if held_token != token => format!(
                "its lease was taken over by {} (lease {held_token}, after ours, {token})",
                Owner::parse(&h).describe()
            ),
            Some(h) => format!("it is held by {}", Owner::parse(&h).describe()),
            None => format!("nobody holds it now (lease {held_token}, ours was {token})"),
        }
    };
    Err(StoreError::LeaseLost { what, id, holder: owner.describe(), detail })
}
