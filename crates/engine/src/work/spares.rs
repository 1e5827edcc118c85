//! Emptied work folders kept for the next attempt. Making a work folder costs two
//! `mkdir` and a file creation, and removing it two `rmdir` and an unlink; on ext4 each
//! new inode is searched for among those not freed recently, which made these the
//! largest part of Terrace's own CPU per job (docs/PERFORMANCE.md, B). An attempt's folder
//! is instead emptied when it ends (what the job left in `src/` removed, the output file
//! truncated) and renamed aside as `work/.spare-<pid>-<n>`; the next attempt of this
//! process renames it to its own name. A rename allocates no inode.
//!
//! Only a folder of the plain layout is kept: exactly `src/` (a folder, not a link) and
//! `output.json` (a regular file with one link), and `input/`, which is removed. Anything
//! else, or any step that fails, removes the folder as before. A kept folder is private
//! again (0700, 0600) and empty before it is renamed aside, so a spare holds nothing of
//! the attempt that used it. A process removes its spares when it ends (`remove_all`);
//! those of a process that died are removed by the next start's sweep (`sweep_dead`).
//!
//! Only the local executor's folders are kept (a container executor's have another
//! layout). A process that a job left running outside its process group (`setsid`)
//! keeps its working directory, so what it writes there later would show in the next
//! attempt's copy; on the local executor that is no new reach: every job runs as the
//! same user and could write into any work folder already. Container executors, where
//! jobs are apart, never use spares.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::OUTPUT_FILE as OUTPUT;

/// Spares kept by this process, all data folders together: enough for the jobs it runs
/// at once, each removed only when a spare of its folder would be one too many.
const MAX: usize = 8;
const PREFIX: &str = ".spare-";

static SPARES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

fn spares() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SPARES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Renames a spare of `root`'s parent to `root`. `true`: `root` holds an empty `src/`
/// and an empty private `output.json`.
pub(super) fn take(root: &Path) -> bool {
    let Some(parent) = root.parent() else { return false };
    loop {
        let found = {
            let mut kept = spares();
            let at = kept.iter().position(|s| s.parent() == Some(parent));
            at.map(|i| kept.swap_remove(i))
        };
        let Some(spare) = found else { return false };
        // Gone (removed by hand): try the next one.
        if fs::rename(&spare, root).is_ok() {
            return true;
        }
    }
}

/// Empties `root` and keeps it as a spare; `false`: it is not kept (the caller removes
/// it), which is also the answer when a step fails half-way.
pub(super) fn keep(root: &Path) -> bool {
    let Some(parent) = root.parent() else { return false };
    if spares().len() >= MAX {
        return false;
    }
    if empty(root).is_err() {
        return false;
    }
    let spare = parent.join(format!("{PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    if fs::rename(root, &spare).is_err() {
        return false;
    }
    let mut kept = spares();
    if kept.len() >= MAX {
        drop(kept);
        let _ = fs::remove_dir_all(&spare);
        return false;
    }
    kept.push(spare);
    true
}

/// Leaves `root` as `src/` and `output.json`, both empty and private, or fails.
fn empty(root: &Path) -> io::Result<()> {
    let refuse = || io::Error::other("not a plain work folder");
    let (mut src, mut output) = (false, false);
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        match entry.file_name().to_str() {
            Some("src") if kind.is_dir() => src = true,
            Some(OUTPUT) if kind.is_file() => output = true,
            Some("input") if kind.is_dir() => fs::remove_dir_all(entry.path())?,
            _ => return Err(refuse()),
        }
    }
    if !(src && output) {
        return Err(refuse());
    }
    let src = root.join("src");
    for entry in fs::read_dir(&src)? {
        let entry = entry?;
        match entry.file_type()?.is_dir() {
            true => fs::remove_dir_all(entry.path())?,
            false => fs::remove_file(entry.path())?,
        }
    }
    // Emptied in place, never through a link; a file with another name elsewhere (a
    // hard link the job made) is not Terrace's to empty.
    let file = fs::OpenOptions::new().write(true).custom_flags(nix::libc::O_NOFOLLOW).open(root.join(OUTPUT))?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.nlink() != 1 {
        return Err(refuse());
    }
    file.set_len(0)?;
    private(&meta, 0o600, |p| file.set_permissions(p))?;
    for dir in [root, src.as_path()] {
        let meta = fs::symlink_metadata(dir)?;
        private(&meta, 0o700, |p| fs::set_permissions(dir, p))?;
    }
    Ok(())
}

