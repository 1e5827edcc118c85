//! Projects: registered by the path of their `terrace.yaml` (at start or through the
//! API) and re-read from disk on every request, so an edited file takes effect at once.

use std::path::{Path, PathBuf};

use terrace_model::Project;
use terrace_model::parse::parse_project;
use terrace_store::control::{ProjectRecord, Role};

use super::access::clip;
use super::views::ProjectView;
use super::{App, AppError, AppResult, Caller};

/// A project read from its file.
pub struct Loaded {
    pub record: ProjectRecord,
    pub project: Project,
    /// The folder holding terrace.yaml; job sources are relative to it.
    pub root: PathBuf,
}

/// `terrace.yaml` inside a folder, or the file itself.
fn project_file(path: &Path) -> PathBuf {
    if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        path.to_path_buf()
    } else {
        path.join("terrace.yaml")
    }
}

async fn read(file: &Path) -> AppResult<Project> {
    let text = tokio::fs::read_to_string(file).await.map_err(|e| {
        AppError::unprocessable(Some("path"), format!("cannot read the project file {}: {e}", file.display()))
    })?;
    parse_project(&file.display().to_string(), &text).map_err(|e| AppError::unprocessable(Some("path"), e.to_string()))
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
    let project = read(&file).await?;
    let record = app.store.put_project(&project.name, &file.display().to_string()).await?;
    if let Some(c) = caller {
        app.store.audit(&c.actor(), "project.register", &format!("project:{}", record.name), Some(path)).await?;
    }
    Ok(ProjectView::new(&record, &project))
}

/// Reads a registered project's file as it is now.
pub async fn load(app: &App, name: &str) -> AppResult<Loaded> {
    let record = app.store.get_project(name).await?.ok_or_else(|| AppError::not_found("project", clip(name)))?;
    let file = PathBuf::from(&record.path);
    let project = read(&file).await?;
    let root = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    Ok(Loaded { record, project, root })
}

pub async fn list(app: &App, caller: &Caller) -> AppResult<Vec<ProjectView>> {
    caller.require(Role::Viewer)?;
    let mut views = Vec::new();
    for record in app.store.list_projects().await? {
        // A file that no longer parses still lists, without environments or jobs.
        let view = match read(Path::new(&record.path)).await {
            Ok(project) => ProjectView::new(&record, &project),
            Err(_) => ProjectView { name: record.name, path: record.path, environments: vec![], jobs: vec![] },
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
