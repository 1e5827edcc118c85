//! The references in variable values, checked for every environment and every job that
//! runs in it, with the evaluator that resolves them at run time (placeholders for
//! outputs, secrets and the environment). Problems: unknown variables and jobs, cycles,
//! a job's own variable using an output of a job that is not upstream. Notes: a project
//! or environment variable that uses an output is not set for the jobs that are not
//! downstream of its producer (validate lists them).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;

use super::source::Source;
use super::variables::VarSites;
use super::walk::{Diags, Pos, closest};
use crate::project::{Job, Project, VariableDef};
use crate::refs::{Reference, references};
use crate::vars::eval::{Evaluator, Failure, FailureKind, Site, Sources, Status};
use crate::vars::{BUILTINS, Scope, ScopeKind, cycle_text, unset_reason};

/// The most variable evaluations the checks make over all environments and jobs; a file
/// that needs more is built to be slow, not to be used.
const MAX_WORK: usize = 2_000_000;

/// Placeholders for what only a run knows. `upstream: None` accepts every job's
/// outputs (the environment-wide pass; its output jobs are compared per job after).
struct Symbolic<'a> {
    jobs: &'a IndexMap<String, Job>,
    upstream: Option<&'a BTreeSet<&'a str>>,
}

impl Sources for Symbolic<'_> {
    fn builtin(&self, name: &str) -> Option<Result<String, String>> {
        BUILTINS.contains(&name).then(|| Ok(String::new()))
    }
    fn upstream(&self, job: &str) -> bool {
        // An unknown job is reported by `output`, not as "not upstream".
        !self.jobs.contains_key(job) || self.upstream.is_none_or(|u| u.contains(job))
    }
    fn output(&self, job: &str, _name: &str) -> Result<(String, bool), String> {
        if self.jobs.contains_key(job) {
            return Ok((String::new(), false));
        }
        let names: Vec<&str> = self.jobs.keys().map(String::as_str).collect();
        Err(super::deps::unknown_job(job, &names))
    }
    fn secret(&self, _: &str) -> Result<String, String> {
        Ok(String::new())
    }
    fn env(&self, _: &str) -> Result<String, String> {
        Ok(String::new())
    }
}

/// A scope identified across combinations.
type ScopeId = (ScopeKind, String);

/// A reference written in a variable: its scope, the variable, its offset, as written.
type RefSite = (ScopeId, String, usize, String);

/// Where a job's own variable fails: (offset, reference) when it is its own reference.
type Direct = Option<(usize, String)>;

/// What is collected over every combination, reported once each at the end.
#[derive(Default)]
struct Findings {
    /// (scope, variable, offset, written, kind) → where it failed ("environment `dev`").
    failures: BTreeMap<RefSite, (FailureKind, Vec<String>)>,
    cycles: BTreeSet<Vec<(ScopeId, String)>>,
    /// A job's own variable that cannot be set: (job, variable) → reason.
    unset_job_vars: BTreeMap<(String, String), (Direct, String)>,
    /// A project or environment variable not set for some jobs: variable → jobs → producers.
    unset_for: BTreeMap<(ScopeId, String), BTreeMap<String, BTreeSet<String>>>,
    /// Evaluations made so far (bounded by `MAX_WORK`).
    work: usize,
}

pub(super) fn check(d: &mut Diags, notes: &mut Diags, project: &Project, sites: &VarSites, source: &Source<'_>) {
    let has_refs = |vars: &IndexMap<String, VariableDef>| vars.values().any(|v| v.value.contains("${"));
    let any = has_refs(&project.variables)
        || project.environments.values().any(|e| has_refs(&e.variables))
        || project.jobs.values().any(|j| has_refs(&j.variables));
    if !any {
        return;
    }
    let upstream: IndexMap<&str, BTreeSet<&str>> =
        project.jobs.keys().map(|j| (j.as_str(), project.upstream_of(j))).collect();
    let none = IndexMap::new();
    // A project without environments can run nothing, but its references still count.
    let envs: Vec<(&str, &IndexMap<String, VariableDef>)> = if project.environments.is_empty() {
        vec![("", &none)]
    } else {
        project.environments.iter().map(|(n, e)| (n.as_str(), &e.variables)).collect()
    };
    let mut found = Findings::default();
    // Every environment evaluates the project's variables with references: known before
    // any work is done.
    let per_env = project.variables.values().filter(|v| v.value.contains("${")).count();
    for (env, env_vars) in envs.iter().copied() {
        if envs.len().saturating_mul(per_env) > MAX_WORK || !found.environment(project, &upstream, env, env_vars) {
            d.error(
                Pos::START,
                format!(
                    "the variables reference each other too much to be checked (more than {MAX_WORK} evaluations over {} environments and {} jobs); simplify them",
                    project.environments.len(),
                    project.jobs.len()
                ),
            );
            return;
        }
    }
    found.report(d, notes, project, sites, source);
}

