//! Variable resolution (DESIGN.md "Variable names and precedence" and "Variable values").
//! Lowest to highest: built-ins, output aliases, project, environment, job variables.
//! Full output names `TERRACE_OUTPUT_JOB_<JOB>_<NAME>` never clash. An alias never
//! silently shadows an explicit variable nor is silently shadowed, is not set when two
//! jobs produce it, and never takes a reserved name: each case becomes a note for the
//! run log. Explicit values may reference outputs, variables, secrets and the
//! environment (`refs`); a project or environment variable that uses an output of a job
//! not upstream of the running job is not set for it (with a note), a job's own
//! variable doing so is an error.

pub mod eval;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;

use crate::names::{is_reserved_alias, output_variable};
use crate::project::VariableDef;
use eval::{Evaluator, FailureKind, Sources, Status};

/// The built-in variables every run gets (`TERRACE_COMMIT` only when known).
pub const BUILTINS: &[&str] =
    &["TERRACE_PROJECT", "TERRACE_ENVIRONMENT", "TERRACE_JOB", "TERRACE_EVENT", "TERRACE_RUN_ID", "TERRACE_COMMIT"];

/// A stored output of a job of the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobOutput {
    pub job: String,
    pub name: String,
    pub value: String,
    pub sensitive: bool,
}

/// A variable with its final value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedVar {
    pub value: String,
    pub secret: bool,
}

/// The result of resolution: variables and what the run log must say about them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub vars: IndexMap<String, ResolvedVar>,
    pub notes: Vec<String>,
}

impl Resolved {
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.vars.values().filter(|v| v.secret && !v.value.is_empty()).map(|v| v.value.as_str())
    }
}

/// Which block of `terrace.yaml` a scope is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScopeKind {
    Project,
    Environment,
    Job,
}

/// One scope of explicit variables as written; `owner` names the environment or job.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub kind: ScopeKind,
    pub owner: &'a str,
    pub vars: &'a IndexMap<String, VariableDef>,
}

impl Scope<'_> {
    /// "the project", "environment `dev`", "job `app`".
    pub fn label(&self) -> String {
        match self.kind {
            ScopeKind::Project => "the project".into(),
            ScopeKind::Environment => format!("environment `{}`", self.owner),
            ScopeKind::Job => format!("job `{}`", self.owner),
        }
    }

    /// "variable `X` of the project".
    pub fn variable(&self, name: &str) -> String {
        format!("variable `{name}` of {}", self.label())
    }
}

/// A variable of the run that cannot be resolved; names the variable and the reason,
/// never a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct UnresolvedVariable {
    /// "variable `X` of job `app`".
    pub variable: String,
    pub message: String,
}

/// Everything one run's variables are resolved from.
pub struct RunVariables<'a> {
    pub job: &'a str,
    pub environment: &'a str,
    pub builtins: &'a [(&'a str, String)],
    /// Every stored output of the environment.
    pub outputs: &'a [JobOutput],
    /// The jobs `job` depends on, directly or not: only their outputs may be referenced.
    pub upstream: &'a BTreeSet<&'a str>,
    /// Lowest first: project, environment, job.
    pub scopes: &'a [Scope<'a>],
    /// The store's secrets for this environment (project scope already overridden by
    /// environment scope).
    pub secrets: &'a [(String, String)],
    /// `${env:NAME}`: the value, or why it cannot be read.
    pub env: &'a (dyn Fn(&str) -> Result<String, String> + Sync),
}

struct RunSources<'a> {
    run: &'a RunVariables<'a>,
    outputs: HashMap<(&'a str, &'a str), &'a JobOutput>,
}

impl Sources for RunSources<'_> {
    fn builtin(&self, name: &str) -> Option<Result<String, String>> {
        if let Some((_, v)) = self.run.builtins.iter().find(|(k, _)| *k == name) {
            return Some(Ok(v.clone()));
        }
        BUILTINS.contains(&name).then(|| {
            Err(format!("`{name}` is not known for this run (TERRACE_COMMIT needs the project in a git checkout)"))
        })
    }

    fn upstream(&self, job: &str) -> bool {
        self.run.upstream.contains(job)
    }

    fn output(&self, job: &str, name: &str) -> Result<(String, bool), String> {
        if let Some(o) = self.outputs.get(&(job, name)) {
            return Ok((o.value.clone(), o.sensitive));
        }
        let mut has: Vec<&str> = self.run.outputs.iter().filter(|o| o.job == job).map(|o| o.name.as_str()).collect();
        has.sort_unstable();
        let env = self.run.environment;
        Err(if has.is_empty() {
            format!("job `{job}` has no outputs in environment `{env}` yet: its `start` must succeed first")
        } else {
            format!("job `{job}` has no output `{name}` in environment `{env}` (its outputs: {})", has.join(", "))
        })
    }

    fn secret(&self, name: &str) -> Result<String, String> {
        self.run.secrets.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).ok_or_else(|| {
            format!(
                "secret `{name}` is not set for environment `{env}`: set it with `terrace secret set {name} --env {env}` \
                 (or `terrace secret set {name}` for every environment)",
                env = self.run.environment
            )
        })
    }

    fn env(&self, name: &str) -> Result<String, String> {
        (self.run.env)(name)
    }
}

