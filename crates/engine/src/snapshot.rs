//! Source snapshots (DESIGN.md "What an environment has applied"): the content of a job's
//! source folder, kept with the record of its last successful start, so that its delete,
//! once the job is removed from `terrace.yaml`, runs from that content even when the
//! folder changed or is gone. A snapshot is a tar (stable order, no times or owners, so
//! the same content gives the same hash), compressed; the store seals it with the master
//! key and keeps one per content hash.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use terrace_exec::workspace::{self, Excluded};
use terrace_model::project::Job;
use terrace_model::{EnvironmentId, Event, RunId};
use terrace_store::{SourceSnapshot, Store};

use crate::error::EngineError;
use crate::work;

/// The most a source folder may hold (its files' bytes, before compression) for a
/// snapshot to be kept: past it, the start still applies, and its log says no snapshot
/// was kept (a removed job's delete then runs from the folder as it is).
pub const MAX_SNAPSHOT_BYTES: u64 = 32 * 1024 * 1024;

/// Whether a run of `job` for `event` keeps a snapshot: a start of a job that has a
/// delete to run later, from a folder (a git source is pinned by its commit instead).
pub(crate) fn wanted(job: &Job, event: Event) -> bool {
    matches!(event, Event::Start | Event::Redeploy) && job.git.is_none() && job.events.contains(&Event::Delete)
}

/// The snapshot of `source` (the data folder left out), or the note saying why none is
/// kept. Off the async threads.
pub(crate) async fn capture(source: PathBuf, data_dir: PathBuf, run: RunId) -> Result<SourceSnapshot, String> {
    let scratch = work::work_root(&data_dir).join(format!("{run}-0"));
    let made = tokio::task::spawn_blocking(move || {
        // What a dead process may have left under that name.
        let _ = std::fs::remove_dir_all(&scratch);
        let made = capture_blocking(&source, &data_dir, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        made
    })
    .await;
    match made {
        Ok(made) => made,
        Err(e) => Err(format!("the snapshot failed: {e}")),
    }
}

fn capture_blocking(source: &Path, data_dir: &Path, scratch: &Path) -> Result<SourceSnapshot, String> {
    // The working copy's rules (data folder left out, no link out of the source) by
    // copying it as an attempt would, then archiving the copy.
    check_size(source, data_dir)?;
    let excluded = Excluded::folders([data_dir]);
    workspace::copy_tree(source, scratch, &excluded).map_err(|e| e.to_string())?;
    archive_copy(scratch)
}

/// The snapshot of `copy`, a working copy of the source just made (nothing has run in
/// it): the same bytes, and so the same hash, as a copy made for the snapshot alone.
/// Blocking.
pub(crate) fn archive_copy(copy: &Path) -> Result<SourceSnapshot, String> {
    let tar = archive(copy)?;
    let hash = hex::encode(Sha256::digest(&tar));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)
        .and_then(|()| gz.finish())
        .map(|tar_gz| SourceSnapshot { hash, tar_gz })
        .map_err(|e| e.to_string())
}

/// Where an attempt leaves the snapshot it archived from its working copy, for the run's
/// end (`Err`: why none could be made).
#[derive(Default)]
pub(crate) struct Slot(std::sync::Mutex<Option<Result<SourceSnapshot, String>>>);

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Result<SourceSnapshot, String>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn fill(&self, made: Result<SourceSnapshot, String>) {
        *self.lock() = Some(made);
    }

    pub(crate) fn is_filled(&self) -> bool {
        self.lock().is_some()
    }

    pub(crate) fn take(&self) -> Option<Result<SourceSnapshot, String>> {
        self.lock().take()
    }
}

/// Refuses a folder over the limit before anything is copied (sizes only, from the
/// folders' listings; what a working copy leaves out is not counted).
fn check_size(source: &Path, data_dir: &Path) -> Result<(), String> {
    let root = std::fs::canonicalize(source).map_err(|e| format!("{}: {e}", source.display()))?;
    let data = std::fs::canonicalize(data_dir).ok();
    let skipped = |e: &walkdir::DirEntry| {
        e.depth() > 0
            && e.file_type().is_dir()
            && (matches!(e.file_name().to_str(), Some(".terrace" | ".git")) || data.as_deref() == Some(e.path()))
    };
    let mut total = 0u64;
    for entry in walkdir::WalkDir::new(&root).follow_links(false).into_iter().filter_entry(|e| !skipped(e)) {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_type().is_file() {
            total += entry.metadata().map_err(|e| e.to_string())?.len();
            if total > MAX_SNAPSHOT_BYTES {
                return Err(over_limit());
            }
        }
    }
    Ok(())
}

fn over_limit() -> String {
    format!(
        "the source folder holds more than {} MiB, the limit of a source snapshot",
        MAX_SNAPSHOT_BYTES / (1024 * 1024)
    )
}

