//! Records copied in from another store (a local data folder moved into a server's):
//! ids, numbers, times, logs, sealed outputs and every state version arrive as they were,
//! opened with the source's key and sealed with this store's; a second import adds nothing.
//! The project's secrets of every scope move the same way; one the store has is kept.

use std::sync::Arc;

use terrace_model::log::{LogBatch, Stream};
use terrace_model::output::OutputEntry;
use terrace_store::{
    AppliedStore, Cipher, ControlStore, Ending, ImportStore, RunState, SqlStore, StateKey, StateStore, Store,
};

use crate::common::*;

async fn a_run_its_log_outputs_and_state_versions_arrive_as_they_were(f: Fixture) {
    // The source: another store, under another master key.
    let from = SqlStore::open_in_memory(Cipher::new([9; 32])).await.unwrap();
    let e = env(&from, "dev").await;
    let r = run(&from, &e, "net").await;
    let l = lease(&r);
    let log = Arc::<[LogBatch]>::from(vec![LogBatch::now(Stream::Stdout, "applying\nApply complete")]);
    let attempt = from.start_attempt(&l, soon(), None, log).await.unwrap();
    let more = Arc::<[LogBatch]>::from(vec![LogBatch::now(Stream::Stderr, "a warning")]);
    from.append_logs(&l, attempt, more).await.unwrap();
    let outputs = [
        OutputEntry { name: "PW".into(), value: "hunter2".into(), sensitive: true },
        OutputEntry { name: "HOST".into(), value: "db.internal".into(), sensitive: false },
    ];
    from.put_outputs(&l, e.id, "net", &outputs).await.unwrap();
    let applied = terrace_model::applied::JobDefinition::from(&terrace_model::Job::new(
        "net",
        terrace_model::project::TemplateKind::Shell,
    ));
    let snapshot = terrace_store::SourceSnapshot { hash: "d".repeat(64), tar_gz: b"tar".to_vec() };
    from.record_applied_with(&l, e.id, &applied, Some("abc123"), Some(&snapshot)).await.unwrap();
    let key = StateKey::new("shop", "dev", "net");
    from.write_state(&l, &key, None, br#"{"serial":1,"lineage":"L"}"#).await.unwrap();
    from.write_state(&l, &key, None, br#"{"serial":2,"lineage":"L"}"#).await.unwrap();
    from.finish_run(&l, &Ending::new(RunState::Succeeded, Some(0), None)).await.unwrap();
    let r = from.get_run(r.id).await.unwrap().unwrap();

    let to = &f.import;
    assert!(to.import_environment(&e).await.unwrap());
    assert!(!to.import_environment(&e).await.unwrap(), "once");
    let attempts = from.attempts(r.id).await.unwrap();
    let lines = from.read_logs(r.id, 0, 100).await.unwrap();
    assert!(to.import_run(&r, &attempts, &lines).await.unwrap());
    assert!(!to.import_run(&r, &attempts, &lines).await.unwrap(), "once");
    assert_eq!(to.import_outputs(e.id, &from.outputs(e.id).await.unwrap()).await.unwrap(), 2);
    assert_eq!(to.import_outputs(e.id, &from.outputs(e.id).await.unwrap()).await.unwrap(), 0, "once");
    assert_eq!(to.import_snapshots(std::slice::from_ref(&snapshot)).await.unwrap(), 1);
    assert_eq!(to.import_snapshots(std::slice::from_ref(&snapshot)).await.unwrap(), 0, "once");
    assert_eq!(to.import_applied(e.id, &from.applied_jobs(e.id).await.unwrap()).await.unwrap(), 1);
    assert_eq!(to.import_applied(e.id, &from.applied_jobs(e.id).await.unwrap()).await.unwrap(), 0, "once");
    let mut versions = Vec::new();
    for v in from.state_versions(&key).await.unwrap().into_iter().rev() {
        versions.push(from.read_state(&key, Some(v.version)).await.unwrap().unwrap());
    }
    assert!(to.import_state_versions(&key, &versions).await.unwrap());
    assert!(!to.import_state_versions(&key, &versions).await.unwrap(), "once");

    let s = &*f.store;
    let moved = s.get_environment("shop", "dev").await.unwrap().unwrap();
    assert_eq!((moved.id, moved.state), (e.id, e.state));
    let got = s.get_run(r.id).await.unwrap().unwrap();
    assert_eq!(
        (got.number, got.state, got.exit_code, got.created_at, got.finished_at, got.owner),
        (r.number, RunState::Succeeded, Some(0), r.created_at, r.finished_at, None)
    );
    assert_eq!(s.attempts(r.id).await.unwrap(), attempts);
    assert_eq!(s.read_logs(r.id, 0, 100).await.unwrap(), lines);
    let out = s.outputs(e.id).await.unwrap();
    assert_eq!(
        out.iter().map(|o| (o.name.as_str(), o.value.as_str())).collect::<Vec<_>>(),
        [("HOST", "db.internal"), ("PW", "hunter2")]
    );
    assert_eq!(s.state_versions(&key).await.unwrap(), from.state_versions(&key).await.unwrap());
    assert_eq!(s.applied_jobs(e.id).await.unwrap(), from.applied_jobs(e.id).await.unwrap());
    assert_eq!(s.source_snapshot(&snapshot.hash).await.unwrap(), Some(snapshot.tar_gz.clone()));
    assert_eq!(s.read_state(&key, None).await.unwrap().unwrap().1, br#"{"serial":2,"lineage":"L"}"#);
    // The environment's runs number on from the imported ones.
    let next = run(s, &moved, "net").await;
    assert_eq!(next.number, r.number + 1);
}

async fn secrets_move_sealed_with_this_stores_key_and_its_own_are_kept(f: Fixture) {
    let from = SqlStore::open_in_memory(Cipher::new([9; 32])).await.unwrap();
    from.put_secret("shop", "dev", "PW", "dev-pw", "cli:me").await.unwrap();
    from.put_secret("shop", "prod", "PW", "prod-pw", "cli:me").await.unwrap();
    from.put_secret("shop", "dev", "KEEP", "theirs", "cli:me").await.unwrap();
    from.put_secret("other", "dev", "PW", "not-this-project", "cli:me").await.unwrap();
    from.put_project_secret("shop", "REGISTRY", "project-reg", "cli:me").await.unwrap();
    from.put_project_secret("shop", "SHARED", "theirs-shared", "cli:me").await.unwrap();
    from.put_project_secret("other", "REGISTRY", "not-this-project", "cli:me").await.unwrap();
    f.control.put_secret("shop", "dev", "KEEP", "ours", "api:admin").await.unwrap();
    f.control.put_project_secret("shop", "SHARED", "ours-shared", "api:admin").await.unwrap();

    let moving = from.secrets_to_move("shop").await.unwrap();
    let scopes: Vec<(Option<&str>, &str)> =
        moving.iter().map(|m| (m.environment.as_deref(), m.name.as_str())).collect();
    assert_eq!(
        scopes,
        [(None, "REGISTRY"), (None, "SHARED"), (Some("dev"), "KEEP"), (Some("dev"), "PW"), (Some("prod"), "PW")]
    );
    assert!(!format!("{moving:?}").contains("dev-pw"), "Debug shows no value");
    assert!(!format!("{moving:?}").contains("project-reg"), "Debug shows no value");
    assert_eq!(f.import.import_secrets("shop", &moving).await.unwrap(), 3);
    assert_eq!(f.import.import_secrets("shop", &moving).await.unwrap(), 0, "once");

    let c = &*f.control;
    let pairs = |v: Vec<(String, String)>| v.into_iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>();
    let dev = pairs(c.secret_values("shop", "dev").await.unwrap());
    assert_eq!(dev, ["KEEP=ours", "PW=dev-pw", "REGISTRY=project-reg", "SHARED=ours-shared"]);
    let prod = pairs(c.secret_values("shop", "prod").await.unwrap());
    assert_eq!(prod, ["PW=prod-pw", "REGISTRY=project-reg", "SHARED=ours-shared"], "the project's reach every one");
    let listed = c.list_secrets("shop", "prod").await.unwrap();
    assert_eq!((listed[0].updated_by.as_str(), listed[0].updated_at), ("cli:me", moving[4].updated_at), "as it was");
    let project = c.list_project_secrets("shop").await.unwrap();
    assert_eq!((project[0].name.as_str(), project[0].updated_at), ("REGISTRY", moving[0].updated_at));
    assert_eq!(project[1].updated_by, "api:admin", "the server's own project secret is kept");
    assert!(c.secret_values("other", "dev").await.unwrap().is_empty(), "only the project's");
}

backends!(
    a_run_its_log_outputs_and_state_versions_arrive_as_they_were,
    secrets_move_sealed_with_this_stores_key_and_its_own_are_kept
);