/// Resolves the variables of one run.
pub fn resolve(run: &RunVariables<'_>) -> Result<Resolved, UnresolvedVariable> {
    let mut r = Resolved::default();
    for (k, v) in run.builtins {
        r.vars.insert(k.to_string(), ResolvedVar { value: v.clone(), secret: false });
    }
    let explicit = |name: &str| run.scopes.iter().rev().find(|s| s.vars.contains_key(name));
    aliases(&mut r, run.outputs, &|name| explicit(name).map(|s| s.kind));

    let sources =
        RunSources { run, outputs: run.outputs.iter().map(|o| ((o.job.as_str(), o.name.as_str()), o)).collect() };
    let mut eval = Evaluator::new(run.scopes, &sources);
    for (index, scope) in run.scopes.iter().enumerate() {
        for name in scope.vars.keys() {
            if eval.binding(name) != Some(index) {
                continue; // a higher scope's definition wins
            }
            match eval.status(name) {
                Status::Set { value, secret, .. } => {
                    r.vars.insert(name.clone(), ResolvedVar { value: value.clone(), secret: *secret });
                }
                Status::Unset(unset) => {
                    let why = unset_reason(run.scopes, unset, run.job);
                    if scope.kind == ScopeKind::Job {
                        return Err(UnresolvedVariable { variable: scope.variable(name), message: why });
                    }
                    r.notes.push(format!("{} is not set for job `{}`: {why}", scope.variable(name), run.job));
                    // Not set means not set: an output alias of that name stays hidden too.
                    r.vars.shift_remove(name.as_str());
                }
                Status::Failed(f) => {
                    let at = &run.scopes[f.site.scope];
                    let message = match &f.kind {
                        FailureKind::Unknown(n) => format!("`{}` names no variable `{n}` of this job", f.written),
                        FailureKind::Cycle(path) => format!("`{}`: {}", f.written, cycle_text(run.scopes, path)),
                        FailureKind::Lookup(why) if f.written.is_empty() => why.clone(),
                        FailureKind::Lookup(why) => format!("`{}`: {why}", f.written),
                    };
                    return Err(UnresolvedVariable { variable: at.variable(&f.site.name), message });
                }
            }
        }
    }
    Ok(r)
}

/// Why a variable is unset, naming the reference at its root.
pub fn unset_reason(scopes: &[Scope<'_>], unset: &eval::Unset, job: &str) -> String {
    format!(
        "{} uses `{}`, and job `{}` is not upstream of `{job}` (only jobs that depend on it, directly or not, may use its outputs)",
        scopes[unset.site.scope].variable(&unset.site.name),
        unset.written,
        unset.job
    )
}

/// "`A` (the project) → `B` (environment `dev`) → `A`".
pub fn cycle_text(scopes: &[Scope<'_>], path: &[eval::Site]) -> String {
    let mut parts: Vec<String> = path.iter().map(|s| format!("`{}` ({})", s.name, scopes[s.scope].label())).collect();
    if let Some(first) = path.first() {
        parts.push(format!("`{}`", first.name));
    }
    format!("variables refer to each other in a cycle: {}", parts.join(" → "))
}

/// Sets every output's full name and, where allowed, its alias.
fn aliases(r: &mut Resolved, outputs: &[JobOutput], explicit: &dyn Fn(&str) -> Option<ScopeKind>) {
    let mut by_alias: BTreeMap<&str, Vec<&JobOutput>> = BTreeMap::new();
    for o in outputs {
        r.vars.insert(output_variable(&o.job, &o.name), ResolvedVar { value: o.value.clone(), secret: o.sensitive });
        by_alias.entry(o.name.as_str()).or_default().push(o);
    }
    for (alias, producers) in &by_alias {
        let full: Vec<String> = producers.iter().map(|o| output_variable(&o.job, &o.name)).collect();
        if is_reserved_alias(alias) {
            r.notes.push(format!(
                "alias `{alias}` (output of job {}) is not set: `{alias}` is a reserved name (PATH, HOME, LD_*, TERRACE_* and the like); use {}",
                producers.iter().map(|o| format!("`{}`", o.job)).collect::<Vec<_>>().join(", "),
                full.join(" or ")
            ));
            continue;
        }
        if producers.len() > 1 {
            r.notes.push(format!(
                "alias `{alias}` is ambiguous: jobs {} all output it, so it is not set; use {}",
                producers.iter().map(|o| format!("`{}`", o.job)).collect::<Vec<_>>().join(", "),
                full.join(" or ")
            ));
            continue;
        }
        let o = producers[0];
        if let Some(kind) = explicit(alias) {
            let label = match kind {
                ScopeKind::Project => "project",
                ScopeKind::Environment => "environment",
                ScopeKind::Job => "job",
            };
            r.notes.push(format!(
                "alias `{alias}` (output of job `{}`) is shadowed by the {label} variable `{alias}`; the explicit value wins, the output stays available as {}",
                o.job, full[0]
            ));
        }
        r.vars.insert(alias.to_string(), ResolvedVar { value: o.value.clone(), secret: o.sensitive });
    }
}

#[cfg(test)]
mod tests;
