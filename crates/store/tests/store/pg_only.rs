//! PostgreSQL only: replicas opening one new database at once migrate it once, and a
//! request enqueued through one replica wakes the listeners of every replica.

use std::time::Duration;

use terrace_model::Event;
use terrace_store::control::{NewRequest, RequestId};
use terrace_store::{Cipher, ControlStore, SqlStore, Store};

use crate::common::*;

#[tokio::test]
async fn replicas_opening_a_new_schema_at_once_migrate_it_once() {
    let Some(url) = postgres_url() else { return };
    let options = fresh_schema(&url).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let options = options.clone();
        tasks.push(tokio::spawn(async move { SqlStore::open_postgres_with(options, Cipher::new(KEY)).await.unwrap() }));
    }
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap());
    }
    let e = stores[0].ensure_environment("shop", "dev").await.unwrap();
    for s in &stores {
        s.ready().await.unwrap();
        assert_eq!(s.get_environment("shop", "dev").await.unwrap().unwrap().id, e.id);
    }
    let applied: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(stores[0].postgres_pool().unwrap())
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
    assert_eq!(applied, (1..=files as i64).map(|v| (v, true)).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_enqueued_request_wakes_the_listeners() {
    let Some(url) = postgres_url() else { return };
    let options = fresh_schema(&url).await;
    let listener_side = SqlStore::open_postgres_with(options.clone(), Cipher::new(KEY)).await.unwrap();
    let other = SqlStore::open_postgres_with(options, Cipher::new(KEY)).await.unwrap();
    let mut wakeups = listener_side.request_wakeups().await.unwrap().expect("PostgreSQL listens");
    let request = NewRequest {
        id: RequestId::new(),
        project: "shop".into(),
        environment: "dev".into(),
        event: Event::Start,
        job: None,
        args: vec![],
        requested_by: "api:test".into(),
        max_attempts: 1,
        origin: Default::default(),
        saved_plan: None,
    };
    other.enqueue_request(request).await.unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(10), wakeups.next()).await.expect("no notification").unwrap();
}
