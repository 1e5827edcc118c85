//! Leases that decide: runs are held from their creation, renewals say which leases
//! are gone, a take-back bumps the fencing token, and a stale holder can write nothing.

use std::sync::Arc;

use terrace_model::Event;
use terrace_model::log::{LogBatch, Stream};
use terrace_model::output::OutputEntry;
use terrace_store::{EnvState, NewPipeline, Owner, RunLease, RunState, StoreError};
use time::{Duration, OffsetDateTime};

use crate::common::*;

fn note(text: &str) -> Arc<[LogBatch]> {
    Arc::new([LogBatch::now(Stream::Terrace, text)])
}

fn lost(res: Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(res, Err(StoreError::LeaseLost { .. }))
}

async fn renewals_extend_only_the_leases_still_held(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let (mine, taken, done) =
        (run(&*f.store, &e, "a").await, run(&*f.store, &e, "b").await, run(&*f.store, &e, "c").await);
    f.store.start_attempt(&lease(&mine), soon(), None, note("go")).await.unwrap();
    assert!(f.store.take_back_run(taken.id, taken.lease_token, None, "test").await.unwrap());
    f.store.finish_run(&lease(&done), &terrace_store::Ending::new(RunState::Succeeded, Some(0), None)).await.unwrap();

    let later = OffsetDateTime::now_utc() + Duration::minutes(30);
    let lost = f.store.renew_leases(&[lease(&mine), lease(&taken), lease(&done)], later).await.unwrap();
    assert_eq!(lost, [taken.id, done.id]);
    assert_eq!(f.store.get_run(mine.id).await.unwrap().unwrap().lease_expires_at, Some(later));
    // A queued run is held, and renewed, as a running one.
    let queued = run(&*f.store, &e, "d").await;
    assert!(f.store.renew_leases(&[lease(&queued)], later).await.unwrap().is_empty());
    assert_eq!(f.store.get_run(queued.id).await.unwrap().unwrap().lease_expires_at, Some(later));
}

async fn a_taken_back_run_refuses_every_write_of_its_old_holder(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let old = lease(&r);
    assert_eq!(f.store.start_attempt(&old, soon(), None, note("started")).await.unwrap(), 1);
    f.store.set_run_image(&old, "reg/app@sha256:aa").await.unwrap();
    assert!(f.store.take_back_run(r.id, old.token, None, "its holder stopped").await.unwrap());
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.reason.as_deref(), got.owner),
        (RunState::Interrupted, Some("its holder stopped"), None)
    );
    assert_eq!(got.lease_token, old.token + 1, "the token moves on");
    let a = f.store.attempts(r.id).await.unwrap();
    assert_eq!((a[0].state, a[0].reason.as_deref()), (RunState::Interrupted, Some("its holder stopped")));
    assert!(!f.store.take_back_run(r.id, old.token, None, "again").await.unwrap(), "taken once");

    let end = terrace_store::Ending::new(RunState::Succeeded, Some(0), None);
    let out = [OutputEntry { name: "X".into(), value: "1".into(), sensitive: false }];
    assert!(lost(f.store.start_attempt(&old, soon(), None, note("again")).await));
    assert!(lost(f.store.record_attempt_handle(&old, 1, "local", "h/99/1", "run").await));
    assert!(lost(f.store.append_logs(&old, 1, note("late line")).await));
    assert!(lost(f.store.end_attempt(&old, 1, &end, note("done"), Some(&end)).await));
    assert!(lost(f.store.finish_run(&old, &end).await));
    assert!(lost(f.store.set_run_plan(&old, &serde_json::json!({}), Some("/tmp/x")).await));
    assert!(lost(f.store.set_run_image(&old, "reg/app@sha256:bb").await));
    assert!(lost(f.store.put_outputs(&old, e.id, "db", &out).await));
    assert!(lost(f.store.delete_outputs(&old, e.id, "db").await));
    // Nothing of it was written.
    let lines: Vec<String> = f.store.read_logs(r.id, 0, 10).await.unwrap().into_iter().map(|l| l.line.text).collect();
    assert_eq!(lines, ["started"]);
    assert!(f.store.outputs(e.id).await.unwrap().is_empty());
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((got.state, got.image.as_deref()), (RunState::Interrupted, Some("reg/app@sha256:aa")));
    // The error says who lost what, for the holder's log.
    let err = f.store.append_logs(&old, 1, note("x")).await.unwrap_err().to_string();
    assert!(err.contains(&r.id.to_string()) && err.contains("test-host"), "{err}");
}

async fn another_holders_lease_is_not_ours(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let impostor = RunLease { owner: Owner::replica(1, 1, "elsewhere"), ..lease(&r) };
    assert!(lost(f.store.start_attempt(&impostor, soon(), None, note("x")).await));
    let stale = RunLease { token: 0, ..lease(&r) };
    assert!(lost(f.store.append_logs(&stale, 1, note("x")).await));
    assert_eq!(f.store.get_run(r.id).await.unwrap().unwrap().state, RunState::Queued);
}

