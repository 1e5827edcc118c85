//! Snapshots against real repositories: exactly the pinned commit's folder, whatever
//! was pushed since; no `.git`; modes and inside symlinks kept; escaping symlinks refused.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{Upstream, git, listing, mirrors};
use terrace_git::{Fetch, GitError};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_push_after_resolve_does_not_change_a_pinned_snapshot() {
    let up = Upstream::new();
    let pinned = up.commit("main", &[("infra/main.tf", Some("v1")), ("README", Some("r"))], "one");
    let data = tempfile::tempdir().unwrap();
    let mirror = mirrors(&data.path().join("m")).await.mirror(&up.url(), None).unwrap();
    let cancel = CancellationToken::new();
    let resolved = mirror.resolve("main", &cancel).await.unwrap();
    assert_eq!(resolved.commit, pinned);

    // Pushes land while the pipeline runs, one of them rewriting the branch's history.
    up.commit("main", &[("infra/main.tf", Some("v2"))], "two");
    git(&up.work, &["checkout", "--quiet", "--orphan", "rewritten"]);
    std::fs::write(up.work.join("infra/main.tf"), "v3").unwrap();
    git(&up.work, &["add", "-A"]);
    git(&up.work, &["commit", "--quiet", "-m", "rewritten"]);
    let rewritten = up.push("main");
    assert_eq!(mirror.resolve("main", &cancel).await.unwrap().commit, rewritten);

    let dest = data.path().join("snap");
    let snap = mirror.snapshot(&resolved.commit, "infra", &dest, &cancel).await.unwrap();
    assert_eq!(snap.commit, pinned);
    assert_eq!(snap.fetch, Fetch::None);
    assert_eq!(std::fs::read_to_string(dest.join("main.tf")).unwrap(), "v1");
    assert_eq!(listing(&dest), ["main.tf"]);
}

