//! Order: start in dependency order, stop and delete in reverse, a job only on the events
//! it lists.

use terrace_model::Event;

use crate::Fixture;

const CHAIN: &str = "project: p\nenvironments: {dev: {}}\njobs:\n  net: {events: [start, stop, delete], commands: {start: a, stop: b, delete: c}}\n  db: {depends_on: [net], events: [start, stop, delete], commands: {start: a, stop: b, delete: c}}\n  app: {depends_on: [db], events: [start, delete], commands: {start: a, delete: c}}\n";

#[tokio::test]
async fn start_follows_the_graph_and_stop_and_delete_reverse_it() {
    let f = Fixture::new(CHAIN).await;
    assert!(f.run("dev", Event::Start).await.succeeded());
    assert_eq!(f.executor.started(), ["net:start", "db:start", "app:start"]);
    let stopped = f.run("dev", Event::Stop).await;
    assert!(stopped.succeeded());
    assert_eq!(&f.executor.started()[3..], ["db:stop", "net:stop"], "app does not list stop");
    assert!(f.run("dev", Event::Delete).await.succeeded());
    assert_eq!(&f.executor.started()[5..], ["app:delete", "db:delete", "net:delete"]);
}

#[tokio::test]
async fn each_step_runs_on_the_executor_its_name_picks_and_its_handle_is_recorded() {
    let f = Fixture::new(CHAIN).await;
    let out = f.run("dev", Event::Start).await;
    let run = out.jobs[0].run_id;
    let attempts = f.store.attempts(run).await.unwrap();
    assert_eq!(attempts[0].executor.as_deref(), Some("local"));
    assert!(attempts[0].handle.as_deref().is_some_and(|h| h.starts_with("scripted-")), "{attempts:?}");
}
