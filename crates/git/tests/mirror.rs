//! Mirrors against real repositories: created once, fetched incrementally, no fetch for
//! a commit already present, one creation under concurrent callers, clear errors.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use support::{Upstream, git, mirrors};
use terrace_git::{Fetch, GitError, GitOptions, Mirrors, ObjectId};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_mirror_is_created_once_then_fetched_incrementally() {
    let up = Upstream::new();
    let c1 = up.commit("main", &[("main.tf", Some("one"))], "one");
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("mirrors");
    let mirrors = support::mirrors(&root).await;
    let mirror = mirrors.mirror(&up.url(), None).unwrap();
    let cancel = CancellationToken::new();

    let first = mirror.resolve("main", &cancel).await.unwrap();
    assert_eq!((first.commit.clone(), first.fetch), (c1.clone(), Fetch::Created));
    assert_eq!(std::fs::metadata(&root).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(mirror.path().starts_with(&root));
    assert_eq!(mirror.path().file_name().unwrap().to_str().unwrap(), up.url().mirror_key());

    // A branch may have moved: one incremental fetch. A commit id already here: none.
    assert_eq!(mirror.resolve("main", &cancel).await.unwrap().fetch, Fetch::Updated);
    assert_eq!(mirror.resolve(c1.as_str(), &cancel).await.unwrap().fetch, Fetch::None);

    let c2 = up.commit("main", &[("main.tf", Some("two"))], "two");
    assert_eq!(mirror.resolve(c1.as_str(), &cancel).await.unwrap().commit, c1, "a pinned commit never moves");
    let moved = mirror.resolve("main", &cancel).await.unwrap();
    assert_eq!((moved.commit, moved.fetch), (c2.clone(), Fetch::Updated));

    // Another process (its own `Mirrors`) reuses the mirror on disk.
    let other = support::mirrors(&root).await.mirror(&up.url(), None).unwrap();
    assert_eq!(other.resolve(c2.as_str(), &cancel).await.unwrap().fetch, Fetch::None);
    let dirs: Vec<_> = std::fs::read_dir(&root).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).collect();
    assert_eq!(dirs.len(), 3, "one mirror beside keys/ and home/: {dirs:?}");
}

#[tokio::test]
async fn concurrent_callers_in_two_processes_create_the_mirror_once() {
    let up = Upstream::new();
    let head = up.commit("main", &[("a", Some("a"))], "a");
    let data = tempfile::tempdir().unwrap();
    // Two `Mirrors` share nothing in memory: only the lock file orders them, as two
    // processes would be ordered.
    let (one, two) = (mirrors(data.path()).await, mirrors(data.path()).await);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mirror = if i % 2 == 0 { &one } else { &two }.mirror(&up.url(), None).unwrap();
        tasks.push(tokio::spawn(async move { mirror.resolve("main", &CancellationToken::new()).await.unwrap() }));
    }
    let mut created = 0;
    for task in tasks {
        let resolved = task.await.unwrap();
        assert_eq!(resolved.commit, head);
        created += usize::from(resolved.fetch == Fetch::Created);
    }
    assert_eq!(created, 1, "the mirror was created more than once");
}

#[tokio::test]
async fn tags_and_short_ids_resolve_to_commits() {
    let up = Upstream::new();
    let c1 = up.commit("main", &[("a", Some("1"))], "one");
    git(&up.work, &["tag", "v1"]);
    let c2 = up.commit("main", &[("a", Some("2"))], "two");
    git(&up.work, &["tag", "-a", "v2", "-m", "annotated"]);
    git(&up.work, &["push", "--quiet", "origin", "--tags"]);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirrors(data.path()).await.mirror(&up.url(), None).unwrap();
    let cancel = CancellationToken::new();

    assert_eq!(mirror.resolve("v1", &cancel).await.unwrap().commit, c1);
    assert_eq!(mirror.resolve("v2", &cancel).await.unwrap().commit, c2, "an annotated tag is peeled to its commit");
    assert_eq!(mirror.resolve("refs/tags/v1", &cancel).await.unwrap().commit, c1);
    let short = mirror.resolve(c1.short(), &cancel).await.unwrap();
    assert_eq!((short.commit, short.fetch), (c1.clone(), Fetch::None));

    // A short id of a commit the mirror has not seen yet costs one fetch.
    let c3 = up.commit("feature/x", &[("a", Some("3"))], "three");
    let fetched = mirror.resolve(&c3.as_str()[..10], &cancel).await.unwrap();
    assert_eq!((fetched.commit, fetched.fetch), (c3, Fetch::Updated));
}

