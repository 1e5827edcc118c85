//! Mirrors of repositories: one bare mirror per normalised URL under the mirrors folder
//! (0700), created once, then fetched incrementally under the mirror's lock. A fetch that
//! began while a caller waited for the lock serves that caller too, so a run costs at
//! most one fetch, and none when the commit it names is already present.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::{self, ASKPASS_SCRIPT, AuthPaths};
use crate::command::{Call, Git};
use crate::lock;
use crate::reference::{check_ref, is_hex_prefix};
use crate::url::Transport;
use crate::{Credentials, GitError, ObjectId, RepoUrl};

/// The refs a mirror keeps: branches, tags, and the heads of GitHub pull requests and
/// GitLab merge requests (so a PR from a fork can be checked out).
const REFSPECS: &[&str] = &[
    "+refs/heads/*:refs/heads/*",
    "+refs/tags/*:refs/tags/*",
    "+refs/pull/*/head:refs/pull/*/head",
    "+refs/merge-requests/*/head:refs/merge-requests/*/head",
];

/// The file, inside a mirror, counting the fetches started and completed.
const MARKER: &str = "terrace-fetch";

/// How git is run for every mirror.
#[derive(Clone, Debug)]
pub struct GitOptions {
    /// The `git` program [default: `git`, found on PATH].
    pub program: PathBuf,
    /// Bound of a clone, a fetch or a snapshot [default: 10 minutes].
    pub network_timeout: Duration,
    /// Bound of a local look-up (a ref, a path) [default: 1 minute].
    pub local_timeout: Duration,
    /// Whether `file://` URLs and absolute paths may be mirrored [default: true]. A server
    /// whose users must not read the server's own disk sets it to false.
    pub allow_local: bool,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            program: "git".into(),
            network_timeout: Duration::from_secs(600),
            local_timeout: Duration::from_secs(60),
            allow_local: true,
        }
    }
}

/// What a call cost in fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetch {
    /// Everything needed was already in the mirror.
    None,
    /// The mirror was created (one full fetch).
    Created,
    /// One incremental fetch.
    Updated,
    /// Another task's or process's fetch, begun while this one waited, was used.
    Shared,
}

/// A ref resolved to a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub commit: ObjectId,
    pub fetch: Fetch,
}

/// The folder holding every mirror, and how git runs for them.
#[derive(Clone, Debug)]
pub struct Mirrors {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    root: PathBuf,
    pub(crate) git: Git,
    auth: AuthPaths,
    pub(crate) options: GitOptions,
}

impl Mirrors {
    /// Opens (creating, mode 0700) the mirrors folder `root`, e.g. `<data>/mirrors`.
    pub async fn open(root: impl Into<PathBuf>, options: GitOptions) -> Result<Mirrors, GitError> {
        let root = root.into();
        let auth =
            AuthPaths { askpass: root.join("askpass"), keys: root.join("keys"), known_hosts: root.join("known_hosts") };
        let home = root.join("home");
        let (dirs, askpass) = ([root.clone(), auth.keys.clone(), home.clone()], auth.askpass.clone());
        tokio::task::spawn_blocking(move || prepare_root(&dirs, &askpass)).await.map_err(|e| GitError::Io {
            context: "preparing the mirrors folder".into(),
            source: std::io::Error::other(e),
        })??;
        let protocols = if options.allow_local { "https:http:ssh:git:file" } else { "https:http:ssh:git" };
        let git = Git { program: options.program.clone(), home, allow_protocols: protocols.into() };
        Ok(Mirrors { shared: Arc::new(Shared { root, git, auth, options }) })
    }

    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// The mirror of `url`, reached with `credentials`. Nothing is fetched yet.
    pub fn mirror(&self, url: &RepoUrl, credentials: Option<Credentials>) -> Result<Mirror, GitError> {
        if url.transport() == Transport::File && !self.shared.options.allow_local {
            return Err(GitError::InvalidUrl {
                url: url.to_string(),
                reason: "is a path on the server, and this server does not allow local repositories".into(),
            });
        }
        let key = url.mirror_key();
        Ok(Mirror {
            shared: self.shared.clone(),
            dir: self.shared.root.join(&key),
            lock: self.shared.root.join(format!("{key}.lock")),
            url: url.clone(),
            credentials,
        })
    }
}

