//! Projects registered from git: a repository URL, the branch the project follows and
//! the folder of its terrace.yaml. The file is read from the server's mirror of the
//! repository (`<data>/mirrors`, shared with job sources) at the branch head: each commit
//! read is written once into `<data>/checkouts/<repository>/<commit>` (the project's
//! folder only) and never changed; the oldest unused ones are removed (`checkouts`), and
//! one read again is written again, so a request pinned to a commit always finds it. A
//! push to the branch moves the project to the new head (`refresh`).

use std::path::{Path, PathBuf};

use terrace_git::{Credentials, GitError, GitOptions, Mirror, Mirrors, ObjectId, RepoUrl};
use terrace_store::control::{GitProject, ProjectRecord, Role};
use tokio_util::sync::CancellationToken;

use super::access::clip;
use super::views::ProjectView;
use super::{App, AppError, AppResult, Caller, projects, repo_credentials};

/// What `POST /projects` names for a project from git.
#[derive(Clone, Debug)]
pub struct GitSpec {
    pub url: String,
    pub branch: String,
    /// The folder of terrace.yaml inside the repository (`""`: its root).
    pub path: String,
    /// Credentials of a private repository; none given keeps what is stored for it.
    pub credentials: super::repo_credentials::Given,
}

/// Why git failed, for a user: a transient failure (network, timeout, a file operation)
/// is internal (the caller may retry), a wrong name is the caller's to fix.
pub(crate) fn git_error(field: &str, e: GitError) -> AppError {
    match e {
        // Credentials missing or refused: trying again does not help, the caller's to fix.
        GitError::Git { ref stderr, .. } if refused_credentials(stderr) => AppError::unprocessable(
            Some("token"),
            format!(
                "{e}: the repository refused the request: register it with a token (`token`, `terrace project add \
                 --token-file FILE`) for https or an ssh key (`ssh_key`, `--ssh-key-file FILE`) for ssh"
            ),
        ),
        GitError::Git { .. } | GitError::TimedOut { .. } | GitError::Io { .. } | GitError::Spawn { .. } => {
            AppError::Unavailable(e.to_string())
        }
        GitError::Cancelled { .. } => AppError::Unavailable(e.to_string()),
        other => AppError::unprocessable(Some(field), other.to_string()),
    }
}

/// The mirror of `url`, with the credentials stored for it.
/// Whether git's error says the server wants credentials or refused the ones sent.
fn refused_credentials(stderr: &str) -> bool {
    ["Authentication failed", "could not read Username", "terminal prompts disabled", "Permission denied (publickey"]
        .iter()
        .any(|sign| stderr.contains(sign))
}

async fn mirror(app: &App, url: &RepoUrl) -> AppResult<Mirror> {
    let credentials = repo_credentials::stored(app, url).await?;
    mirror_with(app, url, credentials).await
}

async fn mirror_with(app: &App, url: &RepoUrl, credentials: Option<Credentials>) -> AppResult<Mirror> {
    let mirrors = Mirrors::open(app.settings.data_dir.join("mirrors"), GitOptions::default())
        .await
        .map_err(|e| git_error("git", e))?;
    mirrors.mirror(url, credentials).map_err(|e| git_error("git", e))
}

fn parse_url(url: &str) -> AppResult<RepoUrl> {
    RepoUrl::parse(url).map_err(|e| git_error("git", e))
}

/// The folder holding `commit`'s terrace.yaml on this server, written from the mirror
/// when absent (atomically: a half-written checkout is never seen).
pub(crate) async fn checkout(app: &App, git: &GitProject, commit: &str) -> AppResult<PathBuf> {
    let url = parse_url(&git.url)?;
    let id =
        ObjectId::parse(commit).ok_or_else(|| AppError::internal(format!("`{}` is not a commit id", clip(commit))))?;
    let dest = app.settings.data_dir.join("checkouts").join(url.mirror_key()).join(id.as_str()).join(&git.path);
    let top = app.settings.data_dir.join("checkouts").join(url.mirror_key()).join(id.as_str());
    if tokio::fs::try_exists(&top).await.unwrap_or(false) {
        return Ok(dest);
    }
    let parent = top.parent().map(Path::to_path_buf).unwrap_or_default();
    tokio::fs::create_dir_all(&parent)
        .await
        .map_err(|e| AppError::internal(format!("creating {}: {e}", parent.display())))?;
    let staging = parent.join(format!(".{}.{}", id.as_str(), uuid::Uuid::now_v7()));
    tokio::fs::create_dir_all(&staging)
        .await
        .map_err(|e| AppError::internal(format!("creating {}: {e}", staging.display())))?;
    let m = mirror(app, &url).await?;
    let written = m.snapshot(&id, &git.path, &staging.join(&git.path), &CancellationToken::new()).await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        return Err(git_error("path", e));
    }
    // Another task may have written the same commit meanwhile: either copy is the same.
    if tokio::fs::rename(&staging, &top).await.is_err() {
        let _ = tokio::fs::remove_dir_all(&staging).await;
    } else if let Err(e) = super::checkouts::prune(app, &url, parent).await {
        // Disk left for the next new checkout to reclaim; nothing depends on it now.
        tracing::warn!(repository = %url, error = %e, "could not remove old checkouts");
    }
    Ok(dest)
}

