//! The request queue's guarantees (order per environment, one running request per
//! environment, leases, retries within max attempts, cancel, the refusal of events while
//! a delete is pending), tokens and sealed secrets: the server's `ControlStore`.

use std::collections::HashSet;
use std::sync::Arc;

use terrace_model::Event;
use terrace_store::control::{NewRequest, RequestId, RequestState, Role, SecretInfo, SecretScope};
use terrace_store::{Cipher, ControlStore, Owner, SqlStore, StoreError};
use time::{Duration, OffsetDateTime};

use crate::common::*;

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
        origin: Default::default(),
        saved_plan: None,
    }
}

fn o(name: &str) -> Owner {
    Owner::parse(name)
}

async fn one_request_per_environment_runs_at_a_time_in_order(f: Fixture) {
    let s = &f.control;
    let a1 = s.enqueue_request(req("a", Event::Start, 2)).await.unwrap().unwrap();
    let a2 = s.enqueue_request(req("a", Event::Stop, 2)).await.unwrap().unwrap();
    let b1 = s.enqueue_request(req("b", Event::Start, 2)).await.unwrap().unwrap();
    let first = s.claim_request(&o("s1"), soon()).await.unwrap().unwrap();
    assert_eq!(first.id, a1.id);
    assert_eq!(first.state, RequestState::Running);
    assert_eq!((first.attempts, first.lease_token), (1, 1));
    let held = first.lease().unwrap();
    // `a` is busy: the next claim skips a2 and takes b1.
    assert_eq!(s.claim_request(&o("s2"), soon()).await.unwrap().unwrap().id, b1.id);
    assert!(s.claim_request(&o("s2"), soon()).await.unwrap().is_none());
    s.finish_request(&held, RequestState::Succeeded, None, None).await.unwrap();
    // Only the holder may finish it, once.
    let again = s.finish_request(&held, RequestState::Failed, None, None).await;
    assert!(matches!(again, Err(StoreError::LeaseLost { .. })), "{again:?}");
    assert_eq!(s.claim_request(&o("s2"), soon()).await.unwrap().unwrap().id, a2.id);
}

/// Plans read the state and change nothing: two plans of one environment run at once,
/// beside an apply, and hold no apply up.
async fn plans_run_beside_each_other_and_beside_an_apply(f: Fixture) {
    let s = &f.control;
    let start = s.enqueue_request(req("a", Event::Start, 2)).await.unwrap().unwrap();
    let p1 = s.enqueue_request(req("a", Event::Plan, 2)).await.unwrap().unwrap();
    let p2 = s.enqueue_request(req("a", Event::Plan, 2)).await.unwrap().unwrap();
    let stop = s.enqueue_request(req("a", Event::Stop, 2)).await.unwrap().unwrap();
    let mut claimed = Vec::new();
    while let Some(r) = s.claim_request(&o("s1"), soon()).await.unwrap() {
        claimed.push(r);
    }
    let ids: Vec<RequestId> = claimed.iter().map(|r| r.id).collect();
    assert_eq!(ids, [start.id, p1.id, p2.id], "the stop waits for the start alone");
    let held = claimed[0].lease().unwrap();
    s.finish_request(&held, RequestState::Succeeded, None, None).await.unwrap();
    // The plans still run: the stop does not wait for them.
    assert_eq!(s.claim_request(&o("s2"), soon()).await.unwrap().unwrap().id, stop.id);
}

