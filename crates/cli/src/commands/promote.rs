//! `terrace promote ARTIFACT --version V | --from ENV | --previous --to ENV` and
//! `terrace promotions`: move an environment's tag of an artifact to a version through the
//! registry's API, record the pin, then run the jobs that consume the artifact there (their
//! `commands.redeploy`, else their `start`: seed 003's re-tag and force-new-deployment). An environment whose `approval` is
//! required gets an approval first; `terrace approve` then promotes.

use crate::out::{errln, outln};
use std::process::ExitCode;

use serde_json::{Value, json};
use terrace_engine::promote::{PromoteError, PromoteRequest, Promoted, Promoter, Source};
use terrace_engine::{PipelineOutcome, Request};
use terrace_model::Event;
use terrace_store::{PromotionId, PromotionRecord, PromotionState};

use crate::args::{ExecFlags, Global, PromoteArgs, PromotionsArgs};
use crate::commands::lifecycle::{self, Gate, print_summary};
use crate::context::{Session, local_actor, session};
use crate::exit::CliError;
use crate::render::table::{self, dash, when};

impl From<PromoteError> for CliError {
    fn from(e: PromoteError) -> Self {
        match e {
            PromoteError::Invalid(m) => CliError::usage(m),
            other => CliError::Failed(other.to_string()),
        }
    }
}

fn promoter<'a>(s: &'a Session, secrets: &'a terrace_engine::SecretValues) -> Promoter<'a> {
    static ENV: fn(&str) -> Option<String> = |n| std::env::var(n).ok();
    Promoter { project: &s.loaded.project, store: s.store.as_ref(), control: s.control.as_ref(), secrets, env: &ENV }
}

