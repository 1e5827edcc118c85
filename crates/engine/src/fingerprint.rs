//! The inputs of a run: its definition in terrace.yaml (the command, template and settings
//! of its start), source tree content, parameters file, resolved variables and the upstream
//! outputs it is given, as one hash and as one hash per input. `skip_unchanged`
//! compares the one with the last successful start's, and the parts say what changed.
//! Values are hashed, never stored: the hashes land in the database and secrets must not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use terrace_model::vars::Resolved;
use terrace_store::{RunInputs, RunRecord, StoredOutput};

/// Built-ins that differ on every run and are not inputs.
const VOLATILE: &[&str] = &["TERRACE_RUN_ID", "TERRACE_EVENT"];
const SOURCE: &str = "source";
const PARAMS: &str = "parameters file";
const DEFINITION: &str = "definition";

/// What of a job's definition decides what its start does: its command, template and the
/// template's settings, and where it runs. (Its limits, dependencies and variables' own
/// definitions are not: variables count by their values.)
pub(crate) fn definition(job: &terrace_model::project::Job) -> String {
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}",
        job.template,
        job.commands.get(&terrace_model::Event::Start),
        job.iac,
        job.executor
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// What a run's source is, for its hash.
pub(crate) enum Tree {
    /// A folder, hashed file by file.
    Folder(PathBuf),
    /// A git source pinned to a commit: its identity says it all.
    Pinned(String),
}

/// `data_dir` is left out of the source tree, wherever it lies. `outputs` are the upstream
/// outputs `vars` were resolved with.
pub(crate) async fn inputs(
    definition: String,
    source: Tree,
    input: Option<PathBuf>,
    data_dir: PathBuf,
    vars: &Resolved,
    outputs: &[StoredOutput],
) -> std::io::Result<RunInputs> {
    let (tree, params) = tokio::task::spawn_blocking(move || -> std::io::Result<(String, Option<String>)> {
        let excluded = terrace_exec::workspace::Excluded::folders([data_dir.as_path()]);
        let tree = match source {
            Tree::Folder(folder) => terrace_exec::workspace::tree_hash(&folder, &excluded)?,
            Tree::Pinned(identity) => hex::encode(Sha256::digest(identity.as_bytes())),
        };
        let params = input.map(|p| terrace_exec::workspace::file_hash(&p)).transpose()?;
        Ok((tree, params))
    })
    .await
    .map_err(std::io::Error::other)??;
    let mut parts = BTreeMap::new();
    let mut h = Sha256::new();
    h.update(b"definition\0");
    h.update(definition.as_bytes());
    h.update(b"\0tree\0");
    h.update(tree.as_bytes());
    h.update(b"\0params\0");
    h.update(params.as_deref().unwrap_or_default().as_bytes());
    parts.insert(DEFINITION.to_string(), definition);
    parts.insert(SOURCE.to_string(), tree);
    parts.insert(PARAMS.to_string(), params.unwrap_or_else(|| "none".into()));
    let mut names: Vec<&String> = vars.vars.keys().filter(|k| !VOLATILE.contains(&k.as_str())).collect();
    names.sort();
    // An output reaches a job as TERRACE_OUTPUT_JOB_* and as its alias: named once, as the output.
    let aliases: BTreeMap<&str, &str> = outputs.iter().map(|o| (o.name.as_str(), o.value.as_str())).collect();
    for name in names {
        let value = vars.vars[name].value.as_bytes();
        let digest = Sha256::digest(value);
        h.update(b"\0var\0");
        h.update(name.as_bytes());
        h.update(b"=");
        h.update(digest);
        let from_output = name.starts_with("TERRACE_OUTPUT_JOB_")
            || aliases.get(name.as_str()).is_some_and(|v| v.as_bytes() == value);
        if !from_output {
            parts.insert(format!("variable {name}"), hex::encode(digest));
        }
    }
    for o in outputs {
        parts.insert(format!("output {}.{}", o.job, o.name), hex::encode(Sha256::digest(o.value.as_bytes())));
    }
    Ok(RunInputs { hash: hex::encode(h.finalize()), parts, changed: Vec::new() })
}

/// What changed in `now` since `last` (the last successful start), by label; empty when
/// nothing did.
pub(crate) fn changed(now: &RunInputs, last: Option<&RunRecord>) -> Vec<String> {
    let Some(last) = last else {
        return vec!["first start".into()];
    };
    if last.inputs_hash.as_deref() == Some(now.hash.as_str()) {
        return Vec::new();
    }
    let Some(before) = &last.input_parts else {
        // Recorded by an earlier Terrace, as one hash only.
        return vec!["inputs".into()];
    };
    let labels: BTreeSet<&String> = before.keys().chain(now.parts.keys()).collect();
    let mut out: Vec<String> = labels
        .into_iter()
        .filter_map(|label| match (before.get(label), now.parts.get(label)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(_), Some(_)) => Some(label.clone()),
            (None, _) => Some(format!("{label} (new)")),
            (_, None) => Some(format!("{label} (gone)")),
        })
        .collect();
    if out.is_empty() {
        out.push("inputs".into());
    }
    out
}

/// `changed` as the run log and the progress say it: `source changed; output net.id changed`.
pub(crate) fn describe(changed: &[String]) -> String {
    changed
        .iter()
        .map(|c| if c == "first start" { c.clone() } else { format!("{c} changed") })
        .collect::<Vec<_>>()
        .join("; ")
}
