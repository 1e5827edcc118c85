//! The time half's records: destroy times recorded once, extended, and warned about and
//! destroyed under compare-and-set (of two handles, one wins); gone with the environment.

use std::time::Duration;

use terrace_store::{EnvChange, EnvState};
use time::OffsetDateTime;

use crate::common::*;

fn secs(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap()
}

async fn a_destroy_time_is_recorded_once_and_fires_once(f: Fixture) {
    let env = f.store.ensure_environment("shop", "preview").await.unwrap();
    let at = secs(env.created_at) + Duration::from_secs(3600);
    let e = f.timed.ensure_expiry(&env, at).await.unwrap();
    assert_eq!((e.expires_at, e.attempts, e.warned_at), (at, 0, None));
    let again = f.timed.ensure_expiry(&env, at + Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.expires_at, at, "the first destroy time stays");
    assert!(f.timed.expiries_until(at - Duration::from_secs(1), 10).await.unwrap().is_empty());
    assert_eq!(f.timed.expiries_until(at, 10).await.unwrap(), vec![e.clone()]);

    assert!(f.timed.mark_expiry_warned(env.id, at).await.unwrap());
    assert!(!f.timed.mark_expiry_warned(env.id, at).await.unwrap(), "warned once");
    let retry = at + Duration::from_secs(60);
    assert!(f.timed.claim_expiry_destroy(env.id, at, 0, retry).await.unwrap());
    assert!(!f.timed.claim_expiry_destroy(env.id, at, 0, retry).await.unwrap(), "claimed once");
    f.timed.note_expiry_error(env.id, "boom").await.unwrap();
    let got = f.timed.get_expiry("shop", "preview").await.unwrap().unwrap();
    assert_eq!((got.attempts, got.retry_at, got.last_error.as_deref()), (1, Some(retry), Some("boom")));

    // Extending starts over; a claim made against the old time no longer applies.
    let later = at + Duration::from_secs(86_400);
    let ext = f.timed.extend_expiry("shop", "preview", later).await.unwrap().unwrap();
    assert_eq!((ext.expires_at, ext.attempts, ext.warned_at, ext.last_error), (later, 0, None, None));
    assert!(!f.timed.claim_expiry_destroy(env.id, at, 0, retry).await.unwrap());
    assert_eq!(f.timed.extend_expiry("shop", "nothing", later).await.unwrap(), None);

    // A completed destroy removes the destroy time with the environment.
    let pipeline = f.store.create_pipeline(env.id, terrace_model::Event::Delete, "ttl").await.unwrap();
    let end = terrace_store::PipelineEnd {
        pipeline,
        state: terrace_store::RunState::Succeeded,
        environment: env.id,
        change: EnvChange::Delete,
        event: None,
    };
    f.store.close_pipeline(&end).await.unwrap();
    assert_eq!(f.timed.get_expiry("shop", "preview").await.unwrap(), None);
    let again = f.store.ensure_environment("shop", "preview").await.unwrap();
    assert_eq!(again.state, EnvState::Stopped);
    let fresh = f.timed.ensure_expiry(&again, later).await.unwrap();
    assert_eq!((fresh.environment_id, fresh.expires_at), (again.id, later), "a new environment, a new time");
}

backends!(a_destroy_time_is_recorded_once_and_fires_once);