async fn expired_leases_are_requeued_then_interrupted_when_out_of_attempts(f: Fixture) {
    let s = &f.control;
    let r = s.enqueue_request(req("a", Event::Start, 2)).await.unwrap().unwrap();
    let past = OffsetDateTime::now_utc() - Duration::seconds(1);
    let first = s.claim_request(&o("dead"), past).await.unwrap().unwrap().lease().unwrap();
    // A live lease is left alone.
    assert!(s.reap_requests(past - Duration::seconds(5), &[]).await.unwrap().is_empty());
    let reaped = s.reap_requests(OffsetDateTime::now_utc(), &[]).await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].state, RequestState::Queued);
    assert!(reaped[0].reason.as_deref().unwrap().contains("attempt 1 of 2"), "{reaped:?}");
    let again = s.claim_request(&o("s2"), soon()).await.unwrap().unwrap();
    // Claimed, taken back, claimed: the token moved three times.
    assert_eq!((again.id, again.attempts, again.lease_token), (r.id, 2, 3));
    // The first holder, presumed dead, can write nothing more for it.
    let stale = s.set_request_runs(&first, &[terrace_model::RunId::new()]).await;
    assert!(matches!(stale, Err(StoreError::LeaseLost { .. })), "{stale:?}");
    assert!(s.get_request(r.id).await.unwrap().unwrap().run_ids.is_empty());
    // A dead owner is taken back at once, lease or not; out of attempts now.
    let reaped = s.reap_requests(OffsetDateTime::now_utc(), &["s2".to_string()]).await.unwrap();
    assert_eq!(reaped[0].state, RequestState::Interrupted);
    assert!(reaped[0].reason.as_deref().unwrap().contains("all 2 attempts used"), "{reaped:?}");
    let stored = s.get_request(r.id).await.unwrap().unwrap();
    assert!(stored.finished_at.is_some() && stored.owner.is_none());
}

async fn renewal_reports_cancellations_and_queued_requests_cancel_at_once(f: Fixture) {
    let s = &f.control;
    let running = s.enqueue_request(req("a", Event::Start, 1)).await.unwrap().unwrap();
    let queued = s.enqueue_request(req("a", Event::Stop, 1)).await.unwrap().unwrap();
    let held = s.claim_request(&o("s1"), soon()).await.unwrap().unwrap().lease().unwrap();
    assert_eq!(s.cancel_request(queued.id).await.unwrap().unwrap().state, RequestState::Cancelled);
    assert_eq!(s.cancel_request(running.id).await.unwrap().unwrap().state, RequestState::Running);
    assert_eq!(s.renew_request_leases(&o("s1"), &[running.id], soon()).await.unwrap(), vec![running.id]);
    // Released (graceful stop): back in the queue without using an attempt.
    s.release_request(&held, "server stopping").await.unwrap();
    let back = s.get_request(running.id).await.unwrap().unwrap();
    assert_eq!((back.state, back.attempts), (RequestState::Queued, 0));
    assert_eq!(s.cancel_request(RequestId::new()).await.unwrap(), None);
}

/// A server renews the requests it runs, not every one the store lists under its name
/// (one whose task is gone must be let go), and never one another server claimed since.
async fn renewal_extends_only_the_requests_held(f: Fixture) {
    let s = &f.control;
    let short = OffsetDateTime::now_utc() + Duration::seconds(30);
    s.enqueue_request(req("a", Event::Start, 2)).await.unwrap().unwrap();
    s.enqueue_request(req("b", Event::Start, 2)).await.unwrap().unwrap();
    s.enqueue_request(req("c", Event::Start, 2)).await.unwrap().unwrap();
    let run = s.claim_request(&o("s1"), short).await.unwrap().unwrap();
    let orphan = s.claim_request(&o("s1"), short).await.unwrap().unwrap();
    let other = s.claim_request(&o("s2"), short).await.unwrap().unwrap();
    assert!(s.renew_request_leases(&o("s1"), &[run.id, other.id], soon()).await.unwrap().is_empty());
    let lease = |id| async move { s.get_request(id).await.unwrap().unwrap().lease_expires_at.unwrap() };
    assert!(lease(run.id).await > short + Duration::minutes(1), "the held request is renewed");
    assert_eq!(lease(orphan.id).await, orphan.lease_expires_at.unwrap(), "a request without a task here is not");
    assert_eq!(lease(other.id).await, other.lease_expires_at.unwrap(), "another server's request is not");
    assert!(s.renew_request_leases(&o("s1"), &[], soon()).await.unwrap().is_empty());
}

