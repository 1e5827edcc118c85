//! SQLite through rusqlite. One writer connection on its own thread (tokio-rusqlite):
//! a write transaction is one closure sent to it, run from `BEGIN IMMEDIATE` to `COMMIT`
//! without waiting on the caller, so no lock is ever held across an `await` of the
//! caller's. Reads run on the caller's thread, on a small pool of reader connections
//! (WAL lets them read while the writer commits): a read in WAL never waits for a writer,
//! and a point read costs less than the two thread wake-ups a hop to another thread
//! would (docs/PERFORMANCE.md, B and E). Every connection keeps its prepared statements.

mod checkpoint;
pub(crate) mod migrate;
mod run;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{Row, StepOut, Stmt, Tx};
use crate::error::{DbError, StoreError};
use crate::store::Result;

/// How long a statement waits for another process's write lock before failing. Generous:
/// on a loaded 2-core machine (CI) a 10 s wait was seen to run out while several jobs of
/// one pipeline and another process wrote at once.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle reader connections kept; more are opened when more threads read at once.
const IDLE_READERS: usize = 4;
/// Prepared statements kept per connection: every query of the store, with room.
const STATEMENT_CACHE: usize = 256;

#[derive(Clone, Debug)]
pub(crate) struct SqliteDb {
    writer: tokio_rusqlite::Connection,
    /// `None` for an in-memory database, whose one connection is the writer's.
    readers: Option<Arc<Readers>>,
    /// `None` for an in-memory database, which has no WAL.
    checkpoints: Option<Arc<checkpoint::Checkpointer>>,
}

#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

fn open_error(path: &Path) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::db(format!("open database {}", path.display()), e)
}

impl SqliteDb {
    /// Opens (creating if missing) the file, in WAL mode, and brings its schema up to date.
    ///
    /// Another process may be creating or migrating the same file at this moment (a
    /// `terrace runs` while `terrace up` starts): the switch to WAL and the schema check
    /// can then meet its lock in a way SQLite answers with `SQLITE_BUSY` at once, without
    /// waiting through the busy timeout (it refuses a lock upgrade that could deadlock).
    /// Such an open is tried again until [`BUSY_TIMEOUT`] has passed.
    pub(crate) async fn open(path: &Path) -> Result<SqliteDb> {
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match open_file(path) {
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    // Waiting for another process's lock to go: nothing to wake on but time.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(conn) => {
                    let readers = Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) };
                    let checkpoints = checkpoint::Checkpointer::start(path.to_path_buf()).map_err(|e| {
                        StoreError::Invalid(format!("cannot start a thread for {}: {e}", path.display()))
                    })?;
                    checkpoints.register(&conn);
                    return Ok(SqliteDb {
                        writer: conn.into(),
                        readers: Some(Arc::new(readers)),
                        checkpoints: Some(checkpoints),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A private in-memory database (tests): one connection, which reads too.
    pub(crate) async fn open_in_memory() -> Result<SqliteDb> {
        let fail = |e| StoreError::db("open an in-memory database", e);
        let conn = Connection::open_in_memory().map_err(fail)?;
        configure(&conn).map_err(fail)?;
        conn.execute_batch("PRAGMA foreign_keys = ON").map_err(fail)?;
        migrate::run(&conn)?;
        Ok(SqliteDb { writer: conn.into(), readers: None, checkpoints: None })
    }

    pub(crate) async fn query(&self, stmt: Stmt) -> Result<Vec<Row>> {
        match &self.readers {
            Some(readers) => readers.with(|conn| run::statement(conn, &stmt)).map(|out| out.rows),
            None => self.call(move |conn| run::statement(conn, &stmt).map(|out| out.rows)).await,
        }
    }

    pub(crate) async fn write(&self, tx: Tx) -> Result<Vec<StepOut>> {
        self.write_with(move |conn| run::steps(conn, tx)).await
    }

    /// Runs `f` in a write transaction on the writer's thread: `BEGIN IMMEDIATE` takes
    /// the write lock up front (a transaction never fails half-way on a lock upgrade when
    /// another process writes), an error from `f` rolls back.
    pub(crate) async fn write_with<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| StoreError::db("begin a write transaction", e))?;
            let out = f(&tx)?;
            tx.commit().map_err(|e| StoreError::db("commit a write transaction", e))?;
            Ok(out)
        })
        .await
    }

    async fn call<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        // The commit hook's checkpointer lives at least as long as any closure that can
        // commit on the writer's connection (`Checkpointer::register`).
        let checkpoints = self.checkpoints.clone();
        // The closure's own result travels inside the crate's: its error type is its own.
        match self
            .writer
            .call(move |conn| {
                let out = f(conn);
                drop(checkpoints);
                Ok(out)
            })
            .await
        {
            Ok(out) => out,
            Err(_) => Err(StoreError::db("reach the database", DbError::Closed)),
        }
    }

    /// Closes every connection; the last one to close (the writer's) checkpoints the WAL
    /// into the file.
    pub(crate) async fn close(&self) {
        if let Some(r) = &self.readers {
            r.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        if let Some(thread) = self.checkpoints.as_ref().and_then(|c| c.stop()) {
            // It ends after the checkpoint it may be running: joined off the async threads.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let _ = self.writer.clone().close().await;
    }
}

/// One try at opening the writer's connection: WAL, then the schema.
fn open_file(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(open_error(path))?;
    configure(&conn).map_err(open_error(path))?;
    // WAL lets readers (`terrace logs -f` in another process) run while a writer
    // commits. With WAL, synchronous=NORMAL syncs at checkpoints, not at each commit:
    // a committed transaction survives a crash of the process, but a power loss or
    // OS crash may lose the last few commits (never corrupts the file). The mode is
    // kept in the file: it is set only when the file does not have it yet, since the
    // switch needs the whole file to itself.
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(open_error(path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_error(path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!("{} cannot use WAL (journal mode {mode})", path.display())));
        }
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON").map_err(open_error(path))?;
    migrate::run(&conn)?;
    Ok(conn)
}

/// Whether an open failed only because another process held the file's lock.
fn is_busy(e: &StoreError) -> bool {
    match e {
        StoreError::Database { source: DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)), .. } => {
            matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        }
        _ => false,
    }
}

