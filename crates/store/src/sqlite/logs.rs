//! Run logs: one chunk row per batch, numbered by the run-wide offset of its first line,
//! so reading from any offset touches only the chunks it needs. The texts live in the
//! run's log file (`log_files`) or, for an in-memory database, in the row.

use std::sync::Arc;

use sqlx::sqlite::SqliteArguments;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use terrace_model::RunId;
use terrace_model::log::LogBatch;

use super::codec::{col, int, int_opt};
use super::log_files::LogFiles;
use super::{begin_write, commit};
use crate::error::StoreError;
use crate::log_body::{self, ChunkForm, ChunkRow, NewChunk, ROWS_PER_INSERT};
use crate::records::StoredLogLine;
use crate::store::Result;

const T: &str = "log_chunks";

/// Appends whose text is at most this long stay in the rows: one statement, where the
/// file takes a transaction around the write (Terrace's own notes, a slow job's lines).
pub(super) const INLINE_MAX: usize = 16 * 1024;

pub(super) async fn append(
    pool: &SqlitePool,
    files: Option<&LogFiles>,
    run: RunId,
    attempt: u32,
    batches: Arc<[LogBatch]>,
) -> Result<()> {
    let total: usize = batches.iter().map(|b| b.text().len()).sum();
    match files {
        _ if total == 0 => Ok(()),
        Some(files) if total > INLINE_MAX => append_to_file(pool, files, run, attempt, batches).await,
        _ => append_inline(pool, run, attempt, &batches).await,
    }
}

/// One statement: SQLite takes the write lock before it reads the next offset, so two
/// appenders to one run cannot pick the same one. The last chunk by `first_offset` ends
/// the log: one seek on the primary key.
async fn append_inline(pool: &SqlitePool, run: RunId, attempt: u32, batches: &[LogBatch]) -> Result<()> {
    let db = |e| StoreError::db_for("append logs of run", run)(e);
    let groups: Vec<_> = batches.chunks(ROWS_PER_INSERT).map(|g| log_body::new_chunks(g, 0)).collect::<Result<_>>()?;
    let sql: Vec<String> = groups.iter().map(|rows| inline_insert_sql(1, "?2", 3, rows.len(), "")).collect();
    let (run_id, attempt) = (run.to_string(), i64::from(attempt));
    if let ([rows], [sql]) = (groups.as_slice(), sql.as_slice()) {
        let query = bind_rows(sqlx::query(sql).bind(&run_id).bind(attempt), rows);
        return query.execute(pool).await.map(drop).map_err(db);
    }
    // More rows than one statement takes: one transaction, as the trait promises.
    let mut tx = begin_write(pool).await?;
    for (rows, sql) in groups.iter().zip(&sql) {
        bind_rows(sqlx::query(sql).bind(&run_id).bind(attempt), rows).execute(&mut *tx).await.map_err(db)?;
    }
    commit(tx, "commit log lines").await
}

/// Whether `batches` fit in one inline statement, to go in a transaction with others.
pub(super) fn fits_inline(batches: &[LogBatch]) -> bool {
    batches.len() <= ROWS_PER_INSERT && batches.iter().map(|b| b.text().len()).sum::<usize>() <= INLINE_MAX
}

/// The statement appending `rows` (numbered from 0) as inline chunks of the run's log:
/// SQLite takes the write lock before it reads the run's next offset, so two appenders
/// cannot pick the same one. Parameters are numbered so the statement can follow others
/// in one query: the run id is `?{run}`, the attempt `attempt` (a parameter or a
/// subquery), and the rows' six values each from `?{first}` on (`bind_rows`). `only_if`,
/// when not empty, is a condition for inserting at all.
pub(super) fn inline_insert_sql(run: usize, attempt: &str, first: usize, rows: usize, only_if: &str) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let p: Vec<String> = (0..6).map(|k| format!("?{}", first + i * 6 + k)).collect();
            format!("({})", p.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO log_chunks (run_id, first_offset, attempt, line_count, ts, stream, data, byte_len)
         SELECT ?{run}, n.next + v.column1, {attempt}, v.column2, v.column3, v.column4, v.column5, v.column6
         FROM (SELECT COALESCE((SELECT first_offset + line_count FROM log_chunks WHERE run_id = ?{run}
                                ORDER BY first_offset DESC LIMIT 1), 0) AS next) AS n,
              (VALUES {}) AS v {}",
        values.join(", "),
        if only_if.is_empty() { String::new() } else { format!("WHERE {only_if}") }
    )
}

/// Binds the six values of each row, in the order `inline_insert_sql` numbers them.
pub(super) fn bind_rows<'q>(
    mut query: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    rows: &'q [NewChunk<'q>],
) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
    for c in rows {
        query = query.bind(c.first).bind(c.count).bind(c.ts).bind(c.stream).bind(c.text).bind(c.text.len() as i64);
    }
    query
}