#[tokio::test]
async fn a_subfolder_is_written_exactly_without_git_metadata() {
    let up = Upstream::new();
    let files = [
        ("README.md", Some("root")),
        ("infra/dev/main.tf", Some("resource \"terraform_data\" \"x\" {}\n")),
        ("infra/dev/modules/net/net.tf", Some("# net\n")),
        ("infra/dev/deploy.sh", Some("#!/bin/sh\necho $Format:%H$\n")),
        ("infra/dev/ignored.txt", Some("kept: export-ignore must not apply\n")),
        ("infra/dev/.gitattributes", Some("ignored.txt export-ignore\ndeploy.sh export-subst\n*.tf text eol=crlf\n")),
        ("infra/prod/main.tf", Some("prod")),
    ];
    let commit = up.commit("main", &files, "layout");
    std::fs::set_permissions(up.work.join("infra/dev/deploy.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let commit2 = up.commit("main", &[], "exec bit");
    assert_ne!(commit, commit2);
    let data = tempfile::tempdir().unwrap();
    let mirror = mirrors(&data.path().join("m")).await.mirror(&up.url(), None).unwrap();
    let cancel = CancellationToken::new();

    let dest = data.path().join("snap");
    let snap = mirror.checkout("main", "./infra/dev/", &dest, &cancel).await.unwrap();
    assert_eq!(snap.commit, commit2);
    assert_eq!(snap.fetch, Fetch::Created);
    assert_eq!(snap.path, "infra/dev");
    assert_eq!(snap.tree.as_str(), git(&up.work, &["rev-parse", "HEAD:infra/dev"]));
    assert_eq!((snap.files, snap.symlinks), (5, 0));
    assert_eq!(
        listing(&dest),
        [".gitattributes", "deploy.sh", "ignored.txt", "main.tf", "modules/net/net.tf"],
        "the folder, nothing above it, no .git"
    );
    // Byte for byte what was committed: no attribute of the repository applies.
    assert_eq!(std::fs::read_to_string(dest.join("deploy.sh")).unwrap(), "#!/bin/sh\necho $Format:%H$\n");
    assert_eq!(std::fs::read_to_string(dest.join("main.tf")).unwrap(), "resource \"terraform_data\" \"x\" {}\n");
    assert_eq!(std::fs::metadata(dest.join("deploy.sh")).unwrap().permissions().mode() & 0o111, 0o111);
    assert_eq!(std::fs::metadata(dest.join("main.tf")).unwrap().permissions().mode() & 0o111, 0);

    // The whole repository, and an empty destination folder that already exists.
    let whole = data.path().join("whole");
    std::fs::create_dir(&whole).unwrap();
    let snap = mirror.snapshot(&commit2, "", &whole, &cancel).await.unwrap();
    assert_eq!(snap.files, 7);
    assert!(!whole.join(".git").exists());
}

#[tokio::test]
async fn bad_paths_and_destinations_are_clear_errors() {
    let up = Upstream::new();
    let commit = up.commit("main", &[("infra/main.tf", Some("x"))], "one");
    let data = tempfile::tempdir().unwrap();
    let mirror = mirrors(&data.path().join("m")).await.mirror(&up.url(), None).unwrap();
    let cancel = CancellationToken::new();
    let dest = data.path().join("snap");

    let err = mirror.snapshot(&commit, "infra/prod", &dest, &cancel).await.unwrap_err();
    assert!(matches!(err, GitError::PathNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("path `infra/prod` does not exist at commit"), "{err}");
    let err = mirror.snapshot(&commit, "infra/main.tf", &dest, &cancel).await.unwrap_err();
    assert!(matches!(err, GitError::NotAFolder { .. }), "{err:?}");
    let err = mirror.snapshot(&commit, "../etc", &dest, &cancel).await.unwrap_err();
    assert!(matches!(err, GitError::InvalidPath { .. }), "{err:?}");
    assert!(!dest.exists(), "a failed snapshot leaves nothing");

    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("old"), "x").unwrap();
    let err = mirror.snapshot(&commit, "infra", &dest, &cancel).await.unwrap_err();
    assert!(matches!(err, GitError::Destination { .. }), "{err:?}");
}

#[tokio::test]
async fn symlinks_inside_are_kept_and_escaping_ones_refused() {
    let up = Upstream::new();
    up.commit("main", &[("app/config/base.yaml", Some("a: 1")), ("app/shared.txt", Some("s"))], "files");
    std::os::unix::fs::symlink("config/base.yaml", up.work.join("app/current.yaml")).unwrap();
    std::os::unix::fs::symlink("../shared.txt", up.work.join("app/config/shared.txt")).unwrap();
    let inside = up.commit("main", &[], "inside links");
    // Inside the repository, but outside the snapshot of `app`.
    std::os::unix::fs::symlink("../README", up.work.join("app/readme")).unwrap();
    let above = up.commit("main", &[("README", Some("r"))], "link above the folder");
    std::fs::remove_file(up.work.join("app/readme")).unwrap();
    // Lexically inside, physically outside: `here` is the folder itself.
    std::os::unix::fs::symlink(".", up.work.join("app/here")).unwrap();
    std::os::unix::fs::symlink("../here/..", up.work.join("app/config/sneaky")).unwrap();
    let sneaky = up.commit("main", &[], "a sneaky link");

    let data = tempfile::tempdir().unwrap();
    let mirror = mirrors(&data.path().join("m")).await.mirror(&up.url(), None).unwrap();
    let cancel = CancellationToken::new();
    mirror.fetch(&cancel).await.unwrap();

    let ok = data.path().join("ok");
    let snap = mirror.snapshot(&inside, "app", &ok, &cancel).await.unwrap();
    assert_eq!(snap.symlinks, 2);
    assert_eq!(std::fs::read_to_string(ok.join("current.yaml")).unwrap(), "a: 1");
    assert_eq!(std::fs::read_link(ok.join("config/shared.txt")).unwrap().to_str(), Some("../shared.txt"));

    for (commit, link) in [(&above, "readme"), (&sneaky, "config/sneaky")] {
        let dest = data.path().join(format!("bad-{}", commit.short()));
        let err = mirror.snapshot(commit, "app", &dest, &cancel).await.unwrap_err();
        match &err {
            GitError::SymlinkEscapes { link: l, .. } => assert_eq!(l, link),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("outside the snapshot of `app`"), "{err}");
        assert!(!dest.exists(), "nothing of a refused snapshot is left");
    }
    // The same commit is fine when the folder holds the link's target.
    let whole = data.path().join("whole");
    mirror.snapshot(&above, "", &whole, &cancel).await.unwrap();
    assert_eq!(std::fs::read_to_string(whole.join("app/readme")).unwrap(), "r");
}
