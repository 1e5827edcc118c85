//! Recovery: a run whose holder died is marked interrupted, its environment failed, and
//! its step stopped through the executor that ran it, by the handle the store kept (no
//! process id), after which every executor sweeps for the run.

use terrace_model::{Event, RunId};
use terrace_store::{NewRun, RunState};

use crate::Fixture;
use crate::scripted::Call;

#[tokio::test]
async fn a_dead_holders_step_is_stopped_through_its_executor_by_its_handle() {
    let f = Fixture::new("project: p\nenvironments: {dev: {}}\njobs:\n  a: {events: [start], commands: {start: x}}\n")
        .await;
    let store = f.store.as_ref();
    // What a holder that died mid-step leaves: a running attempt with its step's handle.
    let env = store.ensure_environment("p", "dev").await.unwrap();
    store.set_environment_state(env.id, terrace_store::EnvState::Deploying, None, None).await.unwrap();
    let pipeline = store.create_pipeline(env.id, Event::Start, "test").await.unwrap();
    let run = store
        .create_run(NewRun {
            id: RunId::new(),
            pipeline_id: Some(pipeline),
            environment_id: env.id,
            project: "p".into(),
            environment: "dev".into(),
            job: "a".into(),
            event: Event::Start,
            forced: false,
            trigger: "test".into(),
        })
        .await
        .unwrap();
    // A local owner on this host whose process is gone (no pid is that high).
    let dead = format!("local:4194305:1@{}", nix_hostname());
    let until = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
    let attempt = store.start_attempt(run.id, &dead, until, None).await.unwrap();
    store.record_attempt_handle(run.id, attempt, "local", "scripted-from-a-dead-process").await.unwrap();

    let recovered = terrace_engine::recovery::recover(store, &f.engine.data_dir, &f.engine.executors).await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(
        f.executor.calls(),
        [
            Call::Attach("scripted-from-a-dead-process".into()),
            Call::Cancel("scripted-from-a-dead-process".into()),
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

fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}
