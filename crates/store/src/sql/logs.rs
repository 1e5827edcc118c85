//! Run logs: one chunk row per batch (`log_body`), numbered by the run-wide offset of its
//! first line, so reading from any offset touches only the chunks it needs. Where the
//! text lives is the one thing that differs: in the row (PostgreSQL, where every replica
//! reads it; in-memory SQLite; short appends) or in the run's log file beside a SQLite
//! database (`log_files`), which SQLite would otherwise write twice under its lock.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use terrace_model::RunId;
use terrace_model::log::LogBatch;

use super::{SqlStore, fence};
use crate::db::value::text;
use crate::db::{Stmt, Tx, Value};
use crate::error::StoreError;
use crate::log_body::{self, ChunkForm, ChunkRow, ROWS_PER_INSERT};
use crate::owner::RunLease;
use crate::records::StoredLogLine;
use crate::store::Result;

const T: &str = "log_chunks";

/// Appends whose text is at most this long stay in the rows of a SQLite file too: one
/// statement in the transaction, where the file takes a write beside it.
pub(super) const INLINE_MAX: usize = 16 * 1024;

/// Which attempt appended lines belong to.
#[derive(Clone, Copy)]
pub(super) enum AttemptNo {
    Number(u32),
    /// The run's newest attempt, as the transaction sees it (the one it starts).
    Current,
}

/// Whether `batches` go into rows, in a transaction with other statements.
pub(super) fn fits_inline(s: &SqlStore, batches: &[LogBatch]) -> bool {
    s.log_files.is_none()
        || (batches.len() <= ROWS_PER_INSERT && batches.iter().map(|b| b.text().len()).sum::<usize>() <= INLINE_MAX)
}

/// The statement inserting `rows` batches after the run's last chunk, their texts in the
/// rows. Parameters: $1 the run, $2 the attempt (0: the run's newest), then six per row.
fn inline_sql(rows: usize) -> Cow<'static, str> {
    static SMALL: LazyLock<Vec<String>> = LazyLock::new(|| (1..=4).map(build).collect());
    match SMALL.get(rows.wrapping_sub(1)) {
        Some(sql) => Cow::Borrowed(sql.as_str()),
        None => Cow::Owned(build(rows)),
    }
}

fn build(rows: usize) -> String {
    // The next offset is read by the statement itself, under the write lock (SQLite) or
    // the run's row lock taken by the fence (PostgreSQL): appenders cannot pick the same.
    format!(
        "INSERT INTO log_chunks (run_id, first_offset, attempt, line_count, ts, stream, data, byte_len) \
         SELECT $1, n.next + v.column1, CASE WHEN $2 = 0 THEN (SELECT attempts FROM runs WHERE id = $1) ELSE $2 END, \
                v.column2, v.column3, v.column4, v.column5, v.column6 \
         FROM (SELECT COALESCE((SELECT first_offset + line_count FROM log_chunks WHERE run_id = $1 \
                                ORDER BY first_offset DESC LIMIT 1), 0) AS next) AS n, \
              (VALUES {}) AS v",
        placeholders(rows)
    )
}

/// `($3, .., $8), ($9, ..)`: six per row, after the run and the attempt.
fn placeholders(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let p: Vec<String> = (0..6).map(|k| format!("${}", 3 + i * 6 + k)).collect();
            format!("({})", p.join(", "))
        })
        .collect();
    values.join(", ")
}

/// Adds to `tx` the statements appending `batches` in rows (empty ones left out).
pub(super) fn inline_rows(tx: &mut Tx, run: RunId, attempt: AttemptNo, batches: &[LogBatch]) -> Result<()> {
    let number = match attempt {
        AttemptNo::Number(n) => n,
        AttemptNo::Current => 0,
    };
    for group in batches.chunks(ROWS_PER_INSERT) {
        let rows = log_body::new_chunks(group, 0)?;
        if rows.is_empty() {
            continue;
        }
        let mut stmt = Stmt { sql: inline_sql(rows.len()), ..Stmt::new(T, "") }.bind(text(run)).bind(number);
        for c in &rows {
            stmt = stmt
                .bind(c.first)
                .bind(c.count)
                .bind(c.ts)
                .bind(c.stream)
                .bind(Value::Blob(c.text.to_vec()))
                .bind(c.text.len() as i64);
        }
        tx.push(stmt.doing(format!("append logs of run {run}")));
    }
    Ok(())
}

/// Appends batches of lines (already masked) to the attempt's log, in one transaction.
pub(super) async fn append(s: &SqlStore, lease: &RunLease, attempt: u32, batches: Arc<[LogBatch]>) -> Result<()> {
    if batches.iter().all(LogBatch::is_empty) {
        return Ok(());
    }
    match &s.log_files {
        Some(files) if !fits_inline(s, &batches) => append_to_file(s, files, lease, attempt, batches).await,
        _ => {
            let mut tx = Tx::new();
            fence::run(&mut tx, lease);
            inline_rows(&mut tx, lease.id, AttemptNo::Number(attempt), &batches)?;
            s.db.write(tx).await.map(drop)
        }
    }
}

/// Where the run's file ends: after the last row kept in it (rows kept inline have no
/// place in the file).
fn file_end(run: RunId) -> Stmt {
    Stmt::new(
        T,
        "SELECT COALESCE((SELECT file_offset + byte_len FROM log_chunks WHERE run_id = $1 AND file_offset IS NOT NULL \
                          ORDER BY first_offset DESC LIMIT 1), 0)",
    )
    .bind(text(run))
    .doing(format!("find the end of the log file of run {run}"))
}

