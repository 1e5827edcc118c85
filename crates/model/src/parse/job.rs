//! One entry of `jobs:`: every field of a job, checked on its own. Checks that need
//! all jobs (dependencies, cycles, output-name clashes) live in `deps.rs`.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use marked_yaml::Node;

use super::JOB_KEYS;
use super::commands::{check_missing, commands, events};
use super::git_source::JobSource;
use super::source::Source;
use super::variables::{Block, VarSites, variables};
use super::walk::{Diags, Pos, Slot, check_keys, get, shorten, unknown};
use crate::names::is_valid_variable_name;
use crate::project::{Job, TemplateKind};
use crate::vars::ScopeKind;

/// The templates a job may name: the one place to extend when a template is added
/// (the JSON Schema's enum is built from it too).
pub const TEMPLATES: &[(&str, TemplateKind)] = &[
    ("shell", TemplateKind::Shell),
    ("terraform", TemplateKind::Terraform),
    ("opentofu", TemplateKind::Opentofu),
    ("cloudformation", TemplateKind::Cloudformation),
];

/// Whether a template runs the user's `commands` (so each event needs one), or brings
/// its own commands per event as the IaC templates do.
fn runs_user_commands(kind: TemplateKind) -> bool {
    !kind.has_default_commands()
}

/// More restarts than this is a retry loop, not a job.
pub const MAX_RESTARTS: u32 = 100;

/// A job plus what the cross-job checks need: where it, its dependencies, its
/// environments and the files it names are written.
pub(super) struct ParsedJob {
    pub job: Job,
    pub at: Pos,
    pub depends: Vec<(String, Pos)>,
    pub environments: Option<Vec<(String, Pos)>>,
    /// The artifacts it consumes, with where each is written.
    pub artifacts: Vec<(String, Pos)>,
    /// Where `source`, `input` and `template_file` are written (the job's key when absent).
    pub source_at: Pos,
    pub input_at: Pos,
    pub template_file_at: Pos,
    /// Where the first key that needs a container executor is written.
    pub container_at: Pos,
    pub dockerfile_at: Pos,
}

/// Reads one job. Always returns it (with defaults where fields were wrong), so the
/// dependency checks do not call a broken job "unknown".
pub(super) fn job(
    d: &mut Diags,
    name: &str,
    at: Pos,
    node: &Node,
    sites: &mut VarSites,
    source: &Source<'_>,
) -> ParsedJob {
    let label = format!("job `{}`", shorten(name));
    let mut job = Job::new(name, TemplateKind::Shell);
    let entries = Slot::new(node, at, label.clone()).entries(d, "a mapping of job settings").unwrap_or_default();
    check_keys(d, &entries, JOB_KEYS, &label);
    let field = |key: &str| get(&entries, key).map(|(p, n)| Slot::new(n, p, format!("`{key}` of {label}")));

    if let Some(slot) = field("template")
        && let Some(word) = slot.string(d, "a template name")
    {
        match TEMPLATES.iter().find(|(n, _)| *n == word) {
            Some((_, kind)) => job.template = *kind,
            None => {
                let names: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
                d.error(slot.pos(), unknown(&format!("template `{}` in {label}", shorten(&word)), &word, &names));
            }
        }
    }
    match field("source").and_then(|s| super::git_source::source(d, &s)) {
        Some(JobSource::Folder(path)) => job.source = path,
        Some(JobSource::Git(git)) => job.git = Some(git),
        None => {}
    }
    let subscribed = events(d, &entries, name, at, job.template);
    job.events = subscribed.iter().map(|(e, _)| *e).collect();
    let (cmds, written) = commands(d, field("commands"), name);
    job.commands = cmds;
    if runs_user_commands(job.template)
        && let Some(written) = written
    {
        check_missing(d, name, &subscribed, &written);
    }
    let depends = field("depends_on").and_then(|s| unique_strings(d, &s)).unwrap_or_default();
    job.depends_on = depends.iter().map(|(n, _)| n.clone()).collect();
    job.input = field("input").and_then(|s| relative_path(d, &s));
    if let Some(slot) = field("variables") {
        let block = Block { kind: ScopeKind::Job, owner: name, label: &label };
        job.variables = variables(d, &slot, &block, sites, source);
    }
    job.max_duration = field("max_duration").and_then(|s| duration(d, &s));
    job.schedule = field("schedule").and_then(|s| cron(d, &s));
    job.max_restarts = field("max_restarts").and_then(|s| s.number(d, MAX_RESTARTS)).unwrap_or(0);
    if let Some(slot) = field("passthrough") {
        for (var, var_at) in unique_strings(d, &slot).unwrap_or_default() {
            if is_valid_variable_name(&var) {
                job.passthrough.push(var);
            } else {
                d.error(
                    var_at,
                    format!(
                        "invalid variable name `{}` in {}: expected letters, digits and `_`, not starting with a digit",
                        shorten(&var),
                        slot.label
                    ),
                );
            }
        }
    }
    job.skip_unchanged = field("skip_unchanged").and_then(|s| s.boolean(d)).unwrap_or(false);
    job.executor = field("executor").and_then(|s| super::executor::name(d, &s));
    job.pool = field("pool").and_then(|s| super::executor::pool(d, &s));
    let environments = field("environments").and_then(|s| {
        let list = unique_strings(d, &s)?;
        if list.is_empty() {
            d.error(
                s.pos(),
                format!("{} is empty: list the environments the job runs in, or leave the key out for all", s.label),
            );
        }
        Some(list)
    });
    job.environments = environments.as_ref().map(|l| l.iter().map(|(e, _)| e.clone()).collect());
    let artifacts = field("artifacts").and_then(|s| unique_strings(d, &s)).unwrap_or_default();
    job.artifacts = artifacts.iter().map(|(a, _)| a.clone()).collect();
    super::iac::settings(d, &mut job, &field, at);
    job.container = super::container::settings(d, &field);
    let pos_of = |key: &str| field(key).map_or(at, |s| s.pos());
    let key_at = |key: &str| get(&entries, key).map(|(p, _)| p);
    let container_at = ["image", "dockerfile", "entrypoint"].into_iter().find_map(key_at).unwrap_or(at);
    ParsedJob {
        job,
        at,
        depends,
        environments,
        artifacts,
        source_at: pos_of("source"),
        input_at: pos_of("input"),
        template_file_at: pos_of("template_file"),
        container_at,
        dockerfile_at: pos_of("dockerfile"),
    }
}

