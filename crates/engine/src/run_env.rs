//! The environment of a run's process: variables resolved with the precedence of
//! DESIGN.md, the built-ins, and only an allow-list of the invoking environment.

use indexmap::IndexMap;
use terrace_model::Event;
use terrace_model::project::{Job, VariableDef};
use terrace_model::vars::{self, JobOutput, Resolved, Scope};
use terrace_store::StoredOutput;

use crate::Engine;

/// Inherited from the invoking environment, besides what a job lists in `passthrough`.
pub(crate) const ALLOWED: &[&str] = &["PATH", "HOME", "LANG", "TZ"];

/// A variable definition whose `${env:..}` could not be resolved.
#[derive(Debug)]
pub(crate) struct UnresolvedVariable {
    pub scope: String,
    pub name: String,
    pub error: vars::InterpolationError,
}

impl std::fmt::Display for UnresolvedVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} variable `{}`: {}", self.scope, self.name, self.error)
    }
}

impl Engine {
    /// Interpolates `${env:NAME}` in one scope's definitions.
    pub(crate) fn interpolate_scope(
        &self,
        scope: &str,
        defs: &IndexMap<String, VariableDef>,
    ) -> Result<IndexMap<String, VariableDef>, UnresolvedVariable> {
        let lookup = |name: &str| self.lookup_env(name);
        defs.iter()
            .map(|(name, def)| {
                let value = vars::interpolate(&def.value, &lookup).map_err(|error| UnresolvedVariable {
                    scope: scope.to_string(),
                    name: name.clone(),
                    error,
                })?;
                Ok((name.clone(), VariableDef { value, secret: def.secret }))
            })
            .collect()
    }

    /// Resolves the variables of `job` in environment `env`.
    pub(crate) fn resolve_variables(
        &self,
        env: &str,
        job: &Job,
        event: Event,
        run_id: &str,
        commit: Option<&str>,
        outputs: &[StoredOutput],
    ) -> Result<Resolved, UnresolvedVariable> {
        let project = self.interpolate_scope("project", &self.project.variables)?;
        let env_defs = self.project.environment(env).map(|e| e.variables.clone()).unwrap_or_default();
        let environment = self.interpolate_scope(&format!("environment `{env}`"), &env_defs)?;
        let job_vars = self.interpolate_scope(&format!("job `{}`", job.name), &job.variables)?;
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
        Ok(vars::resolve(
            &builtins,
            &outputs,
            &[
                Scope { label: "project", vars: &project },
                Scope { label: "environment", vars: &environment },
                Scope { label: "job", vars: &job_vars },
            ],
        ))
    }

    /// Every secret value the project defines for `env` (all scopes, all jobs), so that
    /// any job's log masks them all.
    pub(crate) fn declared_secrets(&self, env: &str) -> Vec<String> {
        let mut scopes: Vec<&IndexMap<String, VariableDef>> = vec![&self.project.variables];
        if let Some(e) = self.project.environment(env) {
            scopes.push(&e.variables);
        }
        scopes.extend(self.project.jobs.values().map(|j| &j.variables));
        let lookup = |name: &str| self.lookup_env(name);
        scopes
            .into_iter()
            .flat_map(|s| s.values())
            .filter(|d| d.secret)
            .filter_map(|d| vars::interpolate(&d.value, &lookup).ok())
            .collect()
    }

    /// The invoking environment's allow-listed variables for `job`.
    pub(crate) fn inherited_env(&self, job: &Job) -> Vec<(String, String)> {
        self.invoking_env
            .iter()
            .filter(|(k, _)| ALLOWED.contains(&k.as_str()) || job.passthrough.iter().any(|p| p == k))
            .cloned()
            .collect()
    }
}
