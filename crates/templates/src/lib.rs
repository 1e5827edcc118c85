//! Job templates: what a job runs for each event. `shell` runs the job's own commands;
//! `terraform`, `opentofu` and `cloudformation` bring default commands per event (which a
//! job's `commands:` overrides one event at a time) and turn the tool's outputs into the
//! output file. A template drives its phases through a `StepRunner`, which the engine
//! implements on an executor, so templates never spawn anything themselves.

pub mod catalog;
pub mod cloudformation;
mod private;
pub mod shell;
mod steps;
pub mod terraform;

pub use steps::{
    Failure, JobContext, JobPaths, Outcome, PlanSummary, PlannedChange, StateHttp, Step, StepAbort, StepOutput,
    StepRunner,
};

use terrace_model::project::TemplateKind;

/// Runs `ctx.job` for `ctx.event` to its end.
pub async fn run(ctx: &JobContext<'_>, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
    if let Some(command) = ctx.job.commands.get(&ctx.event) {
        return shell::run_command(ctx, command, runner).await;
    }
    // No template has a default `redeploy`: a promotion runs `start` instead.
    if ctx.event == terrace_model::Event::Redeploy {
        return Ok(shell::missing_command(ctx));
    }
    match ctx.job.template {
        TemplateKind::Shell => Ok(shell::missing_command(ctx)),
        TemplateKind::Terraform | TemplateKind::Opentofu => terraform::run(ctx, runner).await,
        TemplateKind::Cloudformation => cloudformation::run(ctx, runner).await,
    }
}
