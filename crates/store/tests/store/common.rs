//! Helpers shared by the store tests: a `Fixture` per backend (SQLite on a temporary
//! file always; PostgreSQL in a fresh schema when TERRACE_TEST_POSTGRES_URL is set) and
//! `backends!`, which runs each test function on both.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tempfile::TempDir;
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use terrace_store::{
    Cipher, ControlStore, EnvironmentRecord, NewRun, Owner, RunLease, RunRecord, SqlStore, Store, StoreError,
};
use time::OffsetDateTime;

pub const KEY: [u8; 32] = [42; 32];
pub const POSTGRES_URL_VAR: &str = "TERRACE_TEST_POSTGRES_URL";

/// One store under test, reached through the traits only, plus what it takes to open a
/// second handle on the same database (another process or replica) and to reach its
/// rows directly.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub control: Arc<dyn ControlStore>,
    pub timed: Arc<dyn terrace_store::ScheduleStore>,
    pub previews: Arc<dyn terrace_store::PreviewStore>,
    pub import: Arc<dyn terrace_store::ImportStore>,
    pub agents: Arc<dyn terrace_store::AgentStore>,
    pub tickets: Arc<dyn terrace_store::OutputTicketStore>,
    backend: Backend,
}

enum Backend {
    Sqlite { dir: TempDir },
    Postgres { options: Box<PgConnectOptions> },
}

/// Generates `sqlite::NAME` and `postgres::NAME` tests that call `NAME(fixture)`.
macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(crate::common::Fixture::sqlite().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                if let Some(f) = crate::common::Fixture::postgres().await {
                    super::$name(f).await
                }
            })*
        }
    };
}
pub(crate) use backends;

