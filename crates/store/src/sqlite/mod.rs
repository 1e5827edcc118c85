//! `SqliteStore`: the `Store` on one SQLite file, shared safely by several `terrace`
//! processes (WAL, busy timeout, write transactions that take the lock up front).
//! Each submodule holds the SQL of one part of the trait.

mod attempts;
pub(crate) mod codec;
mod control_access;
mod control_impl;
mod control_requests;
mod control_secrets;
#[cfg(test)]
mod control_tests;
mod environments;
mod events;
pub(crate) mod log_codec;
mod log_files;
pub(crate) mod logs;
mod outputs;
pub(crate) mod runs;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use terrace_model::log::LogBatch;
use terrace_model::output::OutputEntry;
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use time::OffsetDateTime;

use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::records::*;
use crate::store::{Result, Store};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another writer's lock before failing. Generous: on a
/// loaded 2-core machine (CI) a 10 s wait was seen to run out while several jobs of one
/// pipeline and another process wrote at once.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Writers are serialised by SQLite anyway; a few connections let reads overlap.
const MAX_CONNECTIONS: u32 = 4;

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    cipher: Cipher,
    /// Where run logs are written; `None` for an in-memory database (logs in rows).
    log_files: Option<log_files::LogFiles>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and brings its schema up to date.
    pub async fn open(path: &Path, cipher: Cipher) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL lets readers (`terrace logs -f` in another process) run while a writer commits.
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL syncs at checkpoints, not at each commit: a committed
            // transaction survives a crash of the process, but a power loss or OS crash
            // may lose the last few commits (never corrupts the file).
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // The connection's worker thread hands rows to the reader over a channel of
            // this many. At sqlx's default of 50 the worker blocks twice in a page of 100
            // and the reader must wake it (futex calls that show in the profile of the API's
            // lists, docs/PERFORMANCE.md, E); list pages hold at most 1,001 rows.
            .row_buffer_size(1024);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // sqlx pings a connection on every acquire by default: for SQLite that is one
            // more round trip to the connection's worker thread per query (two thread
            // wake-ups), and it can detect nothing, since the database is a local file
            // that no server can close. docs/PERFORMANCE.md measures the difference.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(StoreError::db_for("open database", path.display()))?;
        let files = log_files::LogFiles::beside(path).await?;
        Self::migrated(pool, cipher, Some(files)).await
    }

    /// A private in-memory database, for tests. One connection only: each connection
    /// to `:memory:` would be a different database.
    pub async fn open_in_memory(cipher: Cipher) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(StoreError::db("open in-memory database"))?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // The database lives as long as its one connection: never recycle it.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::db("open in-memory database"))?;
        Self::migrated(pool, cipher, None).await
    }

    /// Closes every connection; the last one to close checkpoints the WAL into the
    /// database file.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies pending migrations inside one `BEGIN IMMEDIATE` transaction, so two
    /// processes opening a new file at once apply them once (sqlx takes no lock on
    /// SQLite; nested in ours, each migration becomes a savepoint).
    ///
    /// A database already at the newest version is only read: every `terrace` command
    /// opens the store, and the write lock plus the migrator's own queries were about a
    /// millisecond before each (docs/PERFORMANCE.md, C), and a wait on any writer.
    async fn migrated(pool: SqlitePool, cipher: Cipher, log_files: Option<log_files::LogFiles>) -> Result<Self> {
        let newest = MIGRATOR.iter().map(|m| m.version).max();
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .ok()
            .flatten();
        if applied.is_none() || applied != newest {
            let mut tx = begin_write(&pool).await?;
            MIGRATOR.run_direct(&mut *tx).await?;
            tx.commit().await.map_err(StoreError::db("commit migrations"))?;
        }
        Ok(SqliteStore { pool, cipher, log_files })
    }
}

/// Starts a write transaction holding the write lock from its first statement, so it
/// never fails half-way on a lock upgrade (SQLITE_BUSY) when another process writes.
async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(StoreError::db("begin a write transaction"))
}

