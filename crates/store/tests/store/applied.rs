//! What environments applied: recorded by a run's lease, replaced by a later start,
//! forgotten with the job's outputs by its delete or on purpose, gone with the record.

use std::sync::Arc;

use terrace_model::applied::JobDefinition;
use terrace_model::log::{LogBatch, Stream};
use terrace_model::output::OutputEntry;
use terrace_model::project::TemplateKind;
use terrace_store::{Applied, Ending, EnvChange, ForgottenJob, RunState};

use crate::common::*;

fn definition(job: &str, command: &str) -> JobDefinition {
    let mut j = terrace_model::Job::new(job, TemplateKind::Shell);
    j.events = vec![terrace_model::Event::Start, terrace_model::Event::Delete];
    j.commands.insert(terrace_model::Event::Delete, terrace_model::Command::Shell(command.into()));
    JobDefinition::from(&j)
}

fn output(name: &str) -> OutputEntry {
    OutputEntry { name: name.into(), value: "v".into(), sensitive: false }
}

async fn applied_jobs_are_recorded_replaced_and_forgotten(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let (r1, r2, other) =
        (run(&*f.store, &e, "db").await, run(&*f.store, &e, "db").await, run(&*f.store, &e, "app").await);
    f.store.record_applied(&lease(&r1), e.id, &definition("db", "v1"), Some("abc")).await.unwrap();
    f.store.record_applied(&lease(&r2), e.id, &definition("db", "v2"), None).await.unwrap();
    f.store.record_applied(&lease(&other), e.id, &definition("app", "a"), None).await.unwrap();
    f.store.put_outputs(&lease(&r2), e.id, "db", &[output("HOST")]).await.unwrap();
    f.store.put_outputs(&lease(&other), e.id, "app", &[output("URL"), output("PORT")]).await.unwrap();

    let applied = f.store.applied_jobs(e.id).await.unwrap();
    let summary: Vec<_> = applied.iter().map(|a| (a.job.as_str(), a.run_id, a.git_commit.as_deref())).collect();
    assert_eq!(summary, [("app", other.id, None), ("db", r2.id, None)]);
    assert_eq!(applied[1].definition, definition("db", "v2"), "the later start's definition replaced the first");
    assert!(f.store.applied_jobs(env(&*f.store, "prod").await.id).await.unwrap().is_empty());

    // A delete that succeeded: record and outputs go together, other jobs keep theirs.
    f.store.forget_deleted(&lease(&r2), e.id, "db").await.unwrap();
    let jobs: Vec<_> = f.store.applied_jobs(e.id).await.unwrap().into_iter().map(|a| a.job).collect();
    assert_eq!(jobs, ["app"]);
    let names: Vec<_> = f.store.outputs(e.id).await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(names, ["PORT", "URL"]);

    // Forgotten on purpose: what each left behind.
    let forgotten = f.store.forget_removed(e.id, &["app".to_string()]).await.unwrap();
    assert_eq!(forgotten, [ForgottenJob { job: "app".into(), outputs: vec!["PORT".into(), "URL".into()] }]);
    assert!(f.store.applied_jobs(e.id).await.unwrap().is_empty());
    assert!(f.store.outputs(e.id).await.unwrap().is_empty());
}

async fn a_stale_lease_records_nothing_and_the_record_goes_with_the_environment(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let mut stale = lease(&r);
    stale.token += 1;
    assert!(f.store.record_applied(&stale, e.id, &definition("db", "x"), None).await.unwrap_err().is_lease_lost());
    assert!(f.store.applied_jobs(e.id).await.unwrap().is_empty());

    f.store.record_applied(&lease(&r), e.id, &definition("db", "x"), None).await.unwrap();
    let pipeline = f.store.create_pipeline(e.id, terrace_model::Event::Delete, "t").await.unwrap();
    let end = terrace_store::PipelineEnd {
        pipeline,
        state: terrace_store::RunState::Succeeded,
        environment: e.id,
        change: EnvChange::Delete,
        event: None,
    };
    f.store.close_pipeline(&end).await.unwrap();
    assert!(f.store.applied_jobs(e.id).await.unwrap().is_empty(), "deleting the environment forgets what it applied");
}

async fn the_record_comes_with_the_runs_success_or_not_at_all(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let l = lease(&r);
    let attempt = f.store.start_attempt(&l, soon(), None, Arc::new([])).await.unwrap();
    let ok = Ending::new(RunState::Succeeded, Some(0), None);
    let summary: Arc<[LogBatch]> = Arc::new([LogBatch::now(Stream::Terrace, "attempt 1 succeeded")]);
    let v1 = definition("db", "v1");
    let applied = Applied { env: e.id, definition: &v1, git_commit: Some("abc"), snapshot: None };

    // A holder that lost its lease ends nothing and records nothing.
    let mut stale = l.clone();
    stale.token += 1;
    let err = f.store.end_applied(&stale, attempt, &ok, summary.clone(), &applied).await.unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    assert!(f.store.applied_jobs(e.id).await.unwrap().is_empty());
    assert_eq!(f.store.get_run(r.id).await.unwrap().unwrap().state, RunState::Running);

    f.store.end_applied(&l, attempt, &ok, summary, &applied).await.unwrap();
    let done = f.store.get_run(r.id).await.unwrap().unwrap();
    assert_eq!((done.state, done.owner.as_deref()), (RunState::Succeeded, None), "the run ended, its lease released");
    let attempts = f.store.attempts(r.id).await.unwrap();
    assert_eq!(attempts[0].state, RunState::Succeeded);
    let applied = f.store.applied_jobs(e.id).await.unwrap();
    let summary: Vec<_> = applied.iter().map(|a| (a.job.as_str(), a.run_id, a.git_commit.as_deref())).collect();
    assert_eq!(summary, [("db", r.id, Some("abc"))]);
    assert_eq!(applied[0].definition, v1);
    let log = f.store.read_logs(r.id, 0, 10).await.unwrap();
    assert_eq!(log.last().map(|l| l.line.text.as_str()), Some("attempt 1 succeeded"));
}

backends!(
    the_record_comes_with_the_runs_success_or_not_at_all,
    applied_jobs_are_recorded_replaced_and_forgotten,
    a_stale_lease_records_nothing_and_the_record_goes_with_the_environment
);