/// The PostgreSQL server to test against. Missing, the PostgreSQL tests skip with a
/// note, except under CI, where a skipped half of the suite would pass unnoticed.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{POSTGRES_URL_VAR} is not set under CI=true: run scripts/test, which starts PostgreSQL")
        }
        _ => {
            eprintln!("skipped: set {POSTGRES_URL_VAR} (scripts/test does) to run the PostgreSQL store tests");
            None
        }
    }
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqlStore::open_sqlite(&db_path(dir.path()), Cipher::new(KEY)).await.unwrap());
        Fixture {
            store: store.clone(),
            control: store.clone(),
            timed: store.clone(),
            previews: store.clone(),
            import: store.clone(),
            agents: store.clone(),
            tickets: store,
            backend: Backend::Sqlite { dir },
        }
    }

    /// A store in a schema of its own, so tests run in parallel on one database.
    pub async fn postgres() -> Option<Fixture> {
        let options = fresh_schema(&postgres_url()?).await;
        let store = Arc::new(SqlStore::open_postgres_with(options.clone(), Cipher::new(KEY)).await.unwrap());
        Some(Fixture {
            store: store.clone(),
            control: store.clone(),
            timed: store.clone(),
            previews: store.clone(),
            import: store.clone(),
            agents: store.clone(),
            tickets: store,
            backend: Backend::Postgres { options: Box::new(options) },
        })
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.backend, Backend::Sqlite { .. })
    }

    /// The SQLite file, or the PostgreSQL connection options, to open more handles.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match &self.backend {
            Backend::Sqlite { dir } => Some(db_path(dir.path())),
            Backend::Postgres { .. } => None,
        }
    }

    pub fn postgres_options(&self) -> Option<PgConnectOptions> {
        match &self.backend {
            Backend::Sqlite { .. } => None,
            Backend::Postgres { options } => Some((**options).clone()),
        }
    }

    /// A second handle on the same database, as another process or replica opens it.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        Arc::new(self.open_with(Cipher::new(KEY)).await.unwrap())
    }

    /// Opens the same database again with `cipher`: refused when it is not the store's key.
    pub async fn open_with(&self, cipher: Cipher) -> Result<SqlStore, StoreError> {
        match &self.backend {
            Backend::Sqlite { dir } => SqlStore::open_sqlite(&db_path(dir.path()), cipher).await,
            Backend::Postgres { options } => SqlStore::open_postgres_with((**options).clone(), cipher).await,
        }
    }

    /// Points the store's master-key check at `cipher`'s key by hand, as an operator
    /// starting over after losing the key would: the store then opens with that key, and
    /// what the old key sealed stays unreadable.
    pub async fn point_key_check_at(&self, cipher: &Cipher) {
        self.execute(&format!("UPDATE master_key SET key_id = '{}'", cipher.key_id())).await;
    }

    /// Runs one statement without parameters straight on the database (to corrupt a
    /// row on purpose).
    pub async fn execute(&self, sql: &str) {
        match &self.backend {
            Backend::Sqlite { dir } => {
                sqlite_conn(dir.path()).execute_batch(sql).unwrap();
            }
            Backend::Postgres { options } => {
                let mut conn = PgConnection::connect_with(options).await.unwrap();
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
        }
    }

    /// The rows of a query selecting two integers.
    pub async fn int_pairs(&self, sql: &str) -> Vec<(i64, i64)> {
        match &self.backend {
            Backend::Sqlite { dir } => {
                let conn = sqlite_conn(dir.path());
                let mut s = conn.prepare(sql).unwrap();
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
            }
            Backend::Postgres { options } => {
                let mut conn = PgConnection::connect_with(options).await.unwrap();
                sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
            }
        }
    }

    /// The first column of every row of a query selecting one text.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        self.column(sql).await
    }

    /// The first column of every row of a query selecting one blob.
    pub async fn blobs(&self, sql: &str) -> Vec<Vec<u8>> {
        self.column(sql).await
    }

    /// The first column of every row of a query selecting one value, on either backend.
    async fn column<T>(&self, sql: &str) -> Vec<T>
    where
        T: rusqlite::types::FromSql
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Unpin,
    {
        match &self.backend {
            Backend::Sqlite { dir } => {
                let conn = sqlite_conn(dir.path());
                let mut s = conn.prepare(sql).unwrap();
                s.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
            }
            Backend::Postgres { options } => {
                let mut conn = PgConnection::connect_with(options).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
        }
    }
}

pub fn sqlite_conn(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db_path(dir)).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
    conn
}

/// Creates a schema named after a new UUID and returns options whose connections use it.
pub async fn fresh_schema(url: &str) -> PgConnectOptions {
    let options = PgConnectOptions::from_str(url).unwrap();
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect_with(&options).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    options.options([("search_path", schema.as_str())])
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("terrace.db")
}

pub async fn env(store: &dyn Store, name: &str) -> EnvironmentRecord {
    store.ensure_environment("shop", name).await.unwrap()
}

pub fn new_run(env: &EnvironmentRecord, job: &str, event: Event, pipeline: Option<PipelineId>) -> NewRun {
    NewRun {
        id: RunId::new(),
        pipeline_id: pipeline,
        environment_id: env.id,
        project: env.project.clone(),
        environment: env.name.clone(),
        job: job.into(),
        event,
        forced: false,
        trigger: "cli:test".into(),
        commit: None,
    }
}

/// The holder of the runs the tests create.
pub fn me() -> Owner {
    Owner::local(4242, 7, "test-host")
}

/// A lease end comfortably ahead.
pub fn soon() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::minutes(5)
}

/// A new run, queued and held by `me()`.
pub async fn run(store: &dyn Store, env: &EnvironmentRecord, job: &str) -> RunRecord {
    store.create_run(new_run(env, job, Event::Start, None), &me(), soon()).await.unwrap()
}

/// The lease a run is held under.
pub fn lease(r: &RunRecord) -> RunLease {
    r.lease().expect("the run is held")
}

pub fn unknown_env() -> EnvironmentId {
    EnvironmentId::new()
}
