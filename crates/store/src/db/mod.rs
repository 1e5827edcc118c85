//! The small backend layer the queries are written against: `Db` runs a statement
//! (`query`) or a write transaction of several (`write`) on SQLite or PostgreSQL, with
//! the same `Value`s in and `Row`s out. What truly differs per database lives in its
//! module: opening and migrations, how a write transaction begins, and the few
//! statements only one of them has (row locks, advisory locks, notifications).

pub(crate) mod postgres;
pub(crate) mod row;
pub(crate) mod sqlite;
pub(crate) mod stmt;
pub(crate) mod value;

pub(crate) use row::Row;
pub(crate) use stmt::{StepOut, Stmt, Tx};
pub(crate) use value::Value;

use crate::error::StoreError;
use crate::store::Result;

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

impl Db {
    /// Runs one statement outside any transaction; its rows.
    pub(crate) async fn query(&self, stmt: Stmt) -> Result<Vec<Row>> {
        match self {
            Db::Sqlite(db) => db.query(stmt).await,
            Db::Postgres(db) => db.query(stmt).await,
        }
    }

    /// The first row, if any.
    pub(crate) async fn query_opt(&self, stmt: Stmt) -> Result<Option<Row>> {
        Ok(self.query(stmt).await?.into_iter().next())
    }

    /// The one row a statement must return.
    pub(crate) async fn query_one(&self, stmt: Stmt) -> Result<Row> {
        let what = stmt.what().into_owned();
        self.query_opt(stmt).await?.ok_or_else(|| StoreError::Corrupt(format!("{what}: no row returned")))
    }

    /// Runs the statements of `tx` in one transaction: all are applied or none. SQLite
    /// runs it on its writer thread in one hop; PostgreSQL in one connection.
    pub(crate) async fn write(&self, tx: Tx) -> Result<Vec<StepOut>> {
        if tx.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Db::Sqlite(db) => db.write(tx).await,
            Db::Postgres(db) => db.write(tx).await,
        }
    }

    /// A statement that serialises the transactions naming `key` until they commit,
    /// where rows alone cannot (a check-then-insert of a row that does not exist yet).
    /// SQLite's writer already runs one transaction at a time: nothing to add there.
    pub(crate) fn lock_step(&self, key: String) -> Option<Stmt> {
        match self {
            Db::Sqlite(_) => None,
            Db::Postgres(_) => Some(postgres::advisory_lock(key)),
        }
    }

    /// A statement that wakes every replica's scheduler once the transaction commits
    /// (PostgreSQL's NOTIFY); SQLite has one server, which wakes itself.
    pub(crate) fn notify_step(&self, why: &'static str) -> Option<Stmt> {
        match self {
            Db::Sqlite(_) => None,
            Db::Postgres(_) => Some(postgres::notify(why)),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Sqlite(db) => db.close().await,
            Db::Postgres(db) => db.close().await,
        }
    }

    /// How many migrations are applied, and how many this version knows.
    pub(crate) async fn migrations(&self) -> Result<(u64, u64)> {
        let known = match self {
            Db::Sqlite(_) => sqlite::migrate::known(),
            Db::Postgres(_) => postgres::known_migrations(),
        };
        let stmt = Stmt::new("_sqlx_migrations", "SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .doing("read the applied migrations");
        let applied: u64 = self.query_one(stmt).await?.num(0)?;
        Ok((applied, known))
    }
}
