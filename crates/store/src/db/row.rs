//! A row read back, with typed getters by column index. Reading is strict: a value of
//! the wrong kind, or one that does not parse, is `StoreError::Corrupt` naming its
//! `table.column`. Getters move the value out (each column is read once), so a row of
//! text costs no copy beyond the one the database made.

use std::str::FromStr;
use std::sync::Arc;

use time::OffsetDateTime;

use super::value::{Value, ts_from_db};
use crate::error::StoreError;

#[derive(Clone, Debug)]
pub(crate) struct Row {
    table: &'static str,
    columns: Arc<[String]>,
    values: Vec<Value>,
}

type Result<T> = std::result::Result<T, StoreError>;

impl Row {
    pub(crate) fn new(table: &'static str, columns: Arc<[String]>, values: Vec<Value>) -> Row {
        Row { table, columns, values }
    }

    /// `table.column` of column `i`, for messages.
    pub(crate) fn name(&self, i: usize) -> String {
        match self.columns.get(i) {
            Some(c) => format!("{}.{c}", self.table),
            None => format!("{}.#{i}", self.table),
        }
    }

    fn corrupt(&self, i: usize, why: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!("{}: {why}", self.name(i)))
    }

    fn take(&mut self, i: usize) -> Result<Value> {
        match self.values.get_mut(i) {
            Some(v) => Ok(std::mem::replace(v, Value::Null)),
            None => Err(self.corrupt(i, format!("no such column (the row has {})", self.values.len()))),
        }
    }

    fn mismatch(&self, i: usize, want: &str, got: &Value) -> StoreError {
        self.corrupt(i, format!("expected {want}, found {}", got.kind()))
    }

    pub(crate) fn int_opt(&mut self, i: usize) -> Result<Option<i64>> {
        match self.take(i)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(n)),
            other => Err(self.mismatch(i, "an integer", &other)),
        }
    }

    pub(crate) fn int(&mut self, i: usize) -> Result<i64> {
        self.int_opt(i)?.ok_or_else(|| self.corrupt(i, "expected an integer, found null"))
    }

    /// An integer column into a narrower or unsigned type.
    pub(crate) fn num<T: TryFrom<i64>>(&mut self, i: usize) -> Result<T> {
        let n = self.int(i)?;
        T::try_from(n).map_err(|_| self.corrupt(i, format!("{n} out of range")))
    }

    pub(crate) fn num_opt<T: TryFrom<i64>>(&mut self, i: usize) -> Result<Option<T>> {
        match self.int_opt(i)? {
            Some(n) => T::try_from(n).map(Some).map_err(|_| self.corrupt(i, format!("{n} out of range"))),
            None => Ok(None),
        }
    }

    pub(crate) fn bool(&mut self, i: usize) -> Result<bool> {
        match self.int(i)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(self.corrupt(i, format!("expected 0 or 1, found {n}"))),
        }
    }

    pub(crate) fn text_opt(&mut self, i: usize) -> Result<Option<String>> {
        match self.take(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            other => Err(self.mismatch(i, "text", &other)),
        }
    }

    pub(crate) fn text(&mut self, i: usize) -> Result<String> {
        self.text_opt(i)?.ok_or_else(|| self.corrupt(i, "expected text, found null"))
    }

    pub(crate) fn blob_opt(&mut self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.take(i)? {
            Value::Null => Ok(None),
            Value::Blob(b) => Ok(Some(b)),
            other => Err(self.mismatch(i, "a blob", &other)),
        }
    }

    pub(crate) fn blob(&mut self, i: usize) -> Result<Vec<u8>> {
        self.blob_opt(i)?.ok_or_else(|| self.corrupt(i, "expected a blob, found null"))
    }

    /// A text column parsed (ids, enums).
    pub(crate) fn parsed<T: FromStr>(&mut self, i: usize) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(i)?;
        text.parse().map_err(|e| self.corrupt(i, e))
    }

    pub(crate) fn parsed_opt<T: FromStr>(&mut self, i: usize) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.text_opt(i)? {
            Some(t) => t.parse().map(Some).map_err(|e| self.corrupt(i, e)),
            None => Ok(None),
        }
    }

    pub(crate) fn ts(&mut self, i: usize) -> Result<OffsetDateTime> {
        let n = self.int(i)?;
        ts_from_db(n, &self.name(i))
    }

    pub(crate) fn ts_opt(&mut self, i: usize) -> Result<Option<OffsetDateTime>> {
        match self.int_opt(i)? {
            Some(n) => ts_from_db(n, &self.name(i)).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(&mut self, i: usize) -> Result<T> {
        let text = self.text(i)?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(i, e))
    }

    pub(crate) fn json_opt<T: serde::de::DeserializeOwned>(&mut self, i: usize) -> Result<Option<T>> {
        match self.text_opt(i)? {
            Some(t) => serde_json::from_str(&t).map(Some).map_err(|e| self.corrupt(i, e)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: Vec<Value>) -> Row {
        Row::new("runs", Arc::from(vec!["state".to_string(), "attempts".to_string()]), values)
    }

    #[test]
    fn mismatches_name_the_table_and_column() {
        let err = row(vec![Value::Int(3), Value::Null]).text(0).unwrap_err();
        assert!(err.to_string().contains("runs.state: expected text, found integer"), "{err}");
        let err = row(vec![Value::Null, Value::Text("x".into())]).int(1).unwrap_err();
        assert!(err.to_string().contains("runs.attempts"), "{err}");
        let err = row(vec![Value::Null, Value::Int(-1)]).num::<u32>(1).unwrap_err();
        assert!(err.to_string().contains("runs.attempts: -1 out of range"), "{err}");
        let err = row(vec![Value::Text("exploded".into())]).parsed::<crate::RunState>(0).unwrap_err();
        assert!(err.to_string().contains("runs.state") && err.to_string().contains("exploded"), "{err}");
        assert!(row(vec![Value::Int(1)]).bool(0).unwrap());
        assert!(row(vec![Value::Int(2)]).bool(0).is_err());
        assert_eq!(row(vec![Value::Null]).text_opt(0).unwrap(), None);
    }
}
