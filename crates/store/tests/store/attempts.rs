//! Attempts and the end of a run, each written under the run's lease.

use std::sync::Arc;

use terrace_model::RunId;
use terrace_model::log::{LogBatch, Stream};
use terrace_store::{Ending, RunLease, RunState, StoreError};
use time::{Duration, OffsetDateTime};

use crate::common::*;

fn none() -> Arc<[LogBatch]> {
    Arc::new([])
}

fn note(text: &str) -> Arc<[LogBatch]> {
    Arc::new([LogBatch::now(Stream::Terrace, text)])
}

fn ending(state: RunState, exit_code: Option<i32>, reason: Option<&str>) -> Ending {
    Ending::new(state, exit_code, reason)
}

async fn attempts_are_numbered_and_the_run_follows(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let l = lease(&r);
    assert_eq!((r.state, r.owner.as_deref(), r.lease_token), (RunState::Queued, Some(me().as_str()), 1));
    let lease1 = OffsetDateTime::now_utc() + Duration::minutes(1);
    assert_eq!(f.store.start_attempt(&l, lease1, Some("hash1"), none()).await.unwrap(), 1);
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.attempts, got.owner.as_deref()), (RunState::Running, 1, Some(me().as_str())));
    assert_eq!((got.lease_expires_at, got.inputs_hash.as_deref()), (Some(lease1), Some("hash1")));
    let started = got.started_at.unwrap();

    f.store.record_attempt_handle(&l, 1, "local", "host-a/4242/18446744073709551615", "apply").await.unwrap();
    f.store.end_attempt(&l, 1, &ending(RunState::Failed, Some(2), Some("exit 2")), none(), None).await.unwrap();

    let lease2 = lease1 + Duration::minutes(1);
    assert_eq!(f.store.start_attempt(&l, lease2, None, none()).await.unwrap(), 2);
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.attempts, got.lease_expires_at, got.lease_token), (2, Some(lease2), 1));
    assert_eq!(got.started_at, Some(started), "started_at is the first attempt's");
    assert_eq!(got.inputs_hash.as_deref(), Some("hash1"), "no new hash keeps the old one");

    let a = f.store.attempts(r.id).await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].run_id, a[0].number, a[0].state), (r.id, 1, RunState::Failed));
    assert_eq!((a[0].exit_code, a[0].reason.as_deref()), (Some(2), Some("exit 2")));
    assert_eq!(
        (a[0].executor.as_deref(), a[0].handle.as_deref(), a[0].phase.as_deref()),
        (Some("local"), Some("host-a/4242/18446744073709551615"), Some("apply"))
    );
    assert!(a[0].finished_at.unwrap() >= a[0].started_at);
    assert_eq!((a[1].number, a[1].state, a[1].handle.clone(), a[1].finished_at), (2, RunState::Running, None, None));
    assert!(f.store.attempts(RunId::new()).await.unwrap().is_empty());
}

async fn finish_run_ends_the_running_attempt_and_releases_the_lease(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let l = lease(&r);
    f.store.start_attempt(&l, soon(), None, none()).await.unwrap();
    f.store.end_attempt(&l, 1, &ending(RunState::Failed, Some(1), Some("exit 1")), none(), None).await.unwrap();
    f.store.start_attempt(&l, soon(), None, none()).await.unwrap();
    f.store.finish_run(&l, &ending(RunState::Interrupted, None, Some("owner died"))).await.unwrap();

    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.exit_code, got.reason.as_deref()), (RunState::Interrupted, None, Some("owner died")));
    assert_eq!((got.owner, got.lease_expires_at), (None, None));
    assert!(got.finished_at.unwrap() >= got.started_at.unwrap());
    let a = f.store.attempts(r.id).await.unwrap();
    assert_eq!((a[0].state, a[0].reason.as_deref()), (RunState::Failed, Some("exit 1")), "a finished attempt is kept");
    assert_eq!((a[1].state, a[1].reason.as_deref()), (RunState::Interrupted, Some("owner died")));
    assert!(a[1].finished_at.is_some());
    assert!(f.store.active_runs().await.unwrap().is_empty());
    // Ended, the run takes no more writes under its old lease.
    let err = f.store.append_logs(&l, 2, note("late")).await.unwrap_err();
    assert!(matches!(&err, StoreError::LeaseLost { detail, .. } if detail.contains("ended")), "{err}");
}

