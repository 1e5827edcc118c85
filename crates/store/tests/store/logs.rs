//! Run logs: chunked storage, run-wide offsets across attempts, resuming anywhere.

use terrace_model::log::{LogLine, Stream};
use terrace_store::StoredLogLine;
use time::{Duration, OffsetDateTime};

use crate::common::*;

fn lines(prefix: &str, n: usize) -> Vec<LogLine> {
    let t0 = OffsetDateTime::now_utc();
    (0..n)
        .map(|i| LogLine {
            ts: t0 + Duration::nanoseconds(i as i64),
            stream: if i % 2 == 0 { Stream::Stdout } else { Stream::Stderr },
            text: format!("{prefix} line {i}"),
        })
        .collect()
}

fn texts(got: &[StoredLogLine]) -> Vec<String> {
    got.iter().map(|l| l.line.text.clone()).collect()
}

async fn offsets_continue_across_attempts_and_resume_mid_chunk(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let a1 = lines("first", 5);
    let a1b = lines("first more", 3);
    let a2 = lines("second", 4);
    f.store.append_logs(r.id, 1, &a1).await.unwrap();
    f.store.append_logs(r.id, 1, &a1b).await.unwrap();
    f.store.append_logs(r.id, 2, &[]).await.unwrap(); // no-op
    f.store.append_logs(r.id, 2, &a2).await.unwrap();

    let all = f.store.read_logs(r.id, 0, 1000).await.unwrap();
    assert_eq!(all.len(), 12);
    assert_eq!(all.iter().map(|l| l.offset).collect::<Vec<_>>(), (0..12).collect::<Vec<u64>>());
    assert_eq!(all.iter().map(|l| l.attempt).collect::<Vec<_>>(), [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    let expected: Vec<LogLine> = a1.iter().chain(&a1b).chain(&a2).cloned().collect();
    assert_eq!(all.iter().map(|l| l.line.clone()).collect::<Vec<_>>(), expected, "exact round trip");

    // Resume in the middle of the first chunk, across the second, into the third.
    let page = f.store.read_logs(r.id, 3, 7).await.unwrap();
    assert_eq!(page.first().unwrap().offset, 3);
    assert_eq!(
        texts(&page),
        [
            "first line 3",
            "first line 4",
            "first more line 0",
            "first more line 1",
            "first more line 2",
            "second line 0",
            "second line 1"
        ]
    );
    // Resume exactly at a chunk boundary, and in the last chunk.
    assert_eq!(f.store.read_logs(r.id, 8, 1).await.unwrap()[0].line.text, "second line 0");
    assert_eq!(texts(&f.store.read_logs(r.id, 10, 100).await.unwrap()), ["second line 2", "second line 3"]);
    // Past the end, a zero limit, another run: nothing.
    assert!(f.store.read_logs(r.id, 12, 10).await.unwrap().is_empty());
    assert!(f.store.read_logs(r.id, u64::MAX, 10).await.unwrap().is_empty());
    assert!(f.store.read_logs(r.id, 0, 0).await.unwrap().is_empty());
    let other = run(&*f.store, &e, "app").await;
    assert!(f.store.read_logs(other.id, 0, 10).await.unwrap().is_empty());

    // Paging through with small pages yields every line once.
    let mut offset = 0;
    let mut paged = Vec::new();
    loop {
        let page = f.store.read_logs(r.id, offset, 5).await.unwrap();
        let Some(last) = page.last() else { break };
        offset = last.offset + 1;
        paged.extend(page);
    }
    assert_eq!(paged, all);
}

async fn awkward_text_round_trips(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let ts = OffsetDateTime::now_utc();
    let odd = ["", "a\tb", "back\\slash \\n literal", "embedded\nnewline", "ünïcødé ✓", "\r\0"];
    let batch: Vec<_> = odd.iter().map(|t| LogLine { ts, stream: Stream::Terrace, text: t.to_string() }).collect();
    f.store.append_logs(r.id, 1, &batch).await.unwrap();
    let got = f.store.read_logs(r.id, 0, 100).await.unwrap();
    assert_eq!(got.into_iter().map(|l| l.line).collect::<Vec<_>>(), batch);
}

async fn a_batch_is_one_row(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    f.store.append_logs(r.id, 1, &lines("big", 5000)).await.unwrap();
    f.store.append_logs(r.id, 1, &lines("small", 1)).await.unwrap();
    let rows = f.int_pairs("SELECT first_offset, line_count FROM log_chunks ORDER BY first_offset").await;
    assert_eq!(rows, [(0, 5000), (5000, 1)]);
    let tail = f.store.read_logs(r.id, 4999, 10).await.unwrap();
    assert_eq!(texts(&tail), ["big line 4999", "small line 0"]);
}

async fn concurrent_appenders_on_two_handles_get_distinct_offsets(f: Fixture) {
    let other = f.reopen().await;
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { f.store.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move { s.append_logs(r.id, 1, &lines(&format!("w{i}"), 3)).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = f.store.read_logs(r.id, 0, 1000).await.unwrap();
    assert_eq!(all.len(), 60);
    assert_eq!(all.iter().map(|l| l.offset).collect::<Vec<_>>(), (0..60).collect::<Vec<u64>>());
    // Each batch stays contiguous.
    for chunk in all.chunks(3) {
        let writer = chunk[0].line.text.split(' ').next().unwrap().to_string();
        assert!(chunk.iter().all(|l| l.line.text.starts_with(&format!("{writer} "))), "{chunk:?}");
    }
}

backends!(
    offsets_continue_across_attempts_and_resume_mid_chunk,
    awkward_text_round_trips,
    a_batch_is_one_row,
    concurrent_appenders_on_two_handles_get_distinct_offsets
);
