//! Pipelines and runs: creation, lookups by id and prefix, lists and summaries.

use std::sync::Arc;

use terrace_model::{Event, PipelineId, RunId};
use terrace_store::{Ending, EnvChange, EnvState, PipelineEnd, RunCursor, RunFilter, RunState, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::common::*;

async fn create_and_get_run(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let p = f.store.create_pipeline(e.id, Event::Start, "cli:me").await.unwrap();
    let mut new = new_run(&e, "db", Event::Plan, Some(p));
    new.forced = true;
    let before = OffsetDateTime::now_utc();
    let until = soon();
    let r = f.store.create_run(new.clone(), &me(), until).await.unwrap();
    assert_eq!((r.id, r.pipeline_id, r.environment_id), (new.id, Some(p), e.id));
    assert_eq!((r.project.as_str(), r.environment.as_str(), r.job.as_str()), ("shop", "dev", "db"));
    assert_eq!((r.event, r.forced, r.trigger.as_str()), (Event::Plan, true, "cli:test"));
    assert_eq!((r.state, r.attempts), (RunState::Queued, 0));
    assert_eq!((&r.reason, r.exit_code, &r.inputs_hash), (&None, None, &None));
    assert_eq!((r.owner.as_deref(), r.lease_expires_at, r.lease_token), (Some(me().as_str()), Some(until), 1));
    assert_eq!((r.started_at, r.finished_at), (None, None));
    assert!(r.created_at >= before && r.created_at <= OffsetDateTime::now_utc());
    assert_eq!(f.store.get_run(r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(f.store.get_run(RunId::new()).await.unwrap(), None);

    // The same id twice is refused, and the error names the run.
    let err = f.store.create_run(new, &me(), soon()).await.unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }) && err.to_string().contains(&r.id.to_string()), "{err}");
}

async fn pipelines_finish_and_unknown_ones_are_not_found(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let p = f.store.create_pipeline(e.id, Event::Stop, "api:ci").await.unwrap();
    f.store.finish_pipeline(p, RunState::Succeeded).await.unwrap();
    let err = f.store.finish_pipeline(PipelineId::new(), RunState::Failed).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { what: "pipeline", .. }), "{err}");
    // A run may not name a pipeline that does not exist.
    assert!(f.store.create_run(new_run(&e, "db", Event::Stop, Some(PipelineId::new())), &me(), soon()).await.is_err());
}

/// A pipeline's end moves its environment, finishes it and notes it, all at once; an
/// unknown pipeline leaves the environment as it was.
async fn a_pipeline_closes_in_one_go(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let p = f.store.create_pipeline(e.id, Event::Start, "cli:me").await.unwrap();
    let failed = EnvChange::Set { state: EnvState::Failed, failed_job: Some("db"), reason: Some("`start` failed") };
    let end = PipelineEnd {
        pipeline: p,
        state: RunState::Failed,
        environment: e.id,
        change: failed,
        event: Some(("pipeline", "start failed at job `db`")),
    };
    f.store.close_pipeline(&end).await.unwrap();
    let got = f.store.get_environment("shop", "dev").await.unwrap().unwrap();
    assert_eq!((got.state, got.failed_job.as_deref()), (EnvState::Failed, Some("db")));
    assert_eq!(f.store.events(e.id, 10).await.unwrap()[0].message, "start failed at job `db`");
    let again = PipelineEnd { pipeline: PipelineId::new(), change: EnvChange::Delete, event: None, ..end.clone() };
    assert!(matches!(f.store.close_pipeline(&again).await, Err(StoreError::NotFound { what: "pipeline", .. })));
    assert!(f.store.get_environment("shop", "dev").await.unwrap().is_some(), "nothing of a refused end is kept");
    f.store.close_pipeline(&PipelineEnd { change: EnvChange::Delete, event: None, ..end }).await.unwrap();
    assert!(f.store.get_environment("shop", "dev").await.unwrap().is_none());
}

fn run_with_id(e: &terrace_store::EnvironmentRecord, id: u128) -> terrace_store::NewRun {
    let mut r = new_run(e, "db", Event::Start, None);
    r.id = RunId(Uuid::from_u128(id));
    r
}