/// Blocking: creates the folders (0700) and the askpass script.
fn prepare_root(dirs: &[PathBuf], askpass: &Path) -> Result<(), GitError> {
    for dir in dirs {
        std::fs::create_dir_all(dir).map_err(GitError::io(format!("creating {}", dir.display())))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(GitError::io(format!("restricting {} to its owner", dir.display())))?;
    }
    let current = std::fs::read_to_string(askpass).unwrap_or_default();
    if current != ASKPASS_SCRIPT {
        let tmp = askpass.with_extension("new");
        std::fs::write(&tmp, ASKPASS_SCRIPT).map_err(GitError::io(format!("writing {}", tmp.display())))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))
            .map_err(GitError::io(format!("making {} executable", tmp.display())))?;
        std::fs::rename(&tmp, askpass).map_err(GitError::io(format!("writing {}", askpass.display())))?;
    }
    Ok(())
}

/// One repository's mirror.
#[derive(Clone, Debug)]
pub struct Mirror {
    pub(crate) shared: Arc<Shared>,
    pub(crate) url: RepoUrl,
    credentials: Option<Credentials>,
    pub(crate) dir: PathBuf,
    lock: PathBuf,
}

/// What the counter file of a mirror holds.
#[derive(Clone, Copy, Default)]
struct Counts {
    started: u64,
    completed: u64,
}

impl Mirror {
    pub fn url(&self) -> &RepoUrl {
        &self.url
    }

    /// The bare repository on disk (it may not exist yet).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Brings the mirror up to date with the repository: created on first use, then one
    /// incremental fetch, unless a fetch begun after this call started has completed.
    pub async fn fetch(&self, cancel: &CancellationToken) -> Result<Fetch, GitError> {
        let seen = self.counts().await.started;
        let _lock = tokio::select! {
            lock = lock::acquire(&self.lock) => lock?,
            () = cancel.cancelled() => return Err(GitError::Cancelled { url: self.url.to_string(), action: "fetch" }),
        };
        if !self.exists().await {
            self.create(cancel).await?;
            return Ok(Fetch::Created);
        }
        let counts = self.counts().await;
        if counts.completed > seen {
            return Ok(Fetch::Shared);
        }
        let started = counts.started + 1;
        self.write_counts(&self.dir, Counts { started, completed: counts.completed }).await?;
        self.fetch_into(&self.dir, cancel).await?;
        self.write_counts(&self.dir, Counts { started, completed: started }).await?;
        Ok(Fetch::Updated)
    }

    /// The commit `reference` (a branch, a tag, `refs/...`, a full or short commit id)
    /// names now. A commit id already in the mirror costs no fetch; anything else one.
    pub async fn resolve(&self, reference: &str, cancel: &CancellationToken) -> Result<Resolved, GitError> {
        check_ref(reference)?;
        if is_hex_prefix(reference)
            && self.exists().await
            && let Some(Found::Object(commit)) = self.lookup(reference, cancel).await?
        {
            return Ok(Resolved { commit, fetch: Fetch::None });
        }
        let fetch = self.fetch(cancel).await?;
        match self.lookup(reference, cancel).await? {
            Some(Found::Ref(commit) | Found::Object(commit)) => Ok(Resolved { commit, fetch }),
            Some(Found::Ambiguous) => Err(GitError::UnknownRef {
                url: self.url.to_string(),
                reference: reference.into(),
                hint: "; several commits start with it: give more characters".into(),
            }),
            None => Err(self.unknown_ref(reference, cancel).await),
        }
    }

    /// Whether the mirror holds `commit`.
    pub async fn has_commit(&self, commit: &ObjectId, cancel: &CancellationToken) -> Result<bool, GitError> {
        Ok(self.exists().await && matches!(self.lookup(commit.as_str(), cancel).await?, Some(Found::Object(_))))
    }