async fn a_pending_delete_refuses_new_events_for_its_environment(f: Fixture) {
    let s = &f.control;
    s.enqueue_request(req("a", Event::Delete, 1)).await.unwrap().unwrap();
    assert!(s.enqueue_request(req("a", Event::Start, 1)).await.unwrap().is_none());
    assert!(s.enqueue_request(req("b", Event::Start, 1)).await.unwrap().is_some());
}

async fn requests_keep_their_runs_and_outcome_and_are_counted(f: Fixture) {
    let s = &f.control;
    let mut new = req("a", Event::Start, 1);
    new.job = Some("db".into());
    new.args = vec!["-target".into(), "x y".into()];
    let r = s.enqueue_request(new.clone()).await.unwrap().unwrap();
    assert_eq!((r.job.as_deref(), r.args.clone()), (Some("db"), new.args.clone()));
    let held = s.claim_request(&o("s1"), soon()).await.unwrap().unwrap().lease().unwrap();
    let runs = vec![terrace_model::RunId::new(), terrace_model::RunId::new()];
    s.set_request_runs(&held, &runs).await.unwrap();
    let outcome = serde_json::json!({"status": "succeeded", "runs": 2});
    s.finish_request(&held, RequestState::Succeeded, Some("ok"), Some(&outcome)).await.unwrap();
    let done = s.get_request(r.id).await.unwrap().unwrap();
    assert_eq!((done.run_ids, done.outcome, done.reason.as_deref()), (runs, Some(outcome), Some("ok")));
    s.enqueue_request(req("b", Event::Stop, 1)).await.unwrap().unwrap();
    let mut counts = s.count_requests().await.unwrap();
    counts.sort_by_key(|(state, _)| state.as_str());
    assert_eq!(counts, vec![(RequestState::Queued, 1), (RequestState::Succeeded, 1)]);
    let listed = s.list_requests(&Default::default()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].id, r.id, "newest first");
}

/// Two handles (replicas) claim from one queue at once: every request is claimed
/// exactly once, and never while another request of its environment runs.
async fn concurrent_claims_from_two_handles_take_each_request_once(f: Fixture) {
    let other = control_handle(&f).await;
    let envs = ["a", "b", "c", "d"];
    let mut expected = HashSet::new();
    for i in 0..24 {
        expected.insert(f.control.enqueue_request(req(envs[i % 4], Event::Start, 1)).await.unwrap().unwrap().id);
    }
    let mut tasks = Vec::new();
    for (n, s) in [f.control.clone(), other.clone(), f.control.clone(), other].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let owner = o(&format!("replica{n}"));
            let mut claimed = Vec::new();
            let mut idle = 0;
            while idle < 50 {
                match s.claim_request(&owner, soon()).await.unwrap() {
                    Some(r) => {
                        idle = 0;
                        // While it holds the request, no other of its environment runs.
                        let running = s
                            .list_requests(&terrace_store::control::RequestFilter {
                                environment: Some(r.environment.clone()),
                                state: Some(RequestState::Running),
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                        assert_eq!(running.len(), 1, "two running requests in {}", r.environment);
                        claimed.push(r.id);
                        s.finish_request(&r.lease().unwrap(), RequestState::Succeeded, None, None).await.unwrap();
                    }
                    None => {
                        idle += 1;
                        tokio::task::yield_now().await;
                    }
                }
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), expected.len(), "a request was claimed twice or never");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), expected);
}

