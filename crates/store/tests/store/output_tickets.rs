//! Output tickets (`OutputTicketStore`): found by the hash of their token with their
//! attempt, good while that attempt runs, one upload each, sealed at rest, and gone (the
//! token refused) once their upload is taken or their run swept.

use std::sync::Arc;

use terrace_model::RunId;
use terrace_model::log::LogBatch;
use terrace_store::{Ending, RunState};
use time::{Duration, OffsetDateTime};

use crate::common::*;

async fn a_ticket_takes_one_upload_while_its_attempt_runs_and_goes_when_taken(f: Fixture) {
    let s = &f.tickets;
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let l = lease(&r);
    let none: Arc<[LogBatch]> = Arc::new([]);
    f.store.start_attempt(&l, soon(), None, none.clone()).await.unwrap();
    let expires = OffsetDateTime::now_utc() + Duration::minutes(10);
    let id = s.open_output_ticket(r.id, 1, "hash-1", expires).await.unwrap();
    let t = s.output_ticket_by_hash("hash-1").await.unwrap().expect("found by its hash");
    assert_eq!((t.id, t.run, t.attempt, t.used, t.attempt_running), (id, r.id, 1, false, true));
    assert!(s.output_ticket_by_hash("hash-2").await.unwrap().is_none());
    // An API token's hash finds no ticket, and a ticket's no API token.
    assert!(f.control.token_by_hash("hash-1").await.unwrap().is_none());

    assert!(s.put_ticket_output(id, b"{\"pw\": {\"value\": \"hunter2-secret\"}}").await.unwrap());
    assert!(!s.put_ticket_output(id, b"{}").await.unwrap(), "one upload");
    assert!(s.output_ticket_by_hash("hash-1").await.unwrap().unwrap().used);
    let sealed = f.blobs("SELECT output_enc FROM output_tickets").await;
    assert!(!String::from_utf8_lossy(&sealed[0]).contains("hunter2-secret"), "sealed at rest");

    // Its attempt ends: the ticket says so (the endpoint refuses it).
    let ending = Ending::new(RunState::Succeeded, Some(0), None);
    f.store.end_attempt(&l, 1, &ending, none, None).await.unwrap();
    assert!(!s.output_ticket_by_hash("hash-1").await.unwrap().unwrap().attempt_running);

    assert_eq!(
        s.close_output_ticket(id).await.unwrap().as_deref(),
        Some(&b"{\"pw\": {\"value\": \"hunter2-secret\"}}"[..])
    );
    assert!(s.output_ticket_by_hash("hash-1").await.unwrap().is_none(), "taken: gone");
    assert_eq!(s.close_output_ticket(id).await.unwrap(), None);
}

async fn a_sweep_closes_every_ticket_of_its_run_only(f: Fixture) {
    let s = &f.tickets;
    let (a, b) = (RunId::new(), RunId::new());
    let expires = OffsetDateTime::now_utc() + Duration::minutes(10);
    s.open_output_ticket(a, 1, "a1", expires).await.unwrap();
    s.open_output_ticket(a, 2, "a2", expires).await.unwrap();
    s.open_output_ticket(b, 1, "b1", expires).await.unwrap();
    let t = s.output_ticket_by_hash("a1").await.unwrap().unwrap();
    assert!(!t.attempt_running, "no such attempt runs");
    s.close_run_output_tickets(a).await.unwrap();
    assert!(s.output_ticket_by_hash("a1").await.unwrap().is_none());
    assert!(s.output_ticket_by_hash("a2").await.unwrap().is_none());
    assert!(s.output_ticket_by_hash("b1").await.unwrap().is_some());
}

backends!(
    a_ticket_takes_one_upload_while_its_attempt_runs_and_goes_when_taken,
    a_sweep_closes_every_ticket_of_its_run_only
);
