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

/// Points Terraform's `http` backend at `address` (state GET/POST, LOCK and UNLOCK).
pub fn write_http_override(workdir: &Path, address: &str) -> std::io::Result<()> {
    let url = serde_json::to_string(address).map_err(std::io::Error::other)?;
    std::fs::write(
        workdir.join(OVERRIDE_FILE),
        format!(
            "# Written by Terrace: this environment's state, kept in Terrace's store.\n\
             # The credentials come from TF_HTTP_USERNAME and TF_HTTP_PASSWORD.\n\
             terraform {{\n  backend \"http\" {{\n    address        = {url}\n    lock_address   = {url}\n    \
             unlock_address = {url}\n    lock_method    = \"LOCK\"\n    unlock_method  = \"UNLOCK\"\n  }}\n}}\n"
        ),
    )
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
