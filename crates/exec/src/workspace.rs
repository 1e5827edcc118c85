//! A job's working folder: a fresh copy of its source per run, and content hashes
//! that say whether the source changed. Both skip `.terrace` (Terrace's own state) and
//! `.git`. Blocking: the engine calls these in `spawn_blocking`.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use sha2::{Digest, Sha256};
use walkdir::{DirEntry, WalkDir};

const SKIPPED: [&str; 2] = [".terrace", ".git"];

fn skipped(entry: &DirEntry) -> bool {
    entry.depth() > 0 && entry.file_type().is_dir() && entry.file_name().to_str().is_some_and(|n| SKIPPED.contains(&n))
}

/// The tree under `root` in a stable order, without the skipped folders; `root` first.
fn walk(root: &Path) -> impl Iterator<Item = walkdir::Result<DirEntry>> {
    WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter().filter_entry(|e| !skipped(e))
}

fn relative<'a>(entry: &'a DirEntry, root: &Path) -> io::Result<&'a Path> {
    entry.path().strip_prefix(root).map_err(io::Error::other)
}

/// Copies `src` into `dst` (created): regular files with their permissions, symlinks
/// as symlinks (not followed), folders; other kinds (sockets, fifos) are skipped.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in walk(src) {
        let entry = entry?;
        let rel = relative(&entry, src)?;
        let target = dst.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            fs::create_dir_all(&target)?;
        } else if kind.is_symlink() {
            symlink(fs::read_link(entry.path())?, &target)?;
        } else if kind.is_file() {
            // fs::copy carries the permission bits over.
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Hex SHA-256 of the tree under `path`: every entry's relative path, kind, executable
/// bit and content (or symlink target), in sorted order. Mtimes and owners do not count.
pub fn tree_hash(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    for entry in walk(path) {
        let entry = entry?;
        let rel = relative(&entry, path)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let kind = entry.file_type();
        // Length-prefixed fields, so no two different trees feed the same bytes.
        let field = |h: &mut Sha256, bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(&mut hasher, rel.as_os_str().as_encoded_bytes());
        if kind.is_dir() {
            field(&mut hasher, b"d");
        } else if kind.is_symlink() {
            field(&mut hasher, b"l");
            field(&mut hasher, fs::read_link(entry.path())?.as_os_str().as_encoded_bytes());
        } else if kind.is_file() {
            let exec = entry.metadata().map_err(io::Error::other)?.permissions().mode() & 0o111 != 0;
            field(&mut hasher, if exec { b"x" } else { b"f" });
            field(&mut hasher, file_hash(entry.path())?.as_bytes());
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Hex SHA-256 of one file's content.
pub fn file_hash(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mode(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn sample() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("mod/sub")).unwrap();
        fs::write(r.join("main.tf"), "resource {}").unwrap();
        fs::write(r.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        set_mode(&r.join("run.sh"), 0o755);
        fs::write(r.join("mod/sub/x.txt"), "x").unwrap();
        symlink("mod/sub/x.txt", r.join("link")).unwrap();
        symlink("/nonexistent/target", r.join("dangling")).unwrap();
        fs::create_dir_all(r.join(".terrace/state")).unwrap();
        fs::write(r.join(".terrace/state/db"), "state").unwrap();
        fs::create_dir_all(r.join(".git")).unwrap();
        fs::write(r.join(".git/HEAD"), "ref").unwrap();
        fs::create_dir_all(r.join("mod/.terrace")).unwrap();
        d
    }

    #[test]
    fn copy_preserves_exec_bit_and_symlinks_and_skips_state() {
        let src = sample();
        let out = tempfile::tempdir().unwrap();
        let dst = out.path().join("run-1");
        copy_tree(src.path(), &dst).unwrap();
        assert_eq!(fs::read_to_string(dst.join("main.tf")).unwrap(), "resource {}");
        assert_eq!(fs::metadata(dst.join("run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::metadata(dst.join("main.tf")).unwrap().permissions().mode() & 0o111, 0);
        assert!(fs::symlink_metadata(dst.join("link")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_link(dst.join("link")).unwrap(), Path::new("mod/sub/x.txt"));
        assert_eq!(fs::read_to_string(dst.join("link")).unwrap(), "x");
        assert!(fs::symlink_metadata(dst.join("dangling")).unwrap().file_type().is_symlink());
        assert!(!dst.join(".terrace").exists());
        assert!(!dst.join(".git").exists());
        assert!(!dst.join("mod/.terrace").exists());
        assert_eq!(tree_hash(src.path()).unwrap(), tree_hash(&dst).unwrap());
    }

    #[test]
    fn hash_follows_content_and_exec_bit_not_mtime_or_state() {
        let src = sample();
        let r = src.path();
        let h0 = tree_hash(r).unwrap();
        assert_eq!(h0.len(), 64);
        assert_eq!(h0, tree_hash(r).unwrap());

        fs::write(r.join(".terrace/state/db"), "other state").unwrap();
        fs::write(r.join(".git/HEAD"), "other").unwrap();
        let f = fs::File::options().write(true).open(r.join("main.tf")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(h0, tree_hash(r).unwrap(), "mtime and skipped folders must not count");

        set_mode(&r.join("main.tf"), 0o755);
        let h1 = tree_hash(r).unwrap();
        assert_ne!(h0, h1, "exec bit must count");
        set_mode(&r.join("main.tf"), 0o644);
        assert_eq!(h0, tree_hash(r).unwrap());

        fs::write(r.join("mod/sub/x.txt"), "y").unwrap();
        assert_ne!(h0, tree_hash(r).unwrap(), "content must count");
        fs::write(r.join("mod/sub/x.txt"), "x").unwrap();

        fs::remove_file(r.join("link")).unwrap();
        symlink("main.tf", r.join("link")).unwrap();
        assert_ne!(h0, tree_hash(r).unwrap(), "symlink target must count");
    }

    #[test]
    fn file_hash_is_sha256() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, "abc").unwrap();
        assert_eq!(file_hash(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(file_hash(&d.path().join("missing")).is_err());
    }
}