async fn a_lease_is_taken_back_only_once_it_expired(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let live = run(&*f.store, &e, "a").await;
    let now = OffsetDateTime::now_utc();
    assert!(!f.store.take_back_run(live.id, live.lease_token, Some(now), "expired?").await.unwrap());
    assert_eq!(f.store.get_run(live.id).await.unwrap().unwrap().state, RunState::Queued);

    let past = now - Duration::seconds(5);
    let stale = f.store.create_run(new_run(&e, "b", Event::Start, None), &me(), past).await.unwrap();
    assert!(f.store.take_back_run(stale.id, stale.lease_token, Some(now), "its lease ended").await.unwrap());
    assert_eq!(f.store.get_run(stale.id).await.unwrap().unwrap().state, RunState::Interrupted);
    // A renewal that came between the read and the take-back wins.
    let renewed = f.store.create_run(new_run(&e, "c", Event::Start, None), &me(), past).await.unwrap();
    f.store.renew_leases(&[lease(&renewed)], soon()).await.unwrap();
    assert!(!f.store.take_back_run(renewed.id, renewed.lease_token, Some(now), "x").await.unwrap());
}

async fn a_pipeline_opens_in_one_go_with_its_runs_held(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let runs = vec![new_run(&e, "net", Event::Start, None), new_run(&e, "app", Event::Start, None)];
    let p = NewPipeline {
        environment_id: e.id,
        event: Event::Start,
        trigger: "cli:test".into(),
        env_state: Some(EnvState::Deploying),
        runs: runs.clone(),
        inputs: terrace_store::PipelineInputs {
            environment: "dev".into(),
            command: "start".into(),
            trigger: "cli".into(),
            user: Some("test".into()),
            commit: Some("a".repeat(40)),
            ..Default::default()
        },
    };
    let until = soon();
    let (pipeline, opened) = f.store.open_pipeline(&p, &me(), until).await.unwrap();
    let leases: Vec<_> = opened.iter().map(|o| o.lease.clone()).collect();
    assert_eq!(leases.iter().map(|l| l.id).collect::<Vec<_>>(), [runs[0].id, runs[1].id]);
    assert_eq!(opened.iter().map(|o| o.number).collect::<Vec<_>>(), [1, 2], "numbered in order");
    for (l, new) in leases.iter().zip(&runs) {
        let got = f.store.get_run(new.id).await.unwrap().unwrap();
        assert_eq!((got.pipeline_id, got.state, got.lease_expires_at), (Some(pipeline), RunState::Queued, Some(until)));
        assert_eq!(got.lease(), Some(l.clone()));
        assert_eq!(got.inputs.as_ref(), Some(&p.inputs), "each run keeps its pipeline's inputs");
    }
    assert_eq!(f.store.get_environment("shop", "dev").await.unwrap().unwrap().state, EnvState::Deploying);
    // An unknown environment leaves nothing behind.
    let bad = NewPipeline { environment_id: unknown_env(), runs: vec![new_run(&e, "x", Event::Start, None)], ..p };
    let x = bad.runs[0].id;
    assert!(matches!(f.store.open_pipeline(&bad, &me(), until).await, Err(StoreError::NotFound { .. })));
    assert_eq!(f.store.get_run(x).await.unwrap(), None);
}

/// A run whose step outlived its holder is adopted (held anew, fenced) rather than taken
/// back: the new holder writes its end, the old one nothing.
async fn an_adopted_run_is_held_by_its_new_holder_and_fenced_from_the_old(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let old = lease(&r);
    let until = OffsetDateTime::now_utc() + Duration::minutes(5);
    let other = Owner::local(77, 1, "other-host");
    assert_eq!(f.store.adopt_run(r.id, old.token, None, &other, until).await.unwrap(), None, "a queued run is not");
    f.store.start_attempt(&old, soon(), None, note("started")).await.unwrap();
    assert_eq!(f.store.adopt_run(r.id, old.token + 1, None, &other, until).await.unwrap(), None, "a stale token");
    let not_yet = OffsetDateTime::now_utc() - Duration::hours(1);
    assert_eq!(f.store.adopt_run(r.id, old.token, Some(not_yet), &other, until).await.unwrap(), None, "a live lease");
    let new = f.store.adopt_run(r.id, old.token, None, &other, until).await.unwrap().expect("adopted");
    assert_eq!((new.token, new.owner.as_str()), (old.token + 1, other.as_str()));
    let got = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.owner.as_deref(), got.lease_expires_at),
        (RunState::Running, Some(other.as_str()), Some(until))
    );
    assert!(lost(f.store.append_logs(&old, 1, note("late line")).await));
    let end = terrace_store::Ending::new(RunState::Succeeded, Some(0), None);
    f.store.end_attempt(&new, 1, &end, note("followed"), Some(&end)).await.unwrap();
    assert_eq!(f.store.get_run(r.id).await.unwrap().unwrap().state, RunState::Succeeded);
}

backends!(
    an_adopted_run_is_held_by_its_new_holder_and_fenced_from_the_old,
    renewals_extend_only_the_leases_still_held,
    a_taken_back_run_refuses_every_write_of_its_old_holder,
    another_holders_lease_is_not_ours,
    a_lease_is_taken_back_only_once_it_expired,
    a_pipeline_opens_in_one_go_with_its_runs_held
);
