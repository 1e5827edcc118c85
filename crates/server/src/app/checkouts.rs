//! Bounded disk for the checkouts of projects from git (`<data>/checkouts/<repository>/<commit>`):
//! each new commit read writes one, so after every new one the repository's oldest are
//! removed, keeping the newest `KEPT` and every commit still in use (a project's current
//! head, a queued or running request pinned to it). A removed checkout is written again
//! from the mirror if it is ever read again, so removing one never loses anything.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use terrace_git::RepoUrl;
use terrace_store::control::{RequestFilter, RequestState};

use super::{App, AppError, AppResult};

/// Checkouts kept per repository besides those in use.
pub const KEPT: usize = 8;
/// Requests looked at per state for the commits they pin.
const LOOK_AT: u32 = 1000;

/// Removes `repository_dir`'s checkouts beyond the newest `KEPT` that nothing uses;
/// returns how many went.
pub(crate) async fn prune(app: &App, url: &RepoUrl, repository_dir: PathBuf) -> AppResult<usize> {
    let in_use = in_use(app, url).await?;
    let removed = tokio::task::spawn_blocking(move || remove_old(&repository_dir, &in_use))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::internal(format!("pruning checkouts: {e}")))?;
    if !removed.is_empty() {
        tracing::info!(repository = %url, removed = removed.len(), "old checkouts removed");
    }
    Ok(removed.len())
}

/// The commits of `url` that a project is at or a live request is pinned to.
async fn in_use(app: &App, url: &RepoUrl) -> AppResult<HashSet<String>> {
    let mut commits = HashSet::new();
    let mut names = HashSet::new();
    for p in app.store.list_projects().await? {
        let Some(git) = p.git else { continue };
        if RepoUrl::parse(&git.url).is_ok_and(|u| u.normalized() == url.normalized()) {
            commits.insert(git.commit);
            names.insert(p.name);
        }
    }
    for state in [RequestState::Queued, RequestState::Running, RequestState::AwaitingApproval] {
        let filter = RequestFilter { state: Some(state), limit: Some(LOOK_AT), ..Default::default() };
        for r in app.store.list_requests(&filter).await? {
            if names.contains(&r.project) {
                commits.extend(r.origin.and_then(|o| o.commit));
            }
        }
    }
    Ok(commits)
}

/// Blocking: removes the checkouts of `dir` beyond the newest `KEPT` not in `in_use`.
fn remove_old(dir: &Path, in_use: &HashSet<String>) -> std::io::Result<Vec<String>> {
    let mut found: Vec<(SystemTime, String)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // `.COMMIT.UUID` folders are checkouts being written.
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        found.push((entry.metadata()?.modified()?, name));
    }
    found.sort_by(|a, b| b.cmp(a));
    let mut removed = Vec::new();
    for (_, name) in found.into_iter().skip(KEPT) {
        if in_use.contains(&name) {
            continue;
        }
        std::fs::remove_dir_all(dir.join(&name))?;
        removed.push(name);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_and_those_in_use_stay() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for i in 0..12u64 {
            let d = dir.path().join(format!("c{i:02}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::File::open(&d).unwrap().set_modified(t0 + std::time::Duration::from_secs(i)).unwrap();
        }
        std::fs::create_dir(dir.path().join(".c99.writing")).unwrap();
        let in_use = HashSet::from(["c00".to_string()]);
        let mut removed = remove_old(dir.path(), &in_use).unwrap();
        removed.sort();
        assert_eq!(removed, ["c01", "c02", "c03"]);
        assert!(dir.path().join("c00").exists() && dir.path().join("c11").exists());
        assert!(dir.path().join(".c99.writing").exists());
    }
}
