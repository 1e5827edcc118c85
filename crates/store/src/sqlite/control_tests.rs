//! The request queue's guarantees, on a real (in-memory) SQLite: order per environment,
//! one running request per environment, leases, retries within max attempts, cancel,
//! and the refusal of events while a delete is pending.

use terrace_model::Event;
use time::{Duration, OffsetDateTime};

use crate::control::{ControlStore, NewRequest, RequestId, RequestState, Role};
use crate::{Cipher, SqliteStore};

async fn store() -> SqliteStore {
    SqliteStore::open_in_memory(Cipher::new([7; 32])).await.unwrap()
}

fn req(env: &str, event: Event, max_attempts: u32) -> NewRequest {
    NewRequest {
        id: RequestId::new(),
        project: "shop".into(),
        environment: env.into(),
        event,
        job: None,
        args: vec![],
        requested_by: "api:test".into(),
        max_attempts,
    }
}

fn soon() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::seconds(30)
}

#[tokio::test]
async fn one_request_per_environment_runs_at_a_time_in_order() {
    let s = store().await;
    let a1 = s.enqueue_request(req("a", Event::Start, 2)).await.unwrap().unwrap();
    let a2 = s.enqueue_request(req("a", Event::Stop, 2)).await.unwrap().unwrap();
    let b1 = s.enqueue_request(req("b", Event::Start, 2)).await.unwrap().unwrap();
    let first = s.claim_request("s1", soon()).await.unwrap().unwrap();
    assert_eq!(first.id, a1.id);
    assert_eq!(first.state, RequestState::Running);
    assert_eq!(first.attempts, 1);
    // `a` is busy: the next claim skips a2 and takes b1.
    assert_eq!(s.claim_request("s2", soon()).await.unwrap().unwrap().id, b1.id);
    assert!(s.claim_request("s2", soon()).await.unwrap().is_none());
    assert!(s.finish_request(a1.id, "s1", RequestState::Succeeded, None, None).await.unwrap());
    // Only the holder may finish it, once.
    assert!(!s.finish_request(a1.id, "s1", RequestState::Failed, None, None).await.unwrap());
    assert_eq!(s.claim_request("s2", soon()).await.unwrap().unwrap().id, a2.id);
}

#[tokio::test]
async fn expired_leases_are_requeued_then_interrupted_when_out_of_attempts() {
    let s = store().await;
    let r = s.enqueue_request(req("a", Event::Start, 2)).await.unwrap().unwrap();
    let past = OffsetDateTime::now_utc() - Duration::seconds(1);
    s.claim_request("dead", past).await.unwrap().unwrap();
    // A live lease is left alone.
    assert!(s.reap_requests(past - Duration::seconds(5), &[]).await.unwrap().is_empty());
    let reaped = s.reap_requests(OffsetDateTime::now_utc(), &[]).await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].state, RequestState::Queued);
    assert!(reaped[0].reason.as_deref().unwrap().contains("attempt 1 of 2"));
    let again = s.claim_request("s2", soon()).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (r.id, 2));
    // A dead owner is taken back at once, lease or not; out of attempts now.
    let reaped = s.reap_requests(OffsetDateTime::now_utc(), &["s2".to_string()]).await.unwrap();
    assert_eq!(reaped[0].state, RequestState::Interrupted);
    let stored = s.get_request(r.id).await.unwrap().unwrap();
    assert!(stored.finished_at.is_some() && stored.owner.is_none());
}

#[tokio::test]
async fn renewal_reports_cancellations_and_queued_requests_cancel_at_once() {
    let s = store().await;
    let running = s.enqueue_request(req("a", Event::Start, 1)).await.unwrap().unwrap();
    let queued = s.enqueue_request(req("a", Event::Stop, 1)).await.unwrap().unwrap();
    s.claim_request("s1", soon()).await.unwrap().unwrap();
    assert_eq!(s.cancel_request(queued.id).await.unwrap().unwrap().state, RequestState::Cancelled);
    assert_eq!(s.cancel_request(running.id).await.unwrap().unwrap().state, RequestState::Running);
    assert_eq!(s.renew_request_leases("s1", soon()).await.unwrap(), vec![running.id]);
    // Released (graceful stop): back in the queue without using an attempt.
    s.release_request(running.id, "s1", "server stopping").await.unwrap();
    let back = s.get_request(running.id).await.unwrap().unwrap();
    assert_eq!((back.state, back.attempts), (RequestState::Queued, 0));
}

#[tokio::test]
async fn a_pending_delete_refuses_new_events_for_its_environment() {
    let s = store().await;
    s.enqueue_request(req("a", Event::Delete, 1)).await.unwrap().unwrap();
    assert!(s.enqueue_request(req("a", Event::Start, 1)).await.unwrap().is_none());
    assert!(s.enqueue_request(req("b", Event::Start, 1)).await.unwrap().is_some());
}

#[tokio::test]
async fn tokens_are_found_by_hash_until_revoked_and_secrets_are_sealed() {
    let s = store().await;
    let t = s.create_token("ci", Role::Operator, "abc123").await.unwrap();
    assert!(s.create_token("ci", Role::Viewer, "other").await.is_err(), "names are unique");
    assert_eq!(s.token_by_hash("abc123").await.unwrap().unwrap().role, Role::Operator);
    assert!(s.revoke_token(t.id).await.unwrap());
    assert!(s.token_by_hash("abc123").await.unwrap().is_none());

    s.put_secret("shop", "dev", "DB_PASSWORD", "hunter2", "api:x").await.unwrap();
    let blob: Vec<u8> = sqlx::query_scalar("SELECT value_enc FROM secrets").fetch_one(&s.pool).await.unwrap();
    assert!(!blob.windows(7).any(|w| w == b"hunter2"));
    assert_eq!(s.secret_values("shop", "dev").await.unwrap(), vec![("DB_PASSWORD".into(), "hunter2".into())]);
    assert!(s.secret_values("shop", "prod").await.unwrap().is_empty());
    s.ready().await.unwrap();
}
