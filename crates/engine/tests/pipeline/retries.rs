//! Failures: a failed job skips its dependents, never its independent siblings; a job is
//! retried up to `max_restarts` times, each attempt its own.

use terrace_model::Event;

use crate::scripted::Answer;
use crate::{Fixture, state_of};

#[tokio::test]
async fn a_failure_skips_dependents_not_siblings() {
    let f = Fixture::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  a: {events: [start], commands: {start: x}}\n  b: {depends_on: [a], events: [start], commands: {start: x}}\n  c: {depends_on: [b], events: [start], commands: {start: x}}\n  d: {events: [start], commands: {start: x}}\n",
    )
    .await;
    f.executor.on("a", "start", vec![Answer::fail(3)]);
    let out = f.run("dev", Event::Start).await;
    assert_eq!(out.failed_job.as_deref(), Some("a"));
    assert_eq!(state_of(&out, "a").0, "failed");
    let (b, why) = state_of(&out, "b");
    assert_eq!((b.as_str(), why.as_str()), ("skipped", "dependency `a` did not succeed (failed)"));
    assert_eq!(state_of(&out, "c").1, "dependency `b` did not succeed (skipped)");
    assert_eq!(state_of(&out, "d").0, "succeeded");
    assert!(!f.executor.started().contains(&"b:start".to_string()));
    assert_eq!(out.environment_state.to_string(), "failed");
}

#[tokio::test]
async fn retries_are_attempts_of_one_run_until_one_succeeds_or_they_are_spent() {
    let f = Fixture::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  flaky: {events: [start], max_restarts: 2, commands: {start: x}}\n  broken: {events: [start], max_restarts: 1, commands: {start: x}}\n",
    )
    .await;
    f.executor.on("flaky", "start", vec![Answer::fail(1), Answer::fail(1), Answer::ok()]);
    f.executor.on("broken", "start", vec![Answer::fail(2)]);
    let out = f.run("dev", Event::Start).await;
    assert_eq!(state_of(&out, "flaky").0, "succeeded");
    let (state, why) = state_of(&out, "broken");
    assert_eq!(state, "failed");
    assert!(why.contains("exited with status 2"), "{why}");
    let attempts = |job: &str| {
        let run = out.jobs.iter().find(|j| j.job == job).unwrap().run_id;
        let store = f.store.clone();
        async move { store.attempts(run).await.unwrap() }
    };
    let flaky = attempts("flaky").await;
    assert_eq!(flaky.iter().map(|a| a.state.to_string()).collect::<Vec<_>>(), ["failed", "failed", "succeeded"]);
    assert_eq!(attempts("broken").await.len(), 2, "max_restarts: 1 is two attempts");
}
