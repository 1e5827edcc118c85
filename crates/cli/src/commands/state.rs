//! `terrace state list|show|pull ENV JOB`: the Terraform state Terrace keeps for a job,
//! read from the data folder's store. Client mode prints the server's answers through the
//! same functions, so both modes print the same thing.

use std::io::Write;
use std::process::ExitCode;

use terrace_server::app::AppError;
use terrace_server::app::states::{self, StateVersionsView, StateView};
use terrace_store::StateKey;

use crate::args::{Global, StateCommand};
use crate::commands::outputs::MASK;
use crate::context::session;
use crate::exit::CliError;
use crate::out::outln;
use crate::render::table::{self, dash, when};

pub async fn state(g: &Global, c: StateCommand) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let key = |env: &str, job: &str| StateKey::new(&s.loaded.project.name, env, job);
    let store = s.store.as_ref();
    let (StateCommand::List { env, .. } | StateCommand::Show { env, .. } | StateCommand::Pull { env, .. }) = &c;
    s.require_known(env).await?;
    match c {
        StateCommand::List { env, job, json } => {
            print_versions(&states::versions(store, &key(&env, &job)).await.map_err(local)?, json)
        }
        StateCommand::Show { env, job, version, json } => {
            print_contents(&states::contents(store, &key(&env, &job), version).await.map_err(local)?, json)
        }
        StateCommand::Pull { env, job, version } => {
            let (_, body) = states::read(store, &key(&env, &job), version).await.map_err(local)?;
            print_raw(&body)
        }
    }
}

/// What the application layer says, as local mode reports it.
fn local(e: AppError) -> CliError {
    match e {
        AppError::NotFound { .. } => CliError::usage(format!("{e} (see `terrace state list ENV JOB`)")),
        other => CliError::Failed(other.to_string()),
    }
}

pub fn print_versions(v: &StateVersionsView, json: bool) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(v)?);
        return Ok(ExitCode::SUCCESS);
    }
    if v.versions.is_empty() {
        outln!("job `{}` of environment `{}` has no state in the store", v.job, v.environment);
    } else {
        let rows = v
            .versions
            .iter()
            .map(|s| {
                vec![
                    s.version.to_string(),
                    s.serial.map_or("-".into(), |n| n.to_string()),
                    dash(s.lineage.as_deref()),
                    dash(s.run.as_deref()),
                    when(s.created_at),
                    s.source.clone(),
                ]
            })
            .collect();
        table::print(&["VERSION", "SERIAL", "LINEAGE", "RUN", "CREATED", "SOURCE"], rows)?;
    }
    if let Some(lock) = &v.lock {
        let run = lock.run.clone().unwrap_or_else(|| lock.run_id.to_string());
        outln!("locked by run {run} since {}", when(lock.created_at));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_contents(v: &StateView, json: bool) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let run = v.version.run.as_deref().unwrap_or(&v.version.source);
    outln!(
        "state of job `{}` in `{}`: version {} (serial {}, lineage {}), written by {run} at {}",
        v.job,
        v.environment,
        v.version.version,
        v.version.serial.map_or("-".into(), |n| n.to_string()),
        dash(v.version.lineage.as_deref()),
        when(v.version.created_at)
    );
    outln!("");
    if v.contents.resources.is_empty() {
        outln!("no resources");
    } else {
        let rows = v.contents.resources.iter().map(|r| vec![r.address.clone(), r.provider.clone()]).collect();
        table::print(&["RESOURCE", "PROVIDER"], rows)?;
    }
    outln!("");
    if v.contents.outputs.is_empty() {
        outln!("no outputs");
    } else {
        let rows = v
            .contents
            .outputs
            .iter()
            .map(|o| {
                let value = match &o.value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let value = if o.sensitive { MASK.to_string() } else { value };
                vec![o.name.clone(), value, if o.sensitive { "yes".into() } else { "no".into() }]
            })
            .collect();
        table::print(&["OUTPUT", "VALUE", "SECRET"], rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The document as it is, byte for byte.
pub fn print_raw(body: &[u8]) -> Result<ExitCode, CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(body)?;
    if !body.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
