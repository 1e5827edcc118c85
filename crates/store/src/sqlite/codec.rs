//! Conversions between records and column values. Reading is strict: a value that
//! does not parse is `Corrupt`, naming its table and column.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use crate::error::StoreError;

/// Timestamps are stored as unix nanoseconds (UTC), which sort as numbers and round
/// trip exactly; an i64 holds them until the year 2262.
pub(crate) fn ts_to_db(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| StoreError::Invalid(format!("timestamp {t} is outside 1677..2262")))
}

pub(crate) fn now_db() -> Result<i64, StoreError> {
    ts_to_db(OffsetDateTime::now_utc())
}

pub(crate) fn ts_from_db(nanos: i64, column: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|_| StoreError::Corrupt(format!("{column}: timestamp {nanos} out of range")))
}

/// Reads one column, mapping a decode failure to `Corrupt`.
pub(crate) fn col<'r, T>(row: &'r SqliteRow, table: &str, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}")))
}

/// Reads a text column and parses it (ids, enums).
pub(crate) fn parsed<T: FromStr>(row: &SqliteRow, table: &str, column: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: String = col(row, table, column)?;
    text.parse().map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}")))
}

pub(crate) fn parsed_opt<T: FromStr>(row: &SqliteRow, table: &str, column: &str) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: Option<String> = col(row, table, column)?;
    text.map(|t| t.parse().map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}")))).transpose()
}

pub(crate) fn ts(row: &SqliteRow, table: &str, column: &str) -> Result<OffsetDateTime, StoreError> {
    ts_from_db(col(row, table, column)?, &format!("{table}.{column}"))
}

pub(crate) fn ts_opt(row: &SqliteRow, table: &str, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    let nanos: Option<i64> = col(row, table, column)?;
    nanos.map(|n| ts_from_db(n, &format!("{table}.{column}"))).transpose()
}

/// Reads an integer column into a narrower or unsigned type.
pub(crate) fn int<T: TryFrom<i64>>(row: &SqliteRow, table: &str, column: &str) -> Result<T, StoreError> {
    let n: i64 = col(row, table, column)?;
    T::try_from(n).map_err(|_| StoreError::Corrupt(format!("{table}.{column}: {n} out of range")))
}

pub(crate) fn int_opt<T: TryFrom<i64>>(row: &SqliteRow, table: &str, column: &str) -> Result<Option<T>, StoreError> {
    let n: Option<i64> = col(row, table, column)?;
    n.map(|n| T::try_from(n).map_err(|_| StoreError::Corrupt(format!("{table}.{column}: {n} out of range"))))
        .transpose()
}
