//! Reading `terrace.yaml` from disk for every command and the server: a regular file
//! only (a FIFO would block the reader), refused past the size limit before any of it is
//! read (and read with a bound, should it grow meanwhile), then parsed and validated.

use std::io::Read;
use std::path::{Path, PathBuf};

use terrace_model::Project;
use terrace_model::parse::{self, MAX_PROJECT_FILE_BYTES, ProjectError, ProjectFiles};

/// Why a project file could not be read or used; `label` is how the user names it.
#[derive(Debug, thiserror::Error)]
pub enum ProjectFileError {
    #[error("cannot read {label}: {source}")]
    Read {
        label: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{label} is not a regular file: terrace reads the project from a file")]
    NotAFile { label: String },
    #[error("{label}:1:1: {}", parse::too_large(*len))]
    TooLarge { label: String, len: u64 },
    #[error("{0}")]
    Invalid(ProjectError),
}

/// The file's bytes, at most [`MAX_PROJECT_FILE_BYTES`] of them.
pub fn read_bytes(path: &Path, label: &str) -> Result<Vec<u8>, ProjectFileError> {
    let read_err = |source| ProjectFileError::Read { label: label.to_string(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(ProjectFileError::NotAFile { label: label.to_string() });
    }
    let too_large = |len| ProjectFileError::TooLarge { label: label.to_string(), len };
    if meta.len() > MAX_PROJECT_FILE_BYTES as u64 {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PROJECT_FILE_BYTES as u64 + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    if bytes.len() > MAX_PROJECT_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Reads and parses the project file at `path` (blocking: call it off async threads).
pub fn load(path: &Path, label: &str) -> Result<Project, ProjectFileError> {
    let bytes = read_bytes(path, label)?;
    parse::parse_project_bytes(label, &bytes).map_err(ProjectFileError::Invalid)
}

/// The folder holding the project file, answering `validate`'s questions about the
/// files the project names.
pub struct ProjectFolder(pub PathBuf);

impl ProjectFiles for ProjectFolder {
    fn is_dir(&self, relative: &Path) -> bool {
        self.0.join(relative).is_dir()
    }
    fn is_file(&self, relative: &Path) -> bool {
        self.0.join(relative).is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_refused_before_reading_and_fifos_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(200 * 1024 * 1024).unwrap(); // sparse: nothing is written
        let e = load(&big, "big.yaml").unwrap_err();
        assert!(e.to_string().starts_with("big.yaml:1:1: the project file is 209715200 bytes"), "{e}");
        assert!(e.to_string().contains("at most 4 MiB"), "{e}");
        let fifo = dir.path().join("fifo.yaml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(load(&fifo, "fifo.yaml"), Err(ProjectFileError::NotAFile { .. })));
    }
}
