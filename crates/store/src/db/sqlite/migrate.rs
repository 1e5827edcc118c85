//! The SQLite schema's migrations, kept in sqlx's `_sqlx_migrations` table (same layout,
//! same checksums: the SHA-384 of each file), so a database made by an earlier Terrace,
//! whose store ran sqlx's migrator, continues from where it is, and an earlier Terrace
//! refuses a database migrated past what it knows.
//!
//! Pending migrations apply in one `BEGIN IMMEDIATE` transaction, so two processes opening
//! a new file at once apply them once. A database already at the newest version is only
//! read: every `terrace` command opens the store (docs/PERFORMANCE.md, C).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha384};

use crate::error::StoreError;
use crate::store::Result;

struct Migration {
    version: i64,
    /// As sqlx derives it from the file name: `0002_run_plan.sql` is "run plan".
    description: &'static str,
    sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $description:literal, $file:literal) => {
        Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../../../migrations/sqlite/", $file)),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "init", "0001_init.sql"),
    migration!(2, "run plan", "0002_run_plan.sql"),
    migration!(3, "control", "0003_control.sql"),
    migration!(4, "runs by project", "0004_runs_by_project.sql"),
    migration!(5, "log batches", "0005_log_batches.sql"),
    migration!(6, "attempt handles", "0006_attempt_handles.sql"),
    migration!(7, "leases", "0007_leases.sql"),
    migration!(8, "run numbers and inputs", "0008_run_numbers_and_inputs.sql"),
    migration!(9, "approvals", "0009_approvals.sql"),
    migration!(10, "approval numbers", "0010_approval_numbers.sql"),
    migration!(11, "run commit", "0011_run_commit.sql"),
    migration!(12, "webhook deliveries", "0012_webhook_deliveries.sql"),
    migration!(13, "terraform state", "0013_terraform_state.sql"),
    migration!(14, "promotions", "0014_promotions.sql"),
    migration!(15, "schedules", "0015_schedules.sql"),
    migration!(16, "previews", "0016_previews.sql"),
    migration!(17, "gitops", "0017_gitops.sql"),
    migration!(18, "runtime environments", "0018_runtime_environments.sql"),
    migration!(19, "request saved plan", "0019_request_saved_plan.sql"),
    migration!(20, "agents", "0020_agents.sql"),
    migration!(21, "applied jobs", "0021_applied_jobs.sql"),
    migration!(22, "named locks", "0022_named_locks.sql"),
    migration!(23, "attempt phase", "0023_attempt_phase.sql"),
    migration!(24, "run image", "0024_run_image.sql"),
    migration!(25, "source snapshots", "0025_source_snapshots.sql"),
    migration!(26, "master key", "0026_master_key.sql"),
    migration!(27, "output tickets", "0027_output_tickets.sql"),
];

/// How many migrations this version knows.
pub(crate) fn known() -> u64 {
    MIGRATIONS.len() as u64
}

/// A migration step's failure. Another process's lock stays a database error, so the
/// open can tell it apart and try again.
fn fail(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::db(format!("migrate the database schema ({doing})"), e)
        }
        _ => StoreError::Migrate(format!("{doing}: {e}")),
    }
}

/// The newest version applied, or `None` when no migration table exists yet.
fn applied(conn: &Connection) -> Result<Option<i64>> {
    let exists: Option<i64> = conn
        .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'", [], |r| r.get(0))
        .optional()
        .map_err(fail("look for the migrations table"))?;
    if exists.is_none() {
        return Ok(None);
    }
    let dirty: Option<i64> = conn
        .query_row("SELECT version FROM _sqlx_migrations WHERE NOT success LIMIT 1", [], |r| r.get(0))
        .optional()
        .map_err(fail("read the applied migrations"))?;
    if let Some(v) = dirty {
        return Err(StoreError::Migrate(format!(
            "migration {v} failed part-way in an earlier run; restore the database from a backup"
        )));
    }
    conn.query_row("SELECT MAX(version) FROM _sqlx_migrations", [], |r| r.get(0))
        .map_err(fail("read the schema version"))
}

pub(crate) fn run(conn: &Connection) -> Result<()> {
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    let current = applied(conn)?;
    check_not_newer(current, newest)?;
    if current == Some(newest) {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(fail("begin"))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        )",
    )
    .map_err(fail("create the migrations table"))?;
    // Read again under the lock: another process may have migrated meanwhile.
    let current = applied(&tx)?.unwrap_or(0);
    check_not_newer(Some(current), newest)?;
    verify_checksums(&tx)?;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let started = std::time::Instant::now();
        tx.execute_batch(m.sql)
            .map_err(|e| StoreError::Migrate(format!("migration {} ({}): {e}", m.version, m.description)))?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![
                m.version,
                m.description,
                checksum(m.sql),
                i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX)
            ],
        )
        .map_err(fail("record a migration"))?;
    }
    tx.commit().map_err(fail("commit the migrations"))
}

fn check_not_newer(current: Option<i64>, newest: i64) -> Result<()> {
    match current {
        Some(v) if v > newest => Err(StoreError::Migrate(format!(
            "the database is at schema version {v}, newer than this terrace knows ({newest}): it was written by a newer \
             Terrace; upgrade terrace to use it"
        ))),
        _ => Ok(()),
    }
}

fn checksum(sql: &str) -> Vec<u8> {
    Sha384::digest(sql.as_bytes()).to_vec()
}

/// An applied migration whose file changed since would leave the schema unlike the code's.
fn verify_checksums(conn: &Connection) -> Result<()> {
    let mut s = conn.prepare("SELECT version, checksum FROM _sqlx_migrations").map_err(fail("read checksums"))?;
    let rows =
        s.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))).map_err(fail("read checksums"))?;
    for row in rows {
        let (version, sum) = row.map_err(fail("read checksums"))?;
        if let Some(m) = MIGRATIONS.iter().find(|m| m.version == version)
            && checksum(m.sql) != sum
        {
            return Err(StoreError::Migrate(format!(
                "migration {version} ({}) was applied from a different file than this terrace has",
                m.description
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_and_files_agree() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert!(!m.description.is_empty() && !m.sql.is_empty());
        }
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
        assert_eq!(files, MIGRATIONS.len(), "every file of migrations/sqlite is listed here");
    }

    #[test]
    fn a_new_database_migrates_once_and_a_newer_one_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        run(&conn).unwrap();
        run(&conn).unwrap();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM _sqlx_migrations WHERE success", [], |r| r.get(0)).unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
        conn.execute("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99, 'future', 1, x'00', 0)", []).unwrap();
        let err = run(&conn).unwrap_err().to_string();
        assert!(err.contains("newer") && err.contains("99"), "{err}");
    }
}