    pub(crate) async fn exists(&self) -> bool {
        tokio::fs::try_exists(&self.dir).await.unwrap_or(false)
    }

    pub(crate) fn call(&self, action: &'static str) -> Call<'_> {
        Call::new(action, &self.url, self.shared.options.local_timeout).in_dir(&self.dir)
    }

    /// Runs `git cat-file --batch-check` on `specs`: per spec, its object id and type.
    pub(crate) async fn batch_check(
        &self,
        specs: &[String],
        cancel: &CancellationToken,
    ) -> Result<Vec<Option<(ObjectId, String)>>, GitError> {
        let input = specs.iter().flat_map(|s| [s.as_bytes(), b"\n"]).flatten().copied().collect();
        let call = self.call("look-up").args(["cat-file", "--batch-check"]).stdin(input);
        let out = self.shared.git.run(&call, cancel).await?;
        let text = String::from_utf8_lossy(&out);
        Ok(text
            .lines()
            .map(|line| {
                let mut words = line.split(' ');
                let id = words.next().and_then(ObjectId::parse)?;
                Some((id, words.next()?.to_string()))
            })
            .collect())
    }

    /// A branch or tag of that name first (as git does), then a full ref, then an id.
    async fn lookup(&self, reference: &str, cancel: &CancellationToken) -> Result<Option<Found>, GitError> {
        let by_id = ObjectId::parse(reference).is_some() || is_hex_prefix(reference);
        let mut specs = vec![format!("refs/heads/{reference}^{{commit}}"), format!("refs/tags/{reference}^{{commit}}")];
        if reference.starts_with("refs/") || by_id {
            specs.push(format!("{reference}^{{commit}}"));
        }
        let found = self.batch_check(&specs, cancel).await?;
        if let Some(Some((id, _))) = found.iter().take(2).find(|f| f.is_some()) {
            return Ok(Some(Found::Ref(id.clone())));
        }
        match found.get(2) {
            Some(Some((id, _))) if by_id => Ok(Some(Found::Object(id.clone()))),
            Some(Some((id, _))) => Ok(Some(Found::Ref(id.clone()))),
            _ if by_id && ObjectId::parse(reference).is_none() => {
                // batch-check says "ambiguous" instead of "missing" for a shared prefix.
                let call = self.call("look-up").args(["rev-parse", "--verify", "--quiet", "--end-of-options"]);
                let out = self.shared.git.output(&call.args([reference]), cancel).await?;
                let ambiguous = String::from_utf8_lossy(&out.stderr).contains("ambiguous");
                Ok(ambiguous.then_some(Found::Ambiguous))
            }
            _ => Ok(None),
        }
    }

    async fn unknown_ref(&self, reference: &str, cancel: &CancellationToken) -> GitError {
        let call =
            self.call("look-up").args(["for-each-ref", "--count=10", "--format=%(refname:short)", "refs/heads/"]);
        let branches = self.shared.git.run(&call, cancel).await.unwrap_or_default();
        let branches: Vec<_> = String::from_utf8_lossy(&branches).lines().map(str::to_string).collect();
        let hint = if branches.is_empty() {
            "; the repository has no branches".to_string()
        } else {
            format!("; its branches include: {}", branches.join(", "))
        };
        GitError::UnknownRef { url: self.url.to_string(), reference: reference.into(), hint }
    }

    /// Creates the mirror in a temporary folder, fetches, then moves it in place, so
    /// readers see a complete mirror or none. Called under the lock.
    async fn create(&self, cancel: &CancellationToken) -> Result<(), GitError> {
        let tmp = self.dir.with_extension("new");
        if tokio::fs::try_exists(&tmp).await.unwrap_or(false) {
            // A creation that crashed; the lock says nobody else is at it.
            tokio::fs::remove_dir_all(&tmp).await.map_err(GitError::io(format!("removing {}", tmp.display())))?;
        }
        let git = &self.shared.git;
        let init = Call::new("init", &self.url, self.shared.options.local_timeout);
        git.run(&init.args(["init", "--bare", "--quiet"]).args([&tmp]), cancel).await?;
        let mut settings = vec![
            vec!["config", "remote.origin.url", self.url.for_git()],
            vec!["config", "gc.auto", "0"],
            vec!["config", "maintenance.auto", "false"],
        ];
        settings.extend(REFSPECS.iter().map(|spec| vec!["config", "--add", "remote.origin.fetch", spec]));
        for args in settings {
            let call = Call::new("init", &self.url, self.shared.options.local_timeout).in_dir(&tmp);
            git.run(&call.args(args), cancel).await?;
        }
        self.fetch_into(&tmp, cancel).await?;
        self.write_counts(&tmp, Counts { started: 1, completed: 1 }).await?;
        tokio::fs::rename(&tmp, &self.dir)
            .await
            .map_err(GitError::io(format!("moving the new mirror to {}", self.dir.display())))?;
        tracing::info!(url = %self.url, mirror = %self.dir.display(), "mirror created");
        Ok(())
    }

    async fn fetch_into(&self, dir: &Path, cancel: &CancellationToken) -> Result<(), GitError> {
        let (paths, url, creds) = (self.shared.auth.clone(), self.url.clone(), self.credentials.clone());
        let auth =
            tokio::task::spawn_blocking(move || auth::prepare(&paths, &url, creds.as_ref())).await.map_err(|e| {
                GitError::Io { context: "preparing credentials".into(), source: std::io::Error::other(e) }
            })??;
        let mut call = Call::new("fetch", &self.url, self.shared.options.network_timeout).in_dir(dir).args([
            "fetch",
            "--prune",
            "--no-auto-gc",
            "--no-write-fetch-head",
            "--quiet",
            "origin",
        ]);
        call.env = auth.env.clone();
        call.secrets = self.credentials.as_ref().map(Credentials::secrets).unwrap_or_default();
        let out = self.shared.git.output(&call, cancel).await?;
        drop(auth);
        if out.status.success() {
            tracing::debug!(url = %self.url, "fetched");
            return Ok(());
        }
        Err(match call.failed(&out.status, &out.stderr) {
            GitError::Git { url, action, status, mut stderr } => {
                if needs_credentials(&stderr) {
                    stderr.push_str(if self.credentials.is_some() {
                        " (the repository refused the credentials given: check the token or key and its access)"
                    } else {
                        " (the repository needs credentials: give the source a token or an ssh key)"
                    });
                }
                GitError::Git { url, action, status, stderr }
            }
            other => other,
        })
    }

    async fn counts(&self) -> Counts {
        let text = tokio::fs::read_to_string(self.dir.join(MARKER)).await.unwrap_or_default();
        let mut numbers = text.split_whitespace().map(|n| n.parse().unwrap_or(0));
        Counts { started: numbers.next().unwrap_or(0), completed: numbers.next().unwrap_or(0) }
    }

    async fn write_counts(&self, dir: &Path, counts: Counts) -> Result<(), GitError> {
        let (path, tmp) = (dir.join(MARKER), dir.join(format!("{MARKER}.new")));
        let text = format!("{} {}\n", counts.started, counts.completed);
        tokio::fs::write(&tmp, text).await.map_err(GitError::io(format!("writing {}", tmp.display())))?;
        tokio::fs::rename(&tmp, &path).await.map_err(GitError::io(format!("writing {}", path.display())))
    }
}

/// What a name is in a mirror.
enum Found {
    /// A branch, a tag or a full ref: it may move, so it is read after a fetch.
    Ref(ObjectId),
    /// A commit id: it never moves.
    Object(ObjectId),
    /// A short id that several objects share.
    Ambiguous,
}

fn needs_credentials(stderr: &str) -> bool {
    ["could not read Username", "Authentication failed", "Permission denied (publickey", "HTTP Basic: Access denied"]
        .iter()
        .any(|s| stderr.contains(s))
}
