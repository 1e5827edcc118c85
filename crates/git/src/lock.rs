//! One fetch at a time per mirror, across threads and processes: an `flock` on the
//! mirror's lock file, taken behind an in-process async mutex so that at most one
//! blocking waiter per mirror and process sits on the blocking pool.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use nix::fcntl::{Flock, FlockArg};
use tokio::sync::OwnedMutexGuard;

use crate::GitError;

type Gate = tokio::sync::Mutex<()>;

static GATES: LazyLock<Mutex<HashMap<PathBuf, Weak<Gate>>>> = LazyLock::new(Default::default);

/// Held while a mirror is created or fetched; released on drop.
pub(crate) struct FetchLock {
    _file: Flock<File>,
    _gate: OwnedMutexGuard<()>,
}

/// Waits for the lock of `path`. Dropping the future gives up the in-process gate; a
/// waiter already blocked in `flock` takes the file lock when it is free and drops it.
pub(crate) async fn acquire(path: &Path) -> Result<FetchLock, GitError> {
    let gate = gate(path).lock_owned().await;
    let path = path.to_path_buf();
    let file = tokio::task::spawn_blocking(move || {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(GitError::io(format!("opening the mirror lock {}", path.display())))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| GitError::Io { context: format!("locking {}", path.display()), source: errno.into() })
    })
    .await
    .map_err(|e| GitError::Io { context: "waiting for the mirror lock".into(), source: std::io::Error::other(e) })??;
    Ok(FetchLock { _file: file, _gate: gate })
}

fn gate(path: &Path) -> Arc<Gate> {
    let mut gates = GATES.lock().unwrap_or_else(|e| e.into_inner());
    gates.retain(|_, gate| gate.strong_count() > 0);
    if let Some(gate) = gates.get(path).and_then(Weak::upgrade) {
        return gate;
    }
    let gate = Arc::new(Gate::new(()));
    gates.insert(path.to_path_buf(), Arc::downgrade(&gate));
    gate
}
