//! One attempt of a run: a fresh working copy, the job's executor (by name, from the
//! registry), the template's phases run as steps on it, and the outputs collected. The
//! template sees the run's files twice: where they are on this host and where the
//! executor shows them to the job (the same on the local executor).

use std::path::Path;

use terrace_exec::{
    AGENT_CONTAINER_EXECUTOR, AGENT_EXECUTOR, AgentPlacement, ContainerStep, ImageSource, PathRole, Resources,
};
use terrace_model::project::Job;
use terrace_model::vars::Resolved;
use terrace_store::RunState;
use terrace_templates::{JobContext, JobPaths, Outcome, StepAbort};

use crate::error::EngineError;
use crate::job_run::{AttemptEnd, RunContext};
use crate::lease::Held;
use crate::steps::EngineSteps;
use crate::work::{self, Sources};

/// What every attempt of a run starts from.
#[derive(Clone, Copy)]
pub(crate) struct AttemptInputs<'a> {
    /// The job's folder, unless its source is a git commit pinned for the pipeline.
    pub source: Option<&'a Path>,
    pub pin: Option<&'a crate::git_source::Pinned>,
    pub input: Option<&'a Path>,
    pub resolved: &'a Resolved,
    /// The inputs' hash, when computed (skip_unchanged, saved plans).
    pub hash: Option<&'a str>,
    /// Where to leave the snapshot of the working copy, when the run keeps one and no
    /// earlier attempt made it.
    pub snapshot: Option<&'a crate::snapshot::Slot>,
}

