//! Run logs: one row per batch, run-wide offsets across attempts, resuming anywhere;
//! on SQLite the texts in per-run files beside the database.

use std::sync::Arc;

use terrace_model::log::{LogBatch, LogLine, Stream};
use terrace_store::StoredLogLine;
use time::{Duration, OffsetDateTime};

use crate::common::*;

/// `n` lines in one batch, stamped with whole microseconds (as precise as any store keeps).
fn batch(prefix: &str, n: usize, stream: Stream) -> LogBatch {
    let now = OffsetDateTime::now_utc();
    let ts = now - Duration::nanoseconds(i64::from(now.nanosecond() % 1000));
    let mut b = LogBatch::new(ts, stream);
    for i in 0..n {
        b.push(&format!("{prefix} line {i}"));
    }
    b
}

fn batches(b: Vec<LogBatch>) -> Arc<[LogBatch]> {
    b.into()
}

fn texts(got: &[StoredLogLine]) -> Vec<String> {
    got.iter().map(|l| l.line.text.clone()).collect()
}

async fn offsets_continue_across_attempts_and_resume_mid_chunk(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let a1 = batch("first", 5, Stream::Stdout);
    let a1b = batch("first more", 3, Stream::Stderr);
    let a2 = batch("second", 4, Stream::Terrace);
    f.store.append_logs(&lease(&r), 1, batches(vec![a1.clone(), a1b.clone()])).await.unwrap();
    f.store.append_logs(&lease(&r), 2, batches(vec![])).await.unwrap(); // no-op
    f.store.append_logs(&lease(&r), 2, batches(vec![LogBatch::new(a2.ts, Stream::Stdout)])).await.unwrap(); // no-op
    f.store.append_logs(&lease(&r), 2, batches(vec![a2.clone()])).await.unwrap();

    let all = f.store.read_logs(r.id, 0, 1000).await.unwrap();
    assert_eq!(all.len(), 12);
    assert_eq!(all.iter().map(|l| l.offset).collect::<Vec<_>>(), (0..12).collect::<Vec<u64>>());
    assert_eq!(all.iter().map(|l| l.attempt).collect::<Vec<_>>(), [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    let expected: Vec<LogLine> = [a1, a1b, a2].iter().flat_map(LogBatch::to_lines).collect();
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
    let mut b = LogBatch::new(batch("x", 0, Stream::Terrace).ts, Stream::Terrace);
    for t in ["", "a\tb", "back\\slash \\n literal", "embedded\nnewline", "ünïcødé ✓", "\r\0"] {
        b.push(t);
    }
    f.store.append_logs(&lease(&r), 1, batches(vec![b.clone()])).await.unwrap();
    let got = f.store.read_logs(r.id, 0, 100).await.unwrap();
    assert_eq!(texts(&got), ["", "a\tb", "back\\slash \\n literal", "embedded", "newline", "ünïcødé ✓", "\r\0"]);
    assert_eq!(got.into_iter().map(|l| l.line).collect::<Vec<_>>(), b.to_lines());
}

async fn each_batch_is_one_row(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let (big, small) = (batch("big", 5000, Stream::Stdout), batch("small", 1, Stream::Stderr));
    f.store.append_logs(&lease(&r), 1, batches(vec![big, small])).await.unwrap();
    f.store.append_logs(&lease(&r), 1, batches(vec![batch("last", 2, Stream::Stdout)])).await.unwrap();
    let rows = f.int_pairs("SELECT first_offset, line_count FROM log_chunks ORDER BY first_offset").await;
    assert_eq!(rows, [(0, 5000), (5000, 1), (5001, 2)]);
    let tail = f.store.read_logs(r.id, 4999, 10).await.unwrap();
    assert_eq!(texts(&tail), ["big line 4999", "small line 0", "last line 0", "last line 1"]);
    assert_eq!(tail.iter().map(|l| l.line.stream).collect::<Vec<_>>()[..2], [Stream::Stdout, Stream::Stderr]);
}

async fn concurrent_appenders_on_two_handles_get_distinct_offsets(f: Fixture) {
    let other = f.reopen().await;
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { f.store.clone() } else { other.clone() };
        let b = batches(vec![batch(&format!("w{i}"), 3, Stream::Stdout)]);
        let l = lease(&r);
        tasks.push(tokio::spawn(async move { s.append_logs(&l, 1, b).await.unwrap() }));
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

/// Log texts past a few KiB per append: SQLite keeps them in `logs/<run>.log` beside the
/// database, not in the rows.
fn big(prefix: &str) -> LogBatch {
    batch(prefix, 2000, Stream::Stdout)
}

/// SQLite keeps big texts in `logs/<run>.log` beside the database and small ones (notes)
/// in their row; PostgreSQL keeps all in the rows, so every replica reads them.
async fn texts_live_where_every_reader_finds_them(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let (small, large) = (batch("hello", 2, Stream::Stdout), big("big"));
    f.store.append_logs(&lease(&r), 1, batches(vec![small.clone()])).await.unwrap();
    f.store.append_logs(&lease(&r), 1, batches(vec![large.clone()])).await.unwrap();
    f.store.append_logs(&lease(&r), 1, batches(vec![small.clone()])).await.unwrap();
    let data = f.blobs("SELECT data FROM log_chunks ORDER BY first_offset").await;
    let (s, l) = (small.text().as_bytes().to_vec(), large.text().as_bytes().to_vec());
    match f.sqlite_path() {
        Some(db) => {
            assert_eq!(data, [s.clone(), vec![], s]);
            let file = db.parent().unwrap().join("logs").join(format!("{}.log", r.id));
            assert_eq!(std::fs::read(file).unwrap(), l);
        }
        None => assert_eq!(data, [s.clone(), l, s]),
    }
    let all = f.reopen().await.read_logs(r.id, 0, 5000).await.unwrap();
    let expected: Vec<LogLine> = [&small, &large, &small].iter().flat_map(|b| b.to_lines()).collect();
    assert_eq!(all.into_iter().map(|l| l.line).collect::<Vec<_>>(), expected);
}

/// A crash between writing a run's file and committing its row leaves bytes past the
/// last row: the next append writes over them, and a row pointing past the end of its
/// file (the disk lost it) is reported, not read as garbage.
async fn a_torn_log_file_is_repaired_or_reported(f: Fixture) {
    let Some(db) = f.sqlite_path() else { return };
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    let file = db.parent().unwrap().join("logs").join(format!("{}.log", r.id));
    let (a, b) = (big("a"), big("b"));
    f.store.append_logs(&lease(&r), 1, batches(vec![a.clone()])).await.unwrap();
    f.store.append_logs(&lease(&r), 1, batches(vec![batch("note", 1, Stream::Terrace)])).await.unwrap();
    let mut torn = std::fs::read(&file).unwrap();
    torn.extend_from_slice(b"half a batch that never got its row");
    std::fs::write(&file, &torn).unwrap();
    f.store.append_logs(&lease(&r), 1, batches(vec![b.clone()])).await.unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), [a.text(), b.text()].concat().as_bytes());
    let all = f.store.read_logs(r.id, 0, 5000).await.unwrap();
    assert_eq!(all.len(), 4001);
    assert_eq!((all[2000].line.text.as_str(), all[2001].line.text.as_str()), ("note line 0", "b line 0"));

    std::fs::write(&file, a.text()).unwrap();
    let err = f.store.read_logs(r.id, 1990, 100).await.unwrap_err().to_string();
    assert!(err.contains(&format!("{}.log", r.id)) && err.contains("ends before byte"), "{err}");
    // What lies before the loss still reads.
    assert_eq!(f.store.read_logs(r.id, 0, 2001).await.unwrap().len(), 2001);
}

/// More batches than one statement takes still append in order, in one go.
async fn many_small_batches_in_one_append(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    f.store.append_logs(&lease(&r), 1, batches(vec![batch("first", 1, Stream::Stdout)])).await.unwrap();
    let many: Vec<LogBatch> = (0..1200).map(|i| LogBatch::now(Stream::Stderr, &format!("b{i}"))).collect();
    f.store.append_logs(&lease(&r), 1, batches(many)).await.unwrap();
    let all = f.store.read_logs(r.id, 0, 2000).await.unwrap();
    assert_eq!(all.len(), 1201);
    assert_eq!(all.iter().map(|l| l.offset).collect::<Vec<_>>(), (0..1201).collect::<Vec<u64>>());
    assert!(all[1..].iter().enumerate().all(|(i, l)| l.line.text == format!("b{i}")));
}

/// Rows written before the batch form (migration 0005) are still read.
async fn rows_of_the_older_encoding_are_read(f: Fixture) {
    let e = env(&*f.store, "dev").await;
    let r = run(&*f.store, &e, "db").await;
    // Two lines of the per-line form: `<unix nanos>\t<o|e|t>\t<escaped text>\n`.
    let old = "1700000000000000000\to\tfirst\n1700000000000000001\te\tsecond \\n\n";
    let hex: String = old.bytes().map(|b| format!("{b:02x}")).collect();
    let blob = if f.is_sqlite() { format!("X'{hex}'") } else { format!("'\\x{hex}'::bytea") };
    f.execute(&format!(
        "INSERT INTO log_chunks (run_id, first_offset, attempt, line_count, data) VALUES ('{}', 0, 1, 2, {blob})",
        r.id
    ))
    .await;
    f.store.append_logs(&lease(&r), 2, batches(vec![batch("new", 1, Stream::Stdout)])).await.unwrap();
    let got = f.store.read_logs(r.id, 0, 10).await.unwrap();
    assert_eq!(texts(&got), ["first", "second \n", "new line 0"]);
    assert_eq!(got[1].line.stream, Stream::Stderr);
    assert_eq!(got[1].line.ts.unix_timestamp_nanos(), 1_700_000_000_000_000_001);
    assert_eq!((got[2].offset, got[2].attempt), (2, 2));
}

backends!(
    offsets_continue_across_attempts_and_resume_mid_chunk,
    awkward_text_round_trips,
    each_batch_is_one_row,
    concurrent_appenders_on_two_handles_get_distinct_offsets,
    texts_live_where_every_reader_finds_them,
    a_torn_log_file_is_repaired_or_reported,
    many_small_batches_in_one_append,
    rows_of_the_older_encoding_are_read
);
