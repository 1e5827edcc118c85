//! Named locks under a lease: of several takers at once one wins; the holder renews and
//! releases under its token; an expired lock is taken over (its token bumped) and the
//! old holder can neither renew nor release it any more.

use std::time::Duration;

use crate::common::*;

const LONG: Duration = Duration::from_secs(60);

async fn one_taker_wins_and_an_expired_lock_is_taken_over(f: Fixture) {
    let s = &f.store;
    let takers =
        (0..8).map(|i| async move { s.try_lock("promote:shop/prod/web", &format!("t{i}"), LONG).await.unwrap() });
    let outcomes = futures_util::future::join_all(takers).await;
    let won: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    let held = won[0].clone();
    for lost in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(lost, &held, "the losers are told who holds it");
    }
    assert!(s.try_lock("promote:shop/dev/web", "other", LONG).await.unwrap().is_ok(), "another name is free");
    assert!(s.renew_lock(&held, LONG).await.unwrap());
    assert!(s.unlock(&held).await.unwrap());
    assert!(!s.unlock(&held).await.unwrap(), "released once");

    // A holder that stops renewing: its lease runs out and the next taker gets the lock.
    let dying = s.try_lock("promote:shop/prod/web", "dying", Duration::ZERO).await.unwrap().unwrap();
    let next = s.try_lock("promote:shop/prod/web", "next", LONG).await.unwrap().expect("taken over");
    assert_eq!(next.holder, "next");
    assert!(next.token > dying.token, "a take-over bumps the token");
    assert!(!s.renew_lock(&dying, LONG).await.unwrap(), "the old holder cannot renew");
    assert!(!s.unlock(&dying).await.unwrap(), "nor release the new holder's lock");
    assert_eq!(s.try_lock("promote:shop/prod/web", "late", LONG).await.unwrap().unwrap_err().holder, "next");
}

backends!(one_taker_wins_and_an_expired_lock_is_taken_over);