/// A list of strings where each may appear once.
pub(super) fn unique_strings(d: &mut Diags, slot: &Slot<'_>) -> Option<Vec<(String, Pos)>> {
    let mut out: Vec<(String, Pos)> = Vec::new();
    for (item, at) in slot.strings(d)? {
        if out.iter().any(|(seen, _)| *seen == item) {
            d.error(at, format!("`{}` is listed twice in {}", shorten(&item), slot.label));
        } else {
            out.push((item, at));
        }
    }
    Some(out)
}

/// A path inside the project folder: relative and never climbing out with `..`, so a
/// project cannot make a job read or run files outside its own repository.
pub(super) fn relative_path(d: &mut Diags, slot: &Slot<'_>) -> Option<PathBuf> {
    let text = slot.string(d, "a path relative to the project file")?;
    let path = Path::new(&text);
    let problem = if text.is_empty() {
        "is empty; write `.` for the project folder"
    } else if path.has_root() {
        "must be relative to the project file, found an absolute path"
    } else if path.components().any(|c| c == Component::ParentDir) {
        "must stay inside the project folder: `..` is not allowed"
    } else {
        return Some(path.to_path_buf());
    };
    d.error(slot.pos(), format!("{} {problem}", slot.label));
    None
}

/// A cron expression (`schedule`, `drift`).
pub(super) fn cron(d: &mut Diags, slot: &Slot<'_>) -> Option<crate::cron::CronSchedule> {
    let text = slot.string(d, "a cron expression such as \"*/15 * * * *\" (minute hour day month weekday)")?;
    match crate::cron::CronSchedule::parse(&text) {
        Ok(c) => Some(c),
        Err(e) => {
            d.error(
                slot.pos(),
                format!(
                    "{} `{}` {e}: write five fields (minute hour day-of-month month day-of-week), for example \"0 3 * * *\"",
                    slot.label,
                    shorten(&text)
                ),
            );
            None
        }
    }
}

/// A humantime duration such as `10m` or `1h 30m`, longer than zero.
pub(super) fn duration(d: &mut Diags, slot: &Slot<'_>) -> Option<Duration> {
    let text = slot.string(d, "a duration such as `10m` or `1h 30m`")?;
    match humantime::parse_duration(&text) {
        Ok(value) if value.is_zero() => d.error(slot.pos(), format!("{} must be longer than zero", slot.label)),
        Ok(value) => return Some(value),
        Err(e) => d.error(
            slot.pos(),
            format!(
                "{} `{}` is not a duration ({e}): write for example `10m`, `90s` or `1h 30m`",
                slot.label,
                shorten(&text)
            ),
        ),
    }
    None
}
