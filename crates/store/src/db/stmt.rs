//! Statements written once for both databases (`$N` placeholders, portable SQL), and
//! write transactions: several statements sent to the database in one go, each with an
//! optional guard over what it changed or returned. A guard that fails rolls the whole
//! transaction back with its typed error (fencing, "not found").

use std::borrow::Cow;

use super::row::Row;
use super::value::Value;
use crate::error::StoreError;

#[derive(Clone, Debug)]
pub(crate) struct Stmt {
    /// The table the rows come from, to name columns in errors.
    pub(crate) table: &'static str,
    pub(crate) sql: Cow<'static, str>,
    pub(crate) params: Vec<Value>,
    /// PostgreSQL: lock the rows read until commit (`FOR UPDATE`). SQLite's one writer
    /// holds the whole database for the transaction already.
    pub(crate) lock_rows: bool,
    /// What the statement does, for errors: "cannot {doing}: {cause}".
    pub(crate) doing: Cow<'static, str>,
}

impl Stmt {
    pub(crate) fn new(table: &'static str, sql: &'static str) -> Stmt {
        Stmt { table, sql: Cow::Borrowed(sql), params: Vec::new(), lock_rows: false, doing: Cow::Borrowed("") }
    }

    /// A statement built at run time (lists with optional filters).
    pub(crate) fn dynamic(table: &'static str, sql: String) -> Stmt {
        Stmt { sql: Cow::Owned(sql), ..Stmt::new(table, "") }
    }

    pub(crate) fn bind(mut self, v: impl Into<Value>) -> Stmt {
        self.params.push(v.into());
        self
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Stmt {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Binds `v` as the next parameter and appends its placeholder.
    pub(crate) fn push_arg(&mut self, v: impl Into<Value>) -> &mut Stmt {
        self.params.push(v.into());
        let n = self.params.len();
        self.sql.to_mut().push_str(&format!("${n}"));
        self
    }

    pub(crate) fn for_update(mut self) -> Stmt {
        self.lock_rows = true;
        self
    }

    pub(crate) fn doing(mut self, what: impl Into<Cow<'static, str>>) -> Stmt {
        self.doing = what.into();
        self
    }

    /// The operation for error messages.
    pub(crate) fn what(&self) -> Cow<'_, str> {
        if self.doing.is_empty() { Cow::Owned(format!("query table {}", self.table)) } else { self.doing.clone() }
    }
}

/// What a statement of a write transaction did.
#[derive(Debug, Default)]
pub(crate) struct StepOut {
    /// Rows inserted, updated or deleted; for a query, the rows returned.
    pub(crate) changed: u64,
    /// The rows it returned (`SELECT`, `RETURNING`).
    pub(crate) rows: Vec<Row>,
}

/// A guard run on the database's side right after its statement; an error rolls the
/// transaction back and is what the write returns.
pub(crate) type Guard = Box<dyn FnOnce(&mut StepOut) -> Result<(), StoreError> + Send>;

pub(crate) struct Step {
    pub(crate) stmt: Stmt,
    pub(crate) guard: Option<Guard>,
}

/// One write transaction: its statements run in order, all or none.
#[derive(Default)]
pub(crate) struct Tx {
    pub(crate) steps: Vec<Step>,
}

impl Tx {
    pub(crate) fn new() -> Tx {
        Tx::default()
    }

    /// Adds a statement; returns its index in the results.
    pub(crate) fn push(&mut self, stmt: Stmt) -> usize {
        self.steps.push(Step { stmt, guard: None });
        self.steps.len() - 1
    }

    pub(crate) fn guarded(
        &mut self,
        stmt: Stmt,
        guard: impl FnOnce(&mut StepOut) -> Result<(), StoreError> + Send + 'static,
    ) -> usize {
        self.steps.push(Step { stmt, guard: Some(Box::new(guard)) });
        self.steps.len() - 1
    }

    /// A statement that must change exactly one row, else `err()` is the result.
    pub(crate) fn one(&mut self, stmt: Stmt, err: impl FnOnce() -> StoreError + Send + 'static) -> usize {
        self.guarded(stmt, move |out| if out.changed == 1 { Ok(()) } else { Err(err()) })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
