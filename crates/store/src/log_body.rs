//! The stored form of a run's log, shared by both stores. A chunk row is one `LogBatch`
//! (lines of one stream read at one time): its stamp and stream in columns, its text
//! (every line followed by `\n`) kept as is, in the row's `data` (PostgreSQL, in-memory
//! SQLite) or in the run's log file (SQLite on a file). Rows written before migration
//! 0005 have no stream and hold the older per-line encoding of `log_codec` in `data`.

use terrace_model::RunId;
use terrace_model::log::{LogBatch, LogLine, Stream};

use crate::db::value::{ts_from_db, ts_to_db};
use crate::error::StoreError;
use crate::log_codec;
use crate::records::StoredLogLine;
use crate::store::Result;

/// Rows per INSERT statement: 8 values each stays far below SQLite's and PostgreSQL's
/// limits on bound parameters.
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// One batch as a row to insert.
pub(crate) struct NewChunk<'a> {
    pub first: i64,
    pub count: i64,
    pub ts: i64,
    pub stream: &'static str,
    pub text: &'a [u8],
}

/// The rows for `batches` (empty ones left out), numbered from run offset `next`.
pub(crate) fn new_chunks(batches: &[LogBatch], mut next: i64) -> Result<Vec<NewChunk<'_>>> {
    let mut rows = Vec::with_capacity(batches.len());
    for b in batches.iter().filter(|b| !b.is_empty()) {
        let count = i64::try_from(b.len()).map_err(|_| StoreError::Invalid("too many log lines".into()))?;
        rows.push(NewChunk {
            first: next,
            count,
            ts: ts_to_db(b.ts)?,
            stream: b.stream.as_str(),
            text: b.text().as_bytes(),
        });
        next += count;
    }
    Ok(rows)
}

/// A chunk row as read back.
pub(crate) struct ChunkRow {
    pub first: u64,
    pub attempt: u32,
    pub count: u64,
    pub form: ChunkForm,
}

pub(crate) enum ChunkForm {
    /// Written before migration 0005: `log_codec` lines with their own stamps.
    Legacy(Vec<u8>),
    /// One batch; `text` is its lines, each followed by `\n`.
    Batch { ts: i64, stream: String, text: Vec<u8> },
}

/// Appends to `out` the lines of `row` from run offset `offset` on, until `out` holds
/// `limit` lines.
pub(crate) fn lines_into(
    row: ChunkRow,
    run: RunId,
    offset: u64,
    limit: usize,
    out: &mut Vec<StoredLogLine>,
) -> Result<()> {
    let ChunkRow { first, attempt, count, form } = row;
    if first + count <= offset || out.len() >= limit {
        return Ok(()); // the run's log ends before `offset`
    }
    let skip = offset.saturating_sub(first) as usize;
    let take = limit - out.len();
    let what = format!("run {run} at offset {first}");
    let before = out.len();
    let mut push =
        |i: usize, line: LogLine| out.push(StoredLogLine { offset: first + (skip + i) as u64, attempt, line });
    match form {
        ChunkForm::Legacy(data) => {
            for (i, line) in log_codec::decode(&data, skip, take, &what)?.into_iter().enumerate() {
                push(i, line);
            }
        }
        ChunkForm::Batch { ts, stream, text } => {
            let corrupt = |why: &str| StoreError::Corrupt(format!("log of {what}: {why}"));
            let ts = ts_from_db(ts, "log_chunks.ts")?;
            let stream = Stream::parse(&stream).ok_or_else(|| corrupt("unknown stream"))?;
            let text = std::str::from_utf8(&text).map_err(|_| corrupt("not UTF-8"))?;
            if !text.ends_with('\n') {
                return Err(corrupt("missing final newline"));
            }
            for (i, line) in text.split_terminator('\n').skip(skip).take(take).enumerate() {
                push(i, LogLine { ts, stream, text: line.to_string() });
            }
        }
    }
    if (out.len() - before) as u64 != (count - skip as u64).min(take as u64) {
        return Err(StoreError::Corrupt(format!("log_chunks.line_count of {what} disagrees with its data")));
    }
    Ok(())
}