pub(crate) async fn control_handle(f: &Fixture) -> Arc<dyn ControlStore> {
    // `reopen` gives a `Store`; the control side needs its own handle of the same kind.
    if f.is_sqlite() {
        Arc::new(SqlStore::open_sqlite(&f.sqlite_path().unwrap(), Cipher::new(KEY)).await.unwrap())
    } else {
        Arc::new(SqlStore::open_postgres_with(f.postgres_options().unwrap(), Cipher::new(KEY)).await.unwrap())
    }
}

async fn tokens_are_found_by_hash_until_revoked_and_secrets_are_sealed(f: Fixture) {
    let s = &f.control;
    let t = s.create_token("ci", Role::Operator, "abc123").await.unwrap();
    let dup = s.create_token("ci", Role::Viewer, "other").await.unwrap_err();
    assert!(dup.to_string().contains("already exists"), "{dup}");
    let found = s.token_by_hash("abc123").await.unwrap().unwrap();
    assert_eq!(found.role, Role::Operator);
    assert_eq!(s.list_tokens().await.unwrap().len(), 1);
    assert!(s.revoke_token(t.id).await.unwrap());
    assert!(!s.revoke_token(t.id).await.unwrap());
    assert!(s.token_by_hash("abc123").await.unwrap().is_none());

    s.put_secret("shop", "dev", "DB_PASSWORD", "hunter2", "api:x").await.unwrap();
    s.put_secret("shop", "dev", "API_KEY", "k1", "api:x").await.unwrap();
    s.put_secret("shop", "dev", "API_KEY", "k2", "api:y").await.unwrap();
    for blob in f.blobs("SELECT value_enc FROM secrets").await {
        assert!(!blob.windows(7).any(|w| w == b"hunter2"));
    }
    assert_eq!(
        s.secret_values("shop", "dev").await.unwrap(),
        vec![("API_KEY".into(), "k2".into()), ("DB_PASSWORD".into(), "hunter2".into())]
    );
    let listed = s.list_secrets("shop", "dev").await.unwrap();
    assert_eq!((listed[0].name.as_str(), listed[0].updated_by.as_str()), ("API_KEY", "api:y"));
    assert!(s.secret_values("shop", "prod").await.unwrap().is_empty());
    assert!(s.delete_secret("shop", "dev", "API_KEY").await.unwrap());
    assert!(!s.delete_secret("shop", "dev", "API_KEY").await.unwrap());
    s.ready().await.unwrap();
}

async fn project_secrets_reach_every_environment_unless_it_has_its_own(f: Fixture) {
    let s = &f.control;
    s.put_project_secret("shop", "REGISTRY", "proj-reg-77", "cli:me").await.unwrap();
    s.put_project_secret("shop", "DB_PW", "proj-pw-77", "cli:me").await.unwrap();
    s.put_secret("shop", "prod", "DB_PW", "prod-pw-77", "api:op").await.unwrap();
    s.put_project_secret("blog", "REGISTRY", "other-project", "cli:me").await.unwrap();
    for blob in f.blobs("SELECT value_enc FROM secrets").await {
        assert!(!blob.windows(8).any(|w| w == b"proj-reg"), "sealed at rest");
    }
    let values = |env: &'static str| async move {
        s.secret_values("shop", env).await.unwrap().into_iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>()
    };
    assert_eq!(values("dev").await, ["DB_PW=proj-pw-77", "REGISTRY=proj-reg-77"], "both inherited");
    assert_eq!(values("prod").await, ["DB_PW=prod-pw-77", "REGISTRY=proj-reg-77"], "prod's own wins");
    assert_eq!(values("clone-of-dev").await, ["DB_PW=proj-pw-77", "REGISTRY=proj-reg-77"], "a new one too");

    let scoped = |list: Vec<SecretInfo>| list.into_iter().map(|i| (i.name, i.scope)).collect::<Vec<_>>();
    assert_eq!(
        scoped(s.list_secrets("shop", "prod").await.unwrap()),
        [("DB_PW".into(), SecretScope::Environment), ("REGISTRY".into(), SecretScope::Project)]
    );
    let project = s.list_project_secrets("shop").await.unwrap();
    assert_eq!(
        scoped(project.clone()),
        [("DB_PW".into(), SecretScope::Project), ("REGISTRY".into(), SecretScope::Project)]
    );
    assert_eq!(project[0].updated_by, "cli:me");
    let json = serde_json::to_value(&project[0]).unwrap();
    assert_eq!(json["scope"], "project", "{json}");

    // An empty environment name never turns into the project scope.
    let empty = s.put_secret("shop", "", "X", "v", "api:op").await.unwrap_err();
    assert!(empty.to_string().contains("needs an environment name"), "{empty}");
    // Deleting the environment's uncovers the project's; deleting the project's leaves the environment's.
    assert!(s.delete_secret("shop", "prod", "DB_PW").await.unwrap());
    assert_eq!(values("prod").await, ["DB_PW=proj-pw-77", "REGISTRY=proj-reg-77"]);
    assert!(s.delete_project_secret("shop", "REGISTRY").await.unwrap());
    assert!(!s.delete_project_secret("shop", "REGISTRY").await.unwrap(), "already gone");
    assert_eq!(values("dev").await, ["DB_PW=proj-pw-77"]);
    assert_eq!(s.secret_values("blog", "dev").await.unwrap(), [("REGISTRY".into(), "other-project".into())]);
}

