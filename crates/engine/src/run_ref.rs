//! Finding a run by what a person types: its short form `ENV#N` (`dev#17`, the run
//! numbered 17 in environment `dev`), its id, or any unique prefix of its id. One rule for
//! the CLI in local mode and for the API, so both answer alike.

use terrace_store::{RunRecord, Store, StoreError};

/// How many candidates an ambiguous reference lists.
const CANDIDATES: u32 = 10;

/// Why a reference names no single run.
#[derive(Debug, thiserror::Error)]
pub enum RunRefError {
    #[error(
        "no run `{0}` (see `terrace runs`: a run is named by its short form ENV#N, its id or a unique prefix of it)"
    )]
    NotFound(String),
    #[error("`{reference}` matches several runs; name one of them:\n{candidates}")]
    Ambiguous { reference: String, candidates: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one run `reference` names, within `project` when given (a server holds several).
pub async fn find_run(store: &dyn Store, project: Option<&str>, reference: &str) -> Result<RunRecord, RunRefError> {
    let mut found = store.find_runs(project, reference, CANDIDATES).await?;
    match found.len() {
        0 => Err(RunRefError::NotFound(clip(reference))),
        1 => Ok(found.remove(0)),
        _ => {
            let many = if found.len() as u32 >= CANDIDATES { "\n  ... (and maybe more)" } else { "" };
            let candidates: Vec<String> = found
                .iter()
                .map(|r| {
                    let place = if project.is_some() { String::new() } else { format!(" project `{}`,", r.project) };
                    format!("  {}  {}  ({place} job `{}`, {}, {})", r.short(), r.id, r.job, r.event, r.state)
                })
                .collect();
            Err(RunRefError::Ambiguous {
                reference: clip(reference),
                candidates: format!("{}{many}", candidates.join("\n")),
            })
        }
    }
}

/// A reference as errors repeat it: at most 80 characters.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
