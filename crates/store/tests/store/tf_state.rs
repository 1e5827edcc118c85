//! Terraform state and saved plans: versions kept and sealed, one lock held by a run
//! (gone with it), writes fenced by the run's lease and by the lock, imports only into
//! an empty state, plans bound to what they were made against.

use terrace_store::{Ending, NewPlan, RunState, StateKey, StoreError};

use crate::common::*;

fn key(env: &str) -> StateKey {
    StateKey::new("shop", env, "net")
}

fn state_doc(serial: u64, secret: &str) -> Vec<u8> {
    format!(r#"{{"version":4,"serial":{serial},"lineage":"L-1","outputs":{{"pw":{{"value":"{secret}","sensitive":true}}}}}}"#)
        .into_bytes()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn versions_are_kept_per_state_and_sealed(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "net").await;
    assert!(f.store.read_state(&key("dev"), None).await.unwrap().is_none());
    let v1 = f.store.write_state(&lease(&r), &key("dev"), None, &state_doc(1, "hunter2-one")).await.unwrap();
    let v2 = f.store.write_state(&lease(&r), &key("dev"), None, &state_doc(2, "hunter2-two")).await.unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!((v2.serial, v2.lineage.as_deref(), v2.run_id), (Some(2), Some("L-1"), Some(r.id)));

    let (newest, body) = f.store.read_state(&key("dev"), None).await.unwrap().unwrap();
    assert_eq!((newest.version, body), (2, state_doc(2, "hunter2-two")));
    let (_, old) = f.store.read_state(&key("dev"), Some(1)).await.unwrap().unwrap();
    assert_eq!(old, state_doc(1, "hunter2-one"));
    let listed: Vec<u64> = f.store.state_versions(&key("dev")).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(listed, [2, 1]);
    // Another environment's state is another state.
    assert!(f.store.state_versions(&key("prod")).await.unwrap().is_empty());
    assert_eq!(f.store.state_keys("shop", None).await.unwrap(), [key("dev")]);

    // At rest: no secret in clear; a body moved onto another version does not open.
    for blob in f.blobs("SELECT body_enc FROM tf_states").await {
        assert!(!contains(&blob, "hunter2"), "state stored in clear");
    }
    f.execute("UPDATE tf_states SET body_enc = (SELECT body_enc FROM tf_states WHERE version = 1) WHERE version = 2")
        .await;
    assert!(matches!(f.store.read_state(&key("dev"), None).await, Err(StoreError::Crypto(_))));
}

async fn the_lock_is_held_by_one_run_and_fences_writes(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let (a, b) = (run(&*f.store, &e, "net").await, run(&*f.store, &e, "net").await);
    assert!(f.store.lock_state(&lease(&a), &key("dev"), "lock-a", r#"{"ID":"lock-a"}"#).await.unwrap().is_none());
    let held = f.store.lock_state(&lease(&b), &key("dev"), "lock-b", "{}").await.unwrap().expect("held by a");
    assert_eq!((held.id.as_str(), held.run_id), ("lock-a", a.id));
    assert_eq!(f.store.state_lock(&key("dev")).await.unwrap().unwrap().id, "lock-a");

    // Only the holder's lock writes.
    let refused = f.store.write_state(&lease(&b), &key("dev"), Some("lock-b"), b"{}").await.unwrap_err();
    assert!(matches!(&refused, StoreError::StateLocked { lock_id, .. } if lock_id == "lock-a"), "{refused}");
    assert!(f.store.write_state(&lease(&b), &key("dev"), None, b"{}").await.is_err());
    f.store.write_state(&lease(&a), &key("dev"), Some("lock-a"), b"{}").await.unwrap();

    assert!(!f.store.unlock_state(&key("dev"), "lock-b").await.unwrap(), "another lock id does not unlock");
    assert!(f.store.unlock_state(&key("dev"), "lock-a").await.unwrap());
    assert!(f.store.lock_state(&lease(&b), &key("dev"), "lock-b", "{}").await.unwrap().is_none());

    // A run that ended releases its lock; so does one taken back.
    f.store.finish_run(&lease(&b), &Ending::new(RunState::Failed, None, Some("killed"))).await.unwrap();
    assert!(f.store.state_lock(&key("dev")).await.unwrap().is_none());
    assert!(f.store.lock_state(&lease(&a), &key("dev"), "lock-a2", "{}").await.unwrap().is_none());
    assert!(f.store.take_back_run(a.id, a.lease_token, None, "its holder died").await.unwrap());
    assert!(f.store.state_lock(&key("dev")).await.unwrap().is_none(), "recovery released the lock");
    // And the run taken back writes no more.
    let lost = f.store.write_state(&lease(&a), &key("dev"), None, b"{}").await.unwrap_err();
    assert!(lost.is_lease_lost(), "{lost}");
    assert!(f.store.lock_state(&lease(&a), &key("dev"), "lock-a3", "{}").await.unwrap_err().is_lease_lost());
}

async fn an_import_fills_only_an_empty_state(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let v = f.store.import_state(&key("dev"), &state_doc(5, "x"), "import:/old/state").await.unwrap().unwrap();
    assert_eq!((v.version, v.serial, v.run_id, v.source.as_str()), (1, Some(5), None, "import:/old/state"));
    assert!(f.store.import_state(&key("dev"), b"{}", "import:again").await.unwrap().is_none());
    let r = run(&*f.store, &e, "net").await;
    assert_eq!(f.store.write_state(&lease(&r), &key("dev"), None, b"{}").await.unwrap().version, 2);
}

async fn a_saved_plan_is_sealed_and_bound_to_what_it_was_made_against(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "net").await;
    f.store.write_state(&lease(&r), &key("dev"), None, &state_doc(1, "s")).await.unwrap();
    let plan = NewPlan { key: key("dev"), commit: Some("abc".into()), inputs_hash: "h1".into(), state_version: 1 };
    let saved = f.store.save_plan(&lease(&r), &plan, b"PLAN hunter2-plan").await.unwrap();
    let (got, body) = f.store.saved_plan(r.id).await.unwrap().unwrap();
    assert_eq!((got.clone(), body.as_slice()), (saved, &b"PLAN hunter2-plan"[..]));
    for blob in f.blobs("SELECT body_enc FROM tf_plans").await {
        assert!(!contains(&blob, "hunter2"), "plan stored in clear");
    }
    assert_eq!(got.staleness(Some("abc"), "h1", 1), None);
    assert!(got.staleness(Some("abd"), "h1", 1).unwrap().contains("commit abc"));
    assert!(got.staleness(Some("abc"), "h2", 1).unwrap().contains("other inputs"));
    // The state moves: the plan is stale.
    f.store.write_state(&lease(&r), &key("dev"), None, &state_doc(2, "s")).await.unwrap();
    let current = f.store.state_versions(&key("dev")).await.unwrap()[0].version;
    assert!(got.staleness(Some("abc"), "h1", current).unwrap().contains("state has moved"));
    assert!(f.store.saved_plan(terrace_model::RunId::new()).await.unwrap().is_none());
}

backends!(
    versions_are_kept_per_state_and_sealed,
    the_lock_is_held_by_one_run_and_fences_writes,
    an_import_fills_only_an_empty_state,
    a_saved_plan_is_sealed_and_bound_to_what_it_was_made_against,
);
