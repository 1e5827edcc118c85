//! The values a statement binds and a row holds, the same on both databases: null,
//! integer, text and blob. Timestamps are unix nanoseconds (UTC) in an integer, booleans
//! 0 or 1, JSON and enums text.

use time::OffsetDateTime;

use crate::error::StoreError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The kind, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int(_) => "integer",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Ids, enums and other values stored as their text form.
pub(crate) fn text(v: impl std::fmt::Display) -> Value {
    Value::Text(v.to_string())
}

/// Timestamps are stored as unix nanoseconds (UTC), which sort as numbers and round
/// trip exactly; an i64 holds them until the year 2262.
pub(crate) fn ts_to_db(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| StoreError::Invalid(format!("timestamp {t} is outside 1677..2262")))
}

pub(crate) fn ts(t: OffsetDateTime) -> Result<Value, StoreError> {
    ts_to_db(t).map(Value::Int)
}

pub(crate) fn now_db() -> Result<i64, StoreError> {
    ts_to_db(OffsetDateTime::now_utc())
}

pub(crate) fn ts_from_db(nanos: i64, column: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|_| StoreError::Corrupt(format!("{column}: timestamp {nanos} out of range")))
}
