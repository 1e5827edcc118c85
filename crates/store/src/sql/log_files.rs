//! Run log texts in files beside the database, one per run (`logs/<run id>.log`), for a
//! `SqliteStore` on a file. SQLite would write every page of a log blob twice (to the
//! WAL, then again at the checkpoint) and hold the write lock while doing so; a file is
//! written once. The chunk rows keep where each batch's text lies in the file; bytes past
//! the last row (a write whose transaction did not commit) are overwritten by the next.
//!
//! Durability: like the rows (`synchronous=NORMAL`), the files are not synced on each
//! write; after an OS crash a row may point past what reached the disk, and reading it
//! says so.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use terrace_model::RunId;
use terrace_model::log::LogBatch;

use crate::error::StoreError;
use crate::store::Result;

#[derive(Clone, Debug)]
pub(crate) struct LogFiles {
    dir: PathBuf,
}

impl LogFiles {
    /// The folder `logs` beside `database`, created (0700) when missing.
    pub(crate) async fn beside(database: &Path) -> Result<Self> {
        let dir = database.parent().unwrap_or(Path::new(".")).join("logs");
        let create = dir.clone();
        blocking(move || std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&create), &dir).await?;
        Ok(LogFiles { dir })
    }

    fn path(&self, run: RunId) -> PathBuf {
        self.dir.join(format!("{run}.log"))
    }

    /// Writes the texts of `batches` one after the other from byte `at` of the run's file.
    pub(crate) async fn write(&self, run: RunId, at: u64, batches: Arc<[LogBatch]>) -> Result<()> {
        let path = self.path(run);
        let p = path.clone();
        blocking(
            move || {
                let file = OpenOptions::new().create(true).write(true).truncate(false).mode(0o600).open(&p)?;
                let mut pos = at;
                for b in batches.iter().filter(|b| !b.is_empty()) {
                    file.write_all_at(b.text().as_bytes(), pos)?;
                    pos += b.text().len() as u64;
                }
                Ok(())
            },
            &path,
        )
        .await
    }

    /// Bytes `at..at + len` of the run's file.
    pub(crate) async fn read(&self, run: RunId, at: u64, len: usize) -> Result<Vec<u8>> {
        let path = self.path(run);
        let p = path.clone();
        let read = blocking(
            move || {
                let mut buf = vec![0; len];
                File::open(&p)?.read_exact_at(&mut buf, at)?;
                Ok(buf)
            },
            &path,
        )
        .await;
        match read {
            Err(StoreError::LogFile { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(StoreError::Corrupt(format!(
                    "log file {} ends before byte {} that its index names (lost in a crash of the machine?)",
                    path.display(),
                    at + len as u64
                )))
            }
            other => other,
        }
    }
}

/// Runs file I/O off the async threads: writing a big log may wait on the disk.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    path: &Path,
) -> Result<T> {
    let io_error = |source| StoreError::LogFile { path: path.to_path_buf(), source };
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(io_error),
        Err(e) => Err(io_error(std::io::Error::other(e))),
    }
}
