//! `SqlStore`: the one store, on SQLite (the default; one file shared safely by several
//! `terrace` processes) or PostgreSQL (many server replicas). Its queries are written
//! once, one module per part; `Store` and `ControlStore` are implemented once, in
//! `store_impl` and `control_impl`.

mod adopt;
mod agents;
mod applied;
mod approvals;
mod attempts;
mod audit;
mod control_impl;
mod deliveries;
mod drift_checks;
mod environments;
mod events;
mod expiries;
mod fence;
mod import_impl;
mod key_check;
mod locks;
mod log_files;
mod logs;
mod notifications;
mod output_tickets;
mod outputs;
mod previews;
mod projects;
mod promotions;
mod requests;
mod runs;
mod schedules;
mod secrets;
mod snapshots;
mod state_impl;
mod store_impl;
mod tf_plans;
mod tf_state;
mod timed_impl;
mod tokens;

use std::path::Path;

use crate::crypto::Cipher;
use crate::db::Db;
use crate::db::postgres::{self, PgDb};
use crate::db::sqlite::SqliteDb;
use crate::store::Result;

pub use crate::db::postgres::{REQUESTS_CHANNEL, RequestWakeups};
pub use sqlx::postgres::PgConnectOptions;

#[derive(Clone, Debug)]
pub struct SqlStore {
    db: Db,
    cipher: Cipher,
    /// Where run log texts are written (SQLite on a file); `None`: in the rows.
    log_files: Option<log_files::LogFiles>,
}

impl SqlStore {
    /// Opens (creating if missing) a SQLite file and brings its schema up to date. Run
    /// logs go to `logs/` beside it. Refused when the file records another master key
    /// ([`StoreError::WrongMasterKey`](crate::StoreError::WrongMasterKey)).
    pub async fn open_sqlite(path: &Path, cipher: Cipher) -> Result<SqlStore> {
        let db = Db::Sqlite(SqliteDb::open(path).await?);
        let log_files = Some(log_files::LogFiles::beside(path).await?);
        SqlStore { db, cipher, log_files }.checked(format!("the store {}", path.display())).await
    }

    /// A private in-memory SQLite database (tests); logs stay in the rows.
    pub async fn open_in_memory(cipher: Cipher) -> Result<SqlStore> {
        let store = SqlStore { db: Db::Sqlite(SqliteDb::open_in_memory().await?), cipher, log_files: None };
        store.checked("the in-memory store".into()).await
    }

    /// Connects to PostgreSQL at `url` (`postgres://user:pass@host:port/db`) and brings
    /// the schema up to date.
    pub async fn open_postgres(url: &str, cipher: Cipher) -> Result<SqlStore> {
        SqlStore::open_postgres_with(postgres::options(url)?, cipher).await
    }

    /// Like [`SqlStore::open_postgres`] with options built by the caller (tests pick a
    /// schema through `search_path`).
    pub async fn open_postgres_with(options: PgConnectOptions, cipher: Cipher) -> Result<SqlStore> {
        let what = format!(
            "the PostgreSQL store at {}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        SqlStore { db: Db::Postgres(PgDb::open(options).await?), cipher, log_files: None }.checked(what).await
    }

    /// The store, once its master-key check passed (one code path for every backend).
    async fn checked(self, what: String) -> Result<SqlStore> {
        match key_check::check(&self, what).await {
            Ok(()) => Ok(self),
            Err(e) => {
                self.close().await;
                Err(e)
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// On PostgreSQL, a listener woken whenever any replica enqueues, finishes or gives
    /// back a request; `None` on SQLite, whose one server wakes itself.
    pub async fn request_wakeups(&self) -> Result<Option<RequestWakeups>> {
        match &self.db {
            Db::Postgres(pg) => pg.request_wakeups().await.map(Some),
            Db::Sqlite(_) => Ok(None),
        }
    }

    /// Closes every connection (SQLite: the last one to close checkpoints the WAL).
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// The PostgreSQL pool, for tests that inspect rows.
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.db {
            Db::Postgres(pg) => Some(pg.pool()),
            Db::Sqlite(_) => None,
        }
    }
}
