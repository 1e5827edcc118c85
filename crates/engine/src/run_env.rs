//! The environment of a run's process: variables resolved with the precedence and the
//! references of DESIGN.md (through `terrace_model::vars`), the built-ins, the store's
//! secrets, and only an allow-list of the invoking environment. In server mode
//! `${env:NAME}` and `passthrough` reach only the names the server's `allow_env` lists:
//! the server's own environment (its master key) never reaches a job.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use terrace_model::Event;
use terrace_model::project::Job;
use terrace_model::vars::{self, JobOutput, Resolved, RunVariables, Scope, ScopeKind, UnresolvedVariable};
use terrace_store::StoredOutput;

use crate::Engine;

/// Inherited from the invoking environment, besides what a job lists in `passthrough`.
pub(crate) const ALLOWED: &[&str] = &["PATH", "HOME", "LANG", "TZ"];

/// What `${env:NAME}` and `passthrough` may read of the invoking environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EnvAccess {
    /// Local mode: the shell that ran `terrace`, whatever the name.
    #[default]
    Invoking,
    /// Server mode: only these names (the server's `allow_env`), besides PATH, HOME, LANG
    /// and TZ, which every job inherits anyway.
    AllowList(Vec<String>),
}

impl EnvAccess {
    fn allows(&self, name: &str) -> bool {
        match self {
            EnvAccess::Invoking => true,
            EnvAccess::AllowList(names) => ALLOWED.contains(&name) || names.iter().any(|n| n == name),
        }
    }
}

/// The store's secrets for one environment (project scope overridden by environment
/// scope), as `${secret:NAME}` reads them. Its `Debug` shows names only.
#[derive(Clone, Default)]
pub struct SecretValues(pub Vec<(String, String)>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| format!("{name}=***"))).finish()
    }
}

impl Engine {
    /// `${env:NAME}`: the value, or why it cannot be read (never the value of another).
    fn env_value(&self, name: &str) -> Result<String, String> {
        if !self.env_access.allows(name) {
            let allowed = match &self.env_access {
                EnvAccess::AllowList(names) if !names.is_empty() => names.join(", "),
                _ => "none".into(),
            };
            return Err(format!(
                "this server does not pass its environment to jobs: `{name}` is not in its `allow_env` setting (--allow-env, TERRACE_ALLOW_ENV; allowed now: {allowed}); use `${{secret:NAME}}` for credentials"
            ));
        }
        self.lookup_env(name).ok_or_else(|| match self.env_access {
            EnvAccess::Invoking => format!("`{name}` is not set in the invoking environment"),
            EnvAccess::AllowList(_) => format!("`{name}` is allowed but not set in the server's environment"),
        })
    }

    /// Resolves the variables of `job` in environment `env`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn resolve_variables(
        &self,
        env: &str,
        job: &Job,
        event: Event,
        run_id: &str,
        commit: Option<&str>,
        outputs: &[StoredOutput],
        secrets: &SecretValues,
    ) -> Result<Resolved, UnresolvedVariable> {
        let mut builtins = vec![
            ("TERRACE_PROJECT", self.project.name.clone()),
            ("TERRACE_ENVIRONMENT", env.to_string()),
            ("TERRACE_JOB", job.name.clone()),
            ("TERRACE_EVENT", event.as_str().to_string()),
            ("TERRACE_RUN_ID", run_id.to_string()),
        ];
        if let Some(c) = commit {
            builtins.push(("TERRACE_COMMIT", c.to_string()));
        }
        let outputs: Vec<JobOutput> = outputs
            .iter()
            .map(|o| JobOutput {
                job: o.job.clone(),
                name: o.name.clone(),
                value: o.value.clone(),
                sensitive: o.sensitive,
            })
            .collect();
        let none = IndexMap::new();
        let env_vars = self.project.environment(env).map_or(&none, |e| &e.variables);
        let scopes = [
            Scope { kind: ScopeKind::Project, owner: "", vars: &self.project.variables },
            Scope { kind: ScopeKind::Environment, owner: env, vars: env_vars },
            Scope { kind: ScopeKind::Job, owner: &job.name, vars: &job.variables },
        ];
        let upstream: BTreeSet<&str> = self.project.upstream_of(&job.name);
        let lookup = |name: &str| self.env_value(name);
        let mut resolved = vars::resolve(&RunVariables {
            job: &job.name,
            environment: env,
            builtins: &builtins,
            outputs: &outputs,
            upstream: &upstream,
            scopes: &scopes,
            secrets: &secrets.0,
            env: &lookup,
        })?;
        for name in job.passthrough.iter().filter(|n| !self.env_access.allows(n)) {
            resolved.notes.push(format!(
                "passthrough `{name}` is not inherited: this server passes only the names in its `allow_env` setting"
            ));
        }
        Ok(resolved)
    }

    /// Every secret value of `env`: the store's secrets and each job's secret variables
    /// (as far as they resolve now), so that any job's log masks them all.
    pub(crate) fn declared_secrets(
        &self,
        env: &str,
        commit: Option<&str>,
        outputs: &[StoredOutput],
        secrets: &SecretValues,
    ) -> Vec<String> {
        let mut all: Vec<String> = secrets.0.iter().map(|(_, v)| v.clone()).filter(|v| !v.is_empty()).collect();
        for job in self.project.jobs.values().filter(|j| j.runs_in(env)) {
            if let Ok(r) = self.resolve_variables(env, job, Event::Start, "", commit, outputs, secrets) {
                all.extend(r.secrets().map(str::to_string));
            }
        }
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The invoking environment's allow-listed variables for `job` (in a container, which has
    /// its own PATH and HOME: only those the job passes through).
    pub(crate) fn inherited_env(&self, job: &Job, in_container: bool) -> Vec<(String, String)> {
        self.invoking_env
            .iter()
            .filter(|(k, _)| (!in_container && ALLOWED.contains(&k.as_str())) || job.passthrough.iter().any(|p| p == k))
            .filter(|(k, _)| self.env_access.allows(k))
            .cloned()
            .collect()
    }
}
