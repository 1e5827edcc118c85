//! Reading PostgreSQL rows into records, strictly: a value that does not decode or parse
//! is `Corrupt`, naming its table and column. Timestamps use the SQLite store's
//! unix-nanosecond helpers, so both stores hold the same numbers.

use std::str::FromStr;

use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::sqlite::codec::ts_from_db;
pub(crate) use crate::sqlite::codec::{now_db, ts_to_db};

pub(crate) fn col<'r, T>(row: &'r PgRow, table: &str, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}")))
}

pub(crate) fn parsed<T: FromStr>(row: &PgRow, table: &str, column: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: String = col(row, table, column)?;
    text.parse().map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}")))
}

pub(crate) fn parsed_opt<T: FromStr>(row: &PgRow, table: &str, column: &str) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: Option<String> = col(row, table, column)?;
    text.map(|t| t.parse().map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}")))).transpose()
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &PgRow, table: &str, column: &str) -> Result<T, StoreError> {
    let text: String = col(row, table, column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}")))
}

pub(crate) fn json_opt<T: serde::de::DeserializeOwned>(
    row: &PgRow,
    table: &str,
    column: &str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = col(row, table, column)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}"))))
        .transpose()
}

pub(crate) fn ts(row: &PgRow, table: &str, column: &str) -> Result<OffsetDateTime, StoreError> {
    ts_from_db(col(row, table, column)?, &format!("{table}.{column}"))
}

pub(crate) fn ts_opt(row: &PgRow, table: &str, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    let nanos: Option<i64> = col(row, table, column)?;
    nanos.map(|n| ts_from_db(n, &format!("{table}.{column}"))).transpose()
}

/// Reads a BIGINT column into a narrower or unsigned type.
pub(crate) fn int<T: TryFrom<i64>>(row: &PgRow, table: &str, column: &str) -> Result<T, StoreError> {
    let n: i64 = col(row, table, column)?;
    T::try_from(n).map_err(|_| StoreError::Corrupt(format!("{table}.{column}: {n} out of range")))
}

pub(crate) fn int_opt<T: TryFrom<i64>>(row: &PgRow, table: &str, column: &str) -> Result<Option<T>, StoreError> {
    let n: Option<i64> = col(row, table, column)?;
    n.map(|n| T::try_from(n).map_err(|_| StoreError::Corrupt(format!("{table}.{column}: {n} out of range"))))
        .transpose()
}