async fn prefix_lookup_with_and_without_dashes(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let a = f.store.create_run(run_with_id(&e, 0x0190abcd_1234_7abc_8def_0123456789ab), &me(), soon()).await.unwrap();
    let b = f.store.create_run(run_with_id(&e, 0x0190abcd_1234_7abc_8def_0123456789ff), &me(), soon()).await.unwrap();
    let c = f.store.create_run(run_with_id(&e, 0x0190abce_0000_7000_8000_000000000000), &me(), soon()).await.unwrap();
    let ids = |v: Vec<terrace_store::RunRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();

    assert_eq!(ids(f.store.find_runs_by_prefix("0190abce").await.unwrap()), [c.id]);
    assert_eq!(ids(f.store.find_runs_by_prefix("0190ABCE").await.unwrap()), [c.id]);
    assert_eq!(ids(f.store.find_runs_by_prefix("0190abcd").await.unwrap()), [a.id, b.id], "ambiguous");
    assert_eq!(ids(f.store.find_runs_by_prefix("0190abcd12347abc8def0123456789a").await.unwrap()), [a.id]);
    assert_eq!(ids(f.store.find_runs_by_prefix("0190abcd-1234-7abc-8def-0123456789f").await.unwrap()), [b.id]);
    assert_eq!(ids(f.store.find_runs_by_prefix(&a.id.to_string()).await.unwrap()), [a.id]);
    assert_eq!(ids(f.store.find_runs_by_prefix(&a.id.0.simple().to_string().to_uppercase()).await.unwrap()), [a.id]);
    assert_eq!(f.store.find_runs_by_prefix("0190").await.unwrap().len(), 2, "at most 2");
    assert!(f.store.find_runs_by_prefix("0191").await.unwrap().is_empty());
    assert!(f.store.find_runs_by_prefix("zz").await.unwrap().is_empty());
    assert!(f.store.find_runs_by_prefix("0190%").await.unwrap().is_empty());
}

/// Every run gets the next number of its project's environment, which goes on counting
/// after the environment is deleted and started again; `ENV#N` and id prefixes find runs,
/// within a project when one is given.
async fn runs_are_numbered_per_environment_and_found_by_short_form(f: Fixture) {
    let dev = env(&*f.store, "dev").await;
    let prod = env(&*f.store, "prod").await;
    let blog = f.store.ensure_environment("blog", "dev").await.unwrap();
    let d1 = run(&*f.store, &dev, "db").await;
    let d2 = run(&*f.store, &dev, "app").await;
    let p1 = run(&*f.store, &prod, "db").await;
    let b1 = run(&*f.store, &blog, "db").await;
    assert_eq!((d1.number, d2.number, p1.number, b1.number), (1, 2, 1, 1));
    assert_eq!((d2.short().as_str(), p1.short().as_str()), ("dev#2", "prod#1"));
    f.store.delete_environment(dev.id).await.unwrap();
    let again = env(&*f.store, "dev").await;
    assert_eq!(run(&*f.store, &again, "db").await.number, 3, "a number names one run for good");

    let ids = |v: Vec<terrace_store::RunRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(f.store.find_runs(Some("shop"), "dev#2", 10).await.unwrap()), [d2.id]);
    assert_eq!(ids(f.store.find_runs(Some("shop"), " prod#1 ", 10).await.unwrap()), [p1.id]);
    assert_eq!(ids(f.store.find_runs(Some("blog"), "dev#1", 10).await.unwrap()), [b1.id]);
    assert_eq!(f.store.find_runs(None, "dev#1", 10).await.unwrap().len(), 2, "two projects have a dev#1");
    assert!(f.store.find_runs(Some("shop"), "dev#9", 10).await.unwrap().is_empty());
    assert!(f.store.find_runs(Some("shop"), "dev#x", 10).await.unwrap().is_empty());
    assert!(f.store.find_runs(Some("shop"), "#1", 10).await.unwrap().is_empty());
    let prefix = &d1.id.to_string()[..4];
    assert_eq!(f.store.find_runs(Some("shop"), prefix, 10).await.unwrap().len(), 4, "every shop run shares it");
    assert_eq!(f.store.find_runs(Some("shop"), prefix, 2).await.unwrap().len(), 2);
    assert_eq!(ids(f.store.find_runs(Some("blog"), prefix, 10).await.unwrap()), [b1.id]);
}

