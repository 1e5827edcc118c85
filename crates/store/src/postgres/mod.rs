//! `PgStore`: the `Store` and `ControlStore` on PostgreSQL, for many `terrace server`
//! replicas sharing one database. Same tables and semantics as the SQLite store; each
//! submodule holds the SQL of one part of the traits.

mod access;
mod attempts;
mod codec;
mod control_impl;
mod environments;
mod events;
mod logs;
mod outputs;
mod requests;
mod runs;
mod secrets;
mod store_impl;
mod wakeups;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Postgres, Transaction};

use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::store::Result;

pub use wakeups::{REQUESTS_CHANNEL, RequestWakeups};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Enough for a scheduler's claims, lease renewals and API reads at once; replicas
/// each hold their own pool.
const MAX_CONNECTIONS: u32 = 10;
/// A replica that cannot reach the database fails fast rather than hanging a request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    cipher: Cipher,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db`) and brings the schema up
    /// to date.
    pub async fn open(url: &str, cipher: Cipher) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::db("read the PostgreSQL URL"))?;
        Self::open_with(options, cipher).await
    }

    /// Like [`PgStore::open`] with options built by the caller (tests pick a schema
    /// through `search_path`).
    pub async fn open_with(options: PgConnectOptions, cipher: Cipher) -> Result<Self> {
        let what = format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or(""));
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(StoreError::db_for("connect to PostgreSQL at", what))?;
        // sqlx holds a database-wide advisory lock while migrating, so replicas that
        // start at once apply each migration once.
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool, cipher })
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests that inspect or corrupt rows.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>> {
    pool.begin().await.map_err(StoreError::db("begin a transaction"))
}

async fn commit(tx: Transaction<'static, Postgres>, what: &'static str) -> Result<()> {
    tx.commit().await.map_err(StoreError::db(what))
}

/// Serialises transactions on `key` until commit, where SQLite's single writer would:
/// a check-then-write that rows alone cannot lock (the row does not exist yet).
async fn advisory_lock(tx: &mut Transaction<'static, Postgres>, key: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::db_for("take the lock", key.to_string()))?;
    Ok(())
}

/// Wakes the schedulers of every replica once the transaction commits (PostgreSQL
/// delivers notifications at commit, and drops them on rollback).
async fn notify<'e, E: Executor<'e, Database = Postgres>>(executor: E, why: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(REQUESTS_CHANNEL)
        .bind(why)
        .execute(executor)
        .await
        .map_err(StoreError::db("notify the schedulers"))?;
    Ok(())
}
