//! Parses and validates `terrace.yaml` text into a [`Project`]. Every problem is
//! collected with its line and column (never only the first), and a project is returned
//! only when there are none. Pure: the caller reads the file.

mod commands;
mod deps;
mod iac;
mod job;
mod load;
mod variables;
mod walk;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jobs;
#[cfg(test)]
mod tests_robust;

use std::fmt;

use indexmap::IndexMap;

use crate::names::is_valid_resource_name;
use crate::project::{EnvironmentDef, Project};
pub use job::{MAX_RESTARTS, TEMPLATES};
use walk::{Diags, Pos, Slot, check_keys, get, shorten};

/// The keys of the top level, an environment, a job and a long-form variable. The JSON
/// Schema's property names are tested against these, so the two cannot drift.
pub const TOP_KEYS: &[&str] = &["project", "variables", "environments", "jobs"];
pub const ENVIRONMENT_KEYS: &[&str] = &["variables"];
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
    "binary",
    "backend_config",
    "template_file",
    "capabilities",
    "sensitive_outputs",
];
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

/// Parses the text of the project file `file` (used only in messages).
pub fn parse_project(file: &str, text: &str) -> Result<Project, ProjectError> {
    let mut d = Diags::default();
    let project = load::load(text, &mut d).map(|root| project(&mut d, &root));
    let mut problems = d.0;
    match project {
        Some(project) if problems.is_empty() => Ok(project),
        _ => {
            // Cross-job checks run after the walk; sorting restores file order.
            problems.sort_by_key(|p| (p.line, p.column));
            Err(ProjectError { file: file.to_string(), problems })
        }
    }
}

fn project(d: &mut Diags, root: &marked_yaml::Node) -> Project {
    let entries = Slot::new(root, Pos::START, "the top level").entries(d, "a mapping").unwrap_or_default();
    check_keys(d, &entries, TOP_KEYS, "the top level");
    let field = |key: &str| get(&entries, key).map(|(p, n)| Slot::new(n, p, format!("`{key}`")));

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
    let variables = field("variables").map(|s| variables::variables(d, &s, "the project")).unwrap_or_default();
    let environments = field("environments").map(|s| environments(d, &s)).unwrap_or_default();
    let mut jobs = IndexMap::new();
    if let Some(slot) = field("jobs") {
        for (key, node) in slot.entries(d, "a mapping of job names to jobs").unwrap_or_default() {
            let at = Pos::of(key.span());
            check_name(d, "job", key.as_str(), at);
            jobs.insert(key.as_str().to_string(), job::job(d, key.as_str(), at, node));
        }
    }
    deps::check(d, &jobs);
    Project { name, variables, environments, jobs: jobs.into_iter().map(|(k, parsed)| (k, parsed.job)).collect() }
}

fn environments(d: &mut Diags, slot: &Slot<'_>) -> IndexMap<String, EnvironmentDef> {
    let mut out = IndexMap::new();
    for (key, node) in slot.entries(d, "a mapping of environment names to environments").unwrap_or_default() {
        let (name, at) = (key.as_str(), Pos::of(key.span()));
        check_name(d, "environment", name, at);
        let label = format!("environment `{}`", shorten(name));
        let entries = Slot::new(node, at, label.clone()).entries(d, "a mapping (or empty)").unwrap_or_default();
        check_keys(d, &entries, ENVIRONMENT_KEYS, &label);
        let variables = get(&entries, "variables")
            .map(|(p, n)| variables::variables(d, &Slot::new(n, p, format!("`variables` of {label}")), &label))
            .unwrap_or_default();
        out.insert(name.to_string(), EnvironmentDef { name: name.to_string(), variables });
    }
    out
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
