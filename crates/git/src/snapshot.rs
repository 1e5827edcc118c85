//! Snapshots: exactly one commit's folder written out, without `.git`. Files come from
//! `git ls-tree` and `git cat-file --batch`, not `git archive` or a checkout, so that no
//! `.gitattributes` of the repository (export-ignore, export-subst, eol, filters) changes
//! what a job runs. Symlinks are kept only when they resolve inside the snapshot.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::mirror::{Fetch, Mirror};
use crate::reference::source_path;
use crate::symlink::{self, Escape};
use crate::{GitError, ObjectId};

/// What a snapshot wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub commit: ObjectId,
    /// The tree of the snapshot's folder: equal trees mean equal snapshots.
    pub tree: ObjectId,
    /// The folder, normalised (`""` for the repository's root).
    pub path: String,
    pub files: u64,
    pub bytes: u64,
    pub symlinks: u64,
    /// Submodules, written as empty folders (their contents are not fetched).
    pub submodules: Vec<String>,
    pub fetch: Fetch,
}

/// One entry of `git ls-tree -r`.
struct Entry {
    mode: u32,
    id: String,
    path: Vec<u8>,
}

impl Mirror {
    /// Resolves `reference` and writes its folder `path` into `dest`, at the cost of at
    /// most one fetch.
    pub async fn checkout(
        &self,
        reference: &str,
        path: &str,
        dest: &Path,
        cancel: &CancellationToken,
    ) -> Result<Snapshot, GitError> {
        let resolved = self.resolve(reference, cancel).await?;
        let snapshot = self.snapshot(&resolved.commit, path, dest, cancel).await?;
        Ok(Snapshot { fetch: resolved.fetch, ..snapshot })
    }

    /// Writes the folder `path` of `commit` into `dest` (absent or empty). The mirror is
    /// fetched once if it lacks the commit. On error nothing is left in `dest`.
    pub async fn snapshot(
        &self,
        commit: &ObjectId,
        path: &str,
        dest: &Path,
        cancel: &CancellationToken,
    ) -> Result<Snapshot, GitError> {
        let path = source_path(path)?;
        let mut fetch = Fetch::None;
        if !self.has_commit(commit, cancel).await? {
            fetch = self.fetch(cancel).await?;
            if !self.has_commit(commit, cancel).await? {
                return Err(GitError::CommitNotFound { url: self.url.to_string(), commit: commit.to_string() });
            }
        }
        let spec = if path.is_empty() { format!("{commit}^{{tree}}") } else { format!("{commit}:{path}") };
        let tree = match self.batch_check(&[spec], cancel).await?.pop().flatten() {
            Some((id, kind)) if kind == "tree" => id,
            Some(_) => {
                return Err(self.located(commit, &path, |url, commit, path| GitError::NotAFolder {
                    url,
                    commit,
                    path,
                }));
            }
            None => {
                return Err(self.located(commit, &path, |url, commit, path| GitError::PathNotFound {
                    url,
                    commit,
                    path,
                }));
            }
        };
        let created = prepare_dest(dest).await?;
        let timeout = self.shared.options.network_timeout;
        let written = tokio::select! {
            written = self.write_tree(commit, &path, &tree, dest, cancel) => written,
            () = tokio::time::sleep(timeout) => Err(GitError::TimedOut {
                url: self.url.to_string(), action: "snapshot", after: crate::command::humanize(timeout),
            }),
            () = cancel.cancelled() => Err(GitError::Cancelled { url: self.url.to_string(), action: "snapshot" }),
        };
        match written {
            Ok(mut snapshot) => {
                snapshot.fetch = fetch;
                tracing::debug!(url = %self.url, commit = %commit, path, files = snapshot.files, "snapshot written");
                Ok(snapshot)
            }
            Err(err) => {
                clear_dest(dest, created).await;
                Err(err)
            }
        }
    }

    fn located(
        &self,
        commit: &ObjectId,
        path: &str,
        make: impl FnOnce(String, String, String) -> GitError,
    ) -> GitError {
        make(self.url.to_string(), commit.to_string(), path.to_string())
    }