/// For each name, the variables the environment sees that reference it directly.
fn users_of<'a>(wide: &[Scope<'a>]) -> HashMap<&'a str, Vec<&'a str>> {
    let mut users: HashMap<&str, Vec<&str>> = HashMap::new();
    for (index, scope) in wide.iter().enumerate() {
        for (name, def) in scope.vars {
            if wide.iter().rposition(|s| s.vars.contains_key(name)) != Some(index) {
                continue;
            }
            for (reference, _) in references(&def.value) {
                if let Reference::Var(used) = reference {
                    users.entry(used).or_default().push(name.as_str());
                }
            }
        }
    }
    users
}

/// The environment's variables whose value a job's own definitions change: those that
/// use a name the job defines, directly or through each other (not the ones it hides).
fn changed_by<'a>(job: &'a Job, users: &HashMap<&'a str, Vec<&'a str>>) -> BTreeSet<&'a str> {
    let mut changed = BTreeSet::new();
    let mut todo: Vec<&str> = job.variables.keys().map(String::as_str).collect();
    while let Some(name) = todo.pop() {
        for user in users.get(name).into_iter().flatten() {
            if !job.variables.contains_key(*user) && changed.insert(*user) {
                todo.push(user);
            }
        }
    }
    changed
}

impl Findings {
    /// Checks one environment: every variable as the whole environment sees it once, then
    /// for each job with variables only its own and those they change. False when the
    /// work would pass `MAX_WORK`.
    fn environment(
        &mut self,
        project: &Project,
        upstream: &IndexMap<&str, BTreeSet<&str>>,
        env: &str,
        env_vars: &IndexMap<String, VariableDef>,
    ) -> bool {
        let jobs: Vec<&Job> = project.jobs.values().filter(|j| env.is_empty() || j.runs_in(env)).collect();
        let wide = [
            Scope { kind: ScopeKind::Project, owner: "", vars: &project.variables },
            Scope { kind: ScopeKind::Environment, owner: env, vars: env_vars },
        ];
        // Outputs are accepted here, and compared with each job's upstream after.
        let sources = Symbolic { jobs: &project.jobs, upstream: None };
        let mut eval = Evaluator::statuses_only(&wide, &sources);
        let mut statuses: Vec<(usize, &str, Status)> = Vec::new();
        for (index, scope) in wide.iter().enumerate() {
            for (name, def) in scope.vars {
                if eval.binding(name) == Some(index) && def.value.contains("${") {
                    statuses.push((index, name.as_str(), eval.status(name).clone()));
                }
            }
        }
        let known: HashMap<&str, Status> = statuses.iter().map(|(_, n, s)| (*n, s.clone())).collect();
        self.work += eval.work();
        let users = users_of(&wide);
        let mut own: Vec<(&Job, BTreeSet<&str>)> = Vec::new();
        for job in jobs.iter().filter(|j| !j.variables.is_empty()) {
            let changed = changed_by(job, &users);
            self.work += changed.len() + job.variables.len();
            own.push((job, changed));
        }
        if self.work > MAX_WORK {
            return false;
        }
        // Whether `job` sees `name` exactly as the whole environment does.
        let unchanged_for = |job: &Job, name: &str| {
            !job.variables.contains_key(name)
                && own.iter().find(|(j, _)| j.name == job.name).is_none_or(|(_, c)| !c.contains(name))
        };
        let context = if env.is_empty() { "every job".to_string() } else { format!("environment `{env}`") };
        for (index, name, status) in statuses {
            let scope = &wide[index];
            match status {
                // Reported when some job sees it so (or when the project has no jobs at all).
                Status::Failed(f) if project.jobs.is_empty() || jobs.iter().any(|j| unchanged_for(j, name)) => {
                    self.failure(&wide, f, &context)
                }
                Status::Set { outputs, .. } if !outputs.is_empty() => {
                    for job in jobs.iter().filter(|j| unchanged_for(j, name)) {
                        let up = &upstream[job.name.as_str()];
                        let missing = outputs.iter().filter(|o| !up.contains(o.as_str())).cloned();
                        let key = ((scope.kind, scope.owner.to_string()), name.to_string());
                        let missing: BTreeSet<String> = missing.collect();
                        if !missing.is_empty() {
                            self.unset_for.entry(key).or_default().entry(job.name.clone()).or_default().extend(missing);
                        }
                    }
                }
                _ => {}
            }
        }
        for (job, changed) in own {
            self.job(project, &upstream[job.name.as_str()], env, job, &wide, changed, &known);
            if self.work > MAX_WORK {
                return false;
            }
        }
        true
    }

