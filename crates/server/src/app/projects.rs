//! Projects: registered by the path of their `terrace.yaml` (at start or through the
//! API) and checked on disk on every request, so an edited file takes effect at once.
//! A file is parsed again only when it changed: the parsed project is kept with the
//! file's identity (device, inode, size, modification and change times), and a file
//! modified in the last two seconds is always re-read, since two writes within the
//! clock's granularity could leave the same times and size. Reading and parsing happen on
//! a blocking thread, one at a time per file (callers asking meanwhile wait and share it).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use terrace_model::Project;
use terrace_store::control::{ProjectRecord, Role};

use super::access::clip;
use super::views::ProjectView;
use super::{App, AppError, AppResult, Caller};

/// A project read from its file.
pub struct Loaded {
    pub record: ProjectRecord,
    pub project: Arc<Project>,
    /// The folder holding terrace.yaml; job sources are relative to it.
    pub root: PathBuf,
    /// The commit it was read at, for a project from git.
    pub commit: Option<String>,
}

/// `terrace.yaml` inside a folder, or the file itself.
fn project_file(path: &Path) -> PathBuf {
    if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        path.to_path_buf()
    } else {
        path.join("terrace.yaml")
    }
}

/// One file's last parse, behind a lock that lets one caller at a time read the file.
type Slot = Arc<tokio::sync::Mutex<Option<(Stamp, Arc<Project>)>>>;

/// The parsed project files, by path.
#[derive(Default)]
pub struct ProjectCache(Mutex<HashMap<PathBuf, Slot>>);

/// What tells one version of a file from another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// How recent a modification must be for the file to be re-read whatever its stamp.
const RACY: Duration = Duration::from_secs(2);

