//! An attempt's output file when the job ends: read the safe way (a regular file, bounded
//! in size and time), applied whole or refused whole. A refused file is kept with the
//! run's artifacts (0600), and the error names where, since the work folder goes.
//!
//! A job that writes nothing (the file Terrace created left empty, or removed) keeps the
//! outputs it has: outputs belong to the environment until the job's `delete` succeeds
//! (DESIGN.md), and a `stop` that only pauses something writes no file. A job that means
//! to have no outputs any more writes `{}`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use terrace_exec::OutputReadError;
use terrace_model::output::{OutputFile, OutputFileError, parse_output_file};
use terrace_model::project::Job;
use terrace_model::{Event, RunId};
use terrace_store::RunState;

use crate::error::EngineError;
use crate::job_run::{AttemptEnd, RunContext};
use crate::lease::Held;
use crate::secrets::short_secret_note;

/// Reading the output file takes longer than this only on a broken filesystem.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// Why an output file was refused.
enum Refusal {
    /// Nothing worth keeping (not a regular file).
    Unread(String),
    /// Its content broke a rule: kept as an artifact.
    Content(String),
}

impl RunContext<'_> {
    /// Reads the output file of a successful attempt and applies it whole, or refuses it whole.
    pub(crate) async fn collect_outputs(
        &self,
        job: &Job,
        held: &Held,
        attempt: u32,
        path: &Path,
    ) -> Result<AttemptEnd, EngineError> {
        let run = held.lease.id;
        // The file Terrace created, still empty: nothing to read, no hop to the blocking
        // pool (a plain lstat, as the executor's own; docs/PERFORMANCE.md, B).
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file() && m.len() == 0) {
            return Ok(AttemptEnd { state: RunState::Succeeded, exit_code: Some(0), reason: None });
        }
        let owned = path.to_path_buf();
        let read = tokio::time::timeout(READ_LIMIT, tokio::task::spawn_blocking(move || read_and_parse(&owned))).await;
        let parsed = match read {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(Refusal::Unread(format!("reading it failed: {e}"))),
            Err(_) => Err(Refusal::Unread(format!("it could not be read within {} s", READ_LIMIT.as_secs()))),
        };
        let file = match parsed {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(AttemptEnd { state: RunState::Succeeded, exit_code: Some(0), reason: None }),
            Err(refusal) => {
                let reason = match refusal {
                    Refusal::Unread(why) => format!("the output file (TERRACE_OUTPUT_FILE) was refused: {why}"),
                    Refusal::Content(why) => {
                        let kept = self.keep_refused(run, attempt, path).await;
                        format!("output file: {why}; none of its entries were applied; {kept}")
                    }
                };
                return Ok(AttemptEnd { state: RunState::Failed, exit_code: Some(0), reason: Some(reason) });
            }
        };
        for note in file.notes() {
            self.note(&job.name, held, attempt, &note).await?;
        }
        let sensitive: Vec<(String, String)> = file
            .entries
            .iter()
            .filter(|e| e.sensitive)
            .map(|e| (format!("sensitive output `{}`", e.name), e.value.clone()))
            .collect();
        if let Some(note) = short_secret_note(sensitive.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
            self.note(&job.name, held, attempt, &note).await?;
        }
        self.secrets.extend(sensitive.into_iter().map(|(_, v)| v)).await;
        if self.event != Event::Delete {
            self.store().put_outputs(&held.lease, self.env.id, &job.name, &file.entries).await?;
        }
        Ok(AttemptEnd { state: RunState::Succeeded, exit_code: Some(0), reason: None })
    }

    /// Moves a refused output file to `artifacts/<run>/output-<attempt>.json` (0600 in a
    /// 0700 folder) and says where it is, or why it could not be kept.
    async fn keep_refused(&self, run: RunId, attempt: u32, path: &Path) -> String {
        let dir = self.engine.data_dir.join("artifacts").join(run.to_string());
        let dest = dir.join(format!("output-{attempt}.json"));
        let (from, to) = (path.to_path_buf(), dest.clone());
        let kept = tokio::task::spawn_blocking(move || keep(&from, &to)).await;
        match kept {
            Ok(Ok(())) => format!("the file is kept as {}", dest.display()),
            Ok(Err(e)) => format!("the file could not be kept ({e})"),
            Err(e) => format!("the file could not be kept ({e})"),
        }
    }
}

/// The output file, or `None` when the job wrote nothing to it.
fn read_and_parse(path: &Path) -> Result<Option<OutputFile>, Refusal> {
    let bytes = match terrace_exec::read_output_file(path) {
        Ok(Some(bytes)) if !bytes.iter().all(u8::is_ascii_whitespace) => bytes,
        Ok(_) => return Ok(None),
        Err(e @ OutputReadError::TooLarge(_)) => return Err(Refusal::Content(e.to_string())),
        Err(e) => return Err(Refusal::Unread(e.to_string())),
    };
    parse_output_file(&bytes).map(Some).map_err(|e| match e {
        OutputFileError::Malformed { .. } | OutputFileError::TooLarge { .. } => Refusal::Content(e.to_string()),
    })
}

fn keep(from: &Path, to: &PathBuf) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if let Some(dir) = to.parent() {
        terrace_exec::workspace::private_dir(dir)?;
    }
    std::fs::rename(from, to)?;
    // A file with other names (a hard link the job made) keeps its mode: changing it would
    // change the other names' too.
    let meta = std::fs::symlink_metadata(to)?;
    if meta.is_file() && meta.nlink() == 1 {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
