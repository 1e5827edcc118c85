//! Approvals: created awaiting a decision (with the request they hold, for a server
//! request), read by id or prefix, listed, and decided once; a decision, its audit entry
//! and the request's move commit together.

use super::{SqlStore, requests};
use crate::approvals::{ApprovalFilter, ApprovalId, ApprovalRecord, Decision, NewApproval, SubjectKind};
use crate::control::{NewRequest, RequestRecord};
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::store::Result;

const T: &str = "approvals";
const DEFAULT_LIMIT: u32 = 100;

macro_rules! columns {
    () => {
        "id, project, environment, subject_kind, subject_id, subject, summary, state, requested_by, \
         distinct_approver, decided_by, decided_at, reason, outcome, created_at, number"
    };
}

fn from_row(mut r: Row) -> Result<ApprovalRecord> {
    Ok(ApprovalRecord {
        id: r.parsed(0)?,
        project: r.text(1)?,
        environment: r.text(2)?,
        subject_kind: r.parsed(3)?,
        subject_id: r.text_opt(4)?,
        subject: r.json(5)?,
        summary: r.text(6)?,
        state: r.parsed(7)?,
        requested_by: r.text(8)?,
        distinct_approver: r.bool(9)?,
        decided_by: r.text_opt(10)?,
        decided_at: r.ts_opt(11)?,
        reason: r.text_opt(12)?,
        outcome: r.json_opt(13)?,
        created_at: r.ts(14)?,
        number: r.num(15)?,
    })
}

/// The statements recording `a` (only when `only_if_request`, when given, was written before
/// it): its environment's counter moves on by one (the one runs take their numbers from) and
/// the approval takes that number. Returns the index of the insert.
fn insert(tx: &mut Tx, a: &NewApproval, only_if_request: Option<String>) -> Result<usize> {
    tx.push(
        Stmt::new(
            "run_numbers",
            "INSERT INTO run_numbers (project, environment, newest) VALUES ($1, $2, 1) \
             ON CONFLICT (project, environment) DO UPDATE SET newest = run_numbers.newest + 1",
        )
        .bind(&a.project)
        .bind(&a.environment)
        .doing(format!("number approval {}", a.id)),
    );
    Ok(tx.push(insert_approval(a, only_if_request)?))
}

fn insert_approval(a: &NewApproval, only_if_request: Option<String>) -> Result<Stmt> {
    let sql = match only_if_request {
        None => concat!(
            "INSERT INTO approvals (id, project, environment, subject_kind, subject_id, subject, summary, state, \
             requested_by, distinct_approver, created_at, number) \
             SELECT $1, $2, $3, $4, $5, $6, $7, 'awaiting_approval', $8, $9, $10, \
             (SELECT newest FROM run_numbers WHERE project = $2 AND environment = $3) RETURNING ",
            columns!()
        ),
        Some(_) => concat!(
            "INSERT INTO approvals (id, project, environment, subject_kind, subject_id, subject, summary, state, \
             requested_by, distinct_approver, created_at, number) \
             SELECT $1, $2, $3, $4, $5, $6, $7, 'awaiting_approval', $8, $9, $10, \
             (SELECT newest FROM run_numbers WHERE project = $2 AND environment = $3) \
             WHERE EXISTS (SELECT 1 FROM requests WHERE id = $11) RETURNING ",
            columns!()
        ),
    };
    let mut stmt = Stmt::new(T, sql)
        .bind(text(a.id))
        .bind(&a.project)
        .bind(&a.environment)
        .bind(a.subject_kind.as_str())
        .bind(a.subject_id.as_deref())
        .bind(a.subject.to_string())
        .bind(&a.summary)
        .bind(&a.requested_by)
        .bind(i64::from(a.distinct_approver))
        .bind(now_db()?);
    if let Some(request) = only_if_request {
        stmt = stmt.bind(request);
    }
    Ok(stmt.doing(format!("record approval {}", a.id)))
}

pub(super) async fn create(s: &SqlStore, a: NewApproval) -> Result<ApprovalRecord> {
    let mut tx = Tx::new();
    let i = insert(&mut tx, &a, None)?;
    let mut outs = s.db.write(tx).await?;
    let row = std::mem::take(&mut outs[i].rows).pop().ok_or_else(|| StoreError::not_found("approval", a.id))?;
    from_row(row)
}

pub(super) async fn enqueue_awaiting(
    s: &SqlStore,
    req: NewRequest,
    mut a: NewApproval,
) -> Result<Option<(RequestRecord, ApprovalRecord)>> {
    a.subject_kind = SubjectKind::Request;
    a.subject_id = Some(req.id.to_string());
    let mut tx = Tx::new();
    let request_id = req.id.to_string();
    let r = requests::push_enqueue(s, &mut tx, &req, "awaiting_approval")?;
    let i = insert(&mut tx, &a, Some(request_id))?;
    let mut outs = s.db.write(tx).await?;
    let (Some(request), Some(approval)) =
        (std::mem::take(&mut outs[r].rows).pop(), std::mem::take(&mut outs[i].rows).pop())
    else {
        return Ok(None);
    };
    Ok(Some((requests::from_row(request)?, from_row(approval)?)))
}

pub(super) async fn get(s: &SqlStore, id: ApprovalId) -> Result<Option<ApprovalRecord>> {
    let stmt = Stmt::new(T, concat!("SELECT ", columns!(), " FROM approvals WHERE id = $1"))
        .bind(text(id))
        .doing(format!("read approval {id}"));
    s.db.query_opt(stmt).await?.map(from_row).transpose()
}

