//! The inputs of a run, as one hash: source tree content, params file, resolved
//! variables. `skip_unchanged` compares it with the last successful start.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use terrace_model::vars::Resolved;

/// Built-ins that differ on every run and are not inputs.
const VOLATILE: &[&str] = &["TERRACE_RUN_ID", "TERRACE_EVENT"];

/// `data_dir` is left out of the source tree, wherever it lies.
pub(crate) async fn inputs_hash(
    source: PathBuf,
    input: Option<PathBuf>,
    data_dir: PathBuf,
    vars: &Resolved,
) -> std::io::Result<String> {
    let (tree, params) = tokio::task::spawn_blocking(move || -> std::io::Result<(String, Option<String>)> {
        let excluded = terrace_exec::workspace::Excluded::folders([data_dir.as_path()]);
        let tree = terrace_exec::workspace::tree_hash(&source, &excluded)?;
        let params = input.map(|p| terrace_exec::workspace::file_hash(&p)).transpose()?;
        Ok((tree, params))
    })
    .await
    .map_err(std::io::Error::other)??;
    let mut h = Sha256::new();
    h.update(b"tree\0");
    h.update(tree.as_bytes());
    h.update(b"\0params\0");
    h.update(params.unwrap_or_default().as_bytes());
    let mut names: Vec<&String> = vars.vars.keys().filter(|k| !VOLATILE.contains(&k.as_str())).collect();
    names.sort();
    for name in names {
        // Values are hashed, never stored: the hash lands in the database and secrets must not.
        h.update(b"\0var\0");
        h.update(name.as_bytes());
        h.update(b"=");
        h.update(Sha256::digest(vars.vars[name].value.as_bytes()));
    }
    Ok(hex::encode(h.finalize()))
}