async fn a_run_can_finish_without_attempts(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    f.store.finish_run(&lease(&r), &ending(RunState::Skipped, None, Some("inputs unchanged"))).await.unwrap();
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.attempts, got.started_at), (RunState::Skipped, 0, None));
    assert!(got.finished_at.is_some());
}

async fn unknown_runs_and_attempts_are_not_found(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let l = lease(&r);
    let unknown = RunLease { id: RunId::new(), ..l.clone() };
    let nf = |res: Result<(), StoreError>| matches!(res, Err(StoreError::NotFound { .. }));
    assert!(matches!(f.store.start_attempt(&unknown, soon(), None, none()).await, Err(StoreError::NotFound { .. })));
    assert!(nf(f.store.finish_run(&unknown, &ending(RunState::Failed, None, None)).await));
    assert!(nf(f.store.end_attempt(&l, 1, &ending(RunState::Failed, None, None), none(), None).await));
    assert!(nf(f.store.record_attempt_handle(&l, 1, "local", "h", "run").await));
    // A failed start leaves nothing behind.
    assert_eq!(f.store.get_run(r.id).await.unwrap().unwrap().attempts, 0);
}

/// The engine's grouped writes: an attempt starts with its opening lines and ends with
/// its summary (and the run's end), each as the separate calls would leave them.
async fn grouped_attempt_writes_match_the_separate_calls(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let l = lease(&r);
    let opening: Arc<[LogBatch]> = Arc::new([LogBatch::now(Stream::Terrace, "run 1\nvariables")]);
    assert_eq!(f.store.start_attempt(&l, soon(), Some("h"), opening).await.unwrap(), 1);
    let failed = ending(RunState::Failed, Some(3), Some("exit 3"));
    f.store.end_attempt(&l, 1, &failed, note("attempt 1 failed"), None).await.unwrap();
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.attempts, got.inputs_hash.as_deref()), (RunState::Running, 1, Some("h")));

    assert_eq!(f.store.start_attempt(&l, soon(), None, note("run 2")).await.unwrap(), 2);
    let ok = ending(RunState::Succeeded, Some(0), None);
    f.store.end_attempt(&l, 2, &ok, note("attempt 2 succeeded"), Some(&ok)).await.unwrap();
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
    let l2 = lease(&r2);
    f.store.start_attempt(&l2, soon(), None, none()).await.unwrap();
    let interrupted = ending(RunState::Interrupted, None, Some("stopped"));
    f.store.end_attempt(&l2, 1, &ending(RunState::Cancelled, None, None), none(), Some(&interrupted)).await.unwrap();
    let got = f.store.get_run(r2.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.reason.as_deref()), (RunState::Interrupted, Some("stopped")));
    assert!(f.store.read_logs(r2.id, 0, 10).await.unwrap().is_empty());
}

/// Unknown runs and attempts are errors, and nothing of the group is kept: one
/// transaction on both databases.
async fn grouped_writes_on_unknown_runs_change_nothing(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let l = lease(&r);
    let unknown = RunLease { id: RunId::new(), ..l.clone() };
    let err = f.store.start_attempt(&unknown, soon(), None, note("x")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let ok = ending(RunState::Succeeded, Some(0), None);
    let err = f.store.end_attempt(&l, 1, &ok, note("x"), Some(&ok)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.finished_at), (RunState::Queued, None));
    assert!(f.store.read_logs(r.id, 0, 10).await.unwrap().is_empty());
    assert!(f.store.read_logs(unknown.id, 0, 10).await.unwrap().is_empty());
}

backends!(
    grouped_attempt_writes_match_the_separate_calls,
    grouped_writes_on_unknown_runs_change_nothing,
    attempts_are_numbered_and_the_run_follows,
    finish_run_ends_the_running_attempt_and_releases_the_lease,
    a_run_can_finish_without_attempts,
    unknown_runs_and_attempts_are_not_found
);
