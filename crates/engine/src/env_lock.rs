//! One event at a time per environment, across processes: an exclusive `flock` on a file
//! in the data folder. The kernel drops the lock when the holder dies, so a killed
//! `terrace` never leaves an environment locked.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::EngineError;

pub(crate) struct EnvLock {
    _lock: Flock<File>,
}

impl EnvLock {
    /// Takes the lock or fails at once naming the holder.
    pub(crate) fn acquire(data_dir: &Path, project: &str, env: &str) -> Result<EnvLock, EngineError> {
        let dir = data_dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(EngineError::io(format!("cannot create {}", dir.display())))?;
        let path = dir.join(format!("{project}.{env}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(EngineError::io(format!("cannot open {}", path.display())))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let _ = lock.set_len(0);
                let _ = lock.rewind();
                let _ = write!(lock, "{}", std::process::id());
                Ok(EnvLock { _lock: lock })
            }
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Err(EngineError::Busy {
                    env: env.to_string(),
                    detail: format!(
                        "another terrace process (pid {}) is running an event on it; wait for it to finish",
                        holder.trim()
                    ),
                })
            }
        }
    }
}
