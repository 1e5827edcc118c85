//! `TERRACE_COMMIT`: the commit the project's checkout is at. Read from `.git` directly
//! (HEAD, the loose ref, then packed-refs): a `git` process per event costs milliseconds
//! before the first job can start. `git rev-parse` remains the fallback for layouts this
//! reader does not know.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The commit of the checkout holding `root`, when it is one.
pub(crate) async fn current(root: &Path) -> Option<String> {
    let dir = root.to_path_buf();
    let read = tokio::task::spawn_blocking(move || read_head(&dir)).await.ok().flatten();
    match read {
        Some(commit) => Some(commit),
        None if git_dir(root).is_some() => rev_parse(root).await,
        None => None,
    }
}

/// The `.git` folder of the checkout holding `start` (following a `gitdir:` file).
fn git_dir(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some(dot_git);
        }
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let target = text.trim().strip_prefix("gitdir:")?.trim();
        Some(dir.join(target))
    })
}

fn is_commit(s: &str) -> bool {
    s.len() >= 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn read_head(root: &Path) -> Option<String> {
    let git = git_dir(root)?;
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return is_commit(head).then(|| head.to_string());
    };
    // A worktree keeps its refs in the common folder.
    let common = std::fs::read_to_string(git.join("commondir")).ok().map(|c| git.join(c.trim())).unwrap_or(git.clone());
    for base in [&git, &common] {
        if let Ok(loose) = std::fs::read_to_string(base.join(reference)) {
            let loose = loose.trim();
            return is_commit(loose).then(|| loose.to_string());
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (commit, name) = line.split_once(' ')?;
        (name == reference && is_commit(commit)).then(|| commit.to_string())
    })
}

async fn rev_parse(root: &Path) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new("git")
            .args(["rev-parse", "--verify", "-q", "HEAD"])
            .current_dir(root)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !commit.is_empty()).then_some(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[tokio::test]
    async fn reads_what_git_says_loose_packed_and_detached() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path();
        git(repo, &["init", "-q", "-b", "main"]);
        assert_eq!(current(repo).await, None, "no commit yet");
        std::fs::write(repo.join("f"), "x").unwrap();
        git(repo, &["add", "f"]);
        git(repo, &["commit", "-q", "-m", "one"]);
        let sub = repo.join("sub");
        std::fs::create_dir(&sub).unwrap();
        let head = git(repo, &["rev-parse", "HEAD"]);
        assert_eq!(read_head(&sub).as_deref(), Some(head.as_str()), "loose ref, from a subfolder");
        git(repo, &["pack-refs", "--all"]);
        assert_eq!(read_head(repo).as_deref(), Some(head.as_str()), "packed ref");
        git(repo, &["checkout", "-q", "--detach"]);
        assert_eq!(read_head(repo).as_deref(), Some(head.as_str()), "detached");
        assert_eq!(current(tmp.path()).await.as_deref(), Some(head.as_str()));
        let outside = tempfile::tempdir().unwrap();
        assert_eq!(current(outside.path()).await, None);
    }
}