async fn list_runs_filters_newest_first(f: Fixture) {
    let dev = env(&*f.store, "dev").await;
    let prod = env(&*f.store, "prod").await;
    let blog = f.store.ensure_environment("blog", "dev").await.unwrap();
    let r1 = run(&*f.store, &dev, "db").await;
    let r2 = run(&*f.store, &dev, "app").await;
    let r3 = run(&*f.store, &prod, "db").await;
    let r4 = run(&*f.store, &blog, "db").await;
    f.store.finish_run(&lease(&r2), &Ending::new(RunState::Failed, Some(1), Some("boom"))).await.unwrap();
    let list = |filter: RunFilter| {
        let s = f.store.clone();
        async move { s.list_runs(&filter).await.unwrap().into_iter().map(|r| r.id).collect::<Vec<_>>() }
    };

    assert_eq!(list(RunFilter::default()).await, [r4.id, r3.id, r2.id, r1.id]);
    assert_eq!(list(RunFilter { project: Some("shop".into()), ..Default::default() }).await, [r3.id, r2.id, r1.id]);
    let dev_filter = RunFilter { project: Some("shop".into()), environment: Some("dev".into()), ..Default::default() };
    assert_eq!(list(dev_filter.clone()).await, [r2.id, r1.id]);
    assert_eq!(list(RunFilter { environment: Some("dev".into()), ..Default::default() }).await, [r4.id, r2.id, r1.id]);
    assert_eq!(list(RunFilter { job: Some("db".into()), ..dev_filter.clone() }).await, [r1.id]);
    assert_eq!(list(RunFilter { state: Some(RunState::Failed), ..Default::default() }).await, [r2.id]);
    assert_eq!(list(RunFilter { limit: Some(2), ..Default::default() }).await, [r4.id, r3.id]);
    assert!(list(RunFilter { job: Some("nope".into()), ..Default::default() }).await.is_empty());
}

async fn list_runs_pages_with_a_cursor(f: Fixture) {
    let dev = env(&*f.store, "dev").await;
    let prod = env(&*f.store, "prod").await;
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(run(&*f.store, if i % 2 == 0 { &dev } else { &prod }, "db").await.id);
    }
    made.reverse(); // newest first
    let page = |filter: RunFilter| {
        let s = f.store.clone();
        async move { s.list_runs(&filter).await.unwrap() }
    };
    for (filter, want) in [
        (RunFilter { project: Some("shop".into()), ..Default::default() }, made.clone()),
        (RunFilter::default(), made.clone()),
        (
            RunFilter { project: Some("shop".into()), environment: Some("dev".into()), ..Default::default() },
            made.iter().copied().step_by(2).collect(),
        ),
    ] {
        for limit in 1..=4 {
            let mut walked = Vec::new();
            let mut before = None;
            loop {
                let got = page(RunFilter { limit: Some(limit), before, ..filter.clone() }).await;
                walked.extend(got.iter().map(|r| r.id));
                match got.last() {
                    Some(last) if got.len() == limit as usize => before = Some(RunCursor::of(last)),
                    _ => break,
                }
            }
            assert_eq!(walked, want, "pages of {limit}, {filter:?}");
        }
    }
    // The cursor's text form round-trips, and two runs of the same instant are told
    // apart by their id.
    let newest = page(RunFilter { limit: Some(1), ..Default::default() }).await.remove(0);
    let cursor = RunCursor::of(&newest);
    assert_eq!(cursor.to_string().parse::<RunCursor>().unwrap(), cursor);
    let twin = RunCursor { created_at: newest.created_at, id: "ffffffff-ffff-7fff-bfff-ffffffffffff".parse().unwrap() };
    let after_twin = page(RunFilter { limit: Some(1), before: Some(twin), ..Default::default() }).await;
    assert_eq!(after_twin[0].id, newest.id, "a later id of the same instant sorts after the newest run");
    for bad in ["", "12", "x.y", "12.not-a-uuid", "99999999999999999999.0190a0b0-0000-7000-8000-000000000000"] {
        assert!(bad.parse::<RunCursor>().is_err(), "{bad}");
    }
}

