//! Terraform state versions and locks. A body is sealed before the transaction, bound to
//! its state and version, so a blob copied to another row does not open. Writes are
//! fenced by the writing run's lease; the lock row names its run, and goes with it.

use sha2::{Digest, Sha256};

use super::{SqlStore, fence};
use crate::db::value::{now_db, text, ts_from_db};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::RunLease;
use crate::state::{StateKey, StateLock, StateVersion};
use crate::store::Result;

const T: &str = "tf_states";
const L: &str = "tf_state_locks";

fn binding(key: &StateKey, version: u64) -> Vec<u8> {
    format!("terrace-tf-state\0{}\0{}\0{}\0{version}", key.project, key.environment, key.job).into_bytes()
}

/// Terraform's `serial` and `lineage`, when the body is a state document.
fn identity(body: &[u8]) -> (Option<u64>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Head {
        serial: Option<u64>,
        lineage: Option<String>,
    }
    serde_json::from_slice::<Head>(body).map(|h| (h.serial, h.lineage)).unwrap_or((None, None))
}

fn version_from_row(mut r: Row) -> Result<StateVersion> {
    Ok(StateVersion {
        version: r.num(0)?,
        serial: r.num_opt(1)?,
        lineage: r.text_opt(2)?,
        size: r.num(3)?,
        sha256: r.text(4)?,
        run_id: r.parsed_opt(5)?,
        source: r.text(6)?,
        created_at: r.ts(7)?,
    })
}

const COLUMNS: &str = "version, serial, lineage, size, sha256, run_id, source, created_at";

pub(super) async fn versions(s: &SqlStore, key: &StateKey) -> Result<Vec<StateVersion>> {
    let stmt = Stmt::dynamic(
        T,
        format!(
            "SELECT {COLUMNS} FROM tf_states WHERE project = $1 AND environment = $2 AND job = $3 \
             ORDER BY version DESC"
        ),
    )
    .bind(&key.project)
    .bind(&key.environment)
    .bind(&key.job)
    .doing(format!("list the state versions of {key}"));
    s.db.query(stmt).await?.into_iter().map(version_from_row).collect()
}

pub(super) async fn read(
    s: &SqlStore,
    key: &StateKey,
    version: Option<u64>,
) -> Result<Option<(StateVersion, Vec<u8>)>> {
    let mut stmt = Stmt::dynamic(
        T,
        format!("SELECT {COLUMNS}, body_enc FROM tf_states WHERE project = $1 AND environment = $2 AND job = $3"),
    )
    .bind(&key.project)
    .bind(&key.environment)
    .bind(&key.job);
    match version {
        Some(v) => {
            stmt.push(" AND version = ").push_arg(i64::try_from(v).unwrap_or(i64::MAX));
        }
        None => {
            stmt.push(" ORDER BY version DESC LIMIT 1");
        }
    }
    let Some(mut row) = s.db.query_opt(stmt.doing(format!("read the state of {key}"))).await? else {
        return Ok(None);
    };
    let sealed = row.blob(8)?;
    let v = version_from_row(row)?;
    let body = s.cipher.decrypt_bound(&sealed, &binding(key, v.version))?;
    Ok(Some((v, body)))
}

/// The newest version's number (0: none).
pub(super) async fn current(s: &SqlStore, key: &StateKey) -> Result<u64> {
    let stmt = Stmt::new(
        T,
        "SELECT COALESCE(MAX(version), 0) FROM tf_states WHERE project = $1 AND environment = $2 AND job = $3",
    )
    .bind(&key.project)
    .bind(&key.environment)
    .bind(&key.job)
    .doing(format!("read the state version of {key}"));
    s.db.query_one(stmt).await?.num(0)
}

/// The insert of the next version: its number read in the same statement. Sealing needs
/// the number first, so it is read before and the insert refused if another came between
/// (a unique violation; the lock step on PostgreSQL and SQLite's one writer make that rare).
struct Sealed {
    version: u64,
    serial: Option<u64>,
    lineage: Option<String>,
    size: u64,
    sha256: String,
    blob: Vec<u8>,
}

fn seal(s: &SqlStore, key: &StateKey, version: u64, body: &[u8]) -> Result<Sealed> {
    let (serial, lineage) = identity(body);
    Ok(Sealed {
        version,
        serial,
        lineage,
        size: body.len() as u64,
        sha256: hex::encode(Sha256::digest(body)),
        blob: s.cipher.encrypt_bound(body, &binding(key, version))?,
    })
}