/// The text goes to the run's file, then the rows commit. The write lock is taken first,
/// so the next offset and file position read here stay ours until commit.
async fn append_to_file(
    pool: &SqlitePool,
    files: &LogFiles,
    run: RunId,
    attempt: u32,
    batches: Arc<[LogBatch]>,
) -> Result<()> {
    let db = |e| StoreError::db_for("append logs of run", run)(e);
    let mut tx = begin_write(pool).await?;
    // Rows kept inline have no place in the file: the file ends where the last row in it does.
    let row = sqlx::query(
        "SELECT
           COALESCE((SELECT first_offset + line_count FROM log_chunks WHERE run_id = ?1
                     ORDER BY first_offset DESC LIMIT 1), 0) AS next,
           COALESCE((SELECT file_offset + byte_len FROM log_chunks WHERE run_id = ?1 AND file_offset IS NOT NULL
                     ORDER BY first_offset DESC LIMIT 1), 0) AS file_end",
    )
    .bind(run.to_string())
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let (next, file_end): (i64, u64) = (int(&row, T, "next")?, int(&row, T, "file_end")?);
    let rows = log_body::new_chunks(&batches, next)?;
    files.write(run, file_end, batches.clone()).await?;
    let mut at = file_end;
    for group in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO log_chunks (run_id, first_offset, attempt, line_count, ts, stream, data, file_offset, byte_len) ",
        );
        insert.push_values(group, |mut b, c| {
            let len = c.text.len() as i64;
            b.push_bind(run.to_string()).push_bind(c.first).push_bind(i64::from(attempt)).push_bind(c.count);
            b.push_bind(c.ts).push_bind(c.stream).push_bind(&[][..]).push_bind(at as i64).push_bind(len);
            at += len as u64;
        });
        insert.build().execute(&mut *tx).await.map_err(db)?;
    }
    commit(tx, "commit log lines").await
}

pub(super) async fn read(
    pool: &SqlitePool,
    files: Option<&LogFiles>,
    run: RunId,
    offset: u64,
    limit: u32,
) -> Result<Vec<StoredLogLine>> {
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
    let rows = sqlx::query(
        "SELECT first_offset, attempt, line_count, data, ts, stream, file_offset, byte_len FROM log_chunks
         WHERE run_id = ?1 AND first_offset < ?3 AND first_offset >= COALESCE(
             (SELECT MAX(first_offset) FROM log_chunks WHERE run_id = ?1 AND first_offset <= ?2), 0)
         ORDER BY first_offset",
    )
    .bind(run.to_string())
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await
    .map_err(StoreError::db_for("read logs of run", run))?;

    // The texts in the file lie one after the other: one read covers them all.
    let mut ranges = Vec::with_capacity(rows.len());
    for row in &rows {
        ranges.push(match int_opt::<u64>(row, T, "file_offset")? {
            Some(at) => Some((at, int::<u64>(row, T, "byte_len")?)),
            None => None,
        });
    }
    let span = ranges.iter().flatten().fold(None, |acc: Option<(u64, u64)>, &(at, len)| {
        Some(acc.map_or((at, at + len), |(a, b)| (a.min(at), b.max(at + len))))
    });
    let bytes = match (span, files) {
        (Some((a, b)), Some(files)) => {
            let len = usize::try_from(b - a).map_err(|_| StoreError::Corrupt(format!("log of run {run} too large")))?;
            files.read(run, a, len).await?
        }
        (Some(_), None) => return Err(StoreError::Corrupt(format!("log of run {run} is in a file, but no folder"))),
        (None, _) => Vec::new(),
    };
    let base = span.map_or(0, |(a, _)| a);

    let mut out = Vec::with_capacity(limit as usize);
    for (row, range) in rows.iter().zip(ranges) {
        let stream: Option<String> = col(row, T, "stream")?;
        let form = match (stream, range) {
            (None, _) => ChunkForm::Legacy(col(row, T, "data")?),
            (Some(stream), None) => ChunkForm::Batch { ts: int(row, T, "ts")?, stream, text: col(row, T, "data")? },
            (Some(stream), Some((at, len))) => {
                let from = (at - base) as usize;
                let text = bytes.get(from..from + len as usize).unwrap_or_default().to_vec();
                ChunkForm::Batch { ts: int(row, T, "ts")?, stream, text }
            }
        };
        let head = ChunkRow {
            first: int(row, T, "first_offset")?,
            attempt: int(row, T, "attempt")?,
            count: int(row, T, "line_count")?,
            form,
        };
        log_body::lines_into(head, run, offset, limit as usize, &mut out)?;
        if out.len() >= limit as usize {
            break;
        }
    }
    Ok(out)
}