impl RunContext<'_> {
    pub(crate) async fn attempt(
        &self,
        job: &Job,
        held: &Held,
        attempt: u32,
        inputs: &AttemptInputs<'_>,
    ) -> Result<AttemptEnd, EngineError> {
        let AttemptInputs { source, pin, input, resolved, hash: inputs_hash, snapshot } = *inputs;
        let engine = self.engine;
        let run = held.lease.id;
        let name = engine.project.executor_of(&self.env.name, job);
        // A job of an agent pool runs on the `agent` executor, which hands each step to
        // an agent of the pool; the agent runs it with the job's executor.
        let agent =
            engine.project.pool_of(&self.env.name, job).map(|pool| AgentPlacement { pool, executor: name.clone() });
        let seam = match &agent {
            None => name.as_str(),
            Some(a) if a.executor == "docker" => AGENT_CONTAINER_EXECUTOR,
            Some(_) => AGENT_EXECUTOR,
        };
        let executor = match (&agent, engine.executors.get(seam)) {
            (_, Ok(e)) => e,
            (Some(a), Err(_)) => {
                return Ok(AttemptEnd::failed(format!(
                    "job `{}` runs on the agents of pool `{}`: only `terrace server` hands jobs to agents (send the \
                     event with `--server URL`, and start `terrace agent --pool {}` with a pool token)",
                    job.name, a.pool, a.pool
                )));
            }
            (None, Err(e)) => return Ok(AttemptEnd::failed(format!("job `{}`: {e}", job.name))),
        };
        let data = &engine.data_dir;
        let state_dir = data.join("state").join(&engine.project.name).join(&self.env.name).join(&job.name);
        let artifacts_dir = data.join("artifacts").join(run.to_string());
        // A working copy that cannot be made fails this attempt like any other failure.
        let from = Sources {
            source: source.map(Path::to_path_buf),
            input: input.map(Path::to_path_buf),
            data_dir: data.clone(),
            output_folder: executor.runs_images(),
            snapshot: snapshot.is_some(),
        };
        let mut folder = match work::prepare(data, run, attempt, from).await {
            Ok(folder) => folder,
            Err(reason) => return Ok(AttemptEnd::failed(reason)),
        };
        if let (Some(slot), Some(made)) = (snapshot, folder.snapshot.take()) {
            slot.fill(made);
        }
        if let Some(pin) = pin
            && let Err(reason) = pin.checkout(&folder.src, &self.cancel).await
        {
            return Ok(AttemptEnd::failed(format!("cannot check out the source of job `{}`: {reason}", job.name)));
        }
        let state = match self.state_http(job, held, attempt, &folder.src).await? {
            Ok(state) => state,
            Err(reason) => return Ok(AttemptEnd::failed(reason)),
        };
        let variables: Vec<(String, String)> =
            resolved.vars.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect();
        // A container has its own PATH and HOME: it inherits only what the job passes through.
        let mut env = engine.inherited_env(job, executor.runs_images());
        env.extend(variables.iter().cloned());
        // Where the job sees each file: a mount of a container executor, the same path locally.
        let seen = |role: PathRole, p: &Path| executor.job_path(role, p);
        let (workdir, input_seen, output_seen) = (
            seen(PathRole::Workdir, &folder.src),
            folder.input.as_deref().map(|p| seen(PathRole::Input, p)),
            seen(PathRole::OutputFile, &folder.output_file),
        );
        let (state_seen, artifacts_seen) =
            (seen(PathRole::State, &state_dir), seen(PathRole::Artifacts, &artifacts_dir));
        let template_ctx = JobContext {
            project: &engine.project.name,
            environment: &self.env.name,
            job,
            event: self.event,
            raw_args: &self.raw_args,
            host: JobPaths {
                workdir: &folder.src,
                input: folder.input.as_deref(),
                output_file: &folder.output_file,
                state_dir: &state_dir,
                artifacts_dir: &artifacts_dir,
            },
            job_paths: JobPaths {
                workdir: &workdir,
                input: input_seen.as_deref(),
                output_file: &output_seen,
                state_dir: &state_seen,
                artifacts_dir: &artifacts_seen,
            },
            variables: &variables,
            state: state.as_ref(),
            apply_saved_plan: self.saved_plans.contains_key(&job.name) && self.event == terrace_model::Event::Start,
        };
        let template = terrace_templates::catalog::info(job.template);
        let own = &job.container.resources;
        let resources = Resources {
            cpu: own.cpu.clone().or_else(|| Some(template.resources.cpu.into())),
            memory: own.memory.clone().or_else(|| Some(template.resources.memory.into())),
        };
        let own_image = job.container.image.is_some() || job.container.dockerfile.is_some();
        let container = ContainerStep {
            entrypoint: job.container.entrypoint.clone(),
            // A job's own image running its own command works where its recipe says.
            keep_image_workdir: own_image && job.commands.contains_key(&self.event),
            state_dir: Some(state_dir.clone()),
            artifacts_dir: Some(artifacts_dir.clone()),
            owner: None,
        };
        let mut steps = EngineSteps {
            ctx: self,
            job,
            held,
            attempt,
            executor: executor.clone(),
            workdir: folder.src.clone(),
            input: folder.input.clone(),
            output_file: folder.output_file.clone(),
            env,
            resources,
            deadline: job.max_duration.map(|d| std::time::Instant::now() + d),
            image: None,
            container,
            agent,
            inputs_hash: inputs_hash.unwrap_or_default().to_string(),
        };
        let prepared = match executor.runs_images() {
            true => steps.prepare_image(image_source(job, &folder.src, template.dockerfile)).await,
            false => Ok(Ok(())),
        };
        let outcome = match prepared {
            Ok(Ok(())) => terrace_templates::run(&template_ctx, &mut steps).await,
            Ok(Err(reason)) => Err(StepAbort::Spawn(reason)),
            Err(abort) => Err(abort),
        };
        let end = match outcome {
            Ok(Outcome::Succeeded { plan }) => {
                if let Some(summary) = plan {
                    let summary = serde_json::to_value(&summary).unwrap_or_default();
                    // A plan kept in the store has no folder of its own.
                    let artifacts = state.is_none().then(|| artifacts_dir.display().to_string());
                    self.store().set_run_plan(&held.lease, &summary, artifacts.as_deref()).await?;
                }
                self.collect_outputs(job, held, attempt, &folder.output_file).await?
            }
            Ok(Outcome::Failed(f)) => AttemptEnd {
                state: RunState::Failed,
                exit_code: f.exit_code,
                reason: Some(if f.phase == "run" { f.message } else { format!("phase `{}`: {}", f.phase, f.message) }),
            },
            Err(StepAbort::TimedOut) => AttemptEnd {
                state: RunState::TimedOut,
                exit_code: None,
                reason: Some(format!(
                    "exceeded max_duration of {}; its whole process group was stopped",
                    humantime::format_duration(job.max_duration.unwrap_or_default())
                )),
            },
            Err(StepAbort::Cancelled) => AttemptEnd {
                state: RunState::Cancelled,
                exit_code: None,
                reason: Some("cancelled; its whole process group was stopped".into()),
            },
            Err(StepAbort::Signaled(sig)) => AttemptEnd::failed(format!("killed by signal {sig}")),
            Err(abort @ StepAbort::OutOfMemory(_)) => AttemptEnd::failed(abort.to_string()),
            Err(StepAbort::Spawn(msg)) => AttemptEnd::failed(msg),
            Err(StepAbort::Internal(msg)) => return Err(EngineError::Internal(msg)),
        };
        // The work folder goes with `folder`, off the path to the next job, on every way out.
        drop(folder);
        Ok(end)
    }
}

/// Where a job's image comes from on a container executor: its `image`, else a build of
/// its working copy with its `dockerfile`, else with the template's default Dockerfile.
pub(crate) fn image_source(job: &Job, workdir: &Path, default_dockerfile: &str) -> ImageSource {
    match &job.container.image {
        Some(reference) => ImageSource::Pull(reference.clone()),
        None => ImageSource::Build {
            context: workdir.to_path_buf(),
            dockerfile: job.container.dockerfile.clone(),
            default_dockerfile: default_dockerfile.to_string(),
        },
    }
}