/// The text goes to the run's file past its last row, then the rows commit under the
/// lease, provided the file's end did not move meanwhile (a run has one writer, its
/// holder: a move means a stale holder, which the fence refuses anyway). The file is
/// written off the writer's thread, which other writes need.
async fn append_to_file(
    s: &SqlStore,
    files: &super::log_files::LogFiles,
    lease: &RunLease,
    attempt: u32,
    batches: Arc<[LogBatch]>,
) -> Result<()> {
    let run = lease.id;
    let end: i64 = s.db.query_one(file_end(run)).await?.int(0)?;
    let at = u64::try_from(end).map_err(|_| StoreError::Corrupt(format!("log of run {run}: file offset {end}")))?;
    files.write(run, at, batches.clone()).await?;
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    tx.guarded(file_end(run), move |out| match out.rows.first_mut().map(|r| r.int(0)).transpose()? {
        Some(now) if now == end => Ok(()),
        _ => Err(StoreError::Corrupt(format!("the log file of run {run} grew while it was written to"))),
    });
    let mut offset = end;
    for group in batches.chunks(ROWS_PER_INSERT) {
        let rows = log_body::new_chunks(group, 0)?;
        if rows.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO log_chunks (run_id, first_offset, attempt, line_count, ts, stream, data, file_offset, byte_len) \
             SELECT $1, n.next + v.column1, $2, v.column2, v.column3, v.column4, x'', v.column5, v.column6 \
             FROM (SELECT COALESCE((SELECT first_offset + line_count FROM log_chunks WHERE run_id = $1 \
                                    ORDER BY first_offset DESC LIMIT 1), 0) AS next) AS n, \
                  (VALUES {}) AS v",
            placeholders(rows.len())
        );
        let mut stmt = Stmt::dynamic(T, sql).bind(text(run)).bind(attempt);
        for c in &rows {
            let len = c.text.len() as i64;
            stmt = stmt.bind(c.first).bind(c.count).bind(c.ts).bind(c.stream).bind(offset).bind(len);
            offset += len;
        }
        tx.push(stmt.doing(format!("append logs of run {run}")));
    }
    s.db.write(tx).await.map(drop)
}

pub(super) async fn read(s: &SqlStore, run: RunId, offset: u64, limit: u32) -> Result<Vec<StoredLogLine>> {
    // Offsets past i64::MAX cannot exist.
    let Ok(start) = i64::try_from(offset) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let end = start.saturating_add(i64::from(limit));
    // The chunk holding `start` is the last one beginning at or before it; from there,
    // every chunk beginning before `end`. Both are index seeks on (run_id, first_offset).
    let stmt = Stmt::new(
        T,
        "SELECT first_offset, attempt, line_count, data, ts, stream, file_offset, byte_len FROM log_chunks \
         WHERE run_id = $1 AND first_offset < $3 AND first_offset >= COALESCE( \
             (SELECT MAX(first_offset) FROM log_chunks WHERE run_id = $1 AND first_offset <= $2), 0) \
         ORDER BY first_offset",
    )
    .bind(text(run))
    .bind(start)
    .bind(end)
    .doing(format!("read the logs of run {run}"));
    let mut rows = s.db.query(stmt).await?;

    // The texts in the file lie one after the other: one read covers them all.
    let mut ranges = Vec::with_capacity(rows.len());
    for row in &mut rows {
        ranges.push(match row.num_opt::<u64>(6)? {
            Some(at) => Some((at, row.num::<u64>(7)?)),
            None => None,
        });
    }
    let span = ranges.iter().flatten().fold(None, |acc: Option<(u64, u64)>, &(at, len)| {
        Some(acc.map_or((at, at + len), |(a, b)| (a.min(at), b.max(at + len))))
    });
    let bytes = match (span, &s.log_files) {
        (Some((a, b)), Some(files)) => {
            let len = usize::try_from(b - a).map_err(|_| StoreError::Corrupt(format!("log of run {run} too large")))?;
            files.read(run, a, len).await?
        }
        (Some(_), None) => return Err(StoreError::Corrupt(format!("log of run {run} is in a file, but no folder"))),
        (None, _) => Vec::new(),
    };
    let base = span.map_or(0, |(a, _)| a);

    let mut out = Vec::with_capacity(limit as usize);
    for (mut row, range) in rows.into_iter().zip(ranges) {
        let form = match (row.text_opt(5)?, range) {
            (None, _) => ChunkForm::Legacy(row.blob(3)?),
            (Some(stream), None) => ChunkForm::Batch { ts: row.int(4)?, stream, text: row.blob(3)? },
            (Some(stream), Some((at, len))) => {
                let from = (at - base) as usize;
                let text = bytes.get(from..from + len as usize).unwrap_or_default().to_vec();
                ChunkForm::Batch { ts: row.int(4)?, stream, text }
            }
        };
        let head = ChunkRow { first: row.num(0)?, attempt: row.num(1)?, count: row.num(2)?, form };
        log_body::lines_into(head, run, offset, limit as usize, &mut out)?;
        if out.len() >= limit as usize {
            break;
        }
    }
    Ok(out)
}
