//! Jobs whose source is a git repository: each `(url, ref)` of a pipeline is resolved to
//! one commit before its runs are created (so a push during the pipeline changes nothing
//! it runs, and every run records the commit it used), then each attempt writes that
//! commit's folder into its working copy from the mirror (`<data>/mirrors`, fetched
//! incrementally, once per URL). Credentials come from the store's secrets by name and
//! reach git only through its environment.

use std::collections::BTreeMap;
use std::path::Path;

use terrace_git::{Credentials, GitOptions, Mirror, Mirrors, ObjectId, RepoUrl, Secret, SshKey};
use terrace_model::GitSource;
use terrace_model::project::Job;
use tokio_util::sync::CancellationToken;

use crate::{Engine, SecretValues};

/// A job's git source pinned to one commit for the whole pipeline.
#[derive(Clone, Debug)]
pub(crate) struct Pinned {
    mirror: Mirror,
    pub commit: ObjectId,
    pub path: String,
}

/// Per job of the pipeline with a git source: its pinned source, or why it cannot run.
pub(crate) type Pins = BTreeMap<String, Result<Pinned, String>>;

/// The mirrors folder of a data folder.
pub(crate) fn mirrors_root(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("mirrors")
}

impl Engine {
    /// Resolves the git sources of `jobs` (one resolution per repository and ref); a job
    /// named in `overrides` is pinned to the commit given there instead of its `ref`.
    pub(crate) async fn pin_sources<'a>(
        &self,
        jobs: impl Iterator<Item = &'a Job>,
        overrides: &BTreeMap<String, String>,
        secrets: &SecretValues,
        cancel: &CancellationToken,
    ) -> Pins {
        let mut pins = Pins::new();
        let mut mirrors: Option<Result<Mirrors, String>> = None;
        let mut resolved: BTreeMap<(String, String), Result<(Mirror, ObjectId), String>> = BTreeMap::new();
        for job in jobs {
            let Some(git) = &job.git else { continue };
            let mirrors = match mirrors.get_or_insert(open_mirrors(&self.data_dir).await) {
                Ok(m) => m,
                Err(e) => {
                    pins.insert(job.name.clone(), Err(e.clone()));
                    continue;
                }
            };
            let reference = overrides.get(&job.name).unwrap_or(&git.reference);
            let key = (git.url.clone(), reference.clone());
            if !resolved.contains_key(&key) {
                let found = resolve(mirrors, git, reference, secrets, cancel).await;
                resolved.insert(key.clone(), found);
            }
            let pin = resolved[&key].clone().map(|(mirror, commit)| Pinned { mirror, commit, path: git.path.clone() });
            pins.insert(job.name.clone(), pin.map_err(|e| format!("source of job `{}`: {e}", job.name)));
        }
        pins
    }
}

async fn open_mirrors(data_dir: &Path) -> Result<Mirrors, String> {
    Mirrors::open(mirrors_root(data_dir), GitOptions::default())
        .await
        .map_err(|e| format!("cannot open the mirrors folder: {e}"))
}

async fn resolve(
    mirrors: &Mirrors,
    git: &GitSource,
    reference: &str,
    secrets: &SecretValues,
    cancel: &CancellationToken,
) -> Result<(Mirror, ObjectId), String> {
    let url = RepoUrl::parse(&git.url).map_err(|e| e.to_string())?;
    let credentials = credentials(git, secrets)?;
    let mirror = mirrors.mirror(&url, credentials).map_err(|e| e.to_string())?;
    let resolved = mirror.resolve(reference, cancel).await.map_err(|e| e.to_string())?;
    tracing::debug!(url = %url, reference, commit = %resolved.commit, fetch = ?resolved.fetch, "git source pinned");
    Ok((mirror, resolved.commit))
}

/// The credentials a source names, from the store's secrets.
fn credentials(git: &GitSource, secrets: &SecretValues) -> Result<Option<Credentials>, String> {
    let lookup = |key: &str, name: &str| {
        secrets.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).ok_or_else(|| {
            format!("`{key}` names secret `{name}`, which is not set (set it with `terrace secret set {name}`)")
        })
    };
    if let Some(name) = &git.token_secret {
        return Ok(Some(Credentials::token(lookup("token", name)?)));
    }
    if let Some(name) = &git.ssh_key_secret {
        let key = SshKey::Text(Secret::new(lookup("ssh_key", name)?));
        return Ok(Some(Credentials::Ssh { key, known_hosts: None }));
    }
    Ok(None)
}

impl Pinned {
    /// Writes the pinned folder into `dest` (absent or empty).
    pub(crate) async fn checkout(&self, dest: &Path, cancel: &CancellationToken) -> Result<(), String> {
        self.mirror.snapshot(&self.commit, &self.path, dest, cancel).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// What identifies the source's content for `skip_unchanged`.
    pub(crate) fn identity(&self) -> String {
        format!("git:{}:{}:{}", self.mirror.url().normalized(), self.commit, self.path)
    }
}