/// The tar of the folder `root`: entries by name, modes kept, times and owners zeroed.
fn archive(root: &Path) -> Result<Vec<u8>, String> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut total = 0u64;
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| format!("{p}: {e}")
    };
    for entry in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().min_depth(1) {
        let entry = entry.map_err(|e| e.to_string())?;
        let rel = entry.path().strip_prefix(root).map_err(|e| e.to_string())?;
        let meta = entry.metadata().map_err(|e| e.to_string())?;
        let mut header = tar::Header::new_gnu();
        header.set_mode(meta.permissions().mode() & 0o7777);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let kind = entry.file_type();
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, rel, std::io::empty()).map_err(io(rel))?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(io(rel))?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, rel, target).map_err(io(rel))?;
        } else if kind.is_file() {
            total += meta.len();
            if total > MAX_SNAPSHOT_BYTES {
                return Err(over_limit());
            }
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file = std::fs::File::open(entry.path()).map_err(io(rel))?;
            tar.append_data(&mut header, rel, file.take(meta.len())).map_err(io(rel))?;
        }
    }
    tar.into_inner().map_err(|e| e.to_string())
}

/// A removed job's source restored from its snapshot, for its delete: `src` is used as
/// the job's folder; the folder goes when this is dropped.
pub(crate) struct Restored {
    root: PathBuf,
    pub src: PathBuf,
    pub hash: String,
}

impl Drop for Restored {
    fn drop(&mut self) {
        work::discard(std::mem::take(&mut self.root));
    }
}

/// The snapshot `job` (removed from the file) kept when environment `env` last applied
/// it, restored under the data folder for the delete run `run`; `None` when it kept none.
pub(crate) async fn restore(
    store: &dyn Store,
    env: EnvironmentId,
    job: &Job,
    data_dir: &Path,
    run: RunId,
) -> Result<Option<Restored>, EngineError> {
    let applied = store.applied_jobs(env).await?;
    let Some(hash) = applied.into_iter().find(|a| a.job == job.name).and_then(|a| a.source_snapshot) else {
        return Ok(None);
    };
    let Some(tar_gz) = store.source_snapshot(&hash).await? else { return Ok(None) };
    // `<run>-0`: a work folder no attempt uses, swept like theirs if this process dies.
    let root = work::work_root(data_dir).join(format!("{run}-0"));
    let restored = Restored { root: root.clone(), src: root.join("src"), hash: hash.clone() };
    let src = restored.src.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        workspace::private_dir(&root)?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar_gz.as_slice()));
        archive.set_preserve_permissions(true);
        archive.set_overwrite(true);
        std::fs::create_dir(&src)?;
        archive.unpack(&src)
    })
    .await
    .map_err(|e| EngineError::Internal(format!("restoring the source snapshot of job `{}`: {e}", job.name)))?
    .map_err(EngineError::io(format!("cannot restore the source snapshot {hash} of job `{}`", job.name)))?;
    Ok(Some(restored))
}

/// Where `input` (relative to the project) is inside a restored `src` when it lies in
/// the job's source folder `source` (both as the file wrote them).
pub(crate) fn input_inside(source: &Path, input: &Path, src: &Path) -> Option<PathBuf> {
    fn norm(p: &Path) -> Vec<Component<'_>> {
        p.components().filter(|c| *c != Component::CurDir).collect()
    }
    let (source, input) = (norm(source), norm(input));
    let rest = input.strip_prefix(source.as_slice())?;
    (!rest.is_empty() && rest.iter().all(|c| matches!(c, Component::Normal(_))))
        .then(|| rest.iter().fold(src.to_path_buf(), |p, c| p.join(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_content_archives_to_the_same_bytes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [a.path(), b.path()] {
            std::fs::create_dir(dir.join("mod")).unwrap();
            std::fs::write(dir.join("mod/main.sh"), "echo down\n").unwrap();
            std::fs::write(dir.join("README"), "x").unwrap();
        }
        assert_eq!(archive(a.path()).unwrap(), archive(b.path()).unwrap());
        std::fs::write(b.path().join("README"), "y").unwrap();
        assert_ne!(archive(a.path()).unwrap(), archive(b.path()).unwrap());
    }

    #[test]
    fn a_folder_over_the_limit_keeps_no_snapshot_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("small"), "x").unwrap();
        // Sparse: the limit is checked on the sizes, before anything is read.
        std::fs::File::create(dir.path().join("big")).unwrap().set_len(MAX_SNAPSHOT_BYTES).unwrap();
        let err = archive(dir.path()).unwrap_err();
        assert_eq!(err, "the source folder holds more than 32 MiB, the limit of a source snapshot");
        // Refused before anything is copied; a data folder inside is not counted.
        assert_eq!(check_size(dir.path(), Path::new("/nonexistent")).unwrap_err(), err);
        let data = dir.path().join(".data");
        std::fs::create_dir(&data).unwrap();
        std::fs::rename(dir.path().join("big"), data.join("big")).unwrap();
        assert_eq!(check_size(dir.path(), &data), Ok(()));
    }

    #[test]
    fn a_parameters_file_in_the_source_is_found_in_the_restored_copy() {
        let src = Path::new("/w/src");
        assert_eq!(input_inside(Path::new("./infra"), Path::new("infra/p.json"), src), Some(src.join("p.json")));
        assert_eq!(input_inside(Path::new("."), Path::new("params/p.json"), src), Some(src.join("params/p.json")));
        assert_eq!(input_inside(Path::new("infra"), Path::new("other/p.json"), src), None);
        assert_eq!(input_inside(Path::new("infra"), Path::new("infra/../x"), src), None);
    }
}