    /// A job's own variables with references, and the environment's variables they change,
    /// as that job sees them.
    #[allow(clippy::too_many_arguments)]
    fn job(
        &mut self,
        project: &Project,
        up: &BTreeSet<&str>,
        env: &str,
        job: &Job,
        wide: &[Scope<'_>; 2],
        changed: BTreeSet<&str>,
        known: &HashMap<&str, Status>,
    ) {
        let sources = Symbolic { jobs: &project.jobs, upstream: Some(up) };
        let scopes = [wide[0], wide[1], Scope { kind: ScopeKind::Job, owner: &job.name, vars: &job.variables }];
        // What the whole environment found holds for this job, except for the variables the
        // job changes or hides, and those using outputs of jobs that are not its upstream.
        let reuse = |name: &str| -> Option<Status> {
            if changed.contains(name) || job.variables.contains_key(name) {
                return None;
            }
            match known.get(name)? {
                Status::Set { outputs, .. } if outputs.iter().any(|o| !up.contains(o.as_str())) => None,
                status => Some(status.clone()),
            }
        };
        let mut eval = Evaluator::statuses_only(&scopes, &sources).with_known(&reuse);
        let context = if env.is_empty() {
            format!("job `{}`", job.name)
        } else {
            format!("job `{}` in environment `{env}`", job.name)
        };
        let own = job.variables.iter().filter(|(_, d)| d.value.contains("${")).map(|(n, _)| n.as_str());
        for name in own.chain(changed.iter().copied()).collect::<Vec<_>>() {
            let Some(index) = eval.binding(name) else { continue };
            let scope = &scopes[index];
            match eval.status(name).clone() {
                Status::Set { .. } => {}
                Status::Failed(f) => self.failure(&scopes, f, &context),
                Status::Unset(u) if scope.kind == ScopeKind::Job => {
                    // Direct: point at the reference; through a variable: at the value.
                    let direct = (u.site.scope == index && u.site.name == name).then(|| {
                        let value = &scope.vars[name].value;
                        let offset = references(value)
                            .into_iter()
                            .find(|(r, _)| r.to_string() == u.written)
                            .map_or(0, |(_, o)| o);
                        (offset, u.written.clone())
                    });
                    let why = if direct.is_some() {
                        format!(
                            "job `{}` is not upstream of `{}`: add it to `depends_on` (directly or through another job) to use its outputs",
                            u.job, job.name
                        )
                    } else {
                        format!("it cannot be set: {}", unset_reason(&scopes, &u, &job.name))
                    };
                    self.unset_job_vars.insert((job.name.clone(), name.to_string()), (direct, why));
                }
                Status::Unset(u) => {
                    let key = ((scope.kind, scope.owner.to_string()), name.to_string());
                    self.unset_for.entry(key).or_default().entry(job.name.clone()).or_default().insert(u.job);
                }
            }
        }
        self.work += eval.work();
    }
    fn failure(&mut self, scopes: &[Scope<'_>], f: Failure, context: &str) {
        let id = |s: &Site| ((scopes[s.scope].kind, scopes[s.scope].owner.to_string()), s.name.clone());
        if let FailureKind::Cycle(path) = &f.kind {
            let mut members: Vec<_> = path.iter().map(id).collect();
            members.sort();
            if !self.cycles.insert(members) {
                return;
            }
            // Written once, with the scopes spelled out, at the reference that closes it.
            let kind = FailureKind::Lookup(cycle_text(scopes, path));
            let (scope, name) = id(&f.site);
            self.failures.entry((scope, name, f.offset, f.written)).or_insert((kind, vec![]));
            return;
        }
        let (scope, name) = id(&f.site);
        let entry = self.failures.entry((scope, name, f.offset, f.written)).or_insert((f.kind, vec![]));
        if !entry.1.iter().any(|c| c == context) {
            entry.1.push(context.to_string());
        }
    }

    fn report(self, d: &mut Diags, notes: &mut Diags, project: &Project, sites: &VarSites, source: &Source<'_>) {
        let defined: BTreeSet<&str> = project
            .variables
            .keys()
            .chain(project.environments.values().flat_map(|e| e.variables.keys()))
            .chain(project.jobs.values().flat_map(|j| j.variables.keys()))
            .map(String::as_str)
            .collect();
        let at = |scope: &ScopeId, name: &str, reference: Option<(usize, &str)>| -> Pos {
            let Some((pos, len)) = sites.get(scope.0, &scope.1, name) else { return Pos::START };
            let Some((offset, written)) = reference else { return pos };
            let value = value_of(project, scope, name);
            let nth = value.get(..offset).map_or(0, |before| before.matches(written).count());
            source.locate(pos, len, written, nth)
        };
        for ((scope, name, offset, written), (kind, contexts)) in &self.failures {
            let variable = variable_label(scope, name);
            let message = match kind {
                FailureKind::Unknown(n) if !defined.contains(n.as_str()) => {
                    let mut candidates: Vec<&str> = defined.iter().copied().collect();
                    candidates.extend(BUILTINS);
                    let mut m = format!(
                        "`{written}` in {variable}: no variable `{n}` is defined in the project, an environment or a job, and it is not a built-in"
                    );
                    if let Some(close) = closest(n, &candidates) {
                        m.push_str(&format!("; did you mean `{close}`?"));
                    }
                    m.push_str("; a job's output is written `${outputs.JOB.NAME}`");
                    m
                }
                FailureKind::Unknown(n) => format!(
                    "`{written}` in {variable}: `{n}` is not defined for {}; define it in the project, or for every environment or job that uses this value",
                    some_of(contexts)
                ),
                FailureKind::Cycle(_) => format!("`{written}` in {variable}: variables refer to each other in a cycle"),
                FailureKind::Lookup(why) => format!("`{written}` in {variable}: {why}"),
            };
            d.error(at(scope, name, Some((*offset, written))), message);
        }
        for ((job, name), (direct, why)) in &self.unset_job_vars {
            let scope = (ScopeKind::Job, job.clone());
            let variable = variable_label(&scope, name);
            let (pos, message) = match direct {
                Some((offset, written)) => {
                    (at(&scope, name, Some((*offset, written))), format!("`{written}` in {variable}: {why}"))
                }
                None => (at(&scope, name, None), format!("{variable}: {why}")),
            };
            d.error(pos, message);
        }
        for ((scope, name), jobs) in &self.unset_for {
            let producers: BTreeSet<&str> = jobs.values().flatten().map(String::as_str).collect();
            let quoted =
                |names: &mut dyn Iterator<Item = &str>| some_of(&names.map(|n| format!("`{n}`")).collect::<Vec<_>>());
            notes.error(
                at(scope, name, None),
                format!(
                    "{} uses outputs of {}, so only the jobs downstream of {} get it; it is not set for {}",
                    variable_label(scope, name),
                    quoted(&mut producers.iter().copied()),
                    if producers.len() == 1 { "it" } else { "them" },
                    quoted(&mut jobs.keys().map(String::as_str))
                ),
            );
        }
    }
}

/// The first three, and how many more.
fn some_of(items: &[String]) -> String {
    match items.len() {
        0..=3 => items.join(", "),
        n => format!("{} and {} more", items[..3].join(", "), n - 3),
    }
}

fn variable_label(scope: &ScopeId, name: &str) -> String {
    match scope.0 {
        ScopeKind::Project => format!("variable `{name}` of the project"),
        ScopeKind::Environment => format!("variable `{name}` of environment `{}`", scope.1),
        ScopeKind::Job => format!("variable `{name}` of job `{}`", scope.1),
    }
}

fn value_of<'p>(project: &'p Project, scope: &ScopeId, name: &str) -> &'p str {
    let vars = match scope.0 {
        ScopeKind::Project => Some(&project.variables),
        ScopeKind::Environment => project.environments.get(&scope.1).map(|e| &e.variables),
        ScopeKind::Job => project.jobs.get(&scope.1).map(|j| &j.variables),
    };
    vars.and_then(|v| v.get(name)).map_or("", |v| v.value.as_str())
}
