//! PostgreSQL through sqlx: a pool shared by the store's calls, `sqlx::migrate!` (with
//! its advisory lock, so replicas starting at once migrate once), statements bound from
//! `Value`s, rows read into them, advisory locks and NOTIFY for what only it needs.

mod value;
mod wakeups;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Arguments, Either, Executor, PgConnection};

pub use wakeups::{REQUESTS_CHANNEL, RequestWakeups};

use super::{Row, StepOut, Stmt, Tx, Value};
use crate::error::StoreError;
use crate::store::Result;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Enough for a scheduler's claims, lease renewals and API reads at once; replicas
/// each hold their own pool.
const MAX_CONNECTIONS: u32 = 10;
/// A replica that cannot reach the database fails fast rather than hanging a request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub(crate) struct PgDb {
    pool: PgPool,
}

pub(crate) fn known_migrations() -> u64 {
    MIGRATOR.iter().count() as u64
}

pub(crate) fn options(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|e| StoreError::db("read the PostgreSQL URL", e))
}

impl PgDb {
    pub(crate) async fn open(options: PgConnectOptions) -> Result<PgDb> {
        let what = format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or(""));
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::db(format!("connect to PostgreSQL at {what}"), e))?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Migrate(e.to_string()))?;
        Ok(PgDb { pool })
    }

    pub(crate) async fn query(&self, stmt: Stmt) -> Result<Vec<Row>> {
        let mut conn = self.pool.acquire().await.map_err(|e| StoreError::db(stmt.what(), e))?;
        Ok(run(&mut conn, &stmt).await?.rows)
    }

    pub(crate) async fn write(&self, tx: Tx) -> Result<Vec<StepOut>> {
        let mut t = self.pool.begin().await.map_err(|e| StoreError::db("begin a transaction", e))?;
        let mut outs = Vec::with_capacity(tx.steps.len());
        for step in tx.steps {
            // An error drops `t`, which rolls back.
            let mut out = run(&mut t, &step.stmt).await?;
            if let Some(guard) = step.guard {
                guard(&mut out)?;
            }
            outs.push(out);
        }
        t.commit().await.map_err(|e| StoreError::db("commit a transaction", e))?;
        Ok(outs)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

async fn run(conn: &mut PgConnection, stmt: &Stmt) -> Result<StepOut> {
    let fail = |e| StoreError::db(stmt.what(), e);
    let sql: Cow<'_, str> =
        if stmt.lock_rows { Cow::Owned(format!("{} FOR UPDATE", stmt.sql)) } else { Cow::Borrowed(&stmt.sql) };
    let mut args = PgArguments::default();
    for v in &stmt.params {
        args.add(value::Param(v)).map_err(|e| StoreError::Invalid(format!("{}: {e}", stmt.what())))?;
    }
    let mut out = StepOut::default();
    let mut columns = None;
    let mut results = conn.fetch_many(sqlx::query_with(&sql, args));
    while let Some(item) = results.try_next().await.map_err(fail)? {
        match item {
            Either::Left(done) => out.changed += done.rows_affected(),
            Either::Right(row) => out.rows.push(value::row(stmt.table, &row, &mut columns)?),
        }
    }
    if out.changed == 0 {
        out.changed = out.rows.len() as u64;
    }
    Ok(out)
}

/// Serialises the transactions naming `key` until they commit.
pub(crate) fn advisory_lock(key: String) -> Stmt {
    Stmt::new("advisory lock", "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .doing("take an advisory lock")
}

/// Wakes the schedulers of every replica once the transaction commits (PostgreSQL
/// delivers notifications at commit, and drops them on rollback).
pub(crate) fn notify(why: &'static str) -> Stmt {
    Stmt::new("notify", "SELECT pg_notify($1, $2)")
        .bind(REQUESTS_CHANNEL)
        .bind(Value::Text(why.to_string()))
        .doing("notify the schedulers")
}
