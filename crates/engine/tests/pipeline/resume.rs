//! Exactly once across holders: a request taken back from a replica that died after one
//! of its jobs succeeded but before the request was closed is run again without that job
//! (the flake the replica test once showed: the job applied twice); while a run of the
//! earlier attempt is still held, the next attempt waits for it instead of running beside it.

use std::collections::BTreeMap;
use std::sync::Arc;

use terrace_engine::Request;
use terrace_engine::resume::{Earlier, earlier_attempts};
use terrace_model::log::LogBatch;
use terrace_model::{Event, RunId};
use terrace_store::{Ending, EnvState, NewRun, Owner, RunRecord, RunState, Store};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::{Fixture, state_of};

const PROJECT: &str = "project: p\nenvironments: {dev: {}}\njobs:\n  a: {events: [start], commands: {start: x}}\n  \
    b: {depends_on: [a], events: [start], commands: {start: x}}\n";

async fn run_of(store: &dyn Store, pipeline: terrace_model::PipelineId, job: &str, holder: &Owner) -> RunRecord {
    let env = store.ensure_environment("p", "dev").await.unwrap();
    let new = NewRun {
        id: RunId::new(),
        pipeline_id: Some(pipeline),
        environment_id: env.id,
        project: "p".into(),
        environment: "dev".into(),
        job: job.into(),
        event: Event::Start,
        forced: false,
        trigger: "api:test".into(),
        commit: None,
    };
    // A lease that ended a moment ago: its holder stopped renewing it.
    let run = store.create_run(new, holder, OffsetDateTime::now_utc() - time::Duration::seconds(1)).await.unwrap();
    let lease = run.lease().unwrap();
    let until = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    store.start_attempt(&lease, until, None, Arc::<[LogBatch]>::from(vec![])).await.unwrap();
    run
}

fn request(resume: BTreeMap<String, RunId>) -> Request {
    Request { resume, ..Request::new("dev", Event::Start) }
}

#[tokio::test]
async fn a_job_that_succeeded_before_its_holder_died_is_not_run_again() {
    let f = Fixture::new(PROJECT).await;
    let store = f.store.as_ref();
    // What replica A left when it was killed: `a` succeeded, `b` mid-run, the request
    // (and the pipeline) never closed.
    let dead = Owner::replica(1, 1, "host-a");
    let env = store.ensure_environment("p", "dev").await.unwrap();
    store.set_environment_state(env.id, EnvState::Deploying, None, None).await.unwrap();
    let pipeline = store.create_pipeline(env.id, Event::Start, "api:test").await.unwrap();
    let a = run_of(store, pipeline, "a", &dead).await;
    store.finish_run(&a.lease().unwrap(), &Ending::new(RunState::Succeeded, Some(0), None)).await.unwrap();
    let b = run_of(store, pipeline, "b", &dead).await;
    let earlier = [a.id, b.id];

    // `b` is still held by A: the next attempt waits for it.
    let waiting = earlier_attempts(store, &earlier, Event::Start).await.unwrap();
    assert_eq!(waiting, Earlier::Running { run: b.id, holder: dead.as_str().to_string() });
    // Its lease expired: recovery takes it back, as a replica's reaper does.
    let recovered = terrace_engine::recovery::recover(store, &f.engine.data_dir, &f.engine.owner, &f.engine.executors)
        .await
        .unwrap();
    assert_eq!(recovered.iter().map(|r| r.run).collect::<Vec<_>>(), [b.id]);
    let Earlier::Settled(resume) = earlier_attempts(store, &earlier, Event::Start).await.unwrap() else {
        panic!("nothing of the earlier attempt is held any more");
    };
    assert_eq!(resume, BTreeMap::from([("a".to_string(), a.id)]));

    let observer: Arc<dyn terrace_engine::Observer> = Arc::new(terrace_engine::progress::Silent);
    let out = f.engine.run_event(request(resume), observer, CancellationToken::new()).await.unwrap();
    assert!(out.succeeded(), "{out:?}");
    let (state, why) = state_of(&out, "a");
    assert_eq!(state, "skipped");
    assert!(why.contains(&a.id.to_string()) && why.contains("earlier attempt"), "{why}");
    assert_eq!(f.executor.started(), ["b:start"], "`a` ran once in all, `b` again after its cut");
    // Each job has succeeded exactly once, and the earlier runs kept their ends.
    assert_eq!(store.get_run(a.id).await.unwrap().unwrap().state, RunState::Succeeded);
    assert_eq!(store.get_run(b.id).await.unwrap().unwrap().state, RunState::Interrupted);
    assert_eq!(store.get_environment("p", "dev").await.unwrap().unwrap().state, EnvState::Running);
}

#[tokio::test]
async fn runs_of_another_event_or_that_did_not_succeed_are_run_again() {
    let f = Fixture::new(PROJECT).await;
    let first = f.run("dev", Event::Start).await;
    assert!(first.succeeded());
    let runs: Vec<RunId> = first.jobs.iter().map(|j| j.run_id).collect();
    // A stop request that ran these runs before (it cannot have: they are starts) settles nothing.
    assert_eq!(
        earlier_attempts(f.store.as_ref(), &runs, Event::Stop).await.unwrap(),
        Earlier::Settled(BTreeMap::new())
    );
    // A first attempt: nothing earlier, everything runs.
    let again = f.engine.run_event(
        request(BTreeMap::new()),
        Arc::new(terrace_engine::progress::Silent),
        CancellationToken::new(),
    );
    assert!(again.await.unwrap().succeeded());
    assert_eq!(f.executor.started(), ["a:start", "b:start", "a:start", "b:start"]);
}
