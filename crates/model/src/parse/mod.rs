//! Parses and validates `terrace.yaml` into a [`Project`]. Every problem is collected
//! with its line and column (never only the first), and a project is returned only when
//! there are none. Pure: the caller reads the file (and, for `validate`, answers whether
//! the files it names exist through [`ProjectFiles`]).

mod approval;
mod artifacts;
mod commands;
mod container;
mod deps;
mod duplicates;
mod environments;
mod executor;
mod files;
mod git_source;
mod iac;
mod job;
mod load;
mod notify;
mod previews;
mod refs;
mod source;
mod variables;
mod walk;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_container;
#[cfg(test)]
mod tests_git;
#[cfg(test)]
mod tests_jobs;
#[cfg(test)]
mod tests_notify;
#[cfg(test)]
mod tests_previews;
#[cfg(test)]
mod tests_refs;
#[cfg(test)]
mod tests_robust;

use std::fmt;

use indexmap::IndexMap;

use crate::names::is_valid_resource_name;
use crate::project::Project;
use crate::vars::ScopeKind;
pub use artifacts::ARTIFACT_KEYS;
pub use container::reference_problem as image_reference_problem;
pub use files::ProjectFiles;
pub use git_source::GIT_SOURCE_KEYS;
pub use job::{MAX_RESTARTS, TEMPLATES};
pub use notify::NOTIFICATION_KEYS;
pub use previews::{LABEL_KEYS, MAX_PREVIEWS, PREVIEW_KEYS};
use source::Source;
pub use source::{MAX_PROJECT_FILE_BYTES, size_limit_text, too_large};
use variables::{Block, VarSites};
use walk::{Diags, Pos, Slot, check_keys, get, shorten};

/// The keys of the top level, an environment, a job and a long-form variable. The JSON
/// Schema's property names are tested against these, so the two cannot drift.
pub const TOP_KEYS: &[&str] =
    &["project", "variables", "environments", "jobs", "executor", "artifacts", "previews", "notifications"];
pub const ENVIRONMENT_KEYS: &[&str] =
    &["variables", "inputs", "executor", "pool", "branch", "on_failure", "approval", "ttl", "drift"];
pub const JOB_KEYS: &[&str] = &[
    "template",
    "source",
    "events",
    "commands",
    "depends_on",
    "input",
    "variables",
    "max_duration",
    "max_restarts",
    "passthrough",
    "skip_unchanged",
    "environments",
    "binary",
    "backend_config",
    "template_file",
    "capabilities",
    "sensitive_outputs",
    "executor",
    "pool",
    "image",
    "dockerfile",
    "entrypoint",
    "resources",
    "artifacts",
    "schedule",
];
/// The keys of a job's `resources`.
pub const RESOURCE_KEYS: &[&str] = container::RESOURCE_KEYS;
pub const VARIABLE_KEYS: &[&str] = &["value", "secret"];

/// One problem, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Every problem of one project file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectError {
    pub file: String,
    pub problems: Vec<Diagnostic>,
}

impl fmt::Display for ProjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{p}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for ProjectError {}

/// What `terrace validate` says about a file: the project when it has no problem, every
/// problem, and notes (facts worth knowing that are not errors), each in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub project: Option<Project>,
    pub problems: Vec<Diagnostic>,
    pub notes: Vec<Diagnostic>,
}

/// Parses the text of the project file `file` (used only in messages).
pub fn parse_project(file: &str, text: &str) -> Result<Project, ProjectError> {
    into_result(file, check_text(text, None))
}

/// Parses the bytes of a project file: over [`MAX_PROJECT_FILE_BYTES`] or not UTF-8 is
/// refused before anything else is read.
pub fn parse_project_bytes(file: &str, bytes: &[u8]) -> Result<Project, ProjectError> {
    into_result(file, check(bytes, None))
}

/// Everything `validate` reports; with `files`, also the source folders, parameters
/// files and templates the project names but that are missing.
pub fn check(bytes: &[u8], files: Option<&dyn ProjectFiles>) -> Report {
    let refused = |at: Pos, message: String| Report {
        project: None,
        problems: vec![Diagnostic { line: at.line, column: at.column, message }],
        notes: vec![],
    };
    if bytes.len() > MAX_PROJECT_FILE_BYTES {
        return refused(Pos::START, too_large(bytes.len() as u64));
    }
    match source::utf8(bytes) {
        Ok(text) => check_text(text, files),
        Err((at, message)) => refused(at, message),
    }
}

fn into_result(file: &str, report: Report) -> Result<Project, ProjectError> {
    match report.project {
        Some(p) => Ok(p),
        None => Err(ProjectError { file: file.to_string(), problems: report.problems }),
    }
}

