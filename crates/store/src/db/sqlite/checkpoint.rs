//! WAL checkpoints off the writer's path. SQLite's own automatic checkpoint runs inside
//! the commit that crosses its threshold: that commit then copies the WAL into the
//! database and syncs both files, which on a virtual disk took several milliseconds and
//! made the p99 of a job's start (docs/PERFORMANCE.md, C). Here the writer's commit hook
//! only looks at the WAL's size; once it holds [`WAKE_PAGES`] pages (SQLite's own
//! threshold) it wakes a thread of its own, which runs a `PASSIVE` checkpoint on its own
//! connection: it never waits for a reader or a writer, and the writer goes on meanwhile.
//! Should that thread fall behind, the commit that finds [`BACKSTOP_PAGES`] pages
//! checkpoints itself, as SQLite's automatic checkpoint would.
//!
//! Durability is unchanged: a commit is in the WAL when it returns, as before; a
//! checkpoint only moves committed pages into the database file.
//!
//! The hook is SQLite's `sqlite3_wal_hook`, which rusqlite does not wrap: the one unsafe
//! part of the store (`register`).

use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, ffi};

/// WAL pages that wake the checkpoint thread: SQLite's own default threshold.
const WAKE_PAGES: i32 = 1_000;
/// WAL pages at which a commit checkpoints itself (the thread fell behind).
const BACKSTOP_PAGES: i32 = 10_000;

/// The writer's side: wakes the thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wake: Mutex<Option<SyncSender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Checkpoints done, for whoever waits on one (tests).
    #[cfg_attr(not(test), expect(dead_code, reason = "only tests wait for a checkpoint"))]
    done: Arc<(Mutex<u64>, Condvar)>,
}

impl Checkpointer {
    /// Starts the thread for the database at `path` (its connection is opened on the
    /// thread, at the first checkpoint).
    pub(super) fn start(path: PathBuf) -> std::io::Result<Arc<Checkpointer>> {
        // One pending wake-up is enough: a checkpoint copies whatever the WAL holds then.
        let (tx, rx) = sync_channel(1);
        let done = Arc::new((Mutex::new(0), Condvar::new()));
        let counted = done.clone();
        let thread = std::thread::Builder::new()
            .name("terrace-sqlite-checkpoint".into())
            .spawn(move || run(path, rx, &counted))?;
        Ok(Arc::new(Checkpointer { wake: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), done }))
    }

    /// Has `conn` (the writer's) call [`Checkpointer::committed`] after each commit,
    /// in place of SQLite's automatic checkpoint.
    ///
    /// Safety of the pointer handed to SQLite: every closure that runs on the writer's
    /// connection holds a clone of this `Arc` while it runs (see `SqliteDb::call`), and
    /// SQLite calls the hook only inside a commit, so the pointer is valid whenever the
    /// hook runs.
    pub(super) fn register(self: &Arc<Self>, conn: &Connection) {
        let ctx = Arc::as_ptr(self) as *mut c_void;
        // SAFETY: the handle is the open connection's own; `ctx` outlives every call of
        // the hook (above); `on_commit` only reads through it.
        unsafe {
            ffi::sqlite3_wal_hook(conn.handle(), Some(on_commit), ctx);
        }
    }

    /// After a commit that left `pages` pages in the WAL.
    fn committed(&self, pages: i32) {
        if pages < WAKE_PAGES {
            return;
        }
        if let Some(tx) = self.wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            // Full: a wake-up is pending already. Gone: the store is closing.
            let _ = tx.try_send(());
        }
    }

    /// Stops the thread (after the checkpoint it may be running) and closes its connection.
    pub(super) fn stop(&self) -> Option<JoinHandle<()>> {
        self.wake.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.thread.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Waits until `n` checkpoints are done, or `limit` has passed; how many are.
    #[cfg(test)]
    pub(super) fn wait_done(&self, n: u64, limit: std::time::Duration) -> u64 {
        let (count, cv) = &*self.done;
        let guard = count.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cv.wait_timeout_while(guard, limit, |c| *c < n).unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// SQLite's WAL hook: called on the writer's thread after each commit.
unsafe extern "C" fn on_commit(ctx: *mut c_void, db: *mut ffi::sqlite3, name: *const c_char, pages: c_int) -> c_int {
    // SAFETY: `ctx` is the `Checkpointer` that `register` gave, alive during the commit.
    let checkpointer = unsafe { &*(ctx as *const Checkpointer) };
    checkpointer.committed(pages);
    if pages >= BACKSTOP_PAGES {
        // What SQLite's automatic checkpoint does; its result is not the commit's.
        // SAFETY: the connection and schema name SQLite passed to this hook.
        unsafe {
            ffi::sqlite3_wal_checkpoint(db, name);
        }
    }
    ffi::SQLITE_OK
}

fn run(path: PathBuf, wake: Receiver<()>, done: &(Mutex<u64>, Condvar)) {
    let mut conn: Option<Connection> = None;
    while wake.recv().is_ok() {
        if conn.is_none() {
            let flags =
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
            match Connection::open_with_flags(&path, flags) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!("cannot open {} for a checkpoint: {e}", path.display());
                    continue;
                }
            }
        }
        let Some(c) = &conn else { continue };
        // (busy, WAL frames, frames copied). Busy: another connection checkpoints now.
        match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        }) {
            Ok((busy, frames, copied)) => {
                tracing::trace!(busy, frames, copied, "WAL checkpoint");
                *done.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                done.1.notify_all();
            }
            Err(e) => tracing::debug!("WAL checkpoint of {} failed: {e}", path.display()),
        }
    }
}
