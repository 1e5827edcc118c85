//! `shell`: the job's own command for the event, as one step.

use terrace_model::{Command, Event};

use crate::steps::{JobContext, Outcome, Step, StepAbort, StepRunner};

/// Only reached when the job has no command for the event.
pub(crate) fn missing_command(ctx: &JobContext<'_>) -> Outcome {
    match ctx.event {
        Event::Plan | Event::Raw => Outcome::failed(
            "run",
            format!(
                "the `shell` template has no `{}` (it is for terraform, opentofu and cloudformation jobs)",
                ctx.event
            ),
            None,
        ),
        event => Outcome::failed(
            "run",
            format!(
                "job `{}` has no command for `{event}` (add `commands.{event}` to it in terrace.yaml)",
                ctx.job.name
            ),
            None,
        ),
    }
}

/// The job's own command for the event (also an override of an IaC template's default).
pub(crate) async fn run_command(
    ctx: &JobContext<'_>,
    command: &Command,
    runner: &mut dyn StepRunner,
) -> Result<Outcome, StepAbort> {
    let mut argv = command.argv();
    argv.extend(ctx.raw_args.iter().cloned());
    let out = runner.run(Step::new("run", argv)).await?;
    Ok(if out.success() {
        Outcome::ok()
    } else {
        Outcome::failed("run", format!("exited with status {}", out.exit_code), Some(out.exit_code))
    })
}