    async fn write_tree(
        &self,
        commit: &ObjectId,
        path: &str,
        tree: &ObjectId,
        dest: &Path,
        cancel: &CancellationToken,
    ) -> Result<Snapshot, GitError> {
        let git = &self.shared.git;
        let listing =
            git.run(&self.call("snapshot").args(["ls-tree", "-r", "-z", "--full-tree", tree.as_str()]), cancel).await?;
        let entries = parse_ls_tree(&listing);
        let unsafe_entry = |entry: &[u8], reason| GitError::UnsafeEntry {
            url: self.url.to_string(),
            commit: commit.to_string(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason,
        };
        let mut dirs = BTreeSet::new();
        for entry in &entries {
            check_entry_path(&entry.path).map_err(|reason| unsafe_entry(&entry.path, reason))?;
            let mut parts: Vec<&[u8]> = entry.path.split(|&b| b == b'/').collect();
            parts.pop();
            for depth in 1..=parts.len() {
                dirs.insert(parts[..depth].join(&b'/'));
            }
        }
        let mut snapshot = Snapshot {
            commit: commit.clone(),
            tree: tree.clone(),
            path: path.to_string(),
            files: 0,
            bytes: 0,
            symlinks: 0,
            submodules: Vec::new(),
            fetch: Fetch::None,
        };
        for dir in &dirs {
            let at = dest.join(OsStr::from_bytes(dir));
            tokio::fs::create_dir_all(&at).await.map_err(GitError::io(format!("creating {}", at.display())))?;
        }
        for entry in entries.iter().filter(|e| e.mode == 0o160000) {
            let at = dest.join(OsStr::from_bytes(&entry.path));
            tokio::fs::create_dir_all(&at).await.map_err(GitError::io(format!("creating {}", at.display())))?;
            snapshot.submodules.push(String::from_utf8_lossy(&entry.path).into_owned());
        }
        let blobs: Vec<&Entry> = entries.iter().filter(|e| e.mode != 0o160000).collect();
        let links = self.write_blobs(&blobs, dest, &mut snapshot).await?;
        for link in links.keys() {
            symlink::check(&links, link).map_err(|escape| match escape {
                Escape::Loop => unsafe_entry(link, "is a symlink loop"),
                Escape::Absolute | Escape::Outside => GitError::SymlinkEscapes {
                    url: self.url.to_string(),
                    commit: commit.to_string(),
                    path: path.to_string(),
                    link: String::from_utf8_lossy(link).into_owned(),
                    target: String::from_utf8_lossy(&links[link]).into_owned(),
                },
            })?;
        }
        for (link, target) in &links {
            let at = dest.join(OsStr::from_bytes(link));
            tokio::fs::symlink(OsStr::from_bytes(target), &at)
                .await
                .map_err(GitError::io(format!("creating the symlink {}", at.display())))?;
            snapshot.symlinks += 1;
        }
        Ok(snapshot)
    }

    /// Streams every blob through one `git cat-file --batch`: regular files are written
    /// as they come, symlink targets are returned to be checked before any is created.
    /// Cancel and timeout are the caller's: dropping this future kills git.
    async fn write_blobs(
        &self,
        blobs: &[&Entry],
        dest: &Path,
        snapshot: &mut Snapshot,
    ) -> Result<HashMap<Vec<u8>, Vec<u8>>, GitError> {
        let mut links = HashMap::new();
        if blobs.is_empty() {
            return Ok(links);
        }
        let call = self.call("snapshot").args(["cat-file", "--batch"]).stdin(Vec::new());
        let mut child = self.shared.git.spawn(&call)?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let ids: Vec<u8> = blobs.iter().flat_map(|e| [e.id.as_bytes(), b"\n"]).flatten().copied().collect();
        let feed = tokio::spawn(async move {
            let _ = stdin.write_all(&ids).await; // an early exit of git shows in its status
        });
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let errors = tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text).await;
            text
        });
        let mut out = BufReader::with_capacity(1 << 16, child.stdout.take().expect("stdout is piped"));
        let mut header = Vec::new();
        for entry in blobs {
            header.clear();
            out.read_until(b'\n', &mut header).await.map_err(GitError::io("reading git cat-file"))?;
            let size = blob_size(&header, &entry.id).ok_or_else(|| GitError::Git {
                url: self.url.to_string(),
                action: "snapshot",
                status: "unexpected output".into(),
                stderr: format!("git cat-file gave no blob for {}", entry.id),
            })?;
            let at = dest.join(OsStr::from_bytes(&entry.path));
            let mut body = (&mut out).take(size);
            if entry.mode == 0o120000 {
                let mut target = Vec::new();
                body.read_to_end(&mut target).await.map_err(GitError::io("reading git cat-file"))?;
                links.insert(entry.path.clone(), target);
            } else {
                let mode = if entry.mode & 0o111 != 0 { 0o755 } else { 0o644 };
                let mut file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&at)
                    .await
                    .map_err(GitError::io(format!("creating {}", at.display())))?;
                let copied = tokio::io::copy(&mut body, &mut file)
                    .await
                    .map_err(GitError::io(format!("writing {}", at.display())))?;
                file.flush().await.map_err(GitError::io(format!("writing {}", at.display())))?;
                snapshot.files += 1;
                snapshot.bytes += copied;
            }
            let mut newline = [0u8; 1];
            out.read_exact(&mut newline).await.map_err(GitError::io("reading git cat-file"))?;
        }
        let _ = feed.await;
        drop(out);
        let status = child.wait().await.map_err(GitError::io("waiting for git cat-file"))?;
        let stderr = errors.await.unwrap_or_default();
        if !status.success() {
            return Err(call.failed(&status, &stderr));
        }
        Ok(links)
    }
}

