//! The job's output file, read the one safe way: opened without following a symlink and
//! without blocking (a FIFO answers at once), a regular file only, at most
//! `MAX_OUTPUT_FILE_BYTES`. While the job runs, its log capture consults the file before
//! it lets any bytes go (`OutputWatch`), so a sensitive value the job wrote there is masked
//! in every line the job printed after the write, whatever the timing.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use terrace_model::output::{MAX_OUTPUT_FILE_BYTES, OutputFileError, parse_output_file};

use crate::SecretSet;

/// Why an output file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("it is {0}, not a regular file; nothing was read")]
    NotRegular(&'static str),
    #[error("it holds {0} bytes, over the limit of 1 MiB ({MAX_OUTPUT_FILE_BYTES} bytes) for an output file")]
    TooLarge(u64),
    #[error("cannot read it: {0}")]
    Io(#[source] std::io::Error),
}

/// Why an output file that arrived as bytes (a pod's upload) is refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadRefusal {
    /// Over the limit: nothing of it is kept.
    #[error(transparent)]
    TooLarge(ReadError),
    /// Within the limit, but it breaks the output-file contract.
    #[error(transparent)]
    Content(OutputFileError),
}

/// Checks an output file that arrived as bytes against the same limit and contract as
/// one read here, in the same words (`size`: what the sender said it holds, when more
/// than arrived).
pub fn check_upload(bytes: &[u8], size: Option<u64>) -> Result<(), UploadRefusal> {
    let size = size.unwrap_or(0).max(bytes.len() as u64);
    if size > MAX_OUTPUT_FILE_BYTES as u64 {
        return Err(UploadRefusal::TooLarge(ReadError::TooLarge(size)));
    }
    parse_output_file(bytes).map(|_| ()).map_err(UploadRefusal::Content)
}

/// Reads the output file at `path`; `None` when there is none.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    match open_regular(path)? {
        Some(file) => read_open(&file).map(|(bytes, _)| Some(bytes)),
        None => Ok(None),
    }
}

/// Opens `path` for reading without following a symlink and without blocking; `None`
/// when there is nothing there, an error when it is not a regular file.
fn open_regular(path: &Path) -> Result<Option<std::fs::File>, ReadError> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY;
    let file = match std::fs::OpenOptions::new().read(true).custom_flags(flags.bits()).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) => {
            return Err(ReadError::NotRegular("a symbolic link"));
        }
        Err(e) => return Err(ReadError::Io(e)),
    };
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(&meta.file_type())));
    }
    Ok(Some(file))
}

/// The content of an open regular file once no process has it open for writing (within
/// `WRITER_WAIT`), read under a read lease: a file being rewritten is empty or half
/// written for a moment, and a job that starts rewriting it (`>`: truncated, then
/// written) between a check and the read would tear the version it printed before.
/// While the lease is held, the kernel makes any open for writing or truncation of the
/// file wait until it is released (right after the read), so what is read is one whole
/// version, the last one written. Where leases are not supported, it is read as it is.
fn read_settled(file: &std::fs::File) -> Result<(Vec<u8>, Stamp), ReadError> {
    let deadline = std::time::Instant::now() + WRITER_WAIT;
    loop {
        match Lease::take(file) {
            Lease::Writer if std::time::Instant::now() < deadline => std::thread::sleep(WRITER_POLL),
            lease => {
                let read = read_open(file);
                drop(lease);
                return read;
            }
        }
    }
}

/// A read lease on an open file, or why there is none.
enum Lease<'a> {
    /// Held until dropped: meanwhile no process can open the file for writing.
    Held(&'a std::fs::File),
    /// Some process has the file open for writing now: the kernel refuses the lease (EAGAIN).
    Writer,
    /// Leases are not supported here (file system, ownership): nothing is held.
    Unsupported,
}

