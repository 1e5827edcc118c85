//! `terrace logs RUN`: a run's stored log (already masked), by short form (`dev#17`), id or
//! unique prefix.

use std::io::Write;
use std::process::ExitCode;

use crate::args::{Global, LogsArgs};
use crate::context::{data_dir, load_project, open_store};
use crate::exit::CliError;

const PAGE: u32 = 10_000;
/// How often `--follow` looks for new lines in local mode (the store is a local file).
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

pub async fn logs(g: &Global, a: &LogsArgs) -> Result<ExitCode, CliError> {
    let loaded = load_project(g)?;
    let store = open_store(&data_dir(g, &loaded.root)).await?;
    let run = terrace_engine::find_run(store.as_ref(), Some(&loaded.project.name), &a.run).await?;
    let mut out = std::io::stdout().lock();
    let mut offset = 0;
    let mut ended = !a.follow;
    loop {
        let page = store.read_logs(run.id, offset, PAGE).await?;
        let Some(last) = page.last() else {
            // Caught up. With --follow, wait while the run goes on; once it has ended,
            // one more read catches what it wrote last.
            if ended {
                break;
            }
            ended = !store.get_run(run.id).await?.is_some_and(|r| r.state.is_active());
            if !ended {
                tokio::time::sleep(FOLLOW_POLL).await;
            }
            continue;
        };
        offset = last.offset + 1;
        for l in page.iter().filter(|l| a.attempt.is_none_or(|n| n == l.attempt)) {
            let written = if a.json {
                // The API's line, as client mode prints it.
                let view = terrace_server::app::views::LogLineView::from(l.clone());
                serde_json::to_writer(&mut out, &view).map_err(std::io::Error::from).and_then(|_| writeln!(out))
            } else {
                let ts = l.line.ts.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                writeln!(out, "{ts} {:<7} {}", l.line.stream.as_str(), l.line.text)
            };
            if let Err(e) = written {
                // A closed pipe (`| head`) is not an error.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e.into());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