#[tokio::test]
async fn unknown_names_get_errors_that_say_what_exists() {
    let up = Upstream::new();
    up.commit("main", &[("a", Some("1"))], "one");
    up.commit("dev", &[("a", Some("2"))], "two");
    let data = tempfile::tempdir().unwrap();
    let mirror = mirrors(data.path()).await.mirror(&up.url(), None).unwrap();
    let cancel = CancellationToken::new();

    let err = mirror.resolve("release", &cancel).await.unwrap_err();
    assert!(matches!(err, GitError::UnknownRef { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`release` is not a branch, tag or commit"), "{text}");
    assert!(text.contains("branches include: dev, main"), "{text}");
    assert!(text.contains(up.bare.to_str().unwrap()), "the error names the repository: {text}");

    let missing = ObjectId::parse(&"ab".repeat(20)).unwrap();
    let dest = data.path().join("snap");
    let err = mirror.snapshot(&missing, "", &dest, &cancel).await.unwrap_err();
    assert!(matches!(err, GitError::CommitNotFound { .. }), "{err:?}");
    assert!(!dest.exists());

    assert!(matches!(mirror.resolve("main^", &cancel).await, Err(GitError::InvalidRef { .. })));
    assert!(matches!(mirror.resolve("--upload-pack=x", &cancel).await, Err(GitError::InvalidRef { .. })));
}

#[tokio::test]
async fn a_missing_repository_is_a_git_error_and_leaves_no_mirror() {
    let data = tempfile::tempdir().unwrap();
    let url = terrace_git::RepoUrl::parse(&format!("file://{}/nowhere.git", data.path().display())).unwrap();
    let mirrors = mirrors(&data.path().join("m")).await;
    let mirror = mirrors.mirror(&url, None).unwrap();
    let err = mirror.resolve("main", &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, GitError::Git { action: "fetch", .. }), "{err:?}");
    assert!(!mirror.path().exists());
}

#[tokio::test]
async fn timeout_and_cancel_stop_git_and_leave_no_mirror() {
    let up = Upstream::new();
    up.commit("main", &[("a", Some("1"))], "one");
    let data = tempfile::tempdir().unwrap();
    // No fetch completes within a nanosecond: the timer fires first.
    let options = GitOptions { network_timeout: Duration::from_nanos(1), ..GitOptions::default() };
    let mirror = Mirrors::open(data.path(), options).await.unwrap().mirror(&up.url(), None).unwrap();
    let err = mirror.resolve("main", &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, GitError::TimedOut { action: "fetch", .. }), "{err:?}");
    assert!(!mirror.path().exists());

    let cancel = CancellationToken::new();
    cancel.cancel();
    let mirror = mirrors(data.path()).await.mirror(&up.url(), None).unwrap();
    let err = mirror.resolve("main", &cancel).await.unwrap_err();
    assert!(matches!(err, GitError::Cancelled { .. }), "{err:?}");
    // After both, a normal call creates the mirror as if nothing had happened.
    let resolved = mirror.resolve("main", &CancellationToken::new()).await.unwrap();
    assert_eq!(resolved.fetch, Fetch::Created);
}

#[tokio::test]
async fn local_repositories_can_be_refused() {
    let up = Upstream::new();
    let data = tempfile::tempdir().unwrap();
    let options = GitOptions { allow_local: false, ..GitOptions::default() };
    let mirrors = Mirrors::open(data.path(), options).await.unwrap();
    let err = mirrors.mirror(&up.url(), None).unwrap_err();
    assert!(err.to_string().contains("does not allow local repositories"), "{err}");
}

/// Run by `several_processes_create_the_mirror_once` as a child process of this test
/// binary; on its own (no variables set) it does nothing.
#[tokio::test]
async fn child_process_resolves_main() {
    let (Ok(root), Ok(url)) = (std::env::var("TERRACE_TEST_MIRRORS"), std::env::var("TERRACE_TEST_URL")) else {
        return;
    };
    let mirror =
        mirrors(std::path::Path::new(&root)).await.mirror(&terrace_git::RepoUrl::parse(&url).unwrap(), None).unwrap();
    let resolved = mirror.resolve("main", &CancellationToken::new()).await.unwrap();
    println!("RESOLVED {} {:?}", resolved.commit, resolved.fetch);
}

#[tokio::test]
async fn several_processes_create_the_mirror_once() {
    let up = Upstream::new();
    let head = up.commit("main", &[("a", Some("a"))], "a");
    let data = tempfile::tempdir().unwrap();
    let url = format!("file://{}", up.bare.display());
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_process_resolves_main", "--nocapture", "--test-threads=1"])
                .env("TERRACE_TEST_MIRRORS", data.path())
                .env("TERRACE_TEST_URL", &url)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut outcomes = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let line =
            text.lines().find_map(|l| l.find("RESOLVED ").map(|at| &l[at..])).unwrap_or_else(|| panic!("{text}"));
        outcomes.push(line.to_string());
    }
    assert!(outcomes.iter().all(|l| l.starts_with(&format!("RESOLVED {head} "))), "{outcomes:?}");
    let created = outcomes.iter().filter(|l| l.ends_with("Created")).count();
    assert_eq!(created, 1, "{outcomes:?}");
}
