//! `terrace template list | show NAME | eject NAME --to DIR`: the defaults each template
//! brings, so a user can read them and override any of them.

use crate::out::outln;
use std::process::ExitCode;

use terrace_templates::catalog;

use crate::args::TemplateCommand;
use crate::exit::CliError;
use crate::render::table;

fn find(name: &str) -> Result<catalog::TemplateInfo, CliError> {
    catalog::find(name).ok_or_else(|| {
        let names: Vec<&str> = catalog::all().iter().map(|t| t.name).collect();
        CliError::usage(format!("no template `{name}` (templates: {})", names.join(", ")))
    })
}

pub fn template(cmd: &TemplateCommand) -> Result<ExitCode, CliError> {
    match cmd {
        TemplateCommand::List(a) => {
            let all = catalog::all();
            if a.json {
                outln!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                table::print(
                    &["TEMPLATE", "WHAT IT RUNS"],
                    all.iter().map(|t| vec![t.name.into(), t.summary.into()]).collect(),
                )?;
            }
        }
        TemplateCommand::Show { name, json } => {
            let t = find(name)?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&t)?);
                return Ok(ExitCode::SUCCESS);
            }
            outln!("template `{}`: {}\n", t.name, t.summary);
            outln!("Default command per event (a job's `commands.<event>` overrides one, keeping the others):");
            for (event, what) in &t.commands {
                outln!("  {event:<7} {what}");
            }
            if !t.job_settings.is_empty() {
                outln!("\nJob settings:");
                for (key, what) in &t.job_settings {
                    outln!("  {key:<17} {what}");
                }
            }
            outln!("\nDefault resources (container executors): cpu {}, memory {}", t.resources.cpu, t.resources.memory);
            outln!(
                "\nDefault image (container executors): it only installs the tool; Terrace runs each command above in it as it does on the local executor.\n{}",
                t.dockerfile
            );
            outln!("Customise it: terrace template eject {} --to DIR", t.name);
        }
        TemplateCommand::Eject { name, to } => {
            let t = find(name)?;
            let written = catalog::eject(&t, to)
                .map_err(|e| CliError::Failed(format!("cannot eject into {}: {e}", to.display())))?;
            for path in written {
                outln!("wrote {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
