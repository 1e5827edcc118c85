//! `/projects`: list, register by path (admin), show.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::views::ProjectView;
use crate::app::{App, AppError, git_projects, projects};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list, register)).routes(routes!(show))
}

/// Every registered project.
#[utoipa::path(get, operation_id = "listProjects", path = "/projects", tag = "projects", security(("bearer" = [])),
    responses((status = 200, body = Vec<ProjectView>), (status = "default", body = ErrorBody)))]
async fn list(State(app): State<Arc<App>>, Auth(caller): Auth) -> Result<Json<Vec<ProjectView>>, AppError> {
    Ok(Json(projects::list(&app, &caller).await?))
}

// No `Debug`: it may hold a repository's token or key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Without `git`: the absolute path of a folder holding terrace.yaml, or of the file,
    /// on the server. With `git`: the folder of terrace.yaml inside the repository
    /// (default: its root).
    pub path: Option<String>,
    /// The URL of a git repository to read the project from (`https://`, `ssh://`,
    /// `git@host:path`, `file://`), at the head of `branch`, and again on every push to it.
    pub git: Option<String>,
    /// The branch the project follows (with `git`) [default: main].
    pub branch: Option<String>,
    /// A private repository over https: the token git authenticates with (kept sealed as a
    /// secret of the repository, never shown again). Omitted: what is stored stays.
    pub token: Option<String>,
    /// A private repository over ssh: the private key (kept sealed, never shown again).
    pub ssh_key: Option<String>,
}

/// Registers (or re-points) a project from a path on the server, or from a git
/// repository and branch (read again on every push the webhooks report). Admin only.
#[utoipa::path(post, operation_id = "registerProject", path = "/projects", tag = "projects", security(("bearer" = [])), request_body = RegisterBody,
    responses((status = 201, body = ProjectView), (status = "default", body = ErrorBody)))]
async fn register(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<ProjectView>), AppError> {
    let view = match body.git {
        Some(url) => {
            let spec = git_projects::GitSpec {
                url,
                branch: body.branch.unwrap_or_else(|| "main".into()),
                path: body.path.unwrap_or_default(),
                credentials: crate::app::repo_credentials::Given { token: body.token, ssh_key: body.ssh_key },
            };
            git_projects::register(&app, Some(&caller), spec).await?
        }
        None if body.token.is_some() || body.ssh_key.is_some() => {
            return Err(AppError::bad("token", "credentials go with `git`: give the repository's URL too"));
        }
        None if body.branch.is_some() => {
            return Err(AppError::bad("branch", "`branch` goes with `git`: give the repository's URL too"));
        }
        None => {
            let path = body.path.ok_or_else(|| {
                AppError::bad("path", "give `path` (a folder on the server) or `git` (a repository's URL)")
            })?;
            projects::register(&app, Some(&caller), &path).await?
        }
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// One project, its environments and jobs, as its file says now.
#[utoipa::path(get, operation_id = "getProject", path = "/projects/{project}", tag = "projects", security(("bearer" = [])),
    params(("project" = String, Path)),
    responses((status = 200, body = ProjectView), (status = "default", body = ErrorBody)))]
async fn show(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<ProjectView>, AppError> {
    Ok(Json(projects::show(&app, &caller, &project).await?))
}
