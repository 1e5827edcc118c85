//! `terrace preview list`: the preview environments of pull requests, from the data
//! folder's store or (with --server) the server's, printed the same way.

use std::process::ExitCode;

use serde_json::Value;
use terrace_server::app::previews::{PreviewList, PreviewView};

use crate::args::{Global, PreviewCommand};
use crate::client::{Client, project_name, seg};
use crate::context::session;
use crate::exit::CliError;
use crate::out::outln;
use crate::render::table::{self, dash};

pub async fn preview(g: &Global, command: PreviewCommand) -> Result<ExitCode, CliError> {
    let PreviewCommand::List { json } = command;
    let items = if g.server.is_some() {
        let client = Client::from_global(g)?;
        let project = project_name(&client, g).await?;
        let list: PreviewList = client.get(&format!("/projects/{}/previews", seg(&project))).await?;
        list.items
    } else {
        let s = session(g).await?;
        let now = time::OffsetDateTime::now_utc();
        let records = s.previews.list_previews(Some(&s.loaded.project.name)).await?;
        records.iter().map(|r| PreviewView::new(r, Some(&s.loaded.project), now)).collect()
    };
    print(&items, json)
}

fn print(items: &[PreviewView], json: bool) -> Result<ExitCode, CliError> {
    if json {
        let values: Vec<Value> = items.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
        outln!("{}", serde_json::to_string_pretty(&values)?);
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        outln!(
            "no previews: a pull request of a repository under `previews:` opens one (through `terrace server`'s webhooks)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = time::OffsetDateTime::now_utc();
    let rows = items
        .iter()
        .map(|p| {
            vec![
                p.environment.clone(),
                format!("{}#{}", p.repository, p.number),
                p.state.clone(),
                age(p.age_seconds),
                p.expires_at.map(|at| age((at - now).whole_seconds().max(0))).unwrap_or_else(|| "-".into()),
                dash(p.url.as_deref()),
                dash(p.reason.as_deref()),
            ]
        })
        .collect();
    table::print(&["ENVIRONMENT", "PULL REQUEST", "STATE", "AGE", "TTL LEFT", "URL", "REASON"], rows)?;
    Ok(ExitCode::SUCCESS)
}

/// `3d 4h`, `2h 5m`, `40s`: the two largest units.
fn age(seconds: i64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_in_two_units() {
        assert_eq!(super::age(40), "40s");
        assert_eq!(super::age(125), "2m 5s");
        assert_eq!(super::age(7500), "2h 5m");
        assert_eq!(super::age(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
    }
}
