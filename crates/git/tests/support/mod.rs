//! Real repositories for the tests: a bare "upstream" and a working clone that commits
//! and pushes to it with the `git` CLI, as a developer would.
#![allow(dead_code)]

pub mod http_backend;

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;
use terrace_git::{GitOptions, Mirrors, ObjectId, RepoUrl};

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

    pub fn url(&self) -> RepoUrl {
        RepoUrl::parse(&format!("file://{}", self.bare.display())).unwrap()
    }

    /// Writes `files` (a `None` content removes the file), commits and pushes `branch`.
    pub fn commit(&self, branch: &str, files: &[(&str, Option<&str>)], message: &str) -> ObjectId {
        self.checkout(branch);
        for (path, content) in files {
            let at = self.work.join(path);
            match content {
                Some(text) => {
                    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
                    std::fs::write(&at, text).unwrap();
                }
                None => std::fs::remove_file(&at).unwrap(),
            }
        }
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "--quiet", "--allow-empty", "-m", message]);
        self.push(branch)
    }

    /// Switches the working clone to `branch`, creating it from the current commit.
    pub fn checkout(&self, branch: &str) {
        let exists = Command::new("git")
            .current_dir(&self.work)
            .args(["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])
            .output()
            .unwrap()
            .status
            .success();
        let has_commits = Command::new("git")
            .current_dir(&self.work)
            .args(["rev-parse", "--verify", "--quiet", "HEAD"])
            .output()
            .unwrap()
            .status
            .success();
        if exists {
            git(&self.work, &["checkout", "--quiet", branch]);
        } else if has_commits {
            git(&self.work, &["checkout", "--quiet", "-b", branch]);
        } else {
            git(&self.work, &["checkout", "--quiet", "--orphan", branch]);
        }
    }

    pub fn push(&self, branch: &str) -> ObjectId {
        git(&self.work, &["push", "--quiet", "--force", "origin", &format!("HEAD:refs/heads/{branch}")]);
        self.head()
    }

    pub fn head(&self) -> ObjectId {
        ObjectId::parse(&git(&self.work, &["rev-parse", "HEAD"])).unwrap()
    }
}

pub async fn mirrors(root: &Path) -> Mirrors {
    Mirrors::open(root, GitOptions::default()).await.unwrap()
}

/// Every file under `dir` (relative, sorted), with `->` for symlinks.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                out.push(format!("{rel} -> {}", std::fs::read_link(&path).unwrap().display()));
            } else if kind.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
