//! `environments:`: each environment's variables and per-job parameters files
//! (`inputs`), and the checks that tie environments and jobs together: a job's
//! `environments` names real ones, an input belongs to a job that runs there, and a job
//! never depends on a job that does not run where it does.

use indexmap::IndexMap;

use super::job::{ParsedJob, relative_path};
use super::source::Source;
use super::variables::{Block, VarSites, variables};
use super::walk::{Diags, Pos, Slot, check_keys, closest, get, shorten};
use super::{ENVIRONMENT_KEYS, check_name};
use crate::project::{EnvironmentDef, OnFailure};
use crate::vars::ScopeKind;

/// An environment plus where its inputs are written.
pub(super) struct ParsedEnv {
    pub def: EnvironmentDef,
    /// Job name, where the key is, where the path is.
    pub inputs: Vec<(String, Pos, Pos)>,
}

pub(super) fn environments(
    d: &mut Diags,
    slot: &Slot<'_>,
    sites: &mut VarSites,
    source: &Source<'_>,
) -> IndexMap<String, ParsedEnv> {
    let mut out = IndexMap::new();
    for (key, node) in slot.entries(d, "a mapping of environment names to environments").unwrap_or_default() {
        let (name, at) = (key.as_str(), Pos::of(key.span()));
        check_name(d, "environment", name, at);
        let label = format!("environment `{}`", shorten(name));
        let entries = Slot::new(node, at, label.clone()).entries(d, "a mapping (or empty)").unwrap_or_default();
        check_keys(d, &entries, ENVIRONMENT_KEYS, &label);
        let block = Block { kind: ScopeKind::Environment, owner: name, label: &label };
        let variables = get(&entries, "variables")
            .map(|(p, n)| variables(d, &Slot::new(n, p, format!("`variables` of {label}")), &block, sites, source))
            .unwrap_or_default();
        let executor = get(&entries, "executor")
            .and_then(|(p, n)| super::executor::name(d, &Slot::new(n, p, format!("`executor` of {label}"))));
        let pool = get(&entries, "pool")
            .and_then(|(p, n)| super::executor::pool(d, &Slot::new(n, p, format!("`pool` of {label}"))));
        let approval = get(&entries, "approval")
            .and_then(|(p, n)| super::approval::approval(d, &Slot::new(n, p, format!("`approval` of {label}"))))
            .unwrap_or_default();
        let branch = get(&entries, "branch")
            .and_then(|(p, n)| super::git_source::branch(d, &Slot::new(n, p, format!("`branch` of {label}"))));
        let on_failure = get(&entries, "on_failure")
            .and_then(|(p, n)| on_failure(d, &Slot::new(n, p, format!("`on_failure` of {label}"))))
            .unwrap_or_default();

        let field = |key: &str| get(&entries, key).map(|(p, n)| Slot::new(n, p, format!("`{key}` of {label}")));
        let ttl = field("ttl").and_then(|s| {
            let declared = s.string(d, "a duration such as `72h`")?;
            super::job::duration(d, &s).map(|duration| crate::project::Ttl { duration, declared })
        });
        let drift = field("drift").and_then(|s| super::job::cron(d, &s));
        let mut def = EnvironmentDef {
            name: name.to_string(),
            variables,
            inputs: IndexMap::new(),
            executor,
            pool,
            approval,
            branch,
            on_failure,
            ttl,
            drift,
            skip_unchanged: false,
        };
        let mut inputs = Vec::new();
        if let Some((p, n)) = get(&entries, "inputs") {
            let slot = Slot::new(n, p, format!("`inputs` of {label}"));
            for (job, value) in slot.entries(d, "a mapping of job names to parameters files").unwrap_or_default() {
                let job_at = Pos::of(job.span());
                let path_slot =
                    Slot::new(value, job_at, format!("the parameters file of job `{}` in {label}", shorten(job)));
                if let Some(path) = relative_path(d, &path_slot) {
                    inputs.push((job.as_str().to_string(), job_at, path_slot.pos()));
                    def.inputs.insert(job.as_str().to_string(), path);
                }
            }
        }
        out.insert(name.to_string(), ParsedEnv { def, inputs });
    }
    out
}

/// The checks between environments and jobs.
pub(super) fn check(d: &mut Diags, envs: &IndexMap<String, ParsedEnv>, jobs: &IndexMap<String, ParsedJob>) {
    let env_names: Vec<&str> = envs.keys().map(String::as_str).collect();
    for (name, parsed) in jobs {
        for (env, at) in parsed.environments.iter().flatten() {
            if !envs.contains_key(env) {
                let mut message = format!("job `{name}` lists unknown environment `{}`", shorten(env));
                message.push_str(&if env_names.is_empty() {
                    "; the project defines no environments".to_string()
                } else {
                    format!("; the environments are {}", env_names.join(", "))
                });
                if let Some(close) = closest(env, &env_names) {
                    message.push_str(&format!("; did you mean `{close}`?"));
                }
                d.error(*at, message);
            }
        }
        for (dep, at) in &parsed.depends {
            let Some(target) = jobs.get(dep) else { continue };
            let missing: Vec<&str> =
                env_names.iter().copied().filter(|e| parsed.job.runs_in(e) && !target.job.runs_in(e)).collect();
            if !missing.is_empty() {
                d.error(
                    *at,
                    format!(
                        "job `{name}` runs in {} but depends on job `{dep}`, which does not run there: add {} to the `environments` of `{dep}`, or remove {} from those of `{name}`",
                        list("environment", &missing),
                        missing.join(", "),
                        missing.join(", ")
                    ),
                );
            }
        }
    }
    let job_names: Vec<&str> = jobs.keys().map(String::as_str).collect();
    for (env, parsed) in envs {
        for (job, at, _) in &parsed.inputs {
            match jobs.get(job) {
                None => {
                    let mut message = format!("`inputs` of environment `{env}` names unknown job `{}`", shorten(job));
                    if let Some(close) = closest(job, &job_names) {
                        message.push_str(&format!("; did you mean `{close}`?"));
                    }
                    d.error(*at, message);
                }
                Some(p) if !p.job.runs_in(env) => d.error(
                    *at,
                    format!(
                        "`inputs` of environment `{env}` gives a parameters file to job `{job}`, which does not run in `{env}` (its `environments`: {})",
                        p.job.environments.as_deref().unwrap_or_default().join(", ")
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

/// "environment `prod`" or "environments `dev`, `prod`".
fn list(kind: &str, names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("{kind}{} {}", if names.len() == 1 { "" } else { "s" }, quoted.join(", "))
}

/// `rollback`, `destroy` or `none`.
fn on_failure(d: &mut Diags, slot: &Slot<'_>) -> Option<OnFailure> {
    let word = slot.string(d, "rollback, destroy or none")?;
    let found = OnFailure::parse(&word);
    if found.is_none() {
        d.error(
            slot.pos(),
            super::walk::unknown(&format!("value `{}` in {}", shorten(&word), slot.label), &word, OnFailure::NAMES),
        );
    }
    found
}
