//! `terrace validate` and `terrace schema`.

use std::process::ExitCode;

use terrace_model::parse::parse_project;

use crate::args::{Global, JsonFlag};
use crate::context::{display_name, project_file};
use crate::exit::CliError;

pub fn validate(g: &Global, a: &JsonFlag) -> Result<ExitCode, CliError> {
    let file = project_file(g)?;
    let text =
        std::fs::read_to_string(&file).map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
    let label = display_name(&file);
    match parse_project(&label, &text) {
        Ok(p) => {
            if a.json {
                println!("{}", serde_json::json!({"valid": true, "file": label, "problems": []}));
            } else {
                println!(
                    "{label}: valid (project `{}`, {} jobs, {} environments)",
                    p.name,
                    p.jobs.len(),
                    p.environments.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                let problems: Vec<_> = e
                    .problems
                    .iter()
                    .map(|d| serde_json::json!({"file": label, "line": d.line, "column": d.column, "message": d.message}))
                    .collect();
                println!("{}", serde_json::json!({"valid": false, "file": label, "problems": problems}));
            } else {
                eprintln!("{e}");
                let n = e.problems.len();
                eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
            }
            Ok(ExitCode::from(2))
        }
    }
}

pub fn schema() -> Result<ExitCode, CliError> {
    println!("{}", serde_json::to_string_pretty(&terrace_model::schema::json_schema())?);
    Ok(ExitCode::SUCCESS)
}
