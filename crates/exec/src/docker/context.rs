//! A build context: the job's folder as a tar archive made the same way every time
//! (sorted, times and owners zeroed), so its hash names the image it builds and an
//! unchanged folder reuses the image. Without a Dockerfile of the job's own, the
//! template's default one is added as `.terrace.Dockerfile`. Blocking.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The name of the template's default Dockerfile inside a context.
pub(crate) const DEFAULT_DOCKERFILE: &str = ".terrace.Dockerfile";

/// A context over this size is refused: a build context is a job's sources, not its data.
pub(crate) const MAX_CONTEXT_BYTES: u64 = 512 * 1024 * 1024;

pub(crate) struct Context {
    pub tar: Vec<u8>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    /// sha256 of the archive, hex.
    pub hash: String,
}

/// Packs `dir` (with `dockerfile` relative to it, else `default_text` as the Dockerfile).
pub(crate) fn pack(dir: &Path, dockerfile: Option<&Path>, default_text: &str) -> io::Result<Context> {
    let mut builder = tar::Builder::new(Vec::new());
    crate::bundle::append_tree(&mut builder, dir, MAX_CONTEXT_BYTES)
        .map_err(|e| io::Error::other(format!("the build context: {e}")))?;
    let dockerfile = match dockerfile {
        Some(path) => path.display().to_string(),
        None => {
            let mut header = tar::Header::new_gnu();
            header.set_size(default_text.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            builder.append_data(&mut header, DEFAULT_DOCKERFILE, default_text.as_bytes())?;
            DEFAULT_DOCKERFILE.to_string()
        }
    };
    let tar = builder.into_inner()?;
    let mut hasher = Sha256::new();
    hasher.update(&tar);
    hasher.update(dockerfile.as_bytes());
    Ok(Context { tar, dockerfile, hash: hex::encode(hasher.finalize()) })
}

/// The tag a context's image gets: the same content, the same tag.
pub(crate) fn tag(hash: &str) -> String {
    format!("terrace-build:{}", &hash[..32])
}

/// Where a Dockerfile a job names is, for messages.
pub(crate) fn describe(dir: &Path, dockerfile: Option<&Path>) -> String {
    match dockerfile {
        Some(f) => PathBuf::from(dir).join(f).display().to_string(),
        None => "the template's default Dockerfile".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_same_hash_whatever_the_times() {
        let a = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("sub")).unwrap();
        std::fs::write(a.path().join("sub/f.txt"), "x").unwrap();
        std::fs::write(a.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let first = pack(a.path(), Some(Path::new("Dockerfile")), "").unwrap();
        // Other modification times give the same archive.
        let file = std::fs::File::options().write(true).open(a.path().join("sub/f.txt")).unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000)).unwrap();
        let again = pack(a.path(), Some(Path::new("Dockerfile")), "").unwrap();
        assert_eq!(first.hash, again.hash);
        std::fs::write(a.path().join("sub/f.txt"), "y").unwrap();
        assert_ne!(pack(a.path(), Some(Path::new("Dockerfile")), "").unwrap().hash, first.hash);
        // The template's Dockerfile goes in when the job has none.
        let default = pack(a.path(), None, "FROM scratch\nCOPY . /x\n").unwrap();
        assert_eq!(default.dockerfile, DEFAULT_DOCKERFILE);
        let mut archive = tar::Archive::new(default.tar.as_slice());
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["Dockerfile", "sub", "sub/f.txt", DEFAULT_DOCKERFILE]);
    }
}
