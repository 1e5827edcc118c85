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
            let root = file.parent().unwrap_or(std::path::Path::new("."));
            let missing = missing_files(&p, root);
            if !missing.is_empty() {
                if a.json {
                    let problems: Vec<_> =
                        missing.iter().map(|m| serde_json::json!({"file": label, "message": m})).collect();
                    println!("{}", serde_json::json!({"valid": false, "file": label, "problems": problems}));
                } else {
                    for m in &missing {
                        eprintln!("{label}: {m}");
                    }
                    eprintln!("{} problem{} found", missing.len(), if missing.len() == 1 { "" } else { "s" });
                }
                return Ok(ExitCode::from(2));
            }
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

/// The files the project names that are not there (the parser cannot see the disk).
fn missing_files(p: &terrace_model::Project, root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for job in p.jobs.values() {
        let source = root.join(&job.source);
        if !source.is_dir() {
            out.push(format!("job `{}`: source folder `{}` does not exist", job.name, job.source.display()));
        }
        if let Some(input) = &job.input
            && !root.join(input).is_file()
        {
            out.push(format!("job `{}`: parameters file `{}` does not exist", job.name, input.display()));
        }
        if let Some(t) = &job.iac.template_file
            && source.is_dir()
            && !source.join(t).is_file()
        {
            out.push(format!(
                "job `{}`: template_file `{}` does not exist in its source folder `{}`",
                job.name,
                t.display(),
                job.source.display()
            ));
        }
    }
    out
}

pub fn schema() -> Result<ExitCode, CliError> {
    println!("{}", serde_json::to_string_pretty(&terrace_model::schema::json_schema())?);
    Ok(ExitCode::SUCCESS)
}
