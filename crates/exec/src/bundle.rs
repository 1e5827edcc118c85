//! A folder as a tar archive and back: how a build context reaches the Docker daemon and
//! how an attempt's working copy reaches the agent that runs it. Entries are sorted, times
//! and owners zeroed (the same folder packs the same way), the executable bit kept,
//! symbolic links kept as links. Unpacking never writes outside the target folder.
//! Blocking.

use std::io;
use std::path::Path;

/// Appends every entry under `dir` (not `dir` itself) to `builder`, failing once the
/// files' sizes pass `max_bytes`; returns their total size.
pub(crate) fn append_tree<W: io::Write>(builder: &mut tar::Builder<W>, dir: &Path, max_bytes: u64) -> io::Result<u64> {
    builder.follow_symlinks(false);
    let mut total = 0u64;
    for entry in walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name() {
        let entry = entry.map_err(io::Error::other)?;
        let rel = entry.path().strip_prefix(dir).map_err(io::Error::other)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let meta = entry.path().symlink_metadata()?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Deterministic);
        header.set_mtime(0);
        let ft = meta.file_type();
        if ft.is_file() {
            total += meta.len();
            if total > max_bytes {
                return Err(io::Error::other(format!("{} is over {} MiB", dir.display(), max_bytes >> 20)));
            }
            builder.append_data(&mut header, rel, std::fs::File::open(entry.path())?)?;
        } else if ft.is_dir() {
            builder.append_data(&mut header, rel, io::empty())?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            builder.append_link(&mut header, rel, target)?;
        }
    }
    Ok(total)
}

/// `dir` as a tar archive of at most `max_bytes` of files.
pub fn pack(dir: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    append_tree(&mut builder, dir, max_bytes)?;
    builder.into_inner()
}

/// Unpacks an archive `pack` made into the existing folder `dir`; an entry that would
/// land outside it fails the whole unpack.
pub fn unpack(archive: &[u8], dir: &Path) -> io::Result<()> {
    let mut archive = tar::Archive::new(archive);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.unpack_in(dir)? {
            let path = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
            return Err(io::Error::other(format!("the archive's entry `{path}` points outside {}", dir.display())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_folder_round_trips_with_its_executable_bit_and_links() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir(from.path().join("sub")).unwrap();
        std::fs::write(from.path().join("sub/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(from.path().join("sub/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("sub/run.sh", from.path().join("link")).unwrap();
        let tar = pack(from.path(), 1 << 20).unwrap();
        let to = tempfile::tempdir().unwrap();
        unpack(&tar, to.path()).unwrap();
        assert_eq!(std::fs::read_to_string(to.path().join("sub/run.sh")).unwrap(), "#!/bin/sh\necho hi\n");
        let mode = std::fs::metadata(to.path().join("sub/run.sh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "executable bit kept: {mode:o}");
        assert_eq!(std::fs::read_link(to.path().join("link")).unwrap(), Path::new("sub/run.sh"));
        // Over the limit: an error naming the folder.
        let err = pack(from.path(), 4).unwrap_err().to_string();
        assert!(err.contains("is over"), "{err}");
    }
}
