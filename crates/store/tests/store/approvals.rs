//! Approvals: a request committed with its approval awaits it and is never claimed;
//! approving queues it, rejecting cancels it, each with its audit entry, once; cancelling
//! the request cancels its approval; a local approval is found by prefix.

use serde_json::json;
use terrace_model::Event;
use terrace_store::control::{NewRequest, RequestId, RequestState};
use terrace_store::{ApprovalFilter, ApprovalId, ApprovalState, Decision, NewApproval, Owner, SubjectKind};

use crate::common::*;

fn req(env: &str) -> NewRequest {
    NewRequest {
        id: RequestId::new(),
        project: "shop".into(),
        environment: env.into(),
        event: Event::Start,
        job: None,
        args: vec![],
        requested_by: "api:alice".into(),
        max_attempts: 2,
        origin: Default::default(),
        saved_plan: None,
    }
}

fn approval(env: &str, kind: SubjectKind) -> NewApproval {
    NewApproval {
        id: ApprovalId::new(),
        project: "shop".into(),
        environment: env.into(),
        subject_kind: kind,
        subject_id: None,
        subject: json!({"event": "start"}),
        summary: format!("start of `{env}`"),
        requested_by: "api:alice".into(),
        distinct_approver: true,
    }
}

async fn a_request_awaits_its_approval_then_is_queued_once(f: Fixture) {
    let s = &f.control;
    let (request, a) =
        s.enqueue_awaiting_approval(req("prod"), approval("prod", SubjectKind::Pipeline)).await.unwrap().unwrap();
    assert_eq!(request.state, RequestState::AwaitingApproval);
    assert_eq!(
        (a.subject_kind, a.subject_id.as_deref()),
        (SubjectKind::Request, Some(request.id.to_string().as_str()))
    );
    assert_eq!(a.state, ApprovalState::AwaitingApproval);
    assert!(a.distinct_approver);
    assert!(s.claim_request(&Owner::parse("s1"), soon()).await.unwrap().is_none(), "never claimed while it waits");
    // A later request of the same environment is not held behind it.
    let other = s.enqueue_request(req("prod")).await.unwrap().unwrap();
    assert_eq!(s.claim_request(&Owner::parse("s1"), soon()).await.unwrap().unwrap().id, other.id);

    let by_request = s.find_approvals(&request.id.to_string()[..13]).await.unwrap();
    assert_eq!(by_request.len(), 1);
    assert_eq!(by_request[0].id, a.id);
    let decided = s.decide_approval(a.id, Decision::Approve, "api:bob", Some("ok")).await.unwrap().unwrap();
    assert_eq!((decided.state, decided.decided_by.as_deref()), (ApprovalState::Approved, Some("api:bob")));
    assert!(decided.decided_at.is_some());
    assert_eq!(s.get_request(request.id).await.unwrap().unwrap().state, RequestState::Queued);
    assert!(s.decide_approval(a.id, Decision::Reject, "api:carol", None).await.unwrap().is_none(), "decided once");
    let log = s.audit_log(10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].actor.as_str(), log[0].action.as_str()), ("api:bob", "approval.approve"));
    assert_eq!(log[0].target, format!("approval:{}", a.id));
    let waiting = ApprovalFilter { state: Some(ApprovalState::AwaitingApproval), ..Default::default() };
    assert!(s.list_approvals(&waiting).await.unwrap().is_empty());
}

async fn rejecting_or_cancelling_ends_the_request(f: Fixture) {
    let s = &f.control;
    let (r1, a1) =
        s.enqueue_awaiting_approval(req("prod"), approval("prod", SubjectKind::Request)).await.unwrap().unwrap();
    let (r2, a2) =
        s.enqueue_awaiting_approval(req("prod"), approval("prod", SubjectKind::Request)).await.unwrap().unwrap();
    s.decide_approval(a1.id, Decision::Reject, "api:bob", Some("freeze")).await.unwrap().unwrap();
    let r1 = s.get_request(r1.id).await.unwrap().unwrap();
    assert_eq!(r1.state, RequestState::Cancelled);
    assert_eq!(r1.reason.as_deref(), Some("rejected by api:bob: freeze"));
    assert!(r1.finished_at.is_some());
    assert_eq!(s.cancel_request(r2.id).await.unwrap().unwrap().state, RequestState::Cancelled);
    assert_eq!(s.get_approval(a2.id).await.unwrap().unwrap().state, ApprovalState::Cancelled);
    let all = s.list_approvals(&ApprovalFilter { project: Some("shop".into()), ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 2);
}

async fn a_local_approval_keeps_its_subject_and_outcome(f: Fixture) {
    let s = &f.control;
    let a = s.create_approval(approval("prod", SubjectKind::Pipeline)).await.unwrap();
    assert_eq!(a.subject, json!({"event": "start"}));
    assert_eq!(s.find_approvals(&a.id.to_string()[..8]).await.unwrap()[0].id, a.id);
    assert!(s.find_approvals("zz").await.unwrap().is_empty());
    s.decide_approval(a.id, Decision::Approve, "cli:bob", None).await.unwrap().unwrap();
    s.set_approval_outcome(a.id, &json!({"succeeded": true})).await.unwrap();
    assert_eq!(s.get_approval(a.id).await.unwrap().unwrap().outcome, Some(json!({"succeeded": true})));
}

/// Approvals take their numbers from the counter of their environment that runs take theirs
/// from, so `prod#N` names one run or one approval; found by that short form.
async fn approvals_are_numbered_with_the_runs_of_their_environment(f: Fixture) {
    let e = env(&*f.store, "prod").await;
    let r1 = run(&*f.store, &e, "db").await;
    let a2 = f.control.create_approval(approval("prod", SubjectKind::Pipeline)).await.unwrap();
    let (_, a3) = f
        .control
        .enqueue_awaiting_approval(req("prod"), approval("prod", SubjectKind::Pipeline))
        .await
        .unwrap()
        .unwrap();
    let r4 = run(&*f.store, &e, "db").await;
    assert_eq!((r1.number, a2.number, a3.number, r4.number), (1, 2, 3, 4));
    assert_eq!(a3.short(), "prod#3");
    let found = f.control.find_approvals("prod#3").await.unwrap();
    assert_eq!(found.iter().map(|a| a.id).collect::<Vec<_>>(), [a3.id]);
    assert!(f.control.find_approvals("prod#4").await.unwrap().is_empty(), "prod#4 is a run");
    assert!(f.store.find_runs(Some("shop"), "prod#2", 10).await.unwrap().is_empty(), "prod#2 is an approval");
}

backends!(
    approvals_are_numbered_with_the_runs_of_their_environment,
    a_request_awaits_its_approval_then_is_queued_once,
    rejecting_or_cancelling_ends_the_request,
    a_local_approval_keeps_its_subject_and_outcome,
);
