//! Attempts, leases and the end of a run.

use std::sync::Arc;

use terrace_model::RunId;
use terrace_model::log::{LogBatch, Stream};
use terrace_store::{Ending, RunState, StoreError};
use time::{Duration, OffsetDateTime};

use crate::common::*;

async fn attempts_are_numbered_and_the_run_follows(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let lease1 = OffsetDateTime::now_utc() + Duration::minutes(1);
    assert_eq!(f.store.start_attempt(r.id, "local:1:2@h", lease1, Some("hash1")).await.unwrap(), 1);
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.attempts, got.owner.as_deref()), (RunState::Running, 1, Some("local:1:2@h")));
    assert_eq!((got.lease_expires_at, got.inputs_hash.as_deref()), (Some(lease1), Some("hash1")));
    let started = got.started_at.unwrap();

    f.store.record_attempt_handle(r.id, 1, "local", "host-a/4242/18446744073709551615").await.unwrap();
    f.store.finish_attempt(r.id, 1, RunState::Failed, Some(2), Some("exit 2")).await.unwrap();

    let lease2 = lease1 + Duration::minutes(1);
    assert_eq!(f.store.start_attempt(r.id, "local:9:9@h", lease2, None).await.unwrap(), 2);
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.attempts, got.owner.as_deref(), got.lease_expires_at), (2, Some("local:9:9@h"), Some(lease2)));
    assert_eq!(got.started_at, Some(started), "started_at is the first attempt's");
    assert_eq!(got.inputs_hash.as_deref(), Some("hash1"), "no new hash keeps the old one");

    let a = f.store.attempts(r.id).await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].run_id, a[0].number, a[0].state), (r.id, 1, RunState::Failed));
    assert_eq!((a[0].exit_code, a[0].reason.as_deref()), (Some(2), Some("exit 2")));
    assert_eq!(
        (a[0].executor.as_deref(), a[0].handle.as_deref()),
        (Some("local"), Some("host-a/4242/18446744073709551615"))
    );
    assert!(a[0].finished_at.unwrap() >= a[0].started_at);
    assert_eq!((a[1].number, a[1].state, a[1].handle.clone(), a[1].finished_at), (2, RunState::Running, None, None));
    assert!(f.store.attempts(RunId::new()).await.unwrap().is_empty());
}

async fn finish_run_ends_the_running_attempt_and_clears_the_lease(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let lease = OffsetDateTime::now_utc() + Duration::minutes(1);
    f.store.start_attempt(r.id, "me", lease, None).await.unwrap();
    f.store.finish_attempt(r.id, 1, RunState::Failed, Some(1), Some("exit 1")).await.unwrap();
    f.store.start_attempt(r.id, "me", lease, None).await.unwrap();
    f.store.finish_run(r.id, RunState::Interrupted, None, Some("owner died")).await.unwrap();

    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.exit_code, got.reason.as_deref()), (RunState::Interrupted, None, Some("owner died")));
    assert_eq!((got.owner, got.lease_expires_at), (None, None));
    assert!(got.finished_at.unwrap() >= got.started_at.unwrap());
    let a = f.store.attempts(r.id).await.unwrap();
    assert_eq!((a[0].state, a[0].reason.as_deref()), (RunState::Failed, Some("exit 1")), "a finished attempt is kept");
    assert_eq!((a[1].state, a[1].reason.as_deref()), (RunState::Interrupted, Some("owner died")));
    assert!(a[1].finished_at.is_some());
    assert!(f.store.active_runs().await.unwrap().is_empty());
}

async fn a_run_can_finish_without_attempts(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    f.store.finish_run(r.id, RunState::Skipped, None, Some("inputs unchanged")).await.unwrap();
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.attempts, got.started_at), (RunState::Skipped, 0, None));
    assert!(got.finished_at.is_some());
}

async fn leases_renew_for_their_owner_only(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let mine = run(&*f.store, &e, "a").await;
    let theirs = run(&*f.store, &e, "b").await;
    let done = run(&*f.store, &e, "c").await;
    let t0 = OffsetDateTime::now_utc() + Duration::seconds(30);
    f.store.start_attempt(mine.id, "me", t0, None).await.unwrap();
    f.store.start_attempt(theirs.id, "them", t0, None).await.unwrap();
    f.store.start_attempt(done.id, "me", t0, None).await.unwrap();
    f.store.finish_run(done.id, RunState::Succeeded, Some(0), None).await.unwrap();

    let t1 = t0 + Duration::minutes(5);
    f.store.renew_leases("me", t1).await.unwrap();
    let lease = |id| {
        let s = f.store.clone();
        async move { s.get_run(id).await.unwrap().unwrap().lease_expires_at }
    };
    assert_eq!(lease(mine.id).await, Some(t1));
    assert_eq!(lease(theirs.id).await, Some(t0));
    assert_eq!(lease(done.id).await, None);
}

