//! `Value`s as PostgreSQL parameters and back. A non-null parameter is sent with its
//! type (BIGINT, TEXT, BYTEA); a null one without (OID 0), so PostgreSQL takes the type
//! the statement gives that place, whatever column it fills.

use std::sync::Arc;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgRow, PgTypeInfo, PgValueRef};
use sqlx::{Column, Decode, Encode, Postgres, Row as _, Type, TypeInfo, ValueRef};

use crate::db::{Row, Value};
use crate::error::StoreError;
use crate::store::Result;

pub(super) struct Param<'a>(pub(super) &'a Value);

impl Type<Postgres> for Param<'_> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl Encode<'_, Postgres> for Param<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> std::result::Result<IsNull, BoxDynError> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => <i64 as Encode<Postgres>>::encode_by_ref(n, buf),
            Value::Text(s) => <&str as Encode<Postgres>>::encode_by_ref(&s.as_str(), buf),
            Value::Blob(b) => <&[u8] as Encode<Postgres>>::encode_by_ref(&b.as_slice(), buf),
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(match self.0 {
            Value::Null => PgTypeInfo::with_oid(Oid(0)),
            Value::Int(_) => <i64 as Type<Postgres>>::type_info(),
            Value::Text(_) => <String as Type<Postgres>>::type_info(),
            Value::Blob(_) => <Vec<u8> as Type<Postgres>>::type_info(),
        })
    }
}

fn decode<'r, T: Decode<'r, Postgres>>(raw: PgValueRef<'r>) -> std::result::Result<T, BoxDynError> {
    T::decode(raw)
}

/// A row as `Value`s; `columns` keeps the column names of the first row for the rest.
pub(super) fn row(table: &'static str, row: &PgRow, columns: &mut Option<Arc<[String]>>) -> Result<Row> {
    let names = columns.get_or_insert_with(|| row.columns().iter().map(|c| c.name().to_string()).collect()).clone();
    let mut values = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        let corrupt = |e: BoxDynError| StoreError::Corrupt(format!("{table}.{}: {e}", names[i]));
        let raw = row.try_get_raw(i).map_err(|e| corrupt(e.into()))?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        let type_name = raw.type_info().name().to_string();
        values.push(match type_name.as_str() {
            "INT8" => Value::Int(decode::<i64>(raw).map_err(corrupt)?),
            "INT4" => Value::Int(i64::from(decode::<i32>(raw).map_err(corrupt)?)),
            "INT2" => Value::Int(i64::from(decode::<i16>(raw).map_err(corrupt)?)),
            "BOOL" => Value::Int(i64::from(decode::<bool>(raw).map_err(corrupt)?)),
            "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" | "UNKNOWN" => Value::Text(decode::<String>(raw).map_err(corrupt)?),
            "BYTEA" => Value::Blob(decode::<Vec<u8>>(raw).map_err(corrupt)?),
            // What `pg_notify` and `pg_advisory_xact_lock` return.
            "VOID" => Value::Null,
            other => return Err(StoreError::Corrupt(format!("{table}.{}: unexpected type {other}", names[i]))),
        });
    }
    Ok(Row::new(table, names, values))
}