fn check_text(text: &str, files: Option<&dyn ProjectFiles>) -> Report {
    if text.len() > MAX_PROJECT_FILE_BYTES {
        return Report {
            project: None,
            problems: vec![Diagnostic { line: 1, column: 1, message: too_large(text.len() as u64) }],
            notes: vec![],
        };
    }
    let mut d = Diags::default();
    let mut notes = Diags::default();
    let source = Source::new(text);
    let project = load::load(text, &mut d).map(|root| {
        let walked = project(&mut d, &root, &source);
        deps::check(&mut d, &walked.jobs);
        environments::check(&mut d, &walked.envs, &walked.jobs);
        artifacts::check(&mut d, &walked.artifacts, &walked.jobs, &walked.envs);
        previews::check(&mut d, &walked.previews, &walked.envs);
        let env_names: Vec<&str> = walked.envs.keys().map(String::as_str).collect();
        notify::check(&mut d, &walked.notifications, &env_names);
        let project = walked.project();
        container::check(&mut d, &project, &walked.jobs);
        refs::check(&mut d, &mut notes, &project, &walked.sites, &source);
        if let Some(files) = files {
            files::check(&mut d, &walked, files);
        }
        project
    });
    // Checks across the file run after the walk; sorting restores file order.
    let mut problems = d.0;
    problems.sort_by_key(|p| (p.line, p.column));
    let mut notes = notes.0;
    notes.sort_by_key(|p| (p.line, p.column));
    let project = project.filter(|_| problems.is_empty());
    Report { project, problems, notes }
}

/// The walked file: the project's parts with where they are written.
struct Walked {
    name: String,
    variables: IndexMap<String, crate::project::VariableDef>,
    executor: Option<String>,
    envs: IndexMap<String, environments::ParsedEnv>,
    jobs: IndexMap<String, job::ParsedJob>,
    artifacts: IndexMap<String, artifacts::ParsedArtifact>,
    previews: IndexMap<String, previews::ParsedPreview>,
    notifications: notify::Parsed,
    sites: VarSites,
}

impl Walked {
    fn project(&self) -> Project {
        Project {
            name: self.name.clone(),
            variables: self.variables.clone(),
            environments: self.envs.iter().map(|(k, e)| (k.clone(), e.def.clone())).collect(),
            jobs: self.jobs.iter().map(|(k, parsed)| (k.clone(), parsed.job.clone())).collect(),
            executor: self.executor.clone(),
            artifacts: self.artifacts.iter().map(|(k, a)| (k.clone(), a.def.clone())).collect(),
            previews: self.previews.iter().map(|(k, p)| (k.clone(), p.def.clone())).collect(),
            notifications: self.notifications.iter().map(|(k, (n, _))| (k.clone(), n.clone())).collect(),
        }
    }
}

fn project(d: &mut Diags, root: &marked_yaml::Node, source: &Source<'_>) -> Walked {
    let entries = Slot::new(root, Pos::START, "the top level").entries(d, "a mapping").unwrap_or_default();
    check_keys(d, &entries, TOP_KEYS, "the top level");
    let field = |key: &str| get(&entries, key).map(|(p, n)| Slot::new(n, p, format!("`{key}`")));
    let mut sites = VarSites::default();

    let mut name = String::new();
    match field("project") {
        None => d.error(Pos::START, "missing the required key `project` (the project's name, e.g. `project: shop`)"),
        Some(slot) => {
            if let Some(n) = slot.string(d, "the project's name") {
                check_name(d, "project", &n, slot.pos());
                name = n;
            }
        }
    }
    let block = Block { kind: ScopeKind::Project, owner: "", label: "the project" };
    let variables =
        field("variables").map(|s| variables::variables(d, &s, &block, &mut sites, source)).unwrap_or_default();
    let executor = field("executor").and_then(|s| executor::name(d, &s));
    let envs = field("environments").map(|s| environments::environments(d, &s, &mut sites, source)).unwrap_or_default();
    let mut jobs = IndexMap::new();
    if let Some(slot) = field("jobs") {
        for (key, node) in slot.entries(d, "a mapping of job names to jobs").unwrap_or_default() {
            let at = Pos::of(key.span());
            check_name(d, "job", key.as_str(), at);
            jobs.insert(key.as_str().to_string(), job::job(d, key.as_str(), at, node, &mut sites, source));
        }
    }
    let artifacts = field("artifacts").map(|s| artifacts::artifacts(d, &s)).unwrap_or_default();
    let previews = field("previews").map(|s| previews::previews(d, &s)).unwrap_or_default();
    let notifications = field("notifications").map(|s| notify::notifications(d, &s)).unwrap_or_default();
    Walked { name, variables, executor, envs, jobs, artifacts, previews, notifications, sites }
}

/// Project, environment and job names end up in file names, stack names and URLs.
fn check_name(d: &mut Diags, kind: &str, name: &str, at: Pos) {
    if !is_valid_resource_name(name) {
        d.error(
            at,
            format!(
                "invalid {kind} name `{}`: expected lowercase letters, digits, `-` and `_`, starting with a letter or digit, at most 63 characters",
                shorten(name)
            ),
        );
    }
}
