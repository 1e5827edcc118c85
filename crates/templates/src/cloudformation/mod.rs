//! `cloudformation`: the seed's entrypoint done by Terrace with the `aws` CLI. start
//! creates the stack or updates it ("No updates are to be performed" is success: start
//! fires on every redeploy), waits, and turns the stack's Outputs into the output file;
//! delete removes the stack and waits (a missing stack is success); raw passes arguments
//! to `aws cloudformation`. `AWS_ENDPOINT_URL` in the job's environment redirects the CLI
//! (tests use a local moto server).

mod describe;
pub mod params;
pub mod stack_name;
#[cfg(test)]
mod tests;

use terrace_model::Event;

use crate::steps::{JobContext, Outcome, Step, StepAbort, StepOutput, StepRunner};

pub use stack_name::stack_name;

const REQUEST_FILE: &str = ".terrace-cloudformation-request.json";

pub(crate) async fn run(ctx: &JobContext<'_>, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
    if ctx.event == Event::Stop {
        runner.note("stop: nothing to do by default for this template (override with `commands.stop`)").await?;
        return Ok(Outcome::ok());
    }
    if !runner.has_program("aws") {
        return Ok(Outcome::failed(
            "deploy",
            "`aws` is not on PATH: install the AWS CLI (`pip install awscli`) for cloudformation jobs",
            None,
        ));
    }
    let cf = Cfn { ctx, stack: stack_name(ctx.project, ctx.environment, &ctx.job.name) };
    runner.note(&format!("stack: {}", cf.stack)).await?;
    match ctx.event {
        Event::Start => cf.deploy(runner).await,
        Event::Delete => cf.delete(runner).await,
        Event::Raw => cf.raw(runner).await,
        Event::Plan => Ok(Outcome::failed(
            "plan",
            "the cloudformation template has no `plan` (change sets are not supported yet)",
            None,
        )),
        // Redeploy without `commands.redeploy` is answered in `crate::run`.
        Event::Stop | Event::Redeploy => Ok(Outcome::ok()),
    }
}

struct Cfn<'a> {
    ctx: &'a JobContext<'a>,
    stack: String,
}