async fn unknown_runs_and_attempts_are_not_found(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let lease = OffsetDateTime::now_utc();
    let nf = |res: Result<(), StoreError>| matches!(res, Err(StoreError::NotFound { .. }));
    assert!(matches!(f.store.start_attempt(RunId::new(), "me", lease, None).await, Err(StoreError::NotFound { .. })));
    assert!(nf(f.store.finish_run(RunId::new(), RunState::Failed, None, None).await));
    assert!(nf(f.store.finish_attempt(r.id, 1, RunState::Failed, None, None).await));
    assert!(nf(f.store.record_attempt_handle(r.id, 1, "local", "h").await));
    // A failed start leaves nothing behind.
    assert_eq!(f.store.get_run(r.id).await.unwrap().unwrap().attempts, 0);
}

fn note(text: &str) -> Arc<[LogBatch]> {
    Arc::new([LogBatch::now(Stream::Terrace, text)])
}

fn ending(state: RunState, exit_code: Option<i32>, reason: Option<&str>) -> Ending {
    Ending { state, exit_code, reason: reason.map(str::to_string) }
}

/// The engine's grouped writes: an attempt starts with its opening lines and ends with
/// its summary (and the run's end), each as the separate calls would leave them.
async fn grouped_attempt_writes_match_the_separate_calls(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let lease = OffsetDateTime::now_utc() + Duration::minutes(1);
    let opening: Arc<[LogBatch]> = Arc::new([LogBatch::now(Stream::Terrace, "run 1\nvariables")]);
    assert_eq!(f.store.start_attempt_logged(r.id, "me", lease, Some("h"), opening).await.unwrap(), 1);
    let failed = ending(RunState::Failed, Some(3), Some("exit 3"));
    f.store.end_attempt(r.id, 1, &failed, note("attempt 1 failed"), None).await.unwrap();
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.attempts, got.inputs_hash.as_deref()), (RunState::Running, 1, Some("h")));

    assert_eq!(f.store.start_attempt_logged(r.id, "me", lease, None, note("run 2")).await.unwrap(), 2);
    let ok = ending(RunState::Succeeded, Some(0), None);
    f.store.end_attempt(r.id, 2, &ok, note("attempt 2 succeeded"), Some(&ok)).await.unwrap();
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.exit_code, got.owner, got.lease_expires_at), (RunState::Succeeded, Some(0), None, None));
    assert!(got.finished_at.is_some());
    let a = f.store.attempts(r.id).await.unwrap();
    assert_eq!((a[0].state, a[0].exit_code, a[0].reason.as_deref()), (RunState::Failed, Some(3), Some("exit 3")));
    assert_eq!((a[1].state, a[1].exit_code), (RunState::Succeeded, Some(0)));
    let log = f.store.read_logs(r.id, 0, 100).await.unwrap();
    let lines: Vec<(u64, u32, &str)> = log.iter().map(|l| (l.offset, l.attempt, l.line.text.as_str())).collect();
    assert_eq!(
        lines,
        [
            (0, 1, "run 1"),
            (1, 1, "variables"),
            (2, 1, "attempt 1 failed"),
            (3, 2, "run 2"),
            (4, 2, "attempt 2 succeeded")
        ]
    );

    // The run's end may differ from the attempt's, and ends an attempt still running.
    let r2 = run(&*f.store, &e, "app").await;
    f.store.start_attempt_logged(r2.id, "me", lease, None, Arc::new([])).await.unwrap();
    let interrupted = ending(RunState::Interrupted, None, Some("stopped"));
    f.store
        .end_attempt(r2.id, 1, &ending(RunState::Cancelled, None, None), Arc::new([]), Some(&interrupted))
        .await
        .unwrap();
    let got = f.store.get_run(r2.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.reason.as_deref()), (RunState::Interrupted, Some("stopped")));
    assert!(f.store.read_logs(r2.id, 0, 10).await.unwrap().is_empty());
}

/// Unknown runs and attempts are errors, and nothing of the group is kept.
async fn grouped_writes_on_unknown_runs_change_nothing(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let lease = OffsetDateTime::now_utc() + Duration::minutes(1);
    let unknown = RunId::new();
    let err = f.store.start_attempt_logged(unknown, "me", lease, None, note("x")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let ok = ending(RunState::Succeeded, Some(0), None);
    let err = f.store.end_attempt(r.id, 1, &ok, note("x"), Some(&ok)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.finished_at), (RunState::Queued, None));
    if f.is_sqlite() {
        // One transaction there: the log line of the refused group is not kept either.
        assert!(f.store.read_logs(r.id, 0, 10).await.unwrap().is_empty());
        assert!(f.store.read_logs(unknown, 0, 10).await.unwrap().is_empty());
    }
}

backends!(
    grouped_attempt_writes_match_the_separate_calls,
    grouped_writes_on_unknown_runs_change_nothing,
    attempts_are_numbered_and_the_run_follows,
    finish_run_ends_the_running_attempt_and_clears_the_lease,
    a_run_can_finish_without_attempts,
    leases_renew_for_their_owner_only,
    unknown_runs_and_attempts_are_not_found
);
