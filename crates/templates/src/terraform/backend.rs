//! Where a Terraform configuration keeps its state: its own backend when it declares one,
//! else Terrace's `http` backend (the state in the store), wired in with an override file
//! that names only addresses: the run's credentials reach Terraform through `TF_HTTP_*`
//! variables, never a file. Without a backend served, a local state file per environment.

use std::path::Path;

/// The override file Terrace writes into the working copy (never into the source).
pub const OVERRIDE_FILE: &str = "terrace_backend_override.tf";

/// Whether any `.tf` file of the root module declares a `backend "..."` block (or `cloud`).
pub fn declares_backend(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "tf")).any(|e| {
        std::fs::read_to_string(e.path()).is_ok_and(|text| {
            text.lines().map(str::trim_start).filter(|l| !l.starts_with('#') && !l.starts_with("//")).any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                matches!(words.as_slice(), ["backend", name, ..] if name.starts_with('"'))
                    || matches!(words.as_slice(), ["cloud", "{", ..] | ["cloud{", ..])
            })
        })
    })
}

/// Points the local backend at `state` (where the step sees it), whose folder `state_dir`
/// (on Terrace's host) is created private: the state holds sensitive values in clear.
pub fn write_local_override(workdir: &Path, state_dir: &Path, state: &Path) -> std::io::Result<()> {
    crate::private::dir(state_dir)?;
    let path = serde_json::to_string(&state.display().to_string()).map_err(std::io::Error::other)?;
    std::fs::write(
        workdir.join(OVERRIDE_FILE),
        format!(
            "# Written by Terrace: this environment's own state.\nterraform {{\n  backend \"local\" {{\n    path = {path}\n  }}\n}}\n"
        ),
    )
}

/// Selects Terraform's `http` backend with nothing in the file: its addresses and the
/// run's credentials come from `TF_HTTP_*` variables of each step (`http_env`), so a saved
/// plan (which records the backend's configuration) names no address and applies through
/// whichever listener serves the state when it is applied.
pub fn write_http_override(workdir: &Path) -> std::io::Result<()> {
    std::fs::write(
        workdir.join(OVERRIDE_FILE),
        "# Written by Terrace: this environment's state, kept in Terrace's store.\n\
         # Addresses and credentials come from the TF_HTTP_* variables of the run.\n\
         terraform {\n  backend \"http\" {}\n}\n",
    )
}

/// The variables that point the `http` backend at the state and carry the run's token.
pub fn http_env(address: &str, username: &str, password: &str) -> Vec<(String, String)> {
    [
        ("TF_HTTP_ADDRESS", address),
        ("TF_HTTP_LOCK_ADDRESS", address),
        ("TF_HTTP_UNLOCK_ADDRESS", address),
        ("TF_HTTP_LOCK_METHOD", "LOCK"),
        ("TF_HTTP_UNLOCK_METHOD", "UNLOCK"),
        ("TF_HTTP_USERNAME", username),
        ("TF_HTTP_PASSWORD", password),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_backends_and_ignores_comments() {
        let dir = std::env::temp_dir().join(format!("terrace-backend-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.tf"), "# backend \"s3\" {}\nresource \"terraform_data\" \"x\" {}\n").unwrap();
        assert!(!declares_backend(&dir));
        std::fs::write(dir.join("backend.tf"), "terraform {\n  backend \"s3\" {\n  }\n}\n").unwrap();
        assert!(declares_backend(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
