//! Source snapshots: stored once per content hash beside the applied record that refers
//! to it, read back opened, and gone when no applied job refers to them any more.

use terrace_model::applied::JobDefinition;
use terrace_model::project::TemplateKind;
use terrace_store::SourceSnapshot;

use crate::common::*;

fn definition(job: &str) -> JobDefinition {
    let mut j = terrace_model::Job::new(job, TemplateKind::Shell);
    j.events = vec![terrace_model::Event::Start, terrace_model::Event::Delete];
    JobDefinition::from(&j)
}

fn snapshot(hash: &str, bytes: &[u8]) -> SourceSnapshot {
    SourceSnapshot { hash: hash.into(), tar_gz: bytes.to_vec() }
}

async fn snapshots_are_stored_once_per_hash_and_go_when_nothing_refers_to_them(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let (db1, db2, app) =
        (run(&*f.store, &e, "db").await, run(&*f.store, &e, "db").await, run(&*f.store, &e, "app").await);
    let (first, second) = ("a".repeat(64), "b".repeat(64));
    f.store
        .record_applied_with(&lease(&db1), e.id, &definition("db"), None, Some(&snapshot(&first, b"one")))
        .await
        .unwrap();
    // The same hash again (a redeploy, another job with the same folder): not stored again.
    f.store
        .record_applied_with(&lease(&app), e.id, &definition("app"), None, Some(&snapshot(&first, b"other")))
        .await
        .unwrap();
    assert_eq!(f.store.source_snapshot(&first).await.unwrap().as_deref(), Some(&b"one"[..]));
    let refs: Vec<_> = f.store.applied_jobs(e.id).await.unwrap().into_iter().map(|a| a.source_snapshot).collect();
    assert_eq!(refs, [Some(first.clone()), Some(first.clone())]);

    // db applies new content: `first` stays while app refers to it.
    f.store
        .record_applied_with(&lease(&db2), e.id, &definition("db"), None, Some(&snapshot(&second, b"two")))
        .await
        .unwrap();
    assert_eq!(f.store.source_snapshot(&first).await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(f.store.source_snapshot(&second).await.unwrap().as_deref(), Some(&b"two"[..]));

    // app's delete succeeded: nothing refers to `first` any more.
    f.store.forget_deleted(&lease(&app), e.id, "app").await.unwrap();
    assert_eq!(f.store.source_snapshot(&first).await.unwrap(), None);
    assert!(f.store.source_snapshot(&second).await.unwrap().is_some());

    // A start recorded without a snapshot drops the one it replaced.
    f.store.record_applied(&lease(&db2), e.id, &definition("db"), None).await.unwrap();
    assert_eq!(f.store.source_snapshot(&second).await.unwrap(), None);
    assert_eq!(f.store.applied_jobs(e.id).await.unwrap()[0].source_snapshot, None);
}

async fn forgetting_a_removed_job_drops_its_snapshot(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let hash = "c".repeat(64);
    f.store.record_applied_with(&lease(&r), e.id, &definition("db"), None, Some(&snapshot(&hash, b"x"))).await.unwrap();
    f.store.forget_removed(e.id, &["db".to_string()]).await.unwrap();
    assert_eq!(f.store.source_snapshot(&hash).await.unwrap(), None);
}

backends!(
    snapshots_are_stored_once_per_hash_and_go_when_nothing_refers_to_them,
    forgetting_a_removed_job_drops_its_snapshot
);
