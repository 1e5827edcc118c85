//! Run logs: each `append_logs` batch is one chunk row, numbered by the run-wide offset
//! of its first line, so reading from any offset touches only the chunks it needs.

use sqlx::SqlitePool;
use terrace_model::RunId;
use terrace_model::log::LogLine;

use super::codec::{col, int};
use super::log_codec;
use crate::error::StoreError;
use crate::records::StoredLogLine;
use crate::store::Result;

const T: &str = "log_chunks";

pub(super) async fn append(pool: &SqlitePool, run: RunId, attempt: u32, lines: &[LogLine]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let data = log_codec::encode(lines)?;
    let count = i64::try_from(lines.len()).map_err(|_| StoreError::Invalid("too many log lines".into()))?;
    // One statement, so the next offset is computed under the write lock: two
    // appenders to one run cannot pick the same offset. Chunks never overlap and are
    // numbered in order, so the last chunk by `first_offset` ends the log: one seek on
    // the primary key, where MAX(first_offset + line_count) read every chunk of the run
    // (quadratic in a long log: 4,096 chunks for 1 GiB).
    sqlx::query(
        "INSERT INTO log_chunks (run_id, first_offset, attempt, line_count, data)
         SELECT ?1, COALESCE((SELECT first_offset + line_count FROM log_chunks WHERE run_id = ?1
                              ORDER BY first_offset DESC LIMIT 1), 0), ?2, ?3, ?4",
    )
    .bind(run.to_string())
    .bind(i64::from(attempt))
    .bind(count)
    .bind(data)
    .execute(pool)
    .await
    .map_err(StoreError::db_for("append logs of run", run))?;
    Ok(())
}

pub(super) async fn read(pool: &SqlitePool, run: RunId, offset: u64, limit: u32) -> Result<Vec<StoredLogLine>> {
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
        "SELECT first_offset, attempt, line_count, data FROM log_chunks
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
