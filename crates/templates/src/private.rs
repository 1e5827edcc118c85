//! Files and folders a template writes that may hold secrets (saved plans, state, the
//! output file, CloudFormation requests): private to their owner from creation.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` and its missing parents as 0700, and makes `dir` so if it existed.
pub(crate) fn dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` to `path` (created or truncated) as a 0600 file.
pub(crate) async fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).await?;
    // An existing file keeps its mode through open: set it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).await?;
    file.write_all(bytes).await?;
    file.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn private_from_creation() {
        let d = tempfile::tempdir().unwrap();
        let nested = d.path().join("a/b");
        dir(&nested).unwrap();
        assert_eq!((mode(&d.path().join("a")), mode(&nested)), (0o700, 0o700));
        let f = nested.join("f");
        std::fs::write(&f, "old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&f, b"new").await.unwrap();
        assert_eq!((mode(&f), std::fs::read(&f).unwrap()), (0o600, b"new".to_vec()));
    }
}
