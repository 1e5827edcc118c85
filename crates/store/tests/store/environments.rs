//! Environment records: ensure, get, list, state changes and deletion.

use terrace_model::log::{LogBatch, Stream};
use terrace_model::output::OutputEntry;
use terrace_store::{
    EnvPage, EnvState, NewPromotion, NewRuntimeEnvironment, PromotionId, PromotionKind, PromotionState, RunFilter,
    RuntimeDef, StoreError,
};

use crate::common::*;

async fn ensure_creates_stopped_once(f: Fixture) {
    let a = f.store.ensure_environment("shop", "dev").await.unwrap();
    assert_eq!((a.project.as_str(), a.name.as_str(), a.state), ("shop", "dev", EnvState::Stopped));
    assert_eq!((a.failed_job.as_deref(), a.reason.as_deref()), (None, None));
    assert_eq!(a.created_at, a.updated_at);
    let b = f.store.ensure_environment("shop", "dev").await.unwrap();
    assert_eq!(a, b, "a second ensure returns the same record");
    assert_eq!(f.store.get_environment("shop", "dev").await.unwrap(), Some(a));
    assert_eq!(f.store.get_environment("shop", "prod").await.unwrap(), None);
    assert_eq!(f.store.get_environment("other", "dev").await.unwrap(), None);
}

async fn concurrent_ensure_from_two_handles_agrees(f: Fixture) {
    let other = f.reopen().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { f.store.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move { s.ensure_environment("shop", "race").await.unwrap().id }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(f.store.list_environments("shop", &EnvPage::first(10)).await.unwrap().len(), 1);
}

async fn names(f: &Fixture, project: &str, limit: u32, after: Option<&str>) -> Vec<String> {
    let page = EnvPage { limit, after: after.map(str::to_string) };
    f.store.list_environments(project, &page).await.unwrap().into_iter().map(|e| e.name).collect()
}

async fn list_filters_by_project_in_name_order(f: Fixture) {
    for (p, n) in [("shop", "prod"), ("blog", "dev"), ("shop", "dev")] {
        f.store.ensure_environment(p, n).await.unwrap();
    }
    assert_eq!(names(&f, "shop", 100, None).await, ["dev", "prod"]);
    assert_eq!(names(&f, "blog", 100, None).await, ["dev"]);
    assert!(names(&f, "none", 100, None).await.is_empty());
}

async fn list_pages_by_name_in_byte_order(f: Fixture) {
    // Byte order: upper case before lower case, "a-1" before "a1" before "aa".
    let all = ["B", "a", "a-1", "a1", "aa", "b", "pr-10", "pr-2", "z"];
    for n in all.iter().rev() {
        f.store.ensure_environment("shop", n).await.unwrap();
    }
    f.store.ensure_environment("other", "a0").await.unwrap();
    assert_eq!(names(&f, "shop", 100, None).await, all);
    // Walk every page size: the pages, joined, are the whole list, each name once.
    for limit in 1..=10 {
        let mut walked = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = names(&f, "shop", limit, after.as_deref()).await;
            assert!(page.len() <= limit as usize);
            walked.extend(page.iter().cloned());
            if page.len() < limit as usize {
                break;
            }
            after = page.last().cloned();
        }
        assert_eq!(walked, all, "pages of {limit}");
    }
    // The cursor need not be a stored name; past the end is empty.
    assert_eq!(names(&f, "shop", 3, Some("a0")).await, ["a1", "aa", "b"]);
    assert_eq!(names(&f, "shop", 3, Some("pr-2")).await, ["z"]);
    assert!(names(&f, "shop", 3, Some("z")).await.is_empty());
    assert_eq!(names(&f, "shop", 2, Some("")).await, ["B", "a"]);
    // A deleted environment leaves no hole in the walk.
    let a1 = f.store.get_environment("shop", "a1").await.unwrap().unwrap();
    f.store.delete_environment(a1.id).await.unwrap();
    assert_eq!(names(&f, "shop", 2, Some("a-1")).await, ["aa", "b"]);
}

async fn state_changes_are_stored(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    f.store.set_environment_state(e.id, EnvState::Failed, Some("db"), Some("exit 3")).await.unwrap();
    let got = f.store.get_environment("shop", "dev").await.unwrap().unwrap();
    assert_eq!(got.state, EnvState::Failed);
    assert_eq!(got.failed_job.as_deref(), Some("db"));
    assert_eq!(got.reason.as_deref(), Some("exit 3"));
    assert!(got.updated_at > e.updated_at);
    assert_eq!(got.created_at, e.created_at);

    f.store.set_environment_state(e.id, EnvState::Running, None, None).await.unwrap();
    let got = f.store.get_environment("shop", "dev").await.unwrap().unwrap();
    assert_eq!((got.state, got.failed_job, got.reason), (EnvState::Running, None, None));

    let err = f.store.set_environment_state(unknown_env(), EnvState::Running, None, None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { what: "environment", .. }), "{err}");
}

