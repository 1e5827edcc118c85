//! `terrace drift ENV`: whether the environment drifted, and its drift checks (newest
//! first) with the resources each found changed outside Terrace. Local and client mode
//! print the same.

use std::process::ExitCode;

use terrace_engine::timed::drift::{self, DriftHistory};

use crate::args::{DriftArgs, Global};
use crate::context::session;
use crate::exit::CliError;
use crate::out::outln;
use crate::render::table::{self, when};

pub async fn drift(g: &Global, a: &DriftArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let project = &s.loaded.project;
    let record = s.store.get_environment(&project.name, &a.env).await?;
    if record.is_none() && project.environment(&a.env).is_none() {
        return Err(CliError::usage(project.unknown_environment(&a.env)));
    }
    let now = super::timed::clock()?.now();
    let limit = a.limit.clamp(1, 500);
    let history = drift::history(project, &a.env, record.as_ref(), s.timed.as_ref(), now, limit).await?;
    print(&history, a.json)
}

/// The line `status ENV` prints for an environment with `drift:`.
pub fn status_line(d: &drift::DriftStatus) -> String {
    let next = d.next_at.map(|t| format!(", next check at {} UTC", when(t))).unwrap_or_default();
    match &d.last {
        None => format!("  drift ({}): not checked yet{next}", d.cron),
        Some(c) => {
            format!("  drift ({}): {} at {} UTC{next}\n  {}", d.cron, c.state, when(c.checked_at), drift::describe(c))
        }
    }
}

pub fn print(h: &DriftHistory, json: bool) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(h)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &h.drift {
        Some(d) => outln!("environment `{}`:\n{}", h.environment, status_line(d)),
        None => outln!("environment `{}` has no `drift:` schedule", h.environment),
    }
    if h.checks.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let rows = h
        .checks
        .iter()
        .map(|c| {
            let resources: Vec<String> =
                c.resources.iter().map(|r| format!("{}: {} ({})", r.job, r.address, r.actions.join("+"))).collect();
            let detail = match (&c.reason, resources.is_empty()) {
                (Some(why), _) => why.clone(),
                (None, true) => "-".into(),
                (None, false) => resources.join(", "),
            };
            vec![when(c.checked_at), c.state.to_string(), detail]
        })
        .collect();
    table::print(&["CHECKED", "STATE", "RESOURCES"], rows)?;
    Ok(ExitCode::SUCCESS)
}
