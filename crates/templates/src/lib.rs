//! Job templates: what a job runs for each event. `shell` runs the job's own commands;
//! the IaC templates (terraform, opentofu, cloudformation) add default commands and turn
//! the tool's outputs into the output file.

use terrace_model::project::{Job, TemplateKind};
use terrace_model::Event;

/// Why a job has nothing to run for an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("job `{job}` has no command for `{event}` (add `commands.{event}` to it in terrace.yaml)")]
    NoCommand { job: String, event: Event },
    #[error("the `{template}` template does not support `{event}`")]
    Unsupported { template: &'static str, event: Event },
}

/// The process to start for one event of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub argv: Vec<String>,
}

/// Resolves what `job` runs on `event`. `raw_args` are the arguments of a `raw` run.
pub fn invocation(job: &Job, event: Event, raw_args: &[String]) -> Result<Invocation, TemplateError> {
    match job.template {
        TemplateKind::Shell => shell(job, event, raw_args),
    }
}

fn shell(job: &Job, event: Event, raw_args: &[String]) -> Result<Invocation, TemplateError> {
    if event == Event::Raw || event == Event::Plan {
        return Err(TemplateError::Unsupported { template: "shell", event });
    }
    let command = job
        .commands
        .get(&event)
        .ok_or_else(|| TemplateError::NoCommand { job: job.name.clone(), event })?;
    let mut argv = command.argv();
    argv.extend(raw_args.iter().cloned());
    Ok(Invocation { argv })
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_model::Command;

    fn job() -> Job {
        Job {
            name: "db".into(),
            template: TemplateKind::Shell,
            source: ".".into(),
            events: vec![Event::Start],
            commands: [(Event::Start, Command::Shell("echo hi".into()))].into(),
            depends_on: vec![],
            input: None,
            variables: Default::default(),
            max_duration: None,
            max_restarts: 0,
            passthrough: vec![],
            skip_unchanged: false,
        }
    }

    #[test]
    fn shell_runs_the_jobs_command() {
        assert_eq!(invocation(&job(), Event::Start, &[]).unwrap().argv, ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(
            invocation(&job(), Event::Stop, &[]).unwrap_err(),
            TemplateError::NoCommand { job: "db".into(), event: Event::Stop }
        );
        assert!(invocation(&job(), Event::Raw, &[]).is_err());
    }
}