/// Sets `mode` unless the file has it already.
fn private(meta: &fs::Metadata, mode: u32, set: impl FnOnce(fs::Permissions) -> io::Result<()>) -> io::Result<()> {
    match meta.permissions().mode() & 0o7777 == mode {
        true => Ok(()),
        false => set(fs::Permissions::from_mode(mode)),
    }
}

/// Removes every spare this process keeps.
pub(super) fn remove_all() {
    let kept = std::mem::take(&mut *spares());
    for spare in kept {
        let _ = fs::remove_dir_all(spare);
    }
}

/// Removes the spares under `work_root` of processes no longer running. Returns how many.
pub(super) fn sweep_dead(work_root: &Path) -> usize {
    let Ok(entries) = fs::read_dir(work_root) else { return 0 };
    let own = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != own && !terrace_exec::process::is_alive(pid, None) && fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(parent: &Path, name: &str) -> PathBuf {
        let root = parent.join(name);
        terrace_exec::workspace::private_dir(&root.join("src")).unwrap();
        terrace_exec::workspace::private_file(&root.join(OUTPUT)).unwrap();
        root
    }

    /// Tests share this process's spares: each uses a folder of its own and takes back
    /// only what it kept.
    #[test]
    fn a_used_folder_comes_back_empty_and_private_under_another_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = folder(dir.path(), "r1-1");
        fs::write(root.join("src/main.tf"), "secret").unwrap();
        fs::create_dir_all(root.join("src/.terraform/providers")).unwrap();
        fs::write(root.join(OUTPUT), r#"{"password":"hunter2"}"#).unwrap();
        terrace_exec::workspace::private_dir(&root.join("input")).unwrap();
        fs::set_permissions(root.join("src"), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(keep(&root));
        assert!(!root.exists());

        let next = dir.path().join("r2-1");
        assert!(take(&next));
        let names: Vec<_> = fs::read_dir(&next).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(fs::read_dir(next.join("src")).unwrap().count(), 0);
        assert_eq!(fs::read(next.join(OUTPUT)).unwrap(), b"");
        let mode = |p: PathBuf| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(next.clone()), 0o700);
        assert_eq!(mode(next.join("src")), 0o700);
        assert_eq!(mode(next.join(OUTPUT)), 0o600);
        assert!(!take(&dir.path().join("r3-1")), "one spare was kept, and it is taken");
    }

    #[test]
    fn a_folder_the_job_changed_in_shape_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.json");
        fs::write(&outside, "keep me").unwrap();

        let linked = folder(dir.path(), "a-1");
        fs::remove_file(linked.join(OUTPUT)).unwrap();
        std::os::unix::fs::symlink(&outside, linked.join(OUTPUT)).unwrap();
        assert!(!keep(&linked), "an output file replaced by a link");

        let hard = folder(dir.path(), "b-1");
        fs::remove_file(hard.join(OUTPUT)).unwrap();
        fs::hard_link(&outside, hard.join(OUTPUT)).unwrap();
        assert!(!keep(&hard), "an output file with a second name");

        let extra = folder(dir.path(), "c-1");
        fs::write(extra.join("left-over"), "x").unwrap();
        assert!(!keep(&extra), "an entry Terrace did not make");

        assert_eq!(fs::read(&outside).unwrap(), b"keep me");
        assert!(!take(&dir.path().join("d-1")));
    }

    #[test]
    fn spares_of_dead_processes_are_swept_and_this_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let pid = dead.id();
        dead.wait().unwrap();
        fs::create_dir(dir.path().join(format!("{PREFIX}{pid}-0"))).unwrap();
        fs::create_dir(dir.path().join(format!("{PREFIX}{}-0", std::process::id()))).unwrap();
        assert_eq!(sweep_dead(dir.path()), 1);
        assert!(dir.path().join(format!("{PREFIX}{}-0", std::process::id())).exists());
    }
}
