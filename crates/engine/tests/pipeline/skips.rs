//! Skips: `skip_unchanged` skips a start whose inputs did not change (and counts as
//! success for what follows); a cancelled pipeline stops its step through the handle and
//! starts nothing more.

use std::sync::Arc;

use terrace_engine::Request;
use terrace_model::Event;
use tokio_util::sync::CancellationToken;

use crate::scripted::{Answer, Call};
use crate::{Fixture, state_of};

#[tokio::test]
async fn an_unchanged_start_is_skipped_and_counts_as_success() {
    let f = Fixture::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  base: {events: [start], skip_unchanged: true, commands: {start: x}}\n  app: {depends_on: [base], events: [start], commands: {start: x}}\n",
    )
    .await;
    assert!(f.run("dev", Event::Start).await.succeeded());
    let again = f.run("dev", Event::Start).await;
    assert!(again.succeeded());
    let (state, why) = state_of(&again, "base");
    assert_eq!(state, "skipped");
    assert!(why.starts_with("unchanged since its last successful start, dev#1"), "{why}");
    assert_eq!(f.executor.started(), ["base:start", "app:start", "app:start"]);
}

#[tokio::test]
async fn a_cancelled_pipeline_stops_its_step_and_starts_nothing_more() {
    let f = Fixture::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  slow: {events: [start], commands: {start: x}}\n  after: {depends_on: [slow], events: [start], commands: {start: x}}\n",
    )
    .await;
    f.executor.on("slow", "start", vec![Answer { lines: vec!["waiting".into()], ..Answer::hang() }]);
    let cancel = CancellationToken::new();
    let req = Request::new("dev", Event::Start);
    let observer: Arc<dyn terrace_engine::Observer> = Arc::new(Started(cancel.clone()));
    let out = f.engine.run_event(req, observer, cancel).await.unwrap();
    assert_eq!(state_of(&out, "slow").0, "cancelled");
    assert_eq!(state_of(&out, "after").0, "skipped");
    assert_eq!(f.executor.started(), ["slow:start"]);
    assert!(!f.executor.calls().iter().any(|c| matches!(c, Call::Attach(_))), "its own step needs no attach");
}

/// Cancels the pipeline once a job's step has printed (it runs then).
struct Started(CancellationToken);

impl terrace_engine::Observer for Started {
    fn observe(&self, event: terrace_engine::Progress) {
        if let terrace_engine::Progress::Lines { batches, .. } = event
            && batches.iter().any(|b| b.stream == terrace_model::log::Stream::Stdout)
        {
            self.0.cancel();
        }
    }
}