impl<'a> Lease<'a> {
    /// A writer that opens the file while the lease is held waits only for its release;
    /// the kernel's notice comes as SIGURG, which is ignored unless handled.
    fn take(file: &'a std::fs::File) -> Self {
        use nix::libc;
        use std::os::fd::AsRawFd;
        // <fcntl.h>'s F_SETSIG, the same on every Linux architecture (absent from libc).
        const F_SETSIG: libc::c_int = 10;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl with integer arguments on a descriptor this lease borrows.
        unsafe {
            if libc::fcntl(fd, F_SETSIG, libc::SIGURG) != 0 {
                return Lease::Unsupported;
            }
            if libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) != 0 {
                return match std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
                    true => Lease::Writer,
                    false => Lease::Unsupported,
                };
            }
        }
        Lease::Held(file)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Lease::Held(file) = self {
            use std::os::fd::AsRawFd;
            // SAFETY: fcntl with integer arguments on a descriptor still borrowed.
            unsafe { nix::libc::fcntl(file.as_raw_fd(), nix::libc::F_SETLEASE, nix::libc::F_UNLCK) };
        }
    }
}

/// Whether some process has `file` open for writing now (where leases are not
/// supported, the answer is no).
#[cfg(test)]
fn is_open_for_writing(file: &std::fs::File) -> bool {
    matches!(Lease::take(file), Lease::Writer)
}

/// The whole content of an open regular file, from its start, within the size limit.
fn read_open(mut file: &std::fs::File) -> Result<(Vec<u8>, Stamp), ReadError> {
    use std::io::Seek;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if meta.len() > MAX_OUTPUT_FILE_BYTES as u64 {
        return Err(ReadError::TooLarge(meta.len()));
    }
    file.rewind().map_err(ReadError::Io)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than allowed tells a file that grew past the limit since the stat.
    Read::take(&mut file, MAX_OUTPUT_FILE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() > MAX_OUTPUT_FILE_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok((bytes, stamp(&meta)))
}

fn kind(t: &std::fs::FileType) -> &'static str {
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// What tells one version of the file from another without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(m: &std::fs::Metadata) -> Stamp {
    Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    }
}

/// A file written this recently may be written again within the same tick of the
/// kernel's coarse clock, leaving its stamp unchanged: it is read again to be sure.
const SAME_TICK: Duration = Duration::from_millis(100);

/// How long the capture waits for a job that has the file open for writing (rewriting it
/// with `>`: truncated, then written) to close it, before reading what is there.
const WRITER_WAIT: Duration = Duration::from_secs(2);
const WRITER_POLL: Duration = Duration::from_millis(1);

/// The output file of one running job, as its log capture last saw it.
///
/// What it guarantees: every version of the file that is still there (at its path, or in
/// the file Terrace created, even once removed or renamed away) when the capture reads
/// the bytes the job printed after writing it. A job that rewrites a secret in place
/// with another right after printing the first races with the capture (README, "The
/// output contract"). Each version is read whole: a job that starts rewriting the file
/// while the capture reads it waits for the read (see `read_settled`).
pub(crate) struct OutputWatch {
    path: PathBuf,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// The file as created before the job started, kept open: a job that removes or
    /// replaces it after printing it cannot take its content away from the capture.
    held: Option<std::fs::File>,
    held_stamp: Option<Stamp>,
    path_stamp: Option<Stamp>,
    /// The content last parsed, of either.
    bytes: Vec<u8>,
}

impl OutputWatch {
    pub(crate) fn new(path: PathBuf) -> Arc<Self> {
        let held = open_regular(&path).ok().flatten();
        Arc::new(OutputWatch { path, seen: Mutex::new(Seen { held, ..Seen::default() }) })
    }

    /// Adds the sensitive values of the file as it is now to `secrets`. Called after each
    /// read of a log pipe and before its bytes are masked: a write to the file that came
    /// before the job's write to the pipe has completed by then, so it is seen.
    pub(crate) async fn check(self: &Arc<Self>, secrets: &SecretSet) {
        if !self.may_have_changed() {
            return;
        }
        // Reading, parsing and building the masker happen off the async threads.
        let (me, secrets) = (self.clone(), secrets.clone());
        if let Err(e) = tokio::task::spawn_blocking(move || me.refresh(&secrets)).await {
            tracing::warn!("reading the output file failed: {e}");
        }
    }

