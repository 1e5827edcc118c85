//! `terrace approve | reject ID` and `terrace approvals` in local mode: an event of an
//! environment whose `approval` is required waits as an approval; approving it runs it
//! here, rejecting it records who and why. Both are in the audit log.

use crate::out::outln;
use std::process::ExitCode;

use serde_json::Value;
use terrace_engine::Request;
use terrace_engine::approvals::{self, ApprovalError, PipelineSubject};
use terrace_engine::approved_plans;
use terrace_store::Origin;
use terrace_store::{ApprovalFilter, ApprovalRecord, ApprovalState, Decision, SubjectKind};

use crate::args::{ApprovalsArgs, DecideArgs, Global};
use crate::commands::lifecycle::{self, Gate};
use crate::context::{local_actor, session};
use crate::exit::CliError;
use crate::render::table::{self, dash, when};

impl From<ApprovalError> for CliError {
    fn from(e: ApprovalError) -> Self {
        if e.is_usage() { CliError::usage(e.to_string()) } else { CliError::Failed(e.to_string()) }
    }
}

/// What both modes print when an event waits for approval (exit status 0: it was accepted).
pub(crate) fn awaiting_text(env: &str, id: &str, summary: &str, distinct: bool) -> String {
    let other = if distinct { " (by someone other than who asked)" } else { "" };
    format!(
        "environment `{env}` requires approval: {summary} awaits approval {id}\n  approve{other}: terrace approve {id}\n  \
         reject:  terrace reject {id} [--reason TEXT]"
    )
}

pub(crate) fn print_awaiting(a: &ApprovalRecord, json: bool) -> Result<(), CliError> {
    print_awaiting_json(&serde_json::to_value(a)?, json)
}

/// The approval as the API shows it (the same fields as the store's record).
pub(crate) fn print_awaiting_json(a: &Value, json: bool) -> Result<(), CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(a)?);
    } else {
        let text = |k: &str| a[k].as_str().unwrap_or("?").to_string();
        let distinct = a["distinct_approver"] == true;
        outln!("{}", awaiting_text(&text("environment"), &short(a), &text("summary"), distinct));
    }
    Ok(())
}

/// How a person names an approval: `ENV#N` (its number, shared with runs), else its id.
pub(crate) fn short(a: &Value) -> String {
    match (a["environment"].as_str(), a["number"].as_u64()) {
        (Some(env), Some(n)) if n > 0 => terrace_store::short_ref(env, n),
        _ => a["id"].as_str().unwrap_or("?").to_string(),
    }
}

pub async fn decide(g: &Global, a: DecideArgs, decision: Decision) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let who = local_actor();
    let found = approvals::find(s.control.as_ref(), &s.loaded.project.name, &a.id).await?;
    // An approval on saved plans is refused, still awaiting, when one may not be applied.
    let plans = match approvals::may_decide(&found, decision, &who) {
        true => {
            let (store, control) = (s.store.as_ref(), s.control.as_ref());
            approved_plans::check(store, control, &s.loaded.project, &s.loaded.root, &found).await?
        }
        false => None,
    };
    let decided = approvals::decide(s.control.as_ref(), &found, decision, &who, a.reason.as_deref()).await?;
    if decision == Decision::Reject {
        if let Some(id) = promotion_of(&decided) {
            crate::commands::promote::reject(&s, id, &format!("rejected by {who}")).await?;
        }
        outln!("rejected approval {} ({}) as {who}", decided.short(), decided.summary);
        return Ok(ExitCode::SUCCESS);
    }
    crate::out::errln!("approved approval {} ({}) as {who}", decided.short(), decided.summary);
    match decided.subject_kind {
        SubjectKind::Pipeline => {
            let subject: PipelineSubject = serde_json::from_value(decided.subject.clone())
                .map_err(|e| CliError::Failed(format!("approval {}: unreadable subject: {e}", decided.id)))?;
            let control = s.control.clone();
            let req = Request {
                env: decided.environment.clone(),
                event: subject.event,
                job: subject.job,
                raw_args: subject.args,
                secrets: Default::default(),
                commit: None,
                saved_plan: None,
                origin: Origin {
                    keep_removed: subject.keep_removed,
                    ..plans
                        .map(|p| Origin { saved_plans: p.saved_plans, pins: p.pins, ..Default::default() })
                        .unwrap_or_default()
                },
                resume: Default::default(),
            };
            let (code, outcome) = lifecycle::execute(s, &a.exec, req, Gate::Approved).await?;
            if let Some(o) = outcome {
                let summary = serde_json::json!({
                    "pipeline_id": o.pipeline_id,
                    "succeeded": o.succeeded(),
                    "environment_state": o.environment_state,
                });
                control.set_approval_outcome(decided.id, &summary).await?;
            }
            Ok(code)
        }
        SubjectKind::Request => {
            outln!(
                "request {} is queued: the terrace server using this data folder runs it",
                decided.subject_id.as_deref().unwrap_or("?")
            );
            Ok(ExitCode::SUCCESS)
        }
        SubjectKind::Promotion => match promotion_of(&decided) {
            Some(id) => crate::commands::promote::run_approved(g, s, &a.exec, id).await,
            None => Err(CliError::Failed(format!("approval {}: unreadable promotion subject", decided.id))),
        },
    }
}

