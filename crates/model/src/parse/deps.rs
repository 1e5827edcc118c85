//! Checks across jobs: `depends_on` names real jobs, the graph has no cycle, and no two
//! job names publish their outputs under the same `TERRACE_OUTPUT_JOB_<JOB>_` prefix.

use indexmap::IndexMap;

use super::job::ParsedJob;
use super::walk::{Diags, closest, shorten};
use crate::graph::find_cycle;
use crate::names::job_env_segment;

pub(super) fn check(d: &mut Diags, jobs: &IndexMap<String, ParsedJob>) {
    unknown_targets(d, jobs);
    cycles(d, jobs);
    output_clashes(d, jobs);
}

fn unknown_targets(d: &mut Diags, jobs: &IndexMap<String, ParsedJob>) {
    let known: Vec<&str> = jobs.keys().map(String::as_str).collect();
    for (name, parsed) in jobs {
        for (target, at) in &parsed.depends {
            if jobs.contains_key(target) {
                continue;
            }
            let message = format!("job `{name}` depends on {}", unknown_job(target, &known));
            d.error(*at, message);
        }
    }
}

/// "unknown job `x`; the jobs are a, b; did you mean `a`?"
pub(super) fn unknown_job(target: &str, known: &[&str]) -> String {
    let mut message = format!("unknown job `{}`", shorten(target));
    if known.is_empty() {
        message.push_str("; the project has no jobs");
    } else {
        message.push_str(&format!("; the jobs are {}", known.join(", ")));
    }
    if let Some(close) = closest(target, known) {
        message.push_str(&format!("; did you mean `{close}`?"));
    }
    message
}

/// Reports every cycle, not just the first: after one is reported its closing edge is
/// dropped and the search runs again (bounded by the number of edges).
fn cycles(d: &mut Diags, jobs: &IndexMap<String, ParsedJob>) {
    let mut deps: IndexMap<String, Vec<String>> =
        jobs.iter().map(|(name, parsed)| (name.clone(), parsed.job.depends_on.clone())).collect();
    loop {
        let Some(cycle) = find_cycle(&deps).map(|c| c.iter().map(|s| s.to_string()).collect::<Vec<_>>()) else {
            return;
        };
        let (from, to) = (&cycle[0], &cycle[1]);
        let at = jobs[from].depends.iter().find(|(t, _)| t == to).map_or(jobs[from].at, |(_, at)| *at);
        let path = cycle.join(" → ");
        let message = if cycle.len() == 2 {
            format!("job `{from}` depends on itself ({path})")
        } else {
            format!("dependency cycle: {path}; a job cannot wait, directly or not, for itself")
        };
        d.error(at, message);
        if let Some(edges) = deps.get_mut(from) {
            edges.retain(|t| t != to);
        }
    }
}

fn output_clashes(d: &mut Diags, jobs: &IndexMap<String, ParsedJob>) {
    let mut seen: IndexMap<String, &str> = IndexMap::new();
    for (name, parsed) in jobs {
        let segment = job_env_segment(name);
        match seen.get(&segment) {
            Some(first) => d.error(
                parsed.at,
                format!(
                    "jobs `{first}` and `{name}` would both publish outputs as `TERRACE_OUTPUT_JOB_{segment}_<NAME>`; rename one of them"
                ),
            ),
            None => {
                seen.insert(segment, name);
            }
        }
    }
}
