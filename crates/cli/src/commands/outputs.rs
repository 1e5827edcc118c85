//! `terrace outputs ENV`: the variables an environment's jobs produced, as later jobs see
//! them. Secrets show as `***` unless `--reveal`.

use crate::out::outln;
use std::process::ExitCode;

use terrace_model::names::output_variable;
use terrace_server::app::views::OutputView;

use crate::args::{Global, OutputsArgs};
use crate::context::session;
use crate::exit::CliError;
use crate::render::table;

/// How a secret shows unless revealed: the API's mask.
pub use terrace_server::app::views::MASK;

pub async fn outputs(g: &Global, a: &OutputsArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let project = &s.loaded.project;
    let Some(env) = s.store.get_environment(&project.name, &a.env).await? else {
        if project.environment(&a.env).is_none() {
            return Err(CliError::usage(project.unknown_environment(&a.env)));
        }
        return Err(CliError::usage(format!(
            "environment `{}` has no record yet (start it with `terrace up {}`)",
            a.env, a.env
        )));
    };
    let outputs = s.store.outputs(env.id).await?;
    let shown =
        |value: &str, sensitive: bool| if sensitive && !a.reveal { MASK.to_string() } else { value.to_string() };
    if a.json {
        // The API's type, as client mode prints it.
        let list: Vec<OutputView> = outputs
            .iter()
            .map(|o| OutputView {
                job: o.job.clone(),
                name: o.name.clone(),
                variable: output_variable(&o.job, &o.name),
                value: shown(&o.value, o.sensitive),
                sensitive: o.sensitive,
                run_id: o.run_id,
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if outputs.is_empty() {
        outln!("environment `{}` has no outputs", a.env);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = outputs
        .iter()
        .map(|o| {
            vec![
                o.name.clone(),
                shown(&o.value, o.sensitive),
                o.job.clone(),
                if o.sensitive { "yes".into() } else { "no".into() },
                output_variable(&o.job, &o.name),
            ]
        })
        .collect();
    table::print(&["NAME", "VALUE", "JOB", "SECRET", "VARIABLE"], rows)?;
    Ok(ExitCode::SUCCESS)
}
