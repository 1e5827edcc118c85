//! What a rollback re-applies: the runs of the newest whole-environment `start` that
//! succeeded, never a failed one, a force run or a plan.

use terrace_model::Event;
use terrace_store::{EnvState, NewPipeline, PipelineInputs, RunRecord, RunState};

use crate::common::*;

/// Opens a pipeline of `event` with one run per job at `commit`, ended `state`.
async fn pipeline(f: &Fixture, event: Event, forced: bool, state: RunState, commit: &str) -> terrace_model::PipelineId {
    let e = env(&*f.store, "prod").await;
    let runs = ["net", "app"]
        .iter()
        .map(|job| {
            let mut r = new_run(&e, job, event, None);
            r.forced = forced;
            r.commit = Some(commit.to_string());
            r
        })
        .collect();
    let p = NewPipeline {
        environment_id: e.id,
        event,
        trigger: "cli:test".into(),
        env_state: Some(EnvState::Deploying),
        runs,
        inputs: PipelineInputs { environment: "prod".into(), commit: Some(commit.into()), ..Default::default() },
    };
    let (id, _) = f.store.open_pipeline(&p, &me(), soon()).await.unwrap();
    f.store.finish_pipeline(id, state).await.unwrap();
    id
}

fn commits(runs: &[RunRecord]) -> Vec<(String, Option<String>)> {
    runs.iter().map(|r| (r.job.clone(), r.commit.clone())).collect()
}

async fn the_last_good_start_is_the_newest_succeeded_whole_environment_start(f: Fixture) {
    let e = env(&*f.store, "prod").await;
    assert!(f.store.last_good_start(e.id).await.unwrap().is_empty(), "nothing succeeded yet");
    let good = pipeline(&f, Event::Start, false, RunState::Succeeded, "a").await;
    pipeline(&f, Event::Start, false, RunState::Failed, "b").await;
    pipeline(&f, Event::Start, true, RunState::Succeeded, "c").await;
    pipeline(&f, Event::Plan, false, RunState::Succeeded, "d").await;
    let found = f.store.last_good_start(e.id).await.unwrap();
    assert!(found.iter().all(|r| r.pipeline_id == Some(good)), "{found:#?}");
    let a = Some("a".to_string());
    assert_eq!(commits(&found), [("net".to_string(), a.clone()), ("app".to_string(), a)]);
    let newer = pipeline(&f, Event::Start, false, RunState::Succeeded, "e").await;
    let found = f.store.last_good_start(e.id).await.unwrap();
    assert!(found.len() == 2 && found.iter().all(|r| r.pipeline_id == Some(newer)), "{found:#?}");
    let other = env(&*f.store, "dev").await;
    assert!(f.store.last_good_start(other.id).await.unwrap().is_empty(), "per environment");
}

backends!(the_last_good_start_is_the_newest_succeeded_whole_environment_start);