fn aws(args: &[&str]) -> Vec<String> {
    let mut v = vec!["aws".to_string(), "cloudformation".to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn failed(phase: &str, what: &str, out: &StepOutput) -> Outcome {
    Outcome::failed(phase, format!("{what}: {}", out.tool_message()), Some(out.exit_code))
}

impl Cfn<'_> {
    /// The stack's status, or None when it does not exist.
    async fn status(
        &self,
        runner: &mut dyn StepRunner,
        phase: &'static str,
    ) -> Result<Result<Option<String>, Outcome>, StepAbort> {
        let out = runner
            .run(
                Step::new(phase, aws(&["describe-stacks", "--stack-name", &self.stack, "--output", "json"])).captured(),
            )
            .await?;
        if !out.success() {
            if out.stderr_tail.iter().any(|l| l.contains("does not exist")) {
                return Ok(Ok(None));
            }
            return Ok(Err(failed(phase, "describe-stacks failed", &out)));
        }
        Ok(describe::stack_status(&out.stdout).map(Some).map_err(|e| Outcome::failed(phase, e, None)))
    }

    async fn deploy(&self, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
        let mut status = match self.status(runner, "deploy").await? {
            Ok(s) => s,
            Err(failed) => return Ok(failed),
        };
        if status.as_deref() == Some("ROLLBACK_COMPLETE") {
            runner
                .note("the stack's creation failed earlier (ROLLBACK_COMPLETE): deleting it to create it again")
                .await?;
            if let Some(failed) = self.delete_and_wait(runner).await? {
                return Ok(failed);
            }
            status = None;
        }
        let request = match self.request().await {
            Ok((path, notes)) => {
                for note in notes {
                    runner.note(&note).await?;
                }
                path
            }
            Err(failed) => return Ok(failed),
        };
        // Written on the host, read by the step where the executor puts the working copy.
        let input = format!("file://{}", self.ctx.job_paths.workdir.join(REQUEST_FILE).display());
        let (verb, waiter) = match status {
            None => ("create-stack", "stack-create-complete"),
            Some(_) => ("update-stack", "stack-update-complete"),
        };
        let out = runner.run(Step::new("deploy", aws(&[verb, "--cli-input-json", &input, "--output", "json"]))).await?;
        let _ = tokio::fs::remove_file(&request).await;
        if !out.success() {
            if verb == "update-stack" && out.stderr_tail.iter().any(|l| l.contains("No updates are to be performed")) {
                runner.note("no updates are to be performed: the stack is up to date").await?;
                return self.outputs(runner).await;
            }
            return Ok(failed("deploy", &format!("{verb} failed"), &out));
        }
        let waited = runner.run(Step::new("deploy", aws(&["wait", waiter, "--stack-name", &self.stack]))).await?;
        if !waited.success() {
            return self.explain_failure(runner, "deploy").await;
        }
        self.outputs(runner).await
    }

    /// The request for create/update-stack: the template body, the parameters from the
    /// one params file (either format) with `CFN_PARAM_<Name>` variables over them, the
    /// capabilities; and a note per parameter a variable set (names only: values may be
    /// secrets).
    async fn request(&self) -> Result<(std::path::PathBuf, Vec<String>), Outcome> {
        let Some(template) = &self.ctx.job.iac.template_file else {
            return Err(Outcome::failed("deploy", "the job has no `template_file`", None));
        };
        let template_path = self.ctx.host.workdir.join(template);
        let body = tokio::fs::read_to_string(&template_path).await.map_err(|e| {
            Outcome::failed("deploy", format!("cannot read template_file {}: {e}", template.display()), None)
        })?;
        let parameters = match self.ctx.host.input {
            Some(p) => {
                let bytes = tokio::fs::read(p)
                    .await
                    .map_err(|e| Outcome::failed("deploy", format!("cannot read the parameters file: {e}"), None))?;
                params::parse(&bytes).map_err(|e| Outcome::failed("deploy", format!("parameters file: {e}"), None))?
            }
            None => vec![],
        };
        let merged = params::with_overrides(parameters, self.ctx.variables);
        let notes = merged
            .iter()
            .filter_map(|(p, origin)| match origin {
                params::Origin::File => None,
                params::Origin::Variable { replaced } => Some(format!(
                    "parameter `{}` from variable `{}{}`{}",
                    p.key,
                    params::OVERRIDE_PREFIX,
                    p.key,
                    if *replaced { " (over the parameters file)" } else { "" }
                )),
            })
            .collect();
        let parameters: Vec<params::Parameter> = merged.into_iter().map(|(p, _)| p).collect();
        let request = serde_json::json!({
            "StackName": self.stack,
            "TemplateBody": body,
            "Parameters": parameters,
            "Capabilities": self.ctx.job.iac.capabilities,
        });
        // Beside the working copy, removed after the call: parameters may hold secrets.
        let path = self.ctx.host.workdir.join(REQUEST_FILE);
        crate::private::write(&path, request.to_string().as_bytes())
            .await
            .map_err(|e| Outcome::failed("deploy", format!("cannot write the request: {e}"), None))?;
        Ok((path, notes))
    }

    async fn outputs(&self, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
        let out = runner
            .run(
                Step::new("output", aws(&["describe-stacks", "--stack-name", &self.stack, "--output", "json"]))
                    .captured(),
            )
            .await?;
        if !out.success() {
            return Ok(failed("output", "describe-stacks failed", &out));
        }
        let file = match describe::outputs_file(&out.stdout, &self.ctx.job.iac.sensitive_outputs) {
            Ok(f) => f,
            Err(e) => return Ok(Outcome::failed("output", e, None)),
        };
        if let Err(e) = crate::private::write(self.ctx.host.output_file, &file).await {
            return Ok(Outcome::failed("output", format!("cannot write the output file: {e}"), None));
        }
        Ok(Outcome::ok())
    }

    /// A failed wait: the stack's final status and the events that explain it.
    async fn explain_failure(&self, runner: &mut dyn StepRunner, phase: &'static str) -> Result<Outcome, StepAbort> {
        let status = match self.status(runner, phase).await? {
            Ok(Some(s)) => s,
            Ok(None) => "gone".to_string(),
            Err(failed) => return Ok(failed),
        };
        let events = runner
            .run(
                Step::new(phase, aws(&["describe-stack-events", "--stack-name", &self.stack, "--output", "json"]))
                    .captured(),
            )
            .await?;
        let reasons = if events.success() { describe::failure_reasons(&events.stdout) } else { String::new() };
        let why = if reasons.is_empty() { "no failed resource events were reported".to_string() } else { reasons };
        Ok(Outcome::failed(phase, format!("stack {} ended in {status}: {why}", self.stack), None))
    }

    async fn delete_and_wait(&self, runner: &mut dyn StepRunner) -> Result<Option<Outcome>, StepAbort> {
        let out = runner.run(Step::new("delete", aws(&["delete-stack", "--stack-name", &self.stack]))).await?;
        if !out.success() {
            return Ok(Some(failed("delete", "delete-stack failed", &out)));
        }
        let waited = runner
            .run(Step::new("delete", aws(&["wait", "stack-delete-complete", "--stack-name", &self.stack])))
            .await?;
        if !waited.success() {
            return Ok(Some(self.explain_failure(runner, "delete").await?));
        }
        Ok(None)
    }

    async fn delete(&self, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
        match self.status(runner, "delete").await? {
            Ok(None) => {
                runner.note("the stack does not exist: nothing to delete").await?;
                Ok(Outcome::ok())
            }
            Ok(Some(_)) => Ok(self.delete_and_wait(runner).await?.unwrap_or_else(Outcome::ok)),
            Err(failed) => Ok(failed),
        }
    }

    async fn raw(&self, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
        if self.ctx.raw_args.is_empty() {
            return Ok(Outcome::failed("raw", "give the `aws cloudformation` arguments after `--`", None));
        }
        let args: Vec<&str> = self.ctx.raw_args.iter().map(String::as_str).collect();
        let out = runner.run(Step::new("raw", aws(&args))).await?;
        Ok(if out.success() { Outcome::ok() } else { failed("raw", "aws cloudformation failed", &out) })
    }
}
