//! Run logs on PostgreSQL: one chunk row per `append_logs` batch (the SQLite store's
//! codec), numbered by the run-wide offset of its first line.

use sqlx::PgPool;
use terrace_model::RunId;
use terrace_model::log::LogLine;

use super::codec::{col, int};
use super::{advisory_lock, begin, commit};
use crate::error::StoreError;
use crate::records::StoredLogLine;
use crate::sqlite::log_codec;
use crate::store::Result;

const T: &str = "log_chunks";

pub(super) async fn append(pool: &PgPool, run: RunId, attempt: u32, lines: &[LogLine]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let data = log_codec::encode(lines)?;
    let count = i64::try_from(lines.len()).map_err(|_| StoreError::Invalid("too many log lines".into()))?;
    let mut tx = begin(pool).await?;
    // SQLite's single writer serialises appenders; here two appenders to one run (two
    // replicas) would read the same last chunk, so they take the run's advisory lock
    // first. It is released at commit.
    advisory_lock(&mut tx, &format!("terrace-log:{run}")).await?;
    sqlx::query(
        "INSERT INTO log_chunks (run_id, first_offset, attempt, line_count, data)
         SELECT $1, COALESCE((SELECT first_offset + line_count FROM log_chunks WHERE run_id = $1
                              ORDER BY first_offset DESC LIMIT 1), 0), $2, $3, $4",
    )
    .bind(run.to_string())
    .bind(i64::from(attempt))
    .bind(count)
    .bind(data)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db_for("append logs of run", run))?;
    commit(tx, "commit log lines").await
}

pub(super) async fn read(pool: &PgPool, run: RunId, offset: u64, limit: u32) -> Result<Vec<StoredLogLine>> {
    // Offsets past i64::MAX cannot exist.
    let Ok(start) = i64::try_from(offset) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let end = start.saturating_add(i64::from(limit));
    // The chunk holding `start` is the last one beginning at or before it; from there,
    // every chunk beginning before `end`.
    let rows = sqlx::query(
        "SELECT first_offset, attempt, line_count, data FROM log_chunks
         WHERE run_id = $1 AND first_offset < $3 AND first_offset >= COALESCE(
             (SELECT MAX(first_offset) FROM log_chunks WHERE run_id = $1 AND first_offset <= $2), 0)
         ORDER BY first_offset",
    )
    .bind(run.to_string())
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await
    .map_err(StoreError::db_for("read logs of run", run))?;

    let mut out = Vec::with_capacity(limit as usize);
    for row in &rows {
        let first: u64 = int(row, T, "first_offset")?;
        let attempt: u32 = int(row, T, "attempt")?;
        let count: u64 = int(row, T, "line_count")?;
        let data: Vec<u8> = col(row, T, "data")?;
        if first + count <= offset {
            continue; // the run's log ends before `offset`
        }
        let skip = offset.saturating_sub(first);
        let take = (limit as usize) - out.len();
        let what = format!("run {run} at offset {first}");
        let lines = log_codec::decode(&data, skip as usize, take, &what)?;
        if lines.len() as u64 != (count - skip).min(take as u64) {
            return Err(StoreError::Corrupt(format!("log_chunks.line_count of {what} disagrees with its data")));
        }
        for (i, line) in lines.into_iter().enumerate() {
            out.push(StoredLogLine { offset: first + skip + i as u64, attempt, line });
        }
        if out.len() >= limit as usize {
            break;
        }
    }
    Ok(out)
}
