//! Running one statement on a rusqlite connection: its `$N` placeholders bound by name
//! (SQLite numbers named parameters by first appearance, not by their digits), its rows
//! read into `Value`s, through the connection's prepared-statement cache.

use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Statement, ToSql};

use crate::db::{Row, StepOut, Stmt, Tx, Value};
use crate::error::StoreError;
use crate::store::Result;

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(*n),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn value_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        // No column of the schema is REAL; kept readable in errors.
        ValueRef::Real(f) => Value::Text(f.to_string()),
        // Text that is not UTF-8 reads as a blob, which a text getter reports as corrupt.
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_string()),
            Err(_) => Value::Blob(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn bind(s: &mut Statement<'_>, params: &[Value]) -> rusqlite::Result<()> {
    let expected = s.parameter_count();
    for idx in 1..=expected {
        let n = match s.parameter_name(idx) {
            Some(name) => name.strip_prefix('$').and_then(|d| d.parse::<usize>().ok()),
            None => Some(idx),
        };
        let value = n.and_then(|n| n.checked_sub(1)).and_then(|i| params.get(i));
        match value {
            Some(v) => s.raw_bind_parameter(idx, v)?,
            None => return Err(rusqlite::Error::InvalidParameterCount(params.len(), expected)),
        }
    }
    Ok(())
}

/// Runs `stmt`; what it changed and the rows it returned.
pub(super) fn statement(conn: &Connection, stmt: &Stmt) -> Result<StepOut> {
    let fail = |e| StoreError::db(stmt.what(), e);
    let mut s = conn.prepare_cached(&stmt.sql).map_err(fail)?;
    bind(&mut s, &stmt.params).map_err(fail)?;
    let n = s.column_count();
    if n == 0 {
        let changed = s.raw_execute().map_err(fail)?;
        return Ok(StepOut { changed: changed as u64, rows: Vec::new() });
    }
    let columns: Arc<[String]> = (0..n).map(|i| s.column_name(i).unwrap_or("?").to_string()).collect();
    let readonly = s.readonly();
    let mut rows = Vec::new();
    let mut cursor = s.raw_query();
    while let Some(r) = cursor.next().map_err(fail)? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(value_of(r.get_ref(i).map_err(fail)?));
        }
        rows.push(Row::new(stmt.table, columns.clone(), values));
    }
    drop(cursor);
    let changed = if readonly { rows.len() as u64 } else { conn.changes() };
    Ok(StepOut { changed, rows })
}

/// Runs the steps of a write transaction in order, each guard right after its statement.
pub(super) fn steps(conn: &Connection, tx: Tx) -> Result<Vec<StepOut>> {
    let mut outs = Vec::with_capacity(tx.steps.len());
    for step in tx.steps {
        let mut out = statement(conn, &step.stmt)?;
        if let Some(guard) = step.guard {
            guard(&mut out)?;
        }
        outs.push(out);
    }
    Ok(outs)
}