async fn delete_removes_record_and_outputs_but_keeps_history(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let out = OutputEntry { name: "HOST".into(), value: "db.local".into(), sensitive: false };
    f.store.put_outputs(&lease(&r), e.id, "db", &[out]).await.unwrap();
    f.store.record_event(e.id, Some(r.id), "deleted", "environment deleted").await.unwrap();
    f.store.append_logs(&lease(&r), 1, vec![LogBatch::now(Stream::Stdout, "bye")].into()).await.unwrap();

    f.store.delete_environment(e.id).await.unwrap();
    assert_eq!(f.store.get_environment("shop", "dev").await.unwrap(), None);
    assert!(f.store.outputs(e.id).await.unwrap().is_empty());
    assert_eq!(f.store.get_run(r.id).await.unwrap().unwrap().environment, "dev");
    let filter = RunFilter { project: Some("shop".into()), environment: Some("dev".into()), ..Default::default() };
    assert_eq!(f.store.list_runs(&filter).await.unwrap().len(), 1);
    assert_eq!(f.store.events(e.id, 10).await.unwrap().len(), 1);
    assert_eq!(f.store.read_logs(r.id, 0, 10).await.unwrap().len(), 1);
    assert_eq!(f.store.last_runs(e.id).await.unwrap().len(), 1);

    let err = f.store.delete_environment(e.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    // The name can be used again, by a new environment.
    let again = env(&*f.store, "dev").await;
    assert_ne!(again.id, e.id);
    assert!(f.store.last_runs(again.id).await.unwrap().is_empty());
}

fn runtime(origin: &str, source: &str, base: &str, vars: &[(&str, &str)]) -> RuntimeDef {
    RuntimeDef {
        origin: origin.into(),
        source: source.into(),
        base: base.into(),
        variables: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        created_by: "cli:tester".into(),
    }
}

async fn pin(f: &Fixture, env: &str, version: &str) {
    let e = f.store.ensure_environment("shop", env).await.unwrap();
    let id = PromotionId::new();
    let p = NewPromotion {
        id,
        project: "shop".into(),
        artifact: "app".into(),
        from_env: None,
        to_env: env.into(),
        version: version.into(),
        digest: format!("sha256:{version}"),
        old_version: None,
        old_digest: None,
        kind: PromotionKind::Promote,
        skip_order: false,
        state: PromotionState::Started,
        requested_by: "cli:tester".into(),
    };
    f.store.create_promotion(p).await.unwrap();
    f.store.finish_promotion(id, e.id, "promoted").await.unwrap();
}

async fn runtime_environments_keep_their_definition_and_copy_pins(f: Fixture) {
    pin(&f, "dev", "1.2").await;
    let def = runtime("clone", "dev", "dev", &[("SIZE", "large")]);
    let new = NewRuntimeEnvironment { project: "shop".into(), name: "dev-2".into(), definition: def.clone() };
    let made = f.store.create_runtime_environment(&new).await.unwrap();
    assert_eq!((made.name.as_str(), made.state, made.runtime.as_ref()), ("dev-2", EnvState::Stopped, Some(&def)));
    assert_eq!(f.store.get_environment("shop", "dev-2").await.unwrap(), Some(made.clone()));
    assert_eq!(f.store.ensure_environment("shop", "dev-2").await.unwrap(), made, "ensure finds it as it is");
    let pins = f.store.artifact_pins("shop", "dev-2").await.unwrap();
    assert_eq!(pins.iter().map(|p| p.version.as_str()).collect::<Vec<_>>(), ["1.2"], "the source's versions");

    // A name with a record is refused, whatever made it; nothing changes.
    let err = f.store.create_runtime_environment(&new).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m.contains("`dev-2` already exists")), "{err}");
    let taken = NewRuntimeEnvironment { name: "dev".into(), ..new.clone() };
    assert!(matches!(f.store.create_runtime_environment(&taken).await, Err(StoreError::Conflict(_))));
    assert_eq!(f.store.get_environment("shop", "dev").await.unwrap().unwrap().runtime, None);

    let other = runtime("preview", "dev-2", "dev", &[]);
    let pr = NewRuntimeEnvironment { project: "shop".into(), name: "pr-7".into(), definition: other };
    f.store.create_runtime_environment(&pr).await.unwrap();
    let listed: Vec<String> = f.store.runtime_environments("shop").await.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(listed, ["dev-2", "pr-7"], "declared records are not runtime ones");

    // A preview's push replaces its variable overrides; a declared record has none to replace.
    let vars = std::collections::BTreeMap::from([("CODE_VERSION".to_string(), "b2".to_string())]);
    f.store.set_runtime_variables("shop", "pr-7", &vars).await.unwrap();
    let got = f.store.get_environment("shop", "pr-7").await.unwrap().unwrap();
    assert_eq!(got.runtime.unwrap().variables, vars);
    let declared = f.store.set_runtime_variables("shop", "dev", &vars).await.unwrap_err();
    assert!(matches!(declared, StoreError::NotFound { .. }), "{declared}");
    assert!(f.store.runtime_environments("blog").await.unwrap().is_empty());

    // Deleting the record deletes the definition: the name is free again.
    f.store.delete_environment(made.id).await.unwrap();
    let names: Vec<String> = f.store.runtime_environments("shop").await.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["pr-7"]);
    let again = f.store.create_runtime_environment(&new).await.unwrap();
    assert_ne!(again.id, made.id);
}

backends!(
    runtime_environments_keep_their_definition_and_copy_pins,
    ensure_creates_stopped_once,
    concurrent_ensure_from_two_handles_agrees,
    list_filters_by_project_in_name_order,
    list_pages_by_name_in_byte_order,
    state_changes_are_stored,
    delete_removes_record_and_outputs_but_keeps_history
);
