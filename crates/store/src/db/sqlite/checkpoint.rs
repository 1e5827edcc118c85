//! WAL checkpoints off the writer's path. SQLite's own automatic checkpoint runs inside
//! the commit that crosses its threshold: that commit then copies the WAL into the
//! database and syncs both files, which on a virtual disk took several milliseconds and
//! made the p99 of a job's start (docs/PERFORMANCE.md, C). Here the writer only counts
//! its commits; every [`EVERY`] of them it wakes a thread of its own that runs a
//! `PASSIVE` checkpoint on its own connection (it never waits for a reader or a writer,
//! and the writer goes on meanwhile). SQLite's automatic checkpoint stays as a backstop
//! at a higher threshold ([`BACKSTOP_PAGES`]), should this thread fall behind.
//!
//! Durability is unchanged: a commit is in the WAL when it returns, as before; a
//! checkpoint only moves committed pages into the database file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

/// Commits between two checkpoints. A job's run makes about five; the pages they
/// write (about ten each) stay well under the backstop.
const EVERY: u64 = 64;
/// SQLite's own automatic checkpoint, in WAL pages (its default is 1,000).
pub(super) const BACKSTOP_PAGES: u32 = 10_000;

/// The writer's side: counts commits and wakes the thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    commits: AtomicU64,
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
        Ok(Arc::new(Checkpointer {
            commits: AtomicU64::new(0),
            wake: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            done,
        }))
    }

    /// Called by the writer after each commit.
    pub(super) fn committed(&self) {
        let n = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if !n.is_multiple_of(EVERY) {
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
