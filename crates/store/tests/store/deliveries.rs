//! Webhook deliveries as a work queue: kept once per delivery id, claimed by one replica
//! at a time under a lease (a concurrent claim gets each delivery once), retried when due,
//! taken back when the lease expired, and every write fenced by the claim's token.

use std::collections::HashSet;

use terrace_store::control::{DeliveryEnd, NewDelivery};
use terrace_store::{Owner, StoreError};
use time::{Duration, OffsetDateTime};

use crate::common::*;

fn delivery(key: &str) -> NewDelivery {
    NewDelivery {
        key: key.into(),
        forge: "github".into(),
        event: "push".into(),
        summary: format!("push {key}"),
        body: format!("{{\"k\":\"{key}\"}}").into_bytes(),
    }
}

async fn deliveries_are_claimed_retried_and_finished_under_their_lease(f: Fixture) {
    let s = &f.control;
    assert!(s.record_delivery(&delivery("github:1")).await.unwrap());
    assert!(!s.record_delivery(&delivery("github:1")).await.unwrap(), "a redelivery is a duplicate");
    let work = s.claim_delivery(&Owner::parse("s1"), soon()).await.unwrap().unwrap();
    assert_eq!(
        (work.record.key.as_str(), work.record.state.as_str(), work.record.attempts),
        ("github:1", "processing", 1)
    );
    assert_eq!(work.body, br#"{"k":"github:1"}"#);
    assert!(work.progress.is_empty());
    assert!(s.claim_delivery(&Owner::parse("s2"), soon()).await.unwrap().is_none(), "held by s1");

    let mut progress = serde_json::Map::new();
    progress.insert("step".into(), serde_json::json!("one"));
    s.set_delivery_progress(&work.lease, &progress).await.unwrap();
    // Back in the queue, not due before its backoff.
    let later = OffsetDateTime::now_utc() + Duration::hours(1);
    s.retry_delivery(&work.lease, later, "forge unreachable").await.unwrap();
    assert!(s.claim_delivery(&Owner::parse("s2"), soon()).await.unwrap().is_none(), "not due yet");
    let stale = s.set_delivery_progress(&work.lease, &progress).await;
    assert!(matches!(stale, Err(StoreError::LeaseLost { .. })), "{stale:?}");
    let record = s.get_delivery("github:1").await.unwrap().unwrap();
    assert_eq!((record.state.as_str(), record.last_error.as_deref()), ("queued", Some("forge unreachable")));

    // Due now: the retry sees the progress of the attempt before.
    make_due(&f, "github:1").await;
    let again = s.claim_delivery(&Owner::parse("s2"), soon()).await.unwrap().unwrap();
    assert_eq!((again.record.attempts, again.progress.get("step")), (2, Some(&serde_json::json!("one"))));
    s.finish_delivery(&again.lease, DeliveryEnd::Done, &serde_json::json!({"queued": 2}), None).await.unwrap();
    let done = s.get_delivery("github:1").await.unwrap().unwrap();
    assert_eq!((done.state.as_str(), done.outcome), ("done", Some(serde_json::json!({"queued": 2}))));
    assert!(done.finished_at.is_some());
    let twice = s.finish_delivery(&again.lease, DeliveryEnd::Failed, &serde_json::json!({}), None).await;
    assert!(matches!(twice, Err(StoreError::LeaseLost { .. })), "{twice:?}");
    assert!(s.claim_delivery(&Owner::parse("s3"), soon()).await.unwrap().is_none());
}

async fn a_delivery_whose_lease_expired_is_taken_back(f: Fixture) {
    let s = &f.control;
    s.record_delivery(&delivery("gitlab:a")).await.unwrap();
    let past = OffsetDateTime::now_utc() - Duration::seconds(1);
    let dead = s.claim_delivery(&Owner::parse("dead"), past).await.unwrap().unwrap();
    let taken = s.claim_delivery(&Owner::parse("alive"), soon()).await.unwrap().unwrap();
    assert_eq!((taken.record.key.as_str(), taken.lease.token), ("gitlab:a", dead.lease.token + 1));
    let late = s.renew_delivery(&dead.lease, soon()).await;
    assert!(matches!(late, Err(StoreError::LeaseLost { .. })), "{late:?}");
    s.renew_delivery(&taken.lease, soon()).await.unwrap();
}

/// Two handles (replicas) claim at once: every delivery is processed exactly once.
async fn concurrent_claims_take_each_delivery_once(f: Fixture) {
    let other = crate::control::control_handle(&f).await;
    let mut expected = HashSet::new();
    for i in 0..20 {
        let key = format!("github:{i}");
        f.control.record_delivery(&delivery(&key)).await.unwrap();
        expected.insert(key);
    }
    let mut tasks = Vec::new();
    for (n, s) in [f.control.clone(), other.clone(), f.control.clone(), other].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let owner = Owner::parse(&format!("replica{n}"));
            let mut claimed = Vec::new();
            while let Some(w) = s.claim_delivery(&owner, soon()).await.unwrap() {
                s.finish_delivery(&w.lease, DeliveryEnd::Done, &serde_json::json!({}), None).await.unwrap();
                claimed.push(w.record.key);
                tokio::task::yield_now().await;
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), expected.len(), "a delivery was claimed twice or never");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), expected);
}

/// Makes a queued delivery due now (the test's stand-in for its backoff passing).
async fn make_due(f: &Fixture, key: &str) {
    f.execute(&format!("UPDATE webhook_deliveries SET next_at = 0 WHERE key = '{key}'")).await;
}

backends!(
    deliveries_are_claimed_retried_and_finished_under_their_lease,
    a_delivery_whose_lease_expired_is_taken_back,
    concurrent_claims_take_each_delivery_once,
);
