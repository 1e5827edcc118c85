//! Preview records: a wish creates a record once and a redelivery changes nothing; the
//! reconciler's writes are compare-and-set on the version (of two writers, one wins); a
//! deleted preview is found again by a reopen.

use std::collections::BTreeMap;

use terrace_store::{PreviewState, PreviewWish, SlotClaim};
use time::OffsetDateTime;

use crate::common::*;

fn wish(number: u64, sha: &str, wanted: bool) -> PreviewWish {
    PreviewWish {
        project: "shop".into(),
        class: "hello".into(),
        environment: format!("pr-{number:08}"),
        preview_id: format!("{number:08}"),
        forge: "github".into(),
        repository: "github.com/acme/hello".into(),
        full_name: "acme/hello".into(),
        number,
        head_sha: sha.into(),
        branch: "feature".into(),
        wanted,
        why: (!wanted).then(|| "closed".to_string()),
        variables: BTreeMap::from([("CODE_VERSION".to_string(), sha.to_string())]),
    }
}

async fn a_wish_is_recorded_once_and_updates_compare_and_set(f: Fixture) {
    let p = &f.previews;
    assert_eq!(p.wish_preview(&wish(1, "a", false)).await.unwrap(), (None, false), "no record for an unwanted PR");
    let (rec, changed) = p.wish_preview(&wish(1, "a", true)).await.unwrap();
    let rec = rec.unwrap();
    assert!(changed);
    assert_eq!((rec.state, rec.wanted, rec.number, rec.head_sha.as_str()), (PreviewState::Queued, true, 1, "a"));
    assert!(!rec.up_to_date());
    let (again, changed) = p.wish_preview(&wish(1, "a", true)).await.unwrap();
    assert!(!changed, "a redelivery changes nothing");
    assert_eq!(again.unwrap().version, rec.version);

    // The reconciler deploys; a push meanwhile makes its write lose.
    let mut deploying = rec.clone();
    deploying.state = PreviewState::Deploying;
    deploying.request_id = Some("r1".into());
    assert!(p.update_preview(&deploying).await.unwrap());
    assert!(!p.update_preview(&deploying).await.unwrap(), "a stale version loses");
    let (pushed, changed) = p.wish_preview(&wish(1, "b", true)).await.unwrap();
    let pushed = pushed.unwrap();
    assert!(changed);
    assert_eq!(
        (pushed.state, pushed.head_sha.as_str(), pushed.request_id.as_deref()),
        (PreviewState::Deploying, "b", Some("r1"))
    );
    let mut running = pushed.clone();
    running.state = PreviewState::Running;
    running.deployed_sha = Some("b".into());
    running.deployed_variables = Some(pushed.variables.clone());
    running.comment_id = Some(77);
    assert!(p.update_preview(&running).await.unwrap());
    let got = p.get_preview("shop", "pr-00000001").await.unwrap().unwrap();
    assert!(got.up_to_date());
    assert_eq!(got.comment_id, Some(77));

    // Closed: the wish turns, then the record is deleted; a reopen finds it again.
    let (closed, changed) = p.wish_preview(&wish(1, "b", false)).await.unwrap();
    assert!(changed);
    let mut deleted = closed.unwrap();
    assert_eq!(deleted.why.as_deref(), Some("closed"));
    deleted.state = PreviewState::Deleted;
    assert!(p.update_preview(&deleted).await.unwrap());
    let now = OffsetDateTime::now_utc() + std::time::Duration::from_secs(1);
    assert!(p.previews_due(now, 10).await.unwrap().is_empty(), "deleted and unwanted: nothing to do");
    let (reopened, _) = p.wish_preview(&wish(1, "b", true)).await.unwrap();
    assert_eq!(reopened.unwrap().state, PreviewState::Deleted);
    let due = p.previews_due(now, 10).await.unwrap();
    assert_eq!(due.len(), 1);

    p.wish_preview(&wish(2, "c", true)).await.unwrap();
    let all = p.list_previews(Some("shop")).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(p.list_previews(Some("other")).await.unwrap().is_empty());
    assert_eq!(p.list_previews(None).await.unwrap().len(), 2);
}

/// Eight previews of one class claim a slot at once under `max: 3`: three get one, the
/// others are told the class is full; a claim from a stale read writes nothing.
async fn claims_at_once_never_exceed_a_classs_max(f: Fixture) {
    let p = &f.previews;
    let mut records = Vec::new();
    for n in 1..=8 {
        records.push(p.wish_preview(&wish(n, "a", true)).await.unwrap().0.unwrap());
    }
    let claims = records.iter().map(|r| {
        let mut deploying = r.clone();
        deploying.state = PreviewState::Deploying;
        async move { p.claim_preview_slot(&deploying, 3).await.unwrap() }
    });
    let outcomes = futures_util::future::join_all(claims).await;
    let claimed = outcomes.iter().filter(|o| **o == SlotClaim::Claimed).count();
    assert_eq!(claimed, 3, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, SlotClaim::Claimed | SlotClaim::Full(3))), "{outcomes:?}");
    let holding = p.list_previews(Some("shop")).await.unwrap().into_iter().filter(|r| r.state.holds_slot()).count();
    assert_eq!(holding, 3);

    // A holder that goes frees its slot; a claim from a stale read loses to the record.
    let holder = p.list_previews(Some("shop")).await.unwrap().into_iter().find(|r| r.state.holds_slot()).unwrap();
    let mut gone = holder.clone();
    gone.state = PreviewState::Deleted;
    assert!(p.update_preview(&gone).await.unwrap());
    let waiting = p
        .list_previews(Some("shop"))
        .await
        .unwrap()
        .into_iter()
        .find(|r| !r.state.holds_slot() && r.environment != holder.environment)
        .unwrap();
    let mut deploying = waiting.clone();
    deploying.state = PreviewState::Deploying;
    deploying.version -= 1;
    assert_eq!(p.claim_preview_slot(&deploying, 3).await.unwrap(), SlotClaim::Moved);
    deploying.version += 1;
    assert_eq!(p.claim_preview_slot(&deploying, 3).await.unwrap(), SlotClaim::Claimed);
    assert_eq!(p.claim_preview_slot(&deploying, 3).await.unwrap(), SlotClaim::Moved, "written once");
}

backends!(a_wish_is_recorded_once_and_updates_compare_and_set, claims_at_once_never_exceed_a_classs_max);