async fn projects_and_the_audit_log(f: Fixture) {
    let s = &f.control;
    s.put_project("shop", "/srv/shop").await.unwrap();
    let moved = s.put_project("shop", "/srv/shop2").await.unwrap();
    s.put_project("blog", "/srv/blog").await.unwrap();
    assert_eq!(s.get_project("shop").await.unwrap(), Some(moved));
    let names: Vec<_> = s.list_projects().await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["blog", "shop"]);
    assert_eq!(s.get_project("nope").await.unwrap(), None);
    // From git: where it comes from and the commit it was read at, moved by a push;
    // registered again by path, it no longer follows git.
    let git = terrace_store::control::GitProject {
        url: "file:///srv/infra.git".into(),
        branch: "main".into(),
        path: "deploy".into(),
        commit: "a".repeat(40),
    };
    let from_git = s.put_git_project("infra", "/data/checkouts/infra/a/terrace.yaml", &git).await.unwrap();
    assert_eq!(from_git.git.as_ref(), Some(&git));
    let moved = terrace_store::control::GitProject { commit: "b".repeat(40), ..git };
    s.put_git_project("infra", "/data/checkouts/infra/b/terrace.yaml", &moved).await.unwrap();
    assert_eq!(s.get_project("infra").await.unwrap().unwrap().git.unwrap().commit, "b".repeat(40));
    assert_eq!(s.put_project("infra", "/srv/infra").await.unwrap().git, None);
    s.audit("api:a", "event", "shop/dev", Some("start")).await.unwrap();
    s.audit("api:b", "token.create", "ci", None).await.unwrap();
    let log = s.audit_log(10).await.unwrap();
    assert_eq!((log[0].actor.as_str(), log[1].detail.as_deref()), ("api:b", Some("start")));
    assert_eq!(s.audit_log(1).await.unwrap().len(), 1);
}

backends!(
    one_request_per_environment_runs_at_a_time_in_order,
    plans_run_beside_each_other_and_beside_an_apply,
    expired_leases_are_requeued_then_interrupted_when_out_of_attempts,
    renewal_reports_cancellations_and_queued_requests_cancel_at_once,
    renewal_extends_only_the_requests_held,
    a_pending_delete_refuses_new_events_for_its_environment,
    requests_keep_their_runs_and_outcome_and_are_counted,
    concurrent_claims_from_two_handles_take_each_request_once,
    tokens_are_found_by_hash_until_revoked_and_secrets_are_sealed,
    project_secrets_reach_every_environment_unless_it_has_its_own,
    projects_and_the_audit_log,
);
