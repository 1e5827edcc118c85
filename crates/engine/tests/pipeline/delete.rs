//! Delete: outputs go only when a job's delete succeeds; the environment record goes
//! only when every delete succeeded; a failed destroy leaves it failed, and the next one
//! resumes where it stopped.

use terrace_model::Event;

use crate::scripted::Answer;
use crate::{Fixture, state_of};

#[tokio::test]
async fn a_destroy_that_fails_keeps_what_is_left_and_the_next_resumes() {
    let f = Fixture::new(
        "project: p\nenvironments: {dev: {}}\njobs:\n  net: {events: [start, delete], commands: {start: x, delete: y}}\n  app: {depends_on: [net], events: [start, delete], commands: {start: x, delete: y}}\n",
    )
    .await;
    f.executor.on("net", "start", vec![Answer::outputs(r#"{"VPC": {"value": "vpc-1", "sensitive": false}}"#)]);
    f.executor.on("app", "start", vec![Answer::outputs(r#"{"URL": {"value": "https://app", "sensitive": false}}"#)]);
    assert!(f.run("dev", Event::Start).await.succeeded());
    let env = f.store.get_environment("p", "dev").await.unwrap().unwrap();
    assert_eq!(f.store.outputs(env.id).await.unwrap().len(), 2);

    // net's delete fails: app's delete succeeded (its outputs go), net's outputs stay.
    f.executor.on("net", "delete", vec![Answer::fail(1)]);
    let first = f.run("dev", Event::Delete).await;
    assert_eq!(first.failed_job.as_deref(), Some("net"));
    assert_eq!(first.environment_state.to_string(), "failed");
    let left: Vec<String> = f.store.outputs(env.id).await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(left, ["VPC"]);
    assert!(f.store.get_environment("p", "dev").await.unwrap().is_some(), "never silently forgotten");

    // Again: app's delete is not run twice; net's now succeeds; the record goes.
    f.executor.on("net", "delete", vec![Answer::ok()]);
    let second = f.run("dev", Event::Delete).await;
    assert!(second.succeeded(), "{second:?}");
    let (app, why) = state_of(&second, "app");
    assert_eq!(app, "skipped");
    assert!(why.starts_with("already deleted by run "), "{why}");
    assert_eq!(f.executor.started().iter().filter(|s| *s == "app:delete").count(), 1);
    assert_eq!(second.environment_state.to_string(), "deleted");
    assert!(f.store.get_environment("p", "dev").await.unwrap().is_none());
}