async fn list_runs_defaults_to_100(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    for _ in 0..105 {
        run(&*f.store, &e, "db").await;
    }
    assert_eq!(f.store.list_runs(&RunFilter::default()).await.unwrap().len(), 100);
    assert_eq!(f.store.list_runs(&RunFilter { limit: Some(1000), ..Default::default() }).await.unwrap().len(), 105);
}

async fn last_runs_is_the_newest_per_job(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let other = env(&*f.store, "prod").await;
    run(&*f.store, &e, "db").await;
    let db2 = run(&*f.store, &e, "db").await;
    let app = run(&*f.store, &e, "app").await;
    run(&*f.store, &other, "db").await;
    let last: Vec<_> = f.store.last_runs(e.id).await.unwrap().into_iter().map(|r| (r.job, r.id)).collect();
    assert_eq!(last, [("app".to_string(), app.id), ("db".to_string(), db2.id)]);
    assert!(f.store.last_runs(unknown_env()).await.unwrap().is_empty());
}

async fn last_success_inputs_skips_failures_other_events_and_missing_hashes(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let finish = async |job: &str, event: Event, hash: Option<&str>, state: RunState| {
        let r = f.store.create_run(new_run(&e, job, event, None), &me(), soon()).await.unwrap();
        f.store.start_attempt(&lease(&r), soon(), hash, Arc::new([])).await.unwrap();
        f.store.finish_run(&lease(&r), &Ending::new(state, None, None)).await.unwrap();
    };
    assert_eq!(f.store.last_success_inputs(e.id, "db", Event::Start).await.unwrap(), None);
    finish("db", Event::Start, Some("h1"), RunState::Succeeded).await;
    finish("db", Event::Start, Some("h2"), RunState::Succeeded).await;
    finish("db", Event::Start, Some("h3"), RunState::Failed).await;
    finish("db", Event::Start, None, RunState::Succeeded).await;
    finish("db", Event::Stop, Some("h4"), RunState::Succeeded).await;
    finish("app", Event::Start, Some("h5"), RunState::Succeeded).await;
    finish("db", Event::Start, Some("h6"), RunState::Skipped).await;
    assert_eq!(f.store.last_success_inputs(e.id, "db", Event::Start).await.unwrap().as_deref(), Some("h2"));
    assert_eq!(f.store.last_success_inputs(e.id, "db", Event::Stop).await.unwrap().as_deref(), Some("h4"));
    assert_eq!(f.store.last_success_inputs(e.id, "app", Event::Start).await.unwrap().as_deref(), Some("h5"));
    assert_eq!(f.store.last_success_inputs(unknown_env(), "db", Event::Start).await.unwrap(), None);
}

async fn active_runs_are_queued_or_running(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let queued = run(&*f.store, &e, "a").await;
    let running = run(&*f.store, &e, "b").await;
    let done = run(&*f.store, &e, "c").await;
    f.store.start_attempt(&lease(&running), soon(), None, Arc::new([])).await.unwrap();
    f.store.start_attempt(&lease(&done), soon(), None, Arc::new([])).await.unwrap();
    f.store.finish_run(&lease(&done), &Ending::new(RunState::Succeeded, Some(0), None)).await.unwrap();
    let active: Vec<_> = f.store.active_runs().await.unwrap().into_iter().map(|r| (r.id, r.state)).collect();
    assert_eq!(active, [(queued.id, RunState::Queued), (running.id, RunState::Running)]);
}

async fn a_corrupt_stored_enum_is_reported_with_its_column(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    f.execute(&format!("UPDATE runs SET state = 'exploded' WHERE id = '{}'", r.id)).await;
    let err = f.store.get_run(r.id).await.unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("runs.state") && m.contains("exploded")), "{err}");
}

backends!(
    create_and_get_run,
    a_pipeline_closes_in_one_go,
    pipelines_finish_and_unknown_ones_are_not_found,
    prefix_lookup_with_and_without_dashes,
    runs_are_numbered_per_environment_and_found_by_short_form,
    list_runs_filters_newest_first,
    list_runs_pages_with_a_cursor,
    list_runs_defaults_to_100,
    last_runs_is_the_newest_per_job,
    last_success_inputs_skips_failures_other_events_and_missing_hashes,
    active_runs_are_queued_or_running,
    a_corrupt_stored_enum_is_reported_with_its_column
);
