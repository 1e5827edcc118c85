//! Run logs on PostgreSQL: one chunk row per batch (`log_body`), numbered by the
//! run-wide offset of its first line, its text in the row so every replica reads it.

use std::sync::Arc;

use sqlx::{PgPool, Postgres, QueryBuilder};
use terrace_model::RunId;
use terrace_model::log::LogBatch;

use super::codec::{col, int};
use super::{advisory_lock, begin, commit};
use crate::error::StoreError;
use crate::log_body::{self, ChunkForm, ChunkRow, ROWS_PER_INSERT};
use crate::records::StoredLogLine;
use crate::store::Result;

const T: &str = "log_chunks";

pub(super) async fn append(pool: &PgPool, run: RunId, attempt: u32, batches: Arc<[LogBatch]>) -> Result<()> {
    if batches.iter().all(LogBatch::is_empty) {
        return Ok(());
    }
    let db = |e| StoreError::db_for("append logs of run", run)(e);
    let mut tx = begin(pool).await?;
    // SQLite's single writer serialises appenders; here two appenders to one run (two
    // replicas) would read the same last chunk, so they take the run's advisory lock
    // first. It is released at commit.
    advisory_lock(&mut tx, &format!("terrace-log:{run}")).await?;
    let next: Option<i64> = sqlx::query_scalar(
        "SELECT first_offset + line_count FROM log_chunks WHERE run_id = $1 ORDER BY first_offset DESC LIMIT 1",
    )
    .bind(run.to_string())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let rows = log_body::new_chunks(&batches, next.unwrap_or(0))?;
    for group in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO log_chunks (run_id, first_offset, attempt, line_count, ts, stream, data, byte_len) ",
        );
        insert.push_values(group, |mut b, c| {
            b.push_bind(run.to_string()).push_bind(c.first).push_bind(i64::from(attempt)).push_bind(c.count);
            b.push_bind(c.ts).push_bind(c.stream).push_bind(c.text).push_bind(c.text.len() as i64);
        });
        insert.build().execute(&mut *tx).await.map_err(db)?;
    }
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
        "SELECT first_offset, attempt, line_count, data, ts, stream FROM log_chunks
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
        let data: Vec<u8> = col(row, T, "data")?;
        let form = match col::<Option<String>>(row, T, "stream")? {
            None => ChunkForm::Legacy(data),
            Some(stream) => ChunkForm::Batch { ts: int(row, T, "ts")?, stream, text: data },
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