/// Settings every connection needs, writer or reader.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl Readers {
    /// Runs `f` on an idle reader connection (opened when none is idle).
    fn with<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(open_error(&self.path))?;
        configure(&conn).map_err(open_error(&self.path))?;
        // A reader never writes, whatever a query says.
        conn.execute_batch("PRAGMA query_only = ON").map_err(open_error(&self.path))?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection settings the sharing between processes relies on.
    #[tokio::test]
    async fn connections_use_wal_normal_sync_foreign_keys_and_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).await.unwrap();
        let (mode, sync, fk, busy) = db
            .call(|c| {
                let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0));
                let all = (
                    q("PRAGMA journal_mode"),
                    q("PRAGMA synchronous"),
                    q("PRAGMA foreign_keys"),
                    q("PRAGMA busy_timeout"),
                );
                Ok((all.0.unwrap(), all.1.unwrap(), all.2.unwrap(), all.3.unwrap()))
            })
            .await
            .unwrap();
        use rusqlite::types::Value as V;
        assert_eq!(mode, V::Text("wal".into()));
        assert_eq!(sync, V::Integer(1), "NORMAL");
        assert_eq!(fk, V::Integer(1));
        assert_eq!(busy, V::Integer(BUSY_TIMEOUT.as_millis() as i64));
        let reader_busy = db.readers.as_ref().unwrap().with(|c| {
            c.query_row("PRAGMA busy_timeout", [], |r| r.get::<_, i64>(0)).map_err(|e| StoreError::db("read", e))
        });
        assert_eq!(reader_busy.unwrap(), BUSY_TIMEOUT.as_millis() as i64);
    }

    /// Commits reach the database file through the checkpoint thread once the WAL holds
    /// 1,000 pages, well before a commit would checkpoint itself (10,000).
    #[tokio::test]
    async fn the_checkpoint_thread_moves_commits_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = SqliteDb::open(&path).await.unwrap();
        db.write_with(|c| c.execute_batch("CREATE TABLE t (x BLOB)").map_err(|e| StoreError::db("create", e)))
            .await
            .unwrap();
        // 64 rows of 64 KiB: about 1,100 pages of 4 KiB.
        for _ in 0..64 {
            let insert = |c: &Connection| c.execute("INSERT INTO t VALUES (zeroblob(65536))", []);
            db.write_with(move |c| insert(c).map(drop).map_err(|e| StoreError::db("insert", e))).await.unwrap();
        }
        let checkpoints = db.checkpoints.clone().unwrap();
        let waited = tokio::task::spawn_blocking(move || checkpoints.wait_done(1, Duration::from_secs(120)));
        // Once or more: every commit that finds the WAL still full wakes it again.
        assert!(waited.await.unwrap() >= 1, "the thread never checkpointed");
        // The thread stopped (the writer stays open, below its own threshold), the file
        // alone, as a copy without its WAL, holds what was committed before.
        let thread = db.checkpoints.as_ref().unwrap().stop().unwrap();
        tokio::task::spawn_blocking(move || thread.join()).await.unwrap().unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let alone = Connection::open(&copy).unwrap();
        let rows: i64 = alone.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert!(rows > 0, "no row reached the file");
        db.close().await;
    }

    /// Processes that open one new file at the same moment (a `terrace runs` while
    /// `terrace up` creates the database) all get it; none fails with "database is
    /// locked". Threads stand for the processes: each has its own connections.
    #[test]
    fn many_opening_a_new_file_at_once_all_get_it() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.db");
            let start = std::sync::Barrier::new(6);
            std::thread::scope(|s| {
                let opens: Vec<_> = (0..6)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                            rt.block_on(async {
                                let db = SqliteDb::open(&path).await?;
                                db.close().await;
                                Ok::<_, StoreError>(())
                            })
                        })
                    })
                    .collect();
                for open in opens {
                    if let Err(e) = open.join().unwrap() {
                        panic!("round {round}: {e}");
                    }
                }
            });
        }
    }
}
