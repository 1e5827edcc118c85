//! Recovery: a run whose holder died is marked interrupted, its environment failed, and
//! its step stopped through the executor that ran it, by the handle the store kept (no
//! process id), after which every executor sweeps for the run. Leases decide: a run of
//! another host is taken back only once its lease expired, and its steps are never
//! touched from here; a holder whose lease was taken back stops its run's work.

use std::sync::Arc;
use std::time::Duration;

use terrace_engine::Request;
use terrace_model::log::LogBatch;
use terrace_model::{Event, RunId};
use terrace_store::{EnvState, NewRun, Owner, RunRecord, RunState, Store};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::Fixture;
use crate::scripted::{Answer, Call};

const PROJECT: &str = "project: p\nenvironments: {dev: {}}\njobs:\n  a: {events: [start], commands: {start: x}}\n";

/// What a holder leaves when it stops mid-step: a running attempt with its step's handle,
/// held by `owner` until `until`, its environment deploying.
async fn left_running(store: &dyn Store, owner: &Owner, until: OffsetDateTime) -> RunRecord {
    let env = store.ensure_environment("p", "dev").await.unwrap();
    store.set_environment_state(env.id, EnvState::Deploying, None, None).await.unwrap();
    let pipeline = store.create_pipeline(env.id, Event::Start, "test").await.unwrap();
    let new = NewRun {
        id: RunId::new(),
        pipeline_id: Some(pipeline),
        environment_id: env.id,
        project: "p".into(),
        environment: "dev".into(),
        job: "a".into(),
        event: Event::Start,
        forced: false,
        trigger: "test".into(),
        commit: None,
    };
    let run = store.create_run(new, owner, until).await.unwrap();
    let lease = run.lease().unwrap();
    let attempt = store.start_attempt(&lease, until, None, Arc::<[LogBatch]>::from(vec![])).await.unwrap();
    store.record_attempt_handle(&lease, attempt, "local", "scripted-from-a-gone-holder", "run").await.unwrap();
    run
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[tokio::test]
async fn a_dead_holders_step_is_stopped_through_its_executor_by_its_handle() {
    let f = Fixture::new(PROJECT).await;
    let store = f.store.as_ref();
    // A local owner on this host whose process is gone (no pid is that high).
    let dead = Owner::local(4194305, 1, &hostname());
    let run = left_running(store, &dead, OffsetDateTime::now_utc() + time::Duration::seconds(30)).await;

    let recovered = terrace_engine::recovery::recover(store, &f.engine.data_dir, &f.engine.owner, &f.engine.executors)
        .await
        .unwrap();
    assert_eq!(recovered.len(), 1);
    assert!(recovered[0].reason.contains("killed or crashed"), "{}", recovered[0].reason);
    assert_eq!(
        f.executor.calls(),
        [
            Call::Attach("scripted-from-a-gone-holder".into()),
            Call::Cancel("scripted-from-a-gone-holder".into()),
            Call::Sweep(run.id.to_string()),
        ]
    );
    let after = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(after.state, RunState::Interrupted);
    let env = store.get_environment("p", "dev").await.unwrap().unwrap();
    assert_eq!(env.state.to_string(), "failed");
    // The environment works again.
    assert!(f.run("dev", Event::Start).await.succeeded());
}

#[tokio::test]
async fn a_live_lease_of_another_host_is_never_touched() {
    let f = Fixture::new(PROJECT).await;
    let store = f.store.as_ref();
    let elsewhere = Owner::replica(1, 1, "another-host");
    let run = left_running(store, &elsewhere, OffsetDateTime::now_utc() + time::Duration::minutes(5)).await;
    let recovered = terrace_engine::recovery::recover(store, &f.engine.data_dir, &f.engine.owner, &f.engine.executors)
        .await
        .unwrap();
    assert!(recovered.is_empty(), "{recovered:?}");
    assert!(f.executor.calls().is_empty(), "{:?}", f.executor.calls());
    assert_eq!(store.get_run(run.id).await.unwrap().unwrap().state, RunState::Running);
}

#[tokio::test]
async fn an_expired_lease_is_taken_back_on_any_host_and_its_steps_are_left_to_that_host() {
    let f = Fixture::new(PROJECT).await;
    let store = f.store.as_ref();
    let elsewhere = Owner::replica(1, 1, "another-host");
    let run = left_running(store, &elsewhere, OffsetDateTime::now_utc() - time::Duration::seconds(1)).await;
    let recovered = terrace_engine::recovery::recover(store, &f.engine.data_dir, &f.engine.owner, &f.engine.executors)
        .await
        .unwrap();
    assert_eq!(recovered.len(), 1);
    let reason = &recovered[0].reason;
    assert!(reason.contains("another-host") && reason.contains("lease") && reason.contains("ended at"), "{reason}");
    assert!(f.executor.calls().is_empty(), "a step of another host was touched: {:?}", f.executor.calls());
    let after = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.reason.as_deref()), (RunState::Interrupted, Some(reason.as_str())));
    assert_eq!(after.lease_token, run.lease_token + 1, "the old holder's token no longer writes");
}

/// This process's lease on a running job is taken back (as a reaper does when it was not
/// renewed in time): the engine sees it at its next renewal, stops the job's step, and
/// writes nothing more for that run.
#[tokio::test]
async fn a_holder_whose_lease_was_taken_back_stops_the_run() {
    let mut f = Fixture::new(PROJECT).await;
    f.engine.lease = Duration::from_millis(300);
    f.executor.on("a", "start", vec![Answer::hang()]);
    let store = f.store.clone();
    let taker = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let run = loop {
            let running = store.active_runs().await.unwrap().into_iter().find(|r| r.state == RunState::Running);
            if let Some(r) = running.filter(|_| f.executor.calls().iter().any(|c| matches!(c, Call::Start { .. }))) {
                break r;
            }
            assert!(std::time::Instant::now() < deadline, "the job never started");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(store.take_back_run(run.id, run.lease_token, None, "taken back by the test").await.unwrap());
        run
    };
    let req = Request::new("dev", Event::Start);
    let observer: Arc<dyn terrace_engine::Observer> = Arc::new(terrace_engine::progress::Silent);
    // The job hangs until its step is cancelled: the pipeline ends only if the engine
    // stopped it (bounded, so a failure is an error, not a hang).
    let pipeline =
        tokio::time::timeout(Duration::from_secs(60), f.engine.run_event(req, observer, CancellationToken::new()));
    let (outcome, run) = tokio::join!(pipeline, taker);
    let outcome = outcome.expect("the engine did not stop the job once its lease was taken back").unwrap();
    let job = &outcome.jobs[0];
    assert_eq!(job.state, RunState::Interrupted, "{outcome:?}");
    assert!(job.reason.as_deref().unwrap_or("").contains("lease"), "{outcome:?}");
    // The store keeps what the taker decided; the old holder wrote nothing after.
    let stored = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.reason.as_deref()), (RunState::Interrupted, Some("taken back by the test")));
}
