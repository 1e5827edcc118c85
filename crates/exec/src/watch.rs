//! Watches a running job's output file, so the sensitive outputs it writes are masked
//! in the rest of its own log. A file that does not parse yet is ignored: the engine
//! validates it when the job ends.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use terrace_model::output::parse_output_file;
use tokio_util::sync::CancellationToken;

use crate::SecretSet;

const POLL: Duration = Duration::from_millis(200);

/// What identifies one version of the file without reading it.
type Stamp = (u64, Option<SystemTime>, u64);

pub(crate) async fn watch_output_file(path: &Path, secrets: &SecretSet, stop: &CancellationToken) {
    let mut seen = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        check(path, secrets, &mut seen).await;
    }
}

/// Reads and applies the file if it changed since `seen`.
pub(crate) async fn check(path: &Path, secrets: &SecretSet, seen: &mut Option<Stamp>) {
    let Ok(meta) = tokio::fs::metadata(path).await else {
        return;
    };
    let stamp = (meta.len(), meta.modified().ok(), meta.ino());
    if *seen == Some(stamp) {
        return;
    }
    let Ok(bytes) = tokio::fs::read(path).await else {
        return;
    };
    *seen = Some(stamp);
    if let Ok(entries) = parse_output_file(&bytes) {
        secrets.extend(entries.into_iter().filter(|e| e.sensitive).map(|e| e.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn adds_sensitive_values_only_when_the_file_changes_and_parses() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("output.json");
        let secrets = SecretSet::new();
        let mut seen = None;

        check(&path, &secrets, &mut seen).await;
        assert!(secrets.is_empty() && seen.is_none(), "a missing file is no change");

        std::fs::write(&path, r#"{"pw": {"value": "hunter2", "sensitive": true}, "#).unwrap();
        check(&path, &secrets, &mut seen).await;
        assert!(secrets.is_empty(), "a half-written file is ignored");

        std::fs::write(
            &path,
            r#"{"pw": {"value": "hunter2", "sensitive": true}, "host": {"value": "db.local", "sensitive": false}}"#,
        )
        .unwrap();
        check(&path, &secrets, &mut seen).await;
        assert_eq!(secrets.mask("hunter2 db.local"), "*** db.local");
        assert_eq!(secrets.len(), 1);
    }
}
