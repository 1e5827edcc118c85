//! The one comment Terrace keeps on a pull request with a preview, rewritten in place on
//! every change: the URL first, the state (and why: queued behind `max`, failed), the
//! head deployed, the non-secret outputs, each run with its plan summary. Pure.

use std::fmt::Write;

use terrace_store::{PreviewRecord, PreviewState, RunRecord, StoredOutput};

/// What the comment shows.
pub struct CommentFacts<'a> {
    pub record: &'a PreviewRecord,
    /// The class's `url` with the preview's id.
    pub url: Option<String>,
    pub outputs: &'a [StoredOutput],
    /// The runs of the preview's last pipeline.
    pub runs: &'a [RunRecord],
}

/// Output values longer than this are cut in the comment.
const MAX_VALUE: usize = 200;

pub fn body(f: &CommentFacts<'_>) -> String {
    let r = f.record;
    let mut out = String::new();
    let _ = writeln!(out, "### Terrace preview `{}`", r.environment);
    out.push('\n');
    if let Some(url) = &f.url
        && r.state != PreviewState::Deleted
    {
        let _ = writeln!(out, "**URL:** {url}\n");
    }
    let _ = writeln!(out, "**State:** {}", state_line(r));
    let head = short(&r.head_sha);
    match &r.deployed_sha {
        Some(sha) if sha == &r.head_sha => {
            let _ = writeln!(out, "**Head:** `{head}` (deployed)");
        }
        Some(sha) => {
            let _ = writeln!(out, "**Head:** `{head}` (deployed: `{}`)", short(sha));
        }
        None => {
            let _ = writeln!(out, "**Head:** `{head}`");
        }
    }
    let shown: Vec<&StoredOutput> = f.outputs.iter().filter(|o| !o.sensitive).collect();
    if !shown.is_empty() && r.state != PreviewState::Deleted {
        out.push_str("\n| output | value |\n|---|---|\n");
        for o in shown {
            let _ = writeln!(out, "| `{}.{}` | `{}` |", o.job, o.name, cell(&o.value));
        }
    }
    if !f.runs.is_empty() {
        out.push_str("\n| run | job | event | state | plan |\n|---|---|---|---|---|\n");
        for run in f.runs {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                terrace_store::short_ref(&run.environment, run.number),
                run.job,
                run.event,
                run.state,
                plan(run.plan.as_ref())
            );
        }
    }
    out
}

fn state_line(r: &PreviewRecord) -> String {
    let why = r.reason.as_deref().or(r.why.as_deref());
    match (r.state, why) {
        (PreviewState::Running, _) => "running".into(),
        (PreviewState::Deleted, Some(why)) => format!("destroyed (every resource deleted; {why})"),
        (PreviewState::Deleted, None) => "destroyed (every resource deleted)".into(),
        (state, Some(why)) => format!("{state}: {}", cell(why)),
        (state, None) => state.to_string(),
    }
}

/// `+1 ~0 -0` from a run's plan summary.
fn plan(summary: Option<&serde_json::Value>) -> String {
    match summary {
        Some(p) => {
            let n = |k: &str| p[k].as_u64().unwrap_or(0);
            format!("+{} ~{} -{}", n("add"), n("change"), n("destroy"))
        }
        None => "-".into(),
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A value that cannot break the table: one line, no `|` or backtick, at most `MAX_VALUE`.
fn cell(text: &str) -> String {
    let clean: String =
        text.chars().map(|c| if c == '|' || c == '`' || c.is_control() { ' ' } else { c }).take(MAX_VALUE).collect();
    if text.chars().count() > MAX_VALUE { format!("{clean}…") } else { clean }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use time::OffsetDateTime;

    use super::*;

    fn record(state: PreviewState) -> PreviewRecord {
        PreviewRecord {
            project: "p".into(),
            environment: "pr-0a1b2c3d".into(),
            class: "hello".into(),
            preview_id: "0a1b2c3d".into(),
            forge: "github".into(),
            repository: "github.com/acme/hello".into(),
            full_name: "acme/hello".into(),
            number: 7,
            head_sha: "1234567890abcdef".into(),
            branch: "feature".into(),
            wanted: true,
            why: None,
            variables: BTreeMap::new(),
            state,
            reason: None,
            deployed_sha: Some("1234567890abcdef".into()),
            deployed_variables: None,
            pending_sha: None,
            pending_variables: None,
            request_id: None,
            comment_id: None,
            attempts: 0,
            next_at: OffsetDateTime::UNIX_EPOCH,
            version: 0,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
        }
    }

    fn output(name: &str, value: &str, sensitive: bool) -> StoredOutput {
        StoredOutput {
            job: "app".into(),
            name: name.into(),
            value: value.into(),
            sensitive,
            run_id: terrace_model::RunId::new(),
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_url_comes_first_and_secrets_never() {
        let r = record(PreviewState::Running);
        let outputs = [output("endpoint", "http://x|y", false), output("password", "hunter2", true)];
        let text = body(&CommentFacts {
            record: &r,
            url: Some("https://0a1b2c3d.previews.example.com".into()),
            outputs: &outputs,
            runs: &[],
        });
        let url_at = text.find("https://0a1b2c3d.previews.example.com").unwrap();
        assert!(url_at < text.find("**State:** running").unwrap(), "{text}");
        assert!(text.contains("| `app.endpoint` | `http://x y` |"), "{text}");
        assert!(!text.contains("hunter2") && !text.contains("password"), "{text}");
        assert!(text.contains("`1234567890ab` (deployed)"), "{text}");
    }

    #[test]
    fn queued_and_destroyed_say_why() {
        let mut r = record(PreviewState::Queued);
        r.reason = Some("2 of 2 previews of class `hello` exist".into());
        let text = body(&CommentFacts { record: &r, url: None, outputs: &[], runs: &[] });
        assert!(text.contains("**State:** queued: 2 of 2"), "{text}");
        let mut r = record(PreviewState::Deleted);
        r.why = Some("the pull request was merged".into());
        let text = body(&CommentFacts { record: &r, url: Some("https://x/{id}".into()), outputs: &[], runs: &[] });
        assert!(text.contains("destroyed (every resource deleted; the pull request was merged)"), "{text}");
        assert!(!text.contains("**URL:**"), "{text}");
    }
}