fn parse_ls_tree(listing: &[u8]) -> Vec<Entry> {
    listing
        .split(|&b| b == 0)
        .filter(|record| !record.is_empty())
        .filter_map(|record| {
            // <mode> SP <type> SP <id> TAB <path>
            let tab = record.iter().position(|&b| b == b'\t')?;
            let head = std::str::from_utf8(&record[..tab]).ok()?;
            let mut words = head.split(' ');
            let mode = u32::from_str_radix(words.next()?, 8).ok()?;
            let id = words.nth(1)?.to_string();
            Some(Entry { mode, id, path: record[tab + 1..].to_vec() })
        })
        .collect()
}

/// The size in `<id> blob <size>\n`, when the header is the blob asked for.
fn blob_size(header: &[u8], id: &str) -> Option<u64> {
    let text = std::str::from_utf8(header).ok()?.trim_end();
    let mut words = text.split(' ');
    (words.next()? == id && words.next()? == "blob").then_some(())?;
    words.next()?.parse().ok()
}

/// A path git would refuse to check out: one that leaves the folder or writes `.git`.
fn check_entry_path(path: &[u8]) -> Result<(), &'static str> {
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." | b".." => return Err("has an empty, `.` or `..` component and would leave the snapshot"),
            part if part.eq_ignore_ascii_case(b".git") => return Err("is a `.git`, which a snapshot never holds"),
            _ => {}
        }
    }
    Ok(())
}

/// Makes sure `dest` exists and is empty; returns whether it was created.
async fn prepare_dest(dest: &Path) -> Result<bool, GitError> {
    let bad = |reason: String| GitError::Destination { dest: dest.to_path_buf(), reason };
    match tokio::fs::read_dir(dest).await {
        Ok(mut entries) => match entries.next_entry().await {
            Ok(None) => Ok(false),
            Ok(Some(_)) => Err(bad("is not empty; a snapshot is written into an absent or empty folder".into())),
            Err(e) => Err(bad(e.to_string())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tokio::fs::create_dir_all(dest).await.map_err(|e| bad(format!("cannot be created: {e}")))?;
            Ok(true)
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Removes what a failed snapshot wrote.
async fn clear_dest(dest: &Path, created: bool) {
    if created {
        let _ = tokio::fs::remove_dir_all(dest).await;
        return;
    }
    if let Ok(mut entries) = tokio::fs::read_dir(dest).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path: PathBuf = entry.path();
            let removed = match entry.file_type().await {
                Ok(t) if t.is_dir() => tokio::fs::remove_dir_all(&path).await,
                _ => tokio::fs::remove_file(&path).await,
            };
            if let Err(e) = removed {
                tracing::warn!(path = %path.display(), "cannot remove what a failed snapshot wrote: {e}");
            }
        }
    }
}