pub(super) async fn find(s: &SqlStore, prefix: &str) -> Result<Vec<ApprovalRecord>> {
    if let Some((env, number)) = super::runs::parse_short(prefix) {
        let Ok(number) = i64::try_from(number) else {
            return Ok(Vec::new());
        };
        let stmt = Stmt::new(
            T,
            concat!(
                "SELECT ",
                columns!(),
                " FROM approvals WHERE environment = $1 AND number = $2 ORDER BY project LIMIT 10"
            ),
        )
        .bind(env)
        .bind(number)
        .doing(format!("find approval {env}#{number}"));
        return s.db.query(stmt).await?.into_iter().map(from_row).collect();
    }
    let Some(canonical) = super::runs::canonical_prefix(prefix) else {
        return Ok(Vec::new());
    };
    if canonical.is_empty() {
        return Ok(Vec::new());
    }
    // Ids hold only [0-9a-f-], all below '~' in byte order: a range finds a prefix.
    let stmt = Stmt::new(
        T,
        concat!(
            "SELECT ",
            columns!(),
            " FROM approvals WHERE (id >= $1 AND id <= $2) OR (subject_id >= $1 AND subject_id <= $2) \
             ORDER BY id LIMIT 2"
        ),
    )
    .bind(canonical.as_str())
    .bind(format!("{canonical}~"))
    .doing(format!("find approvals by prefix {canonical}"));
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}

pub(super) async fn list(s: &SqlStore, filter: &ApprovalFilter) -> Result<Vec<ApprovalRecord>> {
    let mut q = Stmt::dynamic(T, concat!("SELECT ", columns!(), " FROM approvals WHERE 1 = 1").to_string());
    if let Some(p) = &filter.project {
        q.push(" AND project = ").push_arg(p);
    }
    if let Some(e) = &filter.environment {
        q.push(" AND environment = ").push_arg(e);
    }
    if let Some(state) = filter.state {
        q.push(" AND state = ").push_arg(state.as_str());
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_arg(filter.limit.unwrap_or(DEFAULT_LIMIT));
    s.db.query(q.doing("list approvals")).await?.into_iter().map(from_row).collect()
}

pub(super) async fn decide(
    s: &SqlStore,
    id: ApprovalId,
    decision: Decision,
    by: &str,
    reason: Option<&str>,
) -> Result<Option<ApprovalRecord>> {
    let Some(before) = get(s, id).await? else {
        return Ok(None);
    };
    let now = now_db()?;
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(
            T,
            concat!(
                "UPDATE approvals SET state = $1, decided_by = $2, decided_at = $3, reason = $4 \
                 WHERE id = $5 AND state = 'awaiting_approval' RETURNING ",
                columns!()
            ),
        )
        .bind(decision.state().as_str())
        .bind(by)
        .bind(now)
        .bind(reason)
        .bind(text(id))
        .doing(format!("decide approval {id}")),
    );
    if let (SubjectKind::Request, Some(request)) = (before.subject_kind, before.subject_id.as_deref()) {
        let (state, why) = match decision {
            Decision::Approve => ("queued", None),
            Decision::Reject => ("cancelled", Some(format!("rejected by {by}{}", reason_suffix(reason)))),
        };
        tx.push(
            Stmt::new(
                "requests",
                "UPDATE requests SET state = $1, reason = $2, \
                 finished_at = CASE WHEN $1 = 'cancelled' THEN $3 ELSE finished_at END \
                 WHERE id = $4 AND state = 'awaiting_approval' \
                 AND EXISTS (SELECT 1 FROM approvals WHERE id = $5 AND decided_at = $3 AND decided_by = $6)",
            )
            .bind(state)
            .bind(why)
            .bind(now)
            .bind(request)
            .bind(text(id))
            .bind(by)
            .doing(format!("release request {request} of approval {id}")),
        );
        requests::push_notify(s, &mut tx, "approved");
    }
    let detail = serde_json::json!({
        "summary": before.summary,
        "subject_kind": before.subject_kind,
        "subject_id": before.subject_id,
        "requested_by": before.requested_by,
        "reason": reason,
    });
    tx.push(
        Stmt::new(
            "audit_log",
            "INSERT INTO audit_log (at, actor, action, target, detail) SELECT $1, $2, $3, $4, $5 \
             WHERE EXISTS (SELECT 1 FROM approvals WHERE id = $6 AND decided_at = $1 AND decided_by = $2)",
        )
        .bind(now)
        .bind(by)
        .bind(decision.action())
        .bind(format!("approval:{id}"))
        .bind(detail.to_string())
        .bind(text(id))
        .doing(format!("audit the decision on approval {id}")),
    );
    let mut outs = s.db.write(tx).await?;
    std::mem::take(&mut outs[i].rows).pop().map(from_row).transpose()
}

fn reason_suffix(reason: Option<&str>) -> String {
    reason.map(|r| format!(": {r}")).unwrap_or_default()
}

pub(super) async fn set_outcome(s: &SqlStore, id: ApprovalId, outcome: &serde_json::Value) -> Result<()> {
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(T, "UPDATE approvals SET outcome = $1 WHERE id = $2")
            .bind(outcome.to_string())
            .bind(text(id))
            .doing(format!("record the outcome of approval {id}")),
    );
    s.db.write(tx).await.map(drop)
}