impl Stamp {
    /// The file's stamp, or None when it cannot be trusted (unreadable, or too recent).
    fn of(file: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(file).ok()?;
        let modified = meta.modified().ok()?;
        let age = SystemTime::now().duration_since(modified).ok()?;
        (age >= RACY).then(|| Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl ProjectCache {
    fn slot(&self, file: &Path) -> Slot {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(file.to_path_buf()).or_default().clone()
    }
}

/// The project in `file`: parsed again only when the file changed (the stamp is taken
/// before reading, so a change during the read makes the next call read again).
async fn read_cached(app: &App, file: &Path) -> AppResult<Arc<Project>> {
    let slot = app.projects.slot(file);
    let mut last = slot.lock().await;
    let (path, cached) = (file.to_path_buf(), last.clone());
    let (stamp, project, parsed) = blocking(move || {
        let stamp = Stamp::of(&path);
        match (stamp, cached) {
            (Some(now), Some((then, project))) if now == then => Ok((stamp, project, false)),
            _ => read_blocking(&path).map(|p| (stamp, Arc::new(p), true)),
        }
    })
    .await?;
    if parsed {
        app.metrics.project_parses.inc();
    }
    *last = stamp.map(|s| (s, project.clone()));
    Ok(project)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> AppResult<T> + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| AppError::internal(format!("reading a project file: {e}")))?
}

/// Reads and parses the file, refused past the size limit before it is read (the same
/// reader as local mode).
fn read_blocking(file: &Path) -> AppResult<Project> {
    terrace_engine::project_file::load(file, &file.display().to_string())
        .map_err(|e| AppError::unprocessable(Some("path"), e.to_string()))
}

/// Registers the project at `path` under the name its file gives.
pub async fn register(app: &App, caller: Option<&Caller>, path: &str) -> AppResult<ProjectView> {
    if let Some(c) = caller {
        c.require(Role::Admin)?;
    }
    if path.is_empty() || path.contains('\0') {
        return Err(AppError::bad("path", "give the absolute path of a folder holding terrace.yaml, or of the file"));
    }
    let given = Path::new(path);
    if !given.is_absolute() {
        return Err(AppError::bad("path", format!("`{}` is not an absolute path", clip(path))));
    }
    let file = project_file(given);
    let project = read_cached(app, &file).await?;
    let record = app.store.put_project(&project.name, &file.display().to_string()).await?;
    app.recent_projects.clear();
    if let Some(c) = caller {
        app.store.audit(&c.actor(), "project.register", &format!("project:{}", record.name), Some(path)).await?;
    }
    Ok(ProjectView::new(&record, &project))
}

/// Reads and parses a project file (kept parsed until it changes).
pub(crate) async fn read_file(app: &App, file: &Path) -> AppResult<Arc<Project>> {
    read_cached(app, file).await
}

/// Reads a registered project's file as it is now (a project from git: at the head of
/// its branch as last read).
pub async fn load(app: &App, name: &str) -> AppResult<Loaded> {
    load_at(app, name, None).await
}

/// Reads a registered project; one from git at `commit` when given (a request pinned to
/// the commit it was made for), else at the head of its branch as last read.
pub async fn load_at(app: &App, name: &str, commit: Option<&str>) -> AppResult<Loaded> {
    let record = match app.recent_projects.get(name) {
        Some(record) => record,
        None => {
            let record =
                app.store.get_project(name).await?.ok_or_else(|| AppError::not_found("project", clip(name)))?;
            app.recent_projects.put(name.to_string(), record.clone());
            record
        }
    };
    let (file, commit) = match &record.git {
        Some(git) => {
            let commit = commit.unwrap_or(git.commit.as_str()).to_string();
            (super::git_projects::checkout(app, git, &commit).await?.join("terrace.yaml"), Some(commit))
        }
        None => (PathBuf::from(&record.path), None),
    };
    let mut project = read_cached(app, &file).await?;
    // Environments created at run time (clones, previews) join the declared ones.
    let runtime = app.store.runtime_environments(&project.name).await?;
    if !runtime.is_empty() {
        let mut with_runtime = Project::clone(&project);
        terrace_engine::runtime_env::add(&mut with_runtime, &runtime);
        project = Arc::new(with_runtime);
    }
    let root = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    Ok(Loaded { record, project, root, commit })
}

pub async fn list(app: &App, caller: &Caller) -> AppResult<Vec<ProjectView>> {
    caller.require(Role::Viewer)?;
    let mut views = Vec::new();
    for record in app.store.list_projects().await? {
        // A file that no longer parses still lists, without environments or jobs.
        let view = match read_cached(app, Path::new(&record.path)).await {
            Ok(project) => ProjectView::new(&record, &project),
            Err(_) => ProjectView {
                git: super::views::GitView::of(&record),
                name: record.name,
                path: record.path,
                environments: vec![],
                jobs: vec![],
            },
        };
        views.push(view);
    }
    Ok(views)
}

pub async fn show(app: &App, caller: &Caller, name: &str) -> AppResult<ProjectView> {
    caller.require(Role::Viewer)?;
    let loaded = load(app, name).await?;
    Ok(ProjectView::new(&loaded.record, &loaded.project))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(file: &Path, text: &str, modified: SystemTime) {
        std::fs::write(file, text).unwrap();
        std::fs::File::options().write(true).open(file).unwrap().set_modified(modified).unwrap();
    }

    #[test]
    fn a_parsed_project_is_kept_until_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terrace.yaml");
        let old = SystemTime::now() - Duration::from_secs(60);
        let parsed = |name: &str| {
            Arc::new(
                terrace_model::parse::parse_project("t", &format!("project: {name}\nenvironments: {{}}\njobs: {{}}\n"))
                    .unwrap(),
            )
        };
        write(&file, "project: aaaa\n", old);
        let stamp = Stamp::of(&file).expect("an old file has a stamp");
        let _kept = parsed("aaaa");
        assert_eq!(Stamp::of(&file), Some(stamp));

        // The same size and the same modification time: the change time still differs.
        std::thread::sleep(Duration::from_millis(20));
        write(&file, "project: bbbb\n", old);
        assert_ne!(Stamp::of(&file), Some(stamp), "a rewritten file is read again");

        // A file written just now is never trusted.
        write(&file, "project: cccc\n", SystemTime::now());
        assert!(Stamp::of(&file).is_none());
        assert!(Stamp::of(&dir.path().join("missing.yaml")).is_none());
    }
}
