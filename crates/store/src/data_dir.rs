//! The data folder (`.terrace/` beside the project file by default): created when missing,
//! with a `.gitignore` of `*`, since it holds the master key and lies inside a git checkout.

use std::io::{ErrorKind, Write};
use std::path::Path;

/// The file that keeps the data folder out of git.
pub const GITIGNORE: &str = ".gitignore";
const CONTENT: &str = "# Terrace's data folder: the store, logs and the master key. Never commit it.\n*\n";

/// Creates `dir` (and its parents) when missing, and a `.gitignore` of `*` in it unless one
/// exists (a user's own is left as it is).
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    match std::fs::OpenOptions::new().write(true).create_new(true).open(dir.join(GITIGNORE)) {
        Ok(mut file) => file.write_all(CONTENT.as_bytes()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_folder_gets_a_gitignore_once_and_a_users_own_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/.terrace");
        super::prepare(&data).unwrap();
        let text = std::fs::read_to_string(data.join(".gitignore")).unwrap();
        assert_eq!(text.lines().last(), Some("*"));
        std::fs::write(data.join(".gitignore"), "mine\n").unwrap();
        super::prepare(&data).unwrap();
        assert_eq!(std::fs::read_to_string(data.join(".gitignore")).unwrap(), "mine\n");
    }
}