fn insert(key: &StateKey, v: &Sealed, run: Option<String>, source: &str, now: i64) -> Stmt {
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Stmt::new(
        T,
        "INSERT INTO tf_states (project, environment, job, version, serial, lineage, size, sha256, body_enc, \
         run_id, source, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&key.project)
    .bind(&key.environment)
    .bind(&key.job)
    .bind(as_i64(v.version))
    .bind(v.serial.map(as_i64))
    .bind(v.lineage.as_deref())
    .bind(as_i64(v.size))
    .bind(v.sha256.as_str())
    .bind(v.blob.clone())
    .bind(run)
    .bind(source)
    .bind(now)
    .doing(format!("store version {} of the state of {key}", v.version))
}

/// Refuses the transaction unless the newest version is still `expected`.
fn still_at(tx: &mut Tx, key: &StateKey, expected: u64) {
    let what = key.to_string();
    tx.guarded(
        Stmt::new(
            T,
            "SELECT COALESCE(MAX(version), 0) FROM tf_states WHERE project = $1 AND environment = $2 AND job = $3",
        )
        .bind(&key.project)
        .bind(&key.environment)
        .bind(&key.job)
        .doing(format!("read the state version of {key}")),
        move |out| {
            let now: u64 = out.rows.first_mut().map(|r| r.num(0)).transpose()?.unwrap_or(0);
            if now == expected {
                Ok(())
            } else {
                Err(StoreError::Conflict(format!("the state of {what} moved to version {now} during the write")))
            }
        },
    );
}

fn lock_key(key: &StateKey) -> String {
    format!("tf-state:{key}")
}

/// Refuses the transaction when a lock other than `lock_id` holds the state.
fn lock_guard(tx: &mut Tx, key: &StateKey, lock_id: Option<&str>) {
    let (what, mine) = (key.to_string(), lock_id.map(str::to_string));
    tx.guarded(
        Stmt::new(L, "SELECT lock_id, run_id FROM tf_state_locks WHERE project = $1 AND environment = $2 AND job = $3")
            .bind(&key.project)
            .bind(&key.environment)
            .bind(&key.job)
            .doing(format!("read the lock of the state of {key}")),
        move |out| {
            let Some(row) = out.rows.first_mut() else { return Ok(()) };
            let held: String = row.text(0)?;
            if mine.as_deref() == Some(held.as_str()) {
                return Ok(());
            }
            Err(StoreError::StateLocked { state: what, run: row.text(1)?, lock_id: held })
        },
    );
}

pub(super) async fn write(
    s: &SqlStore,
    lease: &RunLease,
    key: &StateKey,
    lock_id: Option<&str>,
    body: &[u8],
) -> Result<StateVersion> {
    let base = current(s, key).await?;
    let sealed = seal(s, key, base + 1, body)?;
    let now = now_db()?;
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    if let Some(step) = s.db.lock_step(lock_key(key)) {
        tx.push(step);
    }
    lock_guard(&mut tx, key, lock_id);
    still_at(&mut tx, key, base);
    tx.push(insert(key, &sealed, Some(lease.id.to_string()), "run", now));
    s.db.write(tx).await?;
    Ok(StateVersion {
        version: sealed.version,
        serial: sealed.serial,
        lineage: sealed.lineage,
        size: sealed.size,
        sha256: sealed.sha256,
        run_id: Some(lease.id),
        source: "run".into(),
        created_at: ts_from_db(now, "tf_states.created_at")?,
    })
}

pub(super) async fn import(s: &SqlStore, key: &StateKey, body: &[u8], source: &str) -> Result<Option<StateVersion>> {
    let sealed = seal(s, key, 1, body)?;
    let now = now_db()?;
    let mut tx = Tx::new();
    if let Some(step) = s.db.lock_step(lock_key(key)) {
        tx.push(step);
    }
    still_at(&mut tx, key, 0);
    tx.push(insert(key, &sealed, None, source, now));
    match s.db.write(tx).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok(Some(StateVersion {
        version: 1,
        serial: sealed.serial,
        lineage: sealed.lineage,
        size: sealed.size,
        sha256: sealed.sha256,
        run_id: None,
        source: source.into(),
        created_at: ts_from_db(now, "tf_states.created_at")?,
    }))
}

/// Every version of a state read from another store (oldest first), with its numbers,
/// runs, sources and times, when this store has none of it.
pub(super) async fn import_versions(
    s: &SqlStore,
    key: &StateKey,
    versions: &[(StateVersion, Vec<u8>)],
) -> Result<bool> {
    if versions.is_empty() {
        return Ok(false);
    }
    let mut tx = Tx::new();
    if let Some(step) = s.db.lock_step(lock_key(key)) {
        tx.push(step);
    }
    still_at(&mut tx, key, 0);
    for (v, body) in versions {
        let sealed = seal(s, key, v.version, body)?;
        let at = crate::db::value::ts_to_db(v.created_at)?;
        tx.push(insert(key, &sealed, v.run_id.map(|r| r.to_string()), &v.source, at));
    }
    match s.db.write(tx).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

fn lock_from_row(mut r: Row) -> Result<StateLock> {
    Ok(StateLock { id: r.text(0)?, run_id: r.parsed(1)?, info: r.text(2)?, created_at: r.ts(3)? })
}

pub(super) async fn lock_of(s: &SqlStore, key: &StateKey) -> Result<Option<StateLock>> {
    let stmt = Stmt::new(
        L,
        "SELECT lock_id, run_id, info, created_at FROM tf_state_locks \
         WHERE project = $1 AND environment = $2 AND job = $3",
    )
    .bind(&key.project)
    .bind(&key.environment)
    .bind(&key.job)
    .doing(format!("read the lock of the state of {key}"));
    s.db.query_opt(stmt).await?.map(lock_from_row).transpose()
}

pub(super) async fn lock(
    s: &SqlStore,
    lease: &RunLease,
    key: &StateKey,
    lock_id: &str,
    info: &str,
) -> Result<Option<StateLock>> {
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    let i = tx.push(
        Stmt::new(
            L,
            "INSERT INTO tf_state_locks (project, environment, job, lock_id, run_id, info, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project, environment, job) DO NOTHING",
        )
        .bind(&key.project)
        .bind(&key.environment)
        .bind(&key.job)
        .bind(lock_id)
        .bind(text(lease.id))
        .bind(info)
        .bind(now_db()?)
        .doing(format!("lock the state of {key}")),
    );
    if s.db.write(tx).await?[i].changed == 1 {
        return Ok(None);
    }
    // Held by another; it may have gone meanwhile: then say who held it a moment ago
    // by a fresh read, or ask the caller to try again.
    Ok(Some(lock_of(s, key).await?.unwrap_or(StateLock {
        id: String::new(),
        run_id: lease.id,
        info: "{}".into(),
        created_at: time::OffsetDateTime::now_utc(),
    })))
}

pub(super) async fn unlock(s: &SqlStore, key: &StateKey, lock_id: &str) -> Result<bool> {
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(
            L,
            "DELETE FROM tf_state_locks WHERE project = $1 AND environment = $2 AND job = $3 AND lock_id = $4",
        )
        .bind(&key.project)
        .bind(&key.environment)
        .bind(&key.job)
        .bind(lock_id)
        .doing(format!("unlock the state of {key}")),
    );
    Ok(s.db.write(tx).await?[i].changed > 0)
}

/// The statement releasing every lock a run holds (its end, or its take-back).
pub(super) fn release_locks_of(run: impl std::fmt::Display) -> Stmt {
    Stmt::new(L, "DELETE FROM tf_state_locks WHERE run_id = $1")
        .bind(text(&run))
        .doing(format!("release the state locks of run {run}"))
}

pub(super) async fn keys(s: &SqlStore, project: &str, environment: Option<&str>) -> Result<Vec<StateKey>> {
    let mut stmt = Stmt::dynamic(T, "SELECT DISTINCT environment, job FROM tf_states WHERE project = $1".into());
    stmt = stmt.bind(project);
    if let Some(e) = environment {
        stmt.push(" AND environment = ").push_arg(e);
    }
    stmt.push(" ORDER BY environment, job");
    s.db.query(stmt.doing(format!("list the states of project {project}")))
        .await?
        .into_iter()
        .map(|mut r| Ok(StateKey { project: project.into(), environment: r.text(0)?, job: r.text(1)? }))
        .collect()
}
