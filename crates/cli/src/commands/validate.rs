//! `terrace validate` and `terrace schema`. Validate reports every problem of the file
//! in one pass, each with its line and column (the files it names included), and the
//! notes worth knowing (variables some jobs do not get); exit 2 on any problem.

use std::process::ExitCode;

use crate::out::{errln, outln};

use serde_json::json;
use terrace_engine::project_file::{self, ProjectFileError, ProjectFolder};
use terrace_model::parse::{self, Diagnostic};

use crate::args::{Global, JsonFlag};
use crate::context::{display_name, project_file};
use crate::exit::CliError;

pub fn validate(g: &Global, a: &JsonFlag) -> Result<ExitCode, CliError> {
    let file = project_file(g)?;
    let label = display_name(&file);
    let root = file.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
    let report = match project_file::read_bytes(&file, &label) {
        Ok(bytes) => parse::check(&bytes, Some(&ProjectFolder(root))),
        Err(ProjectFileError::TooLarge { len, .. }) => parse::Report {
            project: None,
            problems: vec![Diagnostic { line: 1, column: 1, message: parse::too_large(len) }],
            notes: vec![],
        },
        Err(e) => return Err(CliError::Usage(e.to_string())),
    };
    let as_json = |d: &Diagnostic| json!({"file": label, "line": d.line, "column": d.column, "message": d.message});
    if a.json {
        let problems: Vec<_> = report.problems.iter().map(as_json).collect();
        let notes: Vec<_> = report.notes.iter().map(as_json).collect();
        let valid = report.problems.is_empty();
        outln!("{}", json!({"valid": valid, "file": label, "problems": problems, "notes": notes}));
    } else {
        for n in &report.notes {
            errln!("{label}:{n} (note)");
        }
        for p in &report.problems {
            errln!("{label}:{p}");
        }
        match &report.project {
            Some(p) if report.problems.is_empty() => {
                let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
                outln!(
                    "{label}: valid (project `{}`, {}, {})",
                    p.name,
                    plural(p.jobs.len(), "job"),
                    plural(p.environments.len(), "environment")
                )
            }
            _ => {
                let n = report.problems.len();
                errln!("{n} problem{} found", if n == 1 { "" } else { "s" });
            }
        }
    }
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

pub fn schema() -> Result<ExitCode, CliError> {
    outln!("{}", serde_json::to_string_pretty(&terrace_model::schema::json_schema())?);
    Ok(ExitCode::SUCCESS)
}
