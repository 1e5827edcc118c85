//! The audit trail of an environment.

use crate::common::*;

async fn events_are_listed_newest_first_per_environment(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let other = env(&*f.store, "prod").await;
    let r = run(&*f.store, &e, "db").await;
    f.store.record_event(e.id, None, "created", "environment created").await.unwrap();
    f.store.record_event(other.id, None, "created", "other").await.unwrap();
    f.store.record_event(e.id, Some(r.id), "run_failed", "db failed: exit 3").await.unwrap();
    f.store.record_event(e.id, None, "state", "failed").await.unwrap();

    let all = f.store.events(e.id, 10).await.unwrap();
    let kinds: Vec<_> = all.iter().map(|ev| ev.kind.as_str()).collect();
    assert_eq!(kinds, ["state", "run_failed", "created"]);
    assert_eq!((all[1].run_id, all[1].message.as_str()), (Some(r.id), "db failed: exit 3"));
    assert!(all.iter().all(|ev| ev.environment_id == e.id));
    assert!(all[0].id > all[1].id && all[0].at >= all[1].at);
    assert_eq!(all[2].run_id, None);
    let last = f.store.events(e.id, 1).await.unwrap();
    assert_eq!(last, all[..1]);
    assert!(f.store.events(unknown_env(), 10).await.unwrap().is_empty());
}

backends!(events_are_listed_newest_first_per_environment);