async fn commit(tx: Transaction<'static, Sqlite>, what: &'static str) -> Result<()> {
    tx.commit().await.map_err(StoreError::db(what))
}

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_environment(&self, project: &str, name: &str) -> Result<EnvironmentRecord> {
        environments::ensure(&self.pool, project, name).await
    }
    async fn get_environment(&self, project: &str, name: &str) -> Result<Option<EnvironmentRecord>> {
        environments::get(&self.pool, project, name).await
    }
    async fn list_environments(&self, project: &str, page: &EnvPage) -> Result<Vec<EnvironmentRecord>> {
        environments::list(&self.pool, project, page).await
    }
    async fn set_environment_state(
        &self,
        id: EnvironmentId,
        state: EnvState,
        failed_job: Option<&str>,
        reason: Option<&str>,
    ) -> Result<()> {
        environments::set_state(&self.pool, id, state, failed_job, reason).await
    }
    async fn delete_environment(&self, id: EnvironmentId) -> Result<()> {
        environments::delete(&self.pool, id).await
    }

    async fn create_pipeline(&self, env: EnvironmentId, event: Event, trigger: &str) -> Result<PipelineId> {
        runs::create_pipeline(&self.pool, env, event, trigger).await
    }
    async fn finish_pipeline(&self, id: PipelineId, state: RunState) -> Result<()> {
        runs::finish_pipeline(&self.pool, id, state).await
    }
    async fn create_run(&self, run: NewRun) -> Result<RunRecord> {
        runs::create(&self.pool, run).await
    }
    async fn get_run(&self, id: RunId) -> Result<Option<RunRecord>> {
        runs::get(&self.pool, id).await
    }
    async fn find_runs_by_prefix(&self, prefix: &str) -> Result<Vec<RunRecord>> {
        runs::find_by_prefix(&self.pool, prefix).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        runs::list(&self.pool, filter).await
    }
    async fn last_runs(&self, env: EnvironmentId) -> Result<Vec<RunRecord>> {
        runs::last_per_job(&self.pool, env).await
    }
    async fn last_success_inputs(&self, env: EnvironmentId, job: &str, event: Event) -> Result<Option<String>> {
        runs::last_success_inputs(&self.pool, env, job, event).await
    }
    async fn active_runs(&self) -> Result<Vec<RunRecord>> {
        runs::active(&self.pool).await
    }

    async fn start_attempt(
        &self,
        run: RunId,
        owner: &str,
        lease_until: OffsetDateTime,
        inputs_hash: Option<&str>,
    ) -> Result<u32> {
        attempts::start(&self.pool, run, owner, lease_until, inputs_hash, &[]).await
    }
    async fn start_attempt_logged(
        &self,
        run: RunId,
        owner: &str,
        lease_until: OffsetDateTime,
        inputs_hash: Option<&str>,
        log: Arc<[LogBatch]>,
    ) -> Result<u32> {
        if !logs::fits_inline(&log) {
            let attempt = attempts::start(&self.pool, run, owner, lease_until, inputs_hash, &[]).await?;
            self.append_logs(run, attempt, log).await?;
            return Ok(attempt);
        }
        attempts::start(&self.pool, run, owner, lease_until, inputs_hash, &log).await
    }
    async fn end_attempt(
        &self,
        run: RunId,
        attempt: u32,
        end: &Ending,
        log: Arc<[LogBatch]>,
        run_end: Option<&Ending>,
    ) -> Result<()> {
        // A long log goes to its file first; a short one into the same transaction.
        let inline = logs::fits_inline(&log);
        if !inline {
            self.append_logs(run, attempt, log.clone()).await?;
        }
        attempts::end(&self.pool, run, attempt, end, if inline { &log } else { &[] }, run_end).await
    }
    async fn record_attempt_handle(&self, run: RunId, attempt: u32, executor: &str, handle: &str) -> Result<()> {
        attempts::record_handle(&self.pool, run, attempt, executor, handle).await
    }
    async fn finish_attempt(
        &self,
        run: RunId,
        attempt: u32,
        state: RunState,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) -> Result<()> {
        attempts::finish(&self.pool, run, attempt, state, exit_code, reason).await
    }
    async fn finish_run(
        &self,
        run: RunId,
        state: RunState,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) -> Result<()> {
        attempts::finish_run(&self.pool, run, state, exit_code, reason).await
    }
    async fn set_run_plan(&self, run: RunId, summary: &serde_json::Value, artifacts: &str) -> Result<()> {
        runs::set_plan(&self.pool, run, summary, artifacts).await
    }
    async fn attempts(&self, run: RunId) -> Result<Vec<AttemptRecord>> {
        attempts::list(&self.pool, run).await
    }
    async fn renew_leases(&self, owner: &str, until: OffsetDateTime) -> Result<()> {
        attempts::renew_leases(&self.pool, owner, until).await
    }

    async fn append_logs(&self, run: RunId, attempt: u32, batches: Arc<[LogBatch]>) -> Result<()> {
        logs::append(&self.pool, self.log_files.as_ref(), run, attempt, batches).await
    }
    async fn read_logs(&self, run: RunId, offset: u64, limit: u32) -> Result<Vec<StoredLogLine>> {
        logs::read(&self.pool, self.log_files.as_ref(), run, offset, limit).await
    }

    async fn put_outputs(&self, env: EnvironmentId, job: &str, run: RunId, entries: &[OutputEntry]) -> Result<()> {
        outputs::put(&self.pool, &self.cipher, env, job, run, entries).await
    }
    async fn outputs(&self, env: EnvironmentId) -> Result<Vec<StoredOutput>> {
        outputs::list(&self.pool, &self.cipher, env).await
    }
    async fn delete_outputs(&self, env: EnvironmentId, job: &str) -> Result<()> {
        outputs::delete(&self.pool, env, job).await
    }

    async fn record_event(&self, env: EnvironmentId, run: Option<RunId>, kind: &str, message: &str) -> Result<()> {
        events::record(&self.pool, env, run, kind, message).await
    }
    async fn events(&self, env: EnvironmentId, limit: u32) -> Result<Vec<EventRecord>> {
        events::list(&self.pool, env, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection settings the sharing between processes relies on.
    #[tokio::test]
    async fn connections_use_wal_normal_sync_foreign_keys_and_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db"), Cipher::new([1; 32])).await.unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        let text = |sql: &'static str| sqlx::query_scalar::<_, String>(sql);
        let int = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        assert_eq!(text("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap(), "wal");
        assert_eq!(int("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap(), 1, "NORMAL");
        assert_eq!(int("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap(), 1);
        assert_eq!(int("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap(), BUSY_TIMEOUT.as_millis() as i64);
    }
}
