//! The agents' queue (`AgentStore`): a step is claimed by one agent of its pool only,
//! under a fencing token; its reports are refused once it was taken back (its lease
//! expired) or cancelled; its spec and output are sealed; pool tokens are found by hash.

use terrace_model::RunId;
use terrace_store::{AgentStepId, AgentStepState, NewAgentStep, StoreError};
use time::{Duration, OffsetDateTime};

use crate::common::*;

fn step(pool: &str) -> NewAgentStep {
    NewAgentStep {
        id: AgentStepId::new(),
        pool: pool.into(),
        run: RunId::new(),
        attempt: 1,
        spec: br#"{"env": [["TOKEN", "hunter2-secret"]]}"#.to_vec(),
    }
}

async fn a_step_is_claimed_once_by_its_pool_and_a_taken_back_one_refuses_its_stale_agent(f: Fixture) {
    let s = &f.agents;
    let first = step("builds");
    s.enqueue_agent_step(first.clone()).await.unwrap();
    s.enqueue_agent_step(step("other")).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let claimed = s.claim_agent_step("builds", "agent-a", now + Duration::seconds(30)).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.token, claimed.attempt), (first.id, 1, 1));
    assert_eq!(claimed.spec, first.spec, "the spec reads back as it was queued");
    assert!(s.claim_agent_step("builds", "agent-b", now + Duration::seconds(30)).await.unwrap().is_none());
    // The holder reports; its log comes back in order.
    assert!(!s.renew_agent_step(first.id, 1, now + Duration::seconds(30)).await.unwrap());
    s.append_agent_step_logs(first.id, 1, &["one".into(), "two".into()]).await.unwrap();
    s.append_agent_step_logs(first.id, 1, &["three".into()]).await.unwrap();
    let logs = s.agent_step_logs(first.id, 0).await.unwrap();
    assert_eq!(logs.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(), ["one", "two", "three"]);
    assert_eq!(s.agent_step_logs(first.id, logs[1].0).await.unwrap().len(), 1);
    // Not taken back while the lease holds; taken back once it expired.
    assert!(!s.take_back_agent_step(first.id, now, "lost").await.unwrap());
    assert!(s.take_back_agent_step(first.id, now + Duration::seconds(31), "lost").await.unwrap());
    let record = s.get_agent_step(first.id).await.unwrap().unwrap();
    assert_eq!((record.state, record.lease_token, record.result.as_deref()), (AgentStepState::Ended, 2, Some("lost")));
    assert_eq!(record.agent.as_deref(), Some("agent-a"));
    // The stale agent can no longer write anything for it.
    let renew = s.renew_agent_step(first.id, 1, now + Duration::seconds(60)).await;
    assert!(matches!(renew, Err(StoreError::LeaseLost { .. })), "{renew:?}");
    let logs = s.append_agent_step_logs(first.id, 1, &["late".into()]).await;
    assert!(matches!(logs, Err(StoreError::LeaseLost { .. })), "{logs:?}");
    let end = s.finish_agent_step(first.id, 1, "exited", Some(b"{}")).await;
    assert!(matches!(end, Err(StoreError::LeaseLost { .. })), "{end:?}");
    assert_eq!(s.get_agent_step(first.id).await.unwrap().unwrap().result.as_deref(), Some("lost"));
    s.remove_agent_step(first.id).await.unwrap();
    assert!(s.get_agent_step(first.id).await.unwrap().is_none());
    assert!(s.agent_step_logs(first.id, 0).await.unwrap().is_empty());
}

async fn a_step_ends_with_its_output_and_cancels_before_or_after_its_claim(f: Fixture) {
    let s = &f.agents;
    let until = OffsetDateTime::now_utc() + Duration::seconds(30);
    let queued = step("builds");
    s.enqueue_agent_step(queued.clone()).await.unwrap();
    s.cancel_agent_step(queued.id, "cancelled").await.unwrap();
    let record = s.get_agent_step(queued.id).await.unwrap().unwrap();
    assert_eq!((record.state, record.result.as_deref()), (AgentStepState::Ended, Some("cancelled")));
    assert!(s.claim_agent_step("builds", "a", until).await.unwrap().is_none(), "a cancelled step is never claimed");

    let running = step("builds");
    s.enqueue_agent_step(running.clone()).await.unwrap();
    let claimed = s.claim_agent_step("builds", "a", until).await.unwrap().unwrap();
    s.cancel_agent_step(running.id, "cancelled").await.unwrap();
    assert!(s.renew_agent_step(running.id, claimed.token, until).await.unwrap(), "the agent is asked to stop");
    s.finish_agent_step(running.id, claimed.token, "exited 0", Some(b"{\"pw\": 1}")).await.unwrap();
    let record = s.get_agent_step(running.id).await.unwrap().unwrap();
    assert_eq!(record.output.as_deref(), Some(&b"{\"pw\": 1}"[..]));
    assert_eq!(record.result.as_deref(), Some("exited 0"));
    let twice = s.finish_agent_step(running.id, claimed.token, "again", None).await;
    assert!(matches!(twice, Err(StoreError::LeaseLost { .. })), "it ends once: {twice:?}");
}

async fn pool_tokens_are_found_by_hash_with_their_pool(f: Fixture) {
    let s = &f.agents;
    let made = s.create_pool_token("a", "builds", "hash-a").await.unwrap();
    assert_eq!((made.name.as_str(), made.pool.as_str()), ("a", "builds"));
    assert_eq!(s.pool_token_by_hash("hash-a").await.unwrap().unwrap().pool, "builds");
    assert!(s.pool_token_by_hash("hash-b").await.unwrap().is_none());
    let taken = s.create_pool_token("a", "other", "hash-c").await;
    assert!(matches!(taken, Err(StoreError::Invalid(_))), "{taken:?}");
    // API tokens and pool tokens are apart: one's hash finds nothing among the others.
    assert!(f.control.token_by_hash("hash-a").await.unwrap().is_none());
}

backends!(
    a_step_is_claimed_once_by_its_pool_and_a_taken_back_one_refuses_its_stale_agent,
    a_step_ends_with_its_output_and_cancels_before_or_after_its_claim,
    pool_tokens_are_found_by_hash_with_their_pool,
);
