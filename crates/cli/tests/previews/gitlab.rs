//! A GitLab merge request's preview: opened → deployed; an update that only edits labels
//! deploys nothing; an update with commits deploys the new head; merged → destroyed. The
//! merge request's note and commit statuses go to the stand-in GitLab.

use crate::payloads::{Pr, sha};
use crate::scale::{write_jobs, yaml};
use crate::support::eventually;
use crate::{Previews, WITHIN, env_of, ledger};

#[test]
fn a_merge_request_redeploys_only_when_its_commits_change() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    std::fs::create_dir_all(&res).unwrap();
    let text = yaml(&res, "").replace("github.com/acme/hello", "gitlab.com/acme/platform/hello");
    let mut p = Previews::new(&text);
    write_jobs(&p);
    p.start();
    let (a, b) = (sha("d4"), sha("e5"));
    let env = env_of("acme/platform/hello", 9);
    let mut mr =
        Pr { repo: "acme/platform/hello", number: 9, head: &a, branch: "feature", labels: &["preview"], draft: false };

    assert_eq!(p.gitlab("open-9", &mr.gitlab("open", None)), "queued");
    p.wait(&env, "running");
    let apps = || ledger(&res).iter().filter(|l| l.starts_with(&format!("created app {env}"))).count();
    assert_eq!(apps(), 1);

    // Labels only (no `oldrev`): nothing to deploy.
    mr.labels = &["preview", "reviewed"];
    assert_eq!(p.gitlab("labels-9", &mr.gitlab("update", None)), "queued");
    assert_eq!(p.gitlab("labels-9", &mr.gitlab("update", None)), "duplicate");
    // New commits: the new head deploys.
    mr.head = &b;
    p.gitlab("commits-9", &mr.gitlab("update", Some(&a)));
    eventually(WITHIN, "the new head deployed", || {
        p.preview(&env).filter(|v| v["state"] == "running" && v["deployed_sha"] == b.as_str())
    });
    assert_eq!(apps(), 2, "one deploy per head, none for the label edit: {:?}", ledger(&res));

    p.gitlab("merge-9", &mr.gitlab("merge", None));
    let gone = p.wait(&env, "deleted");
    assert!(gone["reason"].as_str().unwrap_or_default().contains("merged"), "{gone}");
    assert!(!res.join(&env).exists());
    let notes = eventually(WITHIN, "the note says destroyed", || {
        let notes: Vec<String> = p.gitlab_api.comments(9).into_iter().map(|n| n.body).collect();
        notes.iter().any(|n| n.contains("destroyed (every resource deleted")).then_some(notes)
    });
    assert_eq!(notes.len(), 1, "one note, edited in place: {notes:?}");
}