/// The commit `branch` is at now (one fetch), with `credentials` or else those stored.
async fn head(app: &App, url: &RepoUrl, branch: &str, credentials: Option<Credentials>) -> AppResult<String> {
    let m = match credentials {
        Some(c) => mirror_with(app, url, Some(c)).await?,
        None => mirror(app, url).await?,
    };
    let resolved = m
        .resolve(&format!("refs/heads/{branch}"), &CancellationToken::new())
        .await
        .map_err(|e| git_error("branch", e))?;
    Ok(resolved.commit.to_string())
}

/// Reads the project at `commit` and records it under its name at that commit.
async fn put_at(app: &App, spec: &GitProject) -> AppResult<(ProjectRecord, std::sync::Arc<terrace_model::Project>)> {
    let root = checkout(app, spec, &spec.commit).await?;
    let file = root.join("terrace.yaml");
    if !tokio::fs::try_exists(&file).await.unwrap_or(false) {
        let at = if spec.path.is_empty() { "the repository's root".to_string() } else { format!("`{}`", spec.path) };
        return Err(AppError::unprocessable(
            Some("path"),
            format!("no terrace.yaml in {at} at commit {} of branch `{}`", &spec.commit[..12], spec.branch),
        ));
    }
    let project = projects::read_file(app, &file).await?;
    let record = app.store.put_git_project(&project.name, &file.display().to_string(), spec).await?;
    app.recent_projects.clear();
    Ok((record, project))
}

/// Registers the project of `spec`'s branch head under the name its file gives.
pub async fn register(app: &App, caller: Option<&Caller>, spec: GitSpec) -> AppResult<ProjectView> {
    if let Some(c) = caller {
        c.require(Role::Admin)?;
    }
    let url = parse_url(&spec.url)?;
    if spec.branch.trim().is_empty() {
        return Err(AppError::bad("branch", "give the branch the project follows, e.g. main"));
    }
    let path = spec.path.trim_matches('/').to_string();
    let given = spec.credentials.credentials()?;
    let commit = head(app, &url, &spec.branch, given).await?;
    // Kept before the checkout reads the repository again, and only once they worked.
    let by = caller.map(Caller::actor).unwrap_or_else(|| "server".into());
    repo_credentials::keep(app, &url, &spec.credentials, &by).await?;
    let git = GitProject { url: url.to_string(), branch: spec.branch.clone(), path, commit };
    let (record, project) = put_at(app, &git).await?;
    if let Some(c) = caller {
        let detail = format!("{} {} {}", git.url, git.branch, git.commit);
        app.store.audit(&c.actor(), "project.register", &format!("project:{}", record.name), Some(&detail)).await?;
    }
    Ok(ProjectView::new(&record, &project))
}

/// Moves a project from git to the head of its branch (after a push); returns the
/// record when it moved, None when it was there already.
pub async fn refresh(app: &App, record: &ProjectRecord) -> AppResult<Option<ProjectRecord>> {
    let Some(git) = &record.git else { return Ok(None) };
    let commit = head(app, &parse_url(&git.url)?, &git.branch, None).await?;
    if commit == git.commit {
        return Ok(None);
    }
    let moved = GitProject { commit, ..git.clone() };
    let (record, project) = put_at(app, &moved).await?;
    if project.name != record.name {
        tracing::warn!(project = %record.name, renamed = %project.name, "the project file names another project now");
    }
    Ok(Some(record))
}

/// Whether `url` (a project's repository) is the repository a webhook names.
pub fn same_repository(url: &str, candidates: &[&str]) -> bool {
    let Ok(ours) = RepoUrl::parse(url) else { return false };
    candidates.iter().filter_map(|c| RepoUrl::parse(c).ok()).any(|c| c.normalized() == ours.normalized())
}