    /// Cheap checks first: an lstat of the path (in the kernel's dentry cache) and an
    /// fstat of the held file, compared with what was last read.
    fn may_have_changed(&self) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        // A FIFO or symlink put in place of the file is not a regular file: never read.
        let at_path = std::fs::symlink_metadata(&self.path).ok().filter(|m| m.is_file());
        // The held file matters apart only once the path leads elsewhere (removed, replaced).
        let held = seen
            .held
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .filter(|h| at_path.as_ref().is_none_or(|p| (p.dev(), p.ino()) != (h.dev(), h.ino())));
        let changed = |meta: Option<&std::fs::Metadata>, last: Option<Stamp>| {
            meta.is_some_and(|m| {
                // A time in the future (the clock went back) counts as recent.
                let recent =
                    m.modified().is_ok_and(|t| SystemTime::now().duration_since(t).map_or(true, |age| age < SAME_TICK));
                m.len() <= MAX_OUTPUT_FILE_BYTES as u64 && (last != Some(stamp(m)) || recent)
            })
        };
        changed(at_path.as_ref(), seen.path_stamp) || changed(held.as_ref(), seen.held_stamp)
    }

    fn refresh(&self, secrets: &SecretSet) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut versions = Vec::new();
        let mut at_path = None;
        if let Ok(Some(file)) = open_regular(&self.path)
            && let Ok((bytes, stamp)) = read_settled(&file)
        {
            seen.path_stamp = Some(stamp);
            at_path = Some((stamp.dev, stamp.ino));
            versions.push(bytes);
        }
        let held_elsewhere =
            seen.held.as_ref().and_then(|f| f.metadata().ok()).is_some_and(|m| at_path != Some((m.dev(), m.ino())));
        if held_elsewhere
            && let Some(file) = seen.held.as_ref()
            && let Ok((bytes, stamp)) = read_settled(file)
        {
            seen.held_stamp = Some(stamp);
            versions.push(bytes);
        }
        for bytes in versions {
            if bytes == seen.bytes {
                continue;
            }
            // A file that does not parse yet (half written) gives nothing; the engine
            // checks the final file when the job ends.
            if let Ok(file) = parse_output_file(&bytes) {
                secrets.extend_blocking(file.entries.into_iter().filter(|e| e.sensitive).map(|e| e.value));
            }
            seen.bytes = bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn adds_sensitive_values_when_the_file_changes_and_parses() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("output.json");
        let secrets = SecretSet::new();
        let watch = OutputWatch::new(path.clone());

        watch.check(&secrets).await;
        assert!(secrets.is_empty(), "a missing file is no change");

        std::fs::write(&path, r#"{"pw": {"value": "hunter2", "sensitive": true}, "#).unwrap();
        watch.check(&secrets).await;
        assert!(secrets.is_empty(), "a half-written file is ignored");

        std::fs::write(
            &path,
            r#"{"pw": {"value": "hunter2", "sensitive": true}, "host": {"value": "db.local", "sensitive": false}}"#,
        )
        .unwrap();
        watch.check(&secrets).await;
        assert_eq!(secrets.mask("hunter2 db.local"), "*** db.local");
        assert_eq!(secrets.len(), 1);

        // Rewritten at once with the same length: the stamp may not move, the content does.
        std::fs::write(
            &path,
            r#"{"pw": {"value": "hunter3", "sensitive": true}, "host": {"value": "db.local", "sensitive": false}}"#,
        )
        .unwrap();
        watch.check(&secrets).await;
        assert_eq!(secrets.mask("hunter3"), "***");
    }

    #[tokio::test]
    async fn the_file_terrace_created_is_read_after_the_job_removed_it() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("output.json");
        std::fs::write(&path, "").unwrap();
        let secrets = SecretSet::new();
        let watch = OutputWatch::new(path.clone());
        std::fs::write(&path, r#"{"pw": {"value": "hunter2"}}"#).unwrap();
        std::fs::remove_file(&path).unwrap();
        watch.check(&secrets).await;
        assert_eq!(secrets.mask("hunter2"), "***");
        // A new file at the path is read too.
        std::fs::write(&path, r#"{"pw": {"value": "hunter3"}}"#).unwrap();
        watch.check(&secrets).await;
        assert_eq!(secrets.mask("hunter2 hunter3"), "*** ***");
    }

    /// After a read, an unchanged file (written long ago) is not read again: the capture
    /// pays two stats per pipe read, not a read of the file.
    #[tokio::test]
    async fn an_unchanged_file_is_not_read_again() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("output.json");
        std::fs::write(&path, r#"{"pw": {"value": "hunter2"}}"#).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        let watch = OutputWatch::new(path.clone());
        assert!(watch.may_have_changed(), "never read yet");
        watch.check(&SecretSet::new()).await;
        assert!(!watch.may_have_changed());
        std::fs::write(&path, r#"{"pw": {"value": "hunter3"}}"#).unwrap();
        assert!(watch.may_have_changed());
    }

    #[test]
    fn a_file_open_for_writing_is_seen_as_such() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("output.json");
        std::fs::write(&path, "{}").unwrap();
        let reader = open_regular(&path).unwrap().unwrap();
        assert!(!is_open_for_writing(&reader));
        let writer = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        assert!(is_open_for_writing(&reader));
        drop(writer);
        assert!(!is_open_for_writing(&reader));
    }

    /// While the capture reads the file, a job cannot truncate it or open it for writing:
    /// a non-blocking open says it would wait, and succeeds once the read is done.
    #[test]
    fn a_writer_waits_while_the_file_is_read() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("output.json");
        std::fs::write(&path, "{}").unwrap();
        let reader = open_regular(&path).unwrap().unwrap();
        let lease = Lease::take(&reader);
        assert!(matches!(lease, Lease::Held(_)), "leases are supported here");
        let open_writer = || {
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&path)
        };
        let err = open_writer().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::EWOULDBLOCK), "{err}");
        assert_eq!(read_open(&reader).unwrap().0, b"{}");
        drop(lease);
        drop(open_writer().unwrap());
        assert_eq!(read_open(&reader).unwrap().0, b"");
    }

    #[test]
    fn an_upload_is_held_to_the_same_limit_and_contract() {
        check_upload(br#"{"a": {"value": 1}}"#, None).unwrap();
        check_upload(b"", None).unwrap();
        let err = check_upload(b"{\"a\": tru}", None).unwrap_err().to_string();
        assert!(err.starts_with("not valid JSON") && err.ends_with("at line 1 column 10"), "{err}");
        let err = check_upload(b"{}", Some(MAX_OUTPUT_FILE_BYTES as u64 + 5)).unwrap_err();
        assert!(matches!(err, UploadRefusal::TooLarge(_)));
        assert_eq!(err.to_string(), ReadError::TooLarge(MAX_OUTPUT_FILE_BYTES as u64 + 5).to_string());
    }

    #[test]
    fn only_regular_files_are_read_and_never_block() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(read(&fifo), Err(ReadError::NotRegular("a FIFO"))));
        let link = d.path().join("link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(matches!(read(&link), Err(ReadError::NotRegular("a symbolic link"))));
        assert!(matches!(read(d.path()), Err(ReadError::NotRegular("a folder"))));
        assert!(read(&d.path().join("absent")).unwrap().is_none());
        let big = d.path().join("big");
        std::fs::File::create(&big).unwrap().set_len(MAX_OUTPUT_FILE_BYTES as u64 + 1).unwrap();
        let err = read(&big).unwrap_err();
        assert!(err.to_string().contains("over the limit of 1 MiB"), "{err}");
        std::fs::write(&big, "{}").unwrap();
        assert_eq!(read(&big).unwrap().unwrap(), b"{}");
    }
}
