//! A job's working folder: a fresh copy of its source per run, and content hashes that
//! say whether the source changed. Both skip `.terrace` and `.git` and any folder the
//! caller excludes (the data folder, wherever it is), and never follow a symlink out of
//! the source: a link that points outside is refused (a copy holds only the source).
//! Folders and files Terrace makes for a run are private (0700 / 0600) from creation.
//! Blocking: the engine calls these in `spawn_blocking`.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use walkdir::{DirEntry, WalkDir};

const SKIPPED: [&str; 2] = [".terrace", ".git"];

/// Why a working copy could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "`{}` is a symbolic link to {}, outside the job's source folder {}: a working copy holds only the source folder (point the link inside it, or make `source:` a folder that holds both)",
        .link.display(), .target.display(), .root.display()
    )]
    Escapes { link: PathBuf, target: PathBuf, root: PathBuf },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl CopyError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
        move |source| CopyError::Io { path: path.to_path_buf(), source }
    }
}

/// Folders left out of a walk, by identity (device, inode), so that a data folder inside
/// the source is never copied or hashed whatever path leads to it.
#[derive(Default)]
pub struct Excluded(HashSet<(u64, u64)>);

impl Excluded {
    /// The folders among `paths` that exist.
    pub fn folders<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Excluded {
        Excluded(paths.into_iter().filter_map(|p| fs::metadata(p).ok()).map(|m| (m.dev(), m.ino())).collect())
    }

    fn holds(&self, entry: &DirEntry) -> bool {
        !self.0.is_empty() && entry.metadata().is_ok_and(|m| self.0.contains(&(m.dev(), m.ino())))
    }
}

/// The tree under `root` in a stable order, without the skipped and excluded folders;
/// `root` first.
fn walk<'a>(root: &Path, excluded: &'a Excluded) -> impl Iterator<Item = walkdir::Result<DirEntry>> + 'a {
    WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter().filter_entry(move |e| {
        let folder = e.depth() > 0 && e.file_type().is_dir();
        !(folder && (e.file_name().to_str().is_some_and(|n| SKIPPED.contains(&n)) || excluded.holds(e)))
    })
}

fn relative<'a>(entry: &'a DirEntry, root: &Path) -> io::Result<&'a Path> {
    entry.path().strip_prefix(root).map_err(io::Error::other)
}

fn walk_error(e: walkdir::Error) -> CopyError {
    let path = e.path().map(Path::to_path_buf).unwrap_or_default();
    CopyError::Io { path, source: e.into() }
}

/// Creates `dir` and its missing parents readable by their owner only, and makes `dir`
/// itself so if it existed.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Creates (or empties) `path` as a file readable by its owner only.
pub fn private_file(path: &Path) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // An existing file keeps its mode through open: set it.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Copies the source folder `src` into `dst` (created, 0700): regular files with their
/// permissions, folders, symlinks that stay inside `src` (rewritten relative, so they point
/// into the copy); other kinds (sockets, fifos) are skipped. `src` may itself be a symlink.
pub fn copy_tree(src: &Path, dst: &Path, excluded: &Excluded) -> Result<(), CopyError> {
    let root = fs::canonicalize(src).map_err(CopyError::io(src))?;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dst).map_err(CopyError::io(dst))?;
    for entry in walk(&root, excluded) {
        let entry = entry.map_err(walk_error)?;
        let rel = relative(&entry, &root).map_err(CopyError::io(entry.path()))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = dst.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            fs::create_dir(&target).map_err(CopyError::io(&target))?;
        } else if kind.is_symlink() {
            let link = link_in_copy(&root, entry.path(), rel)?;
            symlink(link, &target).map_err(CopyError::io(&target))?;
        } else if kind.is_file() {
            // fs::copy carries the permission bits over.
            fs::copy(entry.path(), &target).map_err(CopyError::io(entry.path()))?;
        }
    }
    Ok(())
}

/// What the copy of the symlink at `path` (`rel` under `root`) points to: the same file
/// or folder inside the copy, or an error when that would leave the source.
fn link_in_copy(root: &Path, path: &Path, rel: &Path) -> Result<PathBuf, CopyError> {
    let raw = fs::read_link(path).map_err(CopyError::io(path))?;
    let escapes = |target: PathBuf| CopyError::Escapes { link: rel.to_path_buf(), target, root: root.to_path_buf() };
    match fs::canonicalize(path) {
        Ok(resolved) => match resolved.strip_prefix(root) {
            // From the link's folder (a real path: the walk follows no link) up to the
            // copy's root and down to the target: it resolves inside the copy alone.
            Ok(inside) => Ok(relative_path(rel.parent().unwrap_or(Path::new("")), inside)),
            Err(_) => Err(escapes(resolved)),
        },
        // A link to nothing (yet): kept only if it can only lead down into the copy.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let down_only = raw.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            if down_only { Ok(raw) } else { Err(escapes(raw)) }
        }
        Err(source) => Err(CopyError::Io { path: rel.to_path_buf(), source }),
    }
}

/// The relative path from folder `from` to `to`, both relative to one root.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

/// Hex SHA-256 of the tree under `path`: every entry's relative path, kind, executable
/// bit and content (or symlink target), in sorted order. Mtimes and owners do not count.
pub fn tree_hash(path: &Path, excluded: &Excluded) -> io::Result<String> {
    let path = &fs::canonicalize(path)?;
    let mut hasher = Sha256::new();
    for entry in walk(path, excluded) {
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
#[path = "workspace_tests.rs"]
mod tests;