pub async fn promote(g: &Global, a: PromoteArgs) -> Result<ExitCode, CliError> {
    let source = match (&a.version, &a.from, a.previous) {
        (Some(v), None, false) => Source::Version(v.clone()),
        (None, Some(e), false) => Source::From(e.clone()),
        (None, None, true) => Source::Previous,
        _ => {
            return Err(CliError::usage(
                "say which version: exactly one of --version V, --from ENV or --previous (see terrace promote --help)",
            ));
        }
    };
    let s = session(g).await?;
    let secrets = s.secrets(&a.to).await?;
    let req = PromoteRequest {
        artifact: a.artifact.clone(),
        to: a.to.clone(),
        source,
        skip_order: a.skip_order,
        who: local_actor(),
    };
    let promoted = promoter(&s, &secrets).request(&req).await?;
    match promoted {
        Promoted::AwaitingApproval { approval, .. } => {
            crate::commands::approvals::print_awaiting(&approval, a.exec.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Promoted::Done(p) => redeploy(g, s, &a.exec, &p).await,
    }
}

/// Runs a promotion that was approved, then its redeploys (from `terrace approve`).
pub async fn run_approved(g: &Global, s: Session, flags: &ExecFlags, id: PromotionId) -> Result<ExitCode, CliError> {
    let Some(p) = s.store.get_promotion(id).await? else {
        return Err(CliError::Failed(format!("promotion {id} not found")));
    };
    let secrets = s.secrets(&p.to_env).await?;
    let done = promoter(&s, &secrets).run(p.id).await?;
    redeploy(g, s, flags, &done).await
}

/// Records a rejected promotion's end.
pub async fn reject(s: &Session, id: PromotionId, reason: &str) -> Result<(), CliError> {
    s.store.set_promotion_state(id, PromotionState::Rejected, Some(reason)).await?;
    Ok(())
}

/// Prints the promotion, then runs each job of the environment that consumes the artifact,
/// one after the other: its `commands.redeploy` when it has one, else its `start`.
async fn redeploy(g: &Global, s: Session, flags: &ExecFlags, p: &PromotionRecord) -> Result<ExitCode, CliError> {
    let consumers = {
        let secrets = Default::default();
        promoter(&s, &secrets).consumers(&p.to_env, &p.artifact)
    };
    drop(s);
    if !flags.json {
        outln!(
            "{} {} ({}) is now `{}` in `{}`{}",
            p.artifact,
            p.version,
            p.digest,
            p.to_env,
            p.to_env,
            if consumers.is_empty() {
                "; no job consumes it there".to_string()
            } else {
                let names: Vec<String> = consumers
                    .iter()
                    .map(|(job, event)| match event {
                        Event::Redeploy => format!("{job} (its redeploy command)"),
                        _ => job.clone(),
                    })
                    .collect();
                format!("; redeploying {}", names.join(", "))
            }
        );
    }
    let mut code = ExitCode::SUCCESS;
    let mut outcomes: Vec<PipelineOutcome> = Vec::new();
    for (job, event) in consumers {
        let req = Request {
            env: p.to_env.clone(),
            event,
            job: Some(job),
            raw_args: vec![],
            secrets: Default::default(),
            commit: None,
            saved_plan: None,
            origin: Default::default(),
            resume: Default::default(),
        };
        let (c, outcome) = lifecycle::execute(session(g).await?, flags, req, Gate::Quiet).await?;
        if c != ExitCode::SUCCESS {
            code = c;
        }
        if let Some(o) = outcome {
            if !flags.json {
                print_summary(&o)?;
            }
            outcomes.push(o);
        }
    }
    if flags.json {
        outln!("{}", serde_json::to_string_pretty(&json!({ "promotion": p, "redeployed": outcomes }))?);
    } else if code != ExitCode::SUCCESS {
        errln!("the tag moved and the pin is recorded; a redeploy failed: run `terrace up {}` once fixed", p.to_env);
    }
    Ok(code)
}

pub async fn list(g: &Global, a: &PromotionsArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let list =
        s.store.list_promotions(&s.loaded.project.name, a.env.as_deref(), a.artifact.as_deref(), a.limit).await?;
    if let Some(env) = a.env.as_deref().filter(|_| list.is_empty()) {
        s.require_known(env).await?;
    }
    let values: Vec<Value> = list.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
    print_list(&values, a.json)
}

/// The promotions as a table (or JSON), the same in both modes.
pub(crate) fn print_list(list: &[Value], json: bool) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        outln!("no promotions yet");
        return Ok(ExitCode::SUCCESS);
    }
    let rows = list
        .iter()
        .map(|p| {
            let text = |k: &str| p[k].as_str().map(str::to_string);
            let at = text("created_at")
                .and_then(|t| time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok())
                .map(when)
                .unwrap_or_else(|| "-".into());
            vec![
                at,
                dash(text("artifact").as_deref()),
                dash(text("version").as_deref()),
                format!("{} → {}", text("from_env").as_deref().unwrap_or("-"), dash(text("to_env").as_deref())),
                dash(text("kind").as_deref()),
                dash(text("state").as_deref()),
                dash(text("requested_by").as_deref()),
                short(text("old_digest").as_deref()),
                short(text("digest").as_deref()),
                dash(text("reason").as_deref()),
            ]
        })
        .collect();
    table::print(
        &["AT", "ARTIFACT", "VERSION", "FROM → TO", "KIND", "STATE", "BY", "OLD DIGEST", "NEW DIGEST", "REASON"],
        rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn short(digest: Option<&str>) -> String {
    match digest {
        Some(d) => d.get(..19).unwrap_or(d).to_string(),
        None => "-".into(),
    }
}

/// The pins of an environment as `status` shows them (JSON values).
pub(crate) fn print_pins(pins: &[Value]) -> Result<(), CliError> {
    for p in pins {
        let text = |k: &str| p[k].as_str().unwrap_or("-").to_string();
        let held = if p["held"] == true { " (rolled back: held)" } else { "" };
        outln!("  artifact {}: {} ({}){held}", text("artifact"), text("version"), text("digest"));
    }
    Ok(())
}
