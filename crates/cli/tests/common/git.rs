//! Real repositories for the tests: a bare "upstream" (reached by a `file://` URL) and a
//! working clone that commits and pushes to it with the `git` CLI, as a developer would.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct Upstream {
    _dir: TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
}

/// `git` with no user configuration, an author, and `main` as the first branch.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .args(["-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Upstream {
    pub fn new() -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("upstream.git");
        let work = dir.path().join("work");
        git(dir.path(), &["init", "--bare", "--quiet", bare.to_str().unwrap()]);
        git(dir.path(), &["init", "--quiet", work.to_str().unwrap()]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Upstream { _dir: dir, bare, work }
    }

    /// The `file://` URL of the bare repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Writes `files` (executable when they end in `.sh`), commits on `branch` and pushes
    /// it; returns the new commit.
    pub fn commit(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        self.checkout(branch);
        for (path, content) in files {
            let at = self.work.join(path);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(&at, content).unwrap();
            if path.ends_with(".sh") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "--quiet", "--allow-empty", "-m", message]);
        git(&self.work, &["push", "--quiet", "--force", "origin", &format!("HEAD:refs/heads/{branch}")]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Switches the working clone to `branch`, creating it from the current commit.
    pub fn checkout(&self, branch: &str) {
        let has = |spec: &str| {
            Command::new("git")
                .current_dir(&self.work)
                .args(["rev-parse", "--verify", "--quiet", spec])
                .output()
                .unwrap()
                .status
                .success()
        };
        if has(&format!("refs/heads/{branch}")) {
            git(&self.work, &["checkout", "--quiet", branch]);
        } else if has("HEAD") {
            git(&self.work, &["checkout", "--quiet", "-b", branch]);
        } else {
            git(&self.work, &["checkout", "--quiet", "--orphan", branch]);
        }
    }
}