pub async fn list(g: &Global, a: &ApprovalsArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let filter = ApprovalFilter {
        project: Some(s.loaded.project.name.clone()),
        environment: a.env.clone(),
        state: (!a.all).then_some(ApprovalState::AwaitingApproval),
        limit: Some(a.limit),
    };
    // The API's view of each (with `plans` when one waits on saved plans), as client mode.
    let mut values = Vec::new();
    for approval in s.control.list_approvals(&filter).await? {
        values.push(serde_json::to_value(terrace_server::app::approvals::view_in(s.sql.as_ref(), approval).await?)?);
    }
    if let Some(env) = a.env.as_deref().filter(|_| values.is_empty()) {
        s.require_known(env).await?;
    }
    print_list(&values, a.json, a.all)
}

/// The listing both modes print.
pub(crate) fn print_list(list: &[Value], json: bool, all: bool) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        outln!("{}", if all { "no approvals yet" } else { "nothing awaits approval (--all lists decided ones too)" });
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| v.as_str().map(str::to_string);
    let rows = list
        .iter()
        .map(|a| {
            let created = text(&a["created_at"])
                .and_then(|t| time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok())
                .map(when)
                .unwrap_or_else(|| "-".into());
            vec![
                short(a),
                text(&a["environment"]).unwrap_or_default(),
                text(&a["summary"]).unwrap_or_default(),
                text(&a["state"]).unwrap_or_default(),
                text(&a["requested_by"]).unwrap_or_default(),
                created,
                dash(text(&a["decided_by"]).as_deref()),
                dash(text(&a["reason"]).as_deref()),
            ]
        })
        .collect();
    table::print(&["APPROVAL", "ENV", "WHAT", "STATE", "ASKED BY", "ASKED", "DECIDED BY", "REASON"], rows)?;
    for a in list {
        for line in plan_lines(a) {
            outln!("{} plan {line}", short(a));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `JOB: 1 to add, 0 to change, 0 to destroy (prod#4)` per saved plan an approval waits on.
pub(crate) fn plan_lines(a: &Value) -> Vec<String> {
    let plans = a["plans"].as_array().cloned().unwrap_or_default();
    plans
        .into_iter()
        .filter_map(|p| serde_json::from_value::<approved_plans::PlanView>(p).ok())
        .map(|p| format!("{} ({})", p.line(), p.run))
        .collect()
}

/// The lines `terrace status ENV` adds for what awaits approval (both modes).
pub(crate) fn print_pending(list: &[Value]) -> Result<(), CliError> {
    for a in list {
        let text = |k: &str| a[k].as_str().unwrap_or("?").to_string();
        outln!(
            "  awaiting approval {}: {} (asked by {} at {}; terrace approve {})",
            short(a),
            text("summary"),
            text("requested_by"),
            text("created_at"),
            short(a)
        );
        for line in plan_lines(a) {
            outln!("    plan {line}");
        }
    }
    Ok(())
}

fn promotion_of(a: &ApprovalRecord) -> Option<terrace_store::PromotionId> {
    if a.subject_kind != SubjectKind::Promotion {
        return None;
    }
    serde_json::from_value::<terrace_engine::promote::PromotionSubject>(a.subject.clone()).ok().map(|s| s.promotion_id)
}
