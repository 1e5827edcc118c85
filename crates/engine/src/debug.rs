//! `terrace run JOB --env ENV --event debug`: an interactive shell in the job's exact
//! environment, for a person: its executor, image, working copy, parameters file, output
//! file and variables (secrets included: the person at the terminal is the operator), as a
//! `start` would have them. Nothing is recorded as a run; the working copy and the
//! container go when the shell ends.

use terrace_exec::{ContainerStep, ExecEvent, Limits, Resources, StepIo, StepSpec};
use terrace_model::log::Stream;
use terrace_model::{Event, RunId};

use crate::locate::{Located, locate};
use crate::pipeline::Request;
use crate::work::{self, Sources};
use crate::{Engine, EngineError, SecretValues};

/// One debug session.
#[derive(Clone, Debug)]
pub struct DebugRequest {
    pub env: String,
    pub job: String,
    pub secrets: SecretValues,
}

impl Engine {
    /// Opens the session and returns the shell's exit status. What Terrace says before
    /// the shell starts (the image's pull or build) goes to `say`.
    pub async fn debug(&self, req: DebugRequest, say: &(dyn Fn(&str) + Sync)) -> Result<i32, EngineError> {
        let as_run = Request {
            job: Some(req.job.clone()),
            secrets: req.secrets.clone(),
            ..Request::new(req.env.clone(), Event::Start)
        };
        self.check(&as_run)?;
        let job = self.project.jobs_for(&req.env).swap_remove(&req.job).expect("checked: the job runs here");
        let name = self.project.executor_of(&req.env, &job);
        let executor =
            self.executors.get(&name).map_err(|e| EngineError::Invalid(format!("job `{}`: {e}", job.name)))?;
        let session = RunId::new();
        say(&format!("debug session {session} (containers carry the label terrace.run={session})"));
        let commit = crate::commit::current(&self.project_root).await;
        let outputs = match self.store.get_environment(&self.project.name, &req.env).await? {
            Some(env) => self.store.outputs(env.id).await?,
            None => vec![],
        };
        let resolved = self
            .resolve_variables(
                &req.env,
                &job,
                Event::Start,
                &session.to_string(),
                commit.as_deref(),
                &outputs,
                &req.secrets,
            )
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let Located { source, input } = locate(&self.project_root, &job).await.map_err(EngineError::Invalid)?;
        let from = Sources {
            source,
            input,
            data_dir: self.data_dir.clone(),
            output_folder: executor.runs_images(),
            snapshot: false,
        };
        let folder = work::prepare_named(&self.data_dir, format!("debug-{session}"), from)
            .await
            .map_err(EngineError::Invalid)?;
        let in_container = executor.runs_images();
        let mut env = self.inherited_env(&job, in_container);
        env.extend(resolved.vars.iter().map(|(k, v)| (k.clone(), v.value.clone())));
        env.retain(|(k, _)| k != "TERRACE_EVENT");
        env.push(("TERRACE_EVENT".into(), "debug".into()));
        if let Some(term) = self.lookup_env("TERM") {
            env.push(("TERM".into(), term));
        }
        let template = terrace_templates::catalog::info(job.template);
        let image = match in_container {
            true => {
                let source = crate::attempt::image_source(&job, &folder.src, template.dockerfile);
                Some(self.debug_image(executor.as_ref(), source, say).await?)
            }
            false => None,
        };
        let shell = match in_container {
            true => "/bin/sh".to_string(),
            false => self.lookup_env("SHELL").filter(|s| s.starts_with('/')).unwrap_or_else(|| "/bin/sh".into()),
        };
        let own_image = job.container.image.is_some() || job.container.dockerfile.is_some();
        let data = &self.data_dir;
        let step = StepSpec {
            run: session.to_string(),
            attempt: 1,
            argv: if in_container { vec![] } else { vec![shell.clone()] },
            image,
            container: ContainerStep {
                entrypoint: in_container.then(|| vec![shell]),
                keep_image_workdir: own_image && !job.commands.is_empty(),
                state_dir: Some(data.join("state").join(&self.project.name).join(&req.env).join(&job.name)),
                artifacts_dir: None,
                owner: None,
            },
            workdir: folder.src.clone(),
            input: folder.input.clone(),
            output_file: Some(folder.output_file.clone()),
            env,
            resources: Resources {
                cpu: job.container.resources.cpu.clone().or_else(|| Some(template.resources.cpu.into())),
                memory: job.container.resources.memory.clone().or_else(|| Some(template.resources.memory.into())),
            },
            limits: Limits { max_duration: None, kill_grace: self.kill_grace },
            capture_stdout: false,
            agent: None,
        };
        let code = executor.debug(step).await.map_err(|e| EngineError::Invalid(format!("job `{}`: {e}", job.name)));
        drop(folder);
        code
    }

    /// The job's image for a session, what preparing it prints said through `say`.
    async fn debug_image(
        &self,
        executor: &dyn terrace_exec::Executor,
        source: terrace_exec::ImageSource,
        say: &(dyn Fn(&str) + Sync),
    ) -> Result<String, EngineError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let io = StepIo { secrets: Default::default(), events: tx, cancel: Default::default() };
        let prepare = async move { executor.prepare_image(&source, &io).await };
        let print = async {
            while let Some(ExecEvent::Lines(batch)) = rx.recv().await {
                if batch.stream == Stream::Terrace {
                    batch.lines().for_each(say);
                }
            }
        };
        let (prepared, ()) = tokio::join!(prepare, print);
        let image = prepared.map_err(|e| EngineError::Invalid(e.to_string()))?;
        say(&format!("image {} ({})", image.reference, image.id));
        Ok(image.id)
    }
}
