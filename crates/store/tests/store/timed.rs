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

async fn a_schedule_tick_fires_once_and_a_new_cron_starts_over(f: Fixture) {
    use terrace_store::{ScheduleKind, ScheduleRecord};
    let now = secs(OffsetDateTime::now_utc());
    let key = ScheduleRecord::key_of(ScheduleKind::Job, "shop", "dev", Some("report"));
    assert_eq!(key, "job:shop/dev/report");
    let wanted = ScheduleRecord {
        key: key.clone(),
        kind: ScheduleKind::Job,
        project: "shop".into(),
        environment: "dev".into(),
        job: Some("report".into()),
        cron: "*/5 * * * *".into(),
        next_at: now,
        last_fired_at: None,
    };
    assert_eq!(f.timed.ensure_schedule(&wanted).await.unwrap(), wanted);
    let later = ScheduleRecord { next_at: now + Duration::from_secs(600), ..wanted.clone() };
    assert_eq!(f.timed.ensure_schedule(&later).await.unwrap().next_at, now, "the same cron keeps its next tick");

    let next = now + Duration::from_secs(300);
    assert!(f.timed.fire_schedule(&key, now, next, now).await.unwrap());
    assert!(!f.timed.fire_schedule(&key, now, next, now).await.unwrap(), "fired once");
    let [got] = f.timed.schedules_of("shop").await.unwrap().try_into().unwrap();
    assert_eq!((got.next_at, got.last_fired_at), (next, Some(now)));

    let hourly = ScheduleRecord { cron: "0 * * * *".into(), next_at: now + Duration::from_secs(3600), ..wanted };
    let changed = f.timed.ensure_schedule(&hourly).await.unwrap();
    assert_eq!((changed.cron.as_str(), changed.next_at), ("0 * * * *", hourly.next_at), "a new cron starts over");
    let drift = ScheduleRecord {
        key: ScheduleRecord::key_of(ScheduleKind::Drift, "shop", "dev", None),
        kind: ScheduleKind::Drift,
        job: None,
        ..hourly
    };
    f.timed.ensure_schedule(&drift).await.unwrap();
    assert_eq!(f.timed.schedules_of("shop").await.unwrap().len(), 2);
    assert!(f.timed.schedules_of("other").await.unwrap().is_empty());
    f.timed.delete_schedule(&key).await.unwrap();
    assert_eq!(f.timed.schedules_of("shop").await.unwrap(), vec![drift]);
}

async fn drift_checks_are_kept_newest_first(f: Fixture) {
    use terrace_store::{DriftCheckId, DriftCheckRecord, DriftState, DriftedResource};
    let now = secs(OffsetDateTime::now_utc());
    let drifted = DriftCheckRecord {
        id: DriftCheckId::new(),
        project: "shop".into(),
        environment: "dev".into(),
        state: DriftState::Drifted,
        resources: vec![DriftedResource {
            job: "net".into(),
            address: "local_file.config".into(),
            actions: vec!["create".into()],
        }],
        run_ids: vec![terrace_model::RunId::new()],
        reason: None,
        checked_at: now,
    };
    f.timed.record_drift_check(&drifted).await.unwrap();
    let clear = DriftCheckRecord {
        id: DriftCheckId::new(),
        state: DriftState::InSync,
        resources: vec![],
        checked_at: now + Duration::from_secs(60),
        ..drifted.clone()
    };
    f.timed.record_drift_check(&clear).await.unwrap();
    assert_eq!(f.timed.drift_checks("shop", "dev", 10).await.unwrap(), vec![clear.clone(), drifted]);
    assert_eq!(f.timed.drift_checks("shop", "dev", 1).await.unwrap(), vec![clear]);
    assert!(f.timed.drift_checks("shop", "prod", 10).await.unwrap().is_empty());
}

async fn a_notification_is_claimed_once_retried_and_delivered(f: Fixture) {
    use terrace_store::{NewNotification, NotificationId};
    let now = secs(OffsetDateTime::now_utc());
    let lease = now + Duration::from_secs(60);
    let n = NewNotification {
        id: NotificationId::new(),
        project: "shop".into(),
        kind: "drift".into(),
        endpoint: "hook".into(),
        body: r#"{"text": "drifted"}"#.into(),
    };
    f.timed.enqueue_notifications(std::slice::from_ref(&n), now).await.unwrap();
    assert!(f.timed.claim_notifications("other", "a", now, lease, 10).await.unwrap().is_empty());
    let [got] = f.timed.claim_notifications("shop", "a", now, lease, 10).await.unwrap().try_into().unwrap();
    assert_eq!((got.id, got.body.as_str(), got.attempts), (n.id, n.body.as_str(), 0));
    assert!(f.timed.claim_notifications("shop", "b", now, lease, 10).await.unwrap().is_empty(), "held by a");
    // Failed: back after its backoff, for anyone.
    let retry = now + Duration::from_secs(30);
    assert!(!f.timed.finish_notification(n.id, "b", Err(("500".into(), Some(retry)))).await.unwrap(), "not b's");
    assert!(f.timed.finish_notification(n.id, "a", Err(("500".into(), Some(retry)))).await.unwrap());
    assert!(f.timed.claim_notifications("shop", "b", now, lease, 10).await.unwrap().is_empty(), "not yet");
    let [again] = f.timed.claim_notifications("shop", "b", retry, lease, 10).await.unwrap().try_into().unwrap();
    assert_eq!((again.attempts, again.last_error.as_deref()), (1, Some("500")));
    assert!(f.timed.finish_notification(n.id, "b", Ok(retry)).await.unwrap());
    let later = retry + Duration::from_secs(3600);
    assert!(f.timed.claim_notifications("shop", "c", later, later, 10).await.unwrap().is_empty(), "delivered once");
    let [listed] = f.timed.notifications_of("shop", 10).await.unwrap().try_into().unwrap();
    assert_eq!((listed.state.as_str(), listed.attempts, listed.delivered_at), ("delivered", 2, Some(retry)));
}

backends!(
    a_destroy_time_is_recorded_once_and_fires_once,
    a_schedule_tick_fires_once_and_a_new_cron_starts_over,
    drift_checks_are_kept_newest_first,
    a_notification_is_claimed_once_retried_and_delivered,
);
