//! Terraform's state kept by Terrace: where a run's jobs reach the `http` backend that
//! serves it (the server's own address, or a listener the local mode starts on
//! 127.0.0.1 when a run first needs one), with the run's token; existing local state
//! folders imported on first use; saved plans kept in and restored from the store.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use terrace_model::Event;
use terrace_model::project::{Job, TemplateKind};
use terrace_store::{NewPlan, StateKey};
use terrace_templates::StateHttp;

use crate::error::EngineError;
use crate::job_run::RunContext;
use crate::lease::Held;

/// The `http` backend the jobs of this engine use (implemented by the server crate).
#[async_trait]
pub trait StateBackend: Send + Sync {
    /// The backend's base URL (`http://127.0.0.1:PORT`), started on first use where it
    /// is started on demand.
    async fn base_url(&self) -> Result<String, String>;
}

/// The path of a state under a backend's base URL.
pub fn state_path(key: &StateKey) -> String {
    format!("/terraform/state/{}/{}/{}", segment(&key.project), segment(&key.environment), segment(&key.job))
}

/// Percent-encodes everything but unreserved characters.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `job` runs Terraform for `event` through a template (not a command of its own).
fn runs_terraform(job: &Job, event: Event) -> bool {
    matches!(job.template, TemplateKind::Terraform | TemplateKind::Opentofu)
        && !job.commands.contains_key(&event)
        && !matches!(event, Event::Stop | Event::Redeploy)
}

/// The local state folder of an environment's job (before the state moved to the store).
pub fn local_state_dir(data: &Path, key: &StateKey) -> PathBuf {
    data.join("state").join(&key.project).join(&key.environment).join(&key.job)
}

impl RunContext<'_> {
    pub(crate) fn state_key(&self, job: &str) -> StateKey {
        StateKey::new(&self.engine.project.name, &self.env.name, job)
    }

    /// The http backend for this run of `job`, when it runs Terraform on a configuration
    /// without a backend of its own and the engine serves one. Imports the local state
    /// folder the first time.
    pub(crate) async fn state_http(
        &self,
        job: &Job,
        held: &Held,
        attempt: u32,
        src: &Path,
    ) -> Result<Result<Option<StateHttp>, String>, EngineError> {
        let Some(backend) = &self.engine.state_backend else { return Ok(Ok(None)) };
        if !runs_terraform(job, self.event) {
            return Ok(Ok(None));
        }
        let dir = src.to_path_buf();
        let own = tokio::task::spawn_blocking(move || terrace_templates::terraform::backend::declares_backend(&dir))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        if own {
            return Ok(Ok(None));
        }
        let base = match backend.base_url().await {
            Ok(base) => base,
            Err(e) => return Ok(Err(format!("cannot serve Terraform's state: {e}"))),
        };
        let key = self.state_key(&job.name);
        self.import_local_state(&job.name, held, attempt, &key).await?;
        let token = self.store().state_token(held.lease.id);
        self.secrets.extend([token.clone()]).await;
        Ok(Ok(Some(StateHttp {
            address: format!("{}{}", base.trim_end_matches('/'), state_path(&key)),
            username: held.lease.id.to_string(),
            password: token,
        })))
    }

    /// Moves `state/<project>/<env>/<job>/terraform.tfstate` into the store when the
    /// store has no state for it yet; the clear-text files go once the store has it.
    async fn import_local_state(
        &self,
        job: &str,
        held: &Held,
        attempt: u32,
        key: &StateKey,
    ) -> Result<(), EngineError> {
        let dir = local_state_dir(&self.engine.data_dir, key);
        let file = dir.join("terraform.tfstate");
        let body = match tokio::fs::read(&file).await {
            Ok(body) => body,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(EngineError::io(format!("cannot read {}", file.display()))(e)),
        };
        let source = format!("import:{}", file.display());
        match self.store().import_state(key, &body, &source).await? {
            Some(v) => {
                let text = format!("state: imported {} as version {} of the store's state", file.display(), v.version);
                self.note(job, held, attempt, &text).await?;
            }
            None => {
                let text = format!("state: the store already holds this state; {} left aside", file.display());
                self.note(job, held, attempt, &text).await?;
            }
        }
        let _ = tokio::fs::remove_file(dir.join("terraform.tfstate.backup")).await;
        tokio::fs::remove_file(&file)
            .await
            .map_err(|e| EngineError::io(format!("cannot remove {} after its import", file.display()))(e))?;
        let _ = tokio::fs::remove_dir(&dir).await;
        Ok(())
    }

    /// The commit `job` runs at: its git source's pin, else the project's.
    pub(crate) fn commit_of(&self, job: &str) -> Option<String> {
        match self.pins.get(job) {
            Some(Ok(pin)) => Some(pin.commit.to_string()),
            _ => self.commit.clone(),
        }
    }

    /// Keeps the plan file at `path` in the store for the run of `held`.
    pub(crate) async fn keep_plan(
        &self,
        job: &str,
        held: &Held,
        inputs_hash: &str,
        path: &Path,
    ) -> Result<(), EngineError> {
        let body = tokio::fs::read(path)
            .await
            .map_err(|e| EngineError::io(format!("cannot read the saved plan {}", path.display()))(e))?;
        let key = self.state_key(job);
        let state_version = self.store().state_versions(&key).await?.first().map_or(0, |v| v.version);
        let plan = NewPlan { key, commit: self.commit_of(job), inputs_hash: inputs_hash.to_string(), state_version };
        self.store().save_plan(&held.lease, &plan, &body).await?;
        Ok(())
    }

    /// Writes the plan to apply (of `from`, else the run's own) to `path`, unless stale.
    pub(crate) async fn restore_plan(
        &self,
        job: &str,
        held: &Held,
        inputs_hash: &str,
        path: &Path,
    ) -> Result<Result<(), String>, EngineError> {
        let from = self.saved_plans.get(job).copied().unwrap_or(held.lease.id);
        let Some((plan, body)) = self.store().saved_plan(from).await? else {
            return Ok(Err(format!("run {from} kept no plan")));
        };
        let key = self.state_key(job);
        if plan.key != key {
            return Ok(Err(format!("the plan of run {from} is for {}, not {key}", plan.key)));
        }
        let current = self.store().state_versions(&key).await?.first().map_or(0, |v| v.version);
        if let Some(why) = plan.staleness(self.commit_of(job).as_deref(), inputs_hash, current) {
            return Ok(Err(why));
        }
        write_private(path.to_path_buf(), body)
            .await
            .map_err(|e| EngineError::io(format!("cannot write the saved plan to {}", path.display()))(e))?;
        Ok(Ok(()))
    }
}

/// A new file readable by its owner only (a plan holds secrets in clear).
async fn write_private(path: PathBuf, body: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
        f.write_all(&body)
    })
    .await
    .map_err(std::io::Error::other)?
}
