//! Secrets set through the API, of a project (every environment reads them) or of one
//! environment (over the project's of the same name): stored encrypted, never returned,
//! and read by the runs through `${secret:NAME}` (masked in logs).

use terrace_model::names::is_valid_variable_name;
use terrace_store::control::Role;

use super::access::clip;
use super::environments::require_known;
use super::projects;
use super::views::SecretView;
use super::{App, AppError, AppResult, Caller};

/// The largest secret value accepted.
const MAX_VALUE: usize = 64 * 1024;

fn check_name(name: &str) -> AppResult<()> {
    if is_valid_variable_name(name) && name.len() <= 128 {
        Ok(())
    } else {
        Err(AppError::bad("name", format!("`{}` is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", clip(name))))
    }
}

fn check_value(value: &str) -> AppResult<()> {
    if value.len() > MAX_VALUE {
        return Err(AppError::bad("value", format!("a secret value is at most {MAX_VALUE} bytes")));
    }
    Ok(())
}

pub async fn put(app: &App, caller: &Caller, project: &str, env: &str, name: &str, value: &str) -> AppResult<()> {
    caller.require(Role::Operator)?;
    check_name(name)?;
    check_value(value)?;
    let loaded = projects::load(app, project).await?;
    require_known(app, &loaded, env).await?;
    app.store.put_secret(&loaded.project.name, env, name, value, &caller.actor()).await?;
    let target = format!("secret:{}/{env}/{name}", loaded.project.name);
    app.store.audit(&caller.actor(), "secret.set", &target, None).await?;
    Ok(())
}

pub async fn list(app: &App, caller: &Caller, project: &str, env: &str) -> AppResult<Vec<SecretView>> {
    caller.require(Role::Viewer)?;
    let loaded = projects::load(app, project).await?;
    require_known(app, &loaded, env).await?;
    Ok(app.store.list_secrets(&loaded.project.name, env).await?.into_iter().map(SecretView::from).collect())
}

pub async fn delete(app: &App, caller: &Caller, project: &str, env: &str, name: &str) -> AppResult<()> {
    caller.require(Role::Operator)?;
    check_name(name)?;
    let loaded = projects::load(app, project).await?;
    if !app.store.delete_secret(&loaded.project.name, env, name).await? {
        return Err(AppError::not_found("secret", name));
    }
    let target = format!("secret:{}/{env}/{name}", loaded.project.name);
    app.store.audit(&caller.actor(), "secret.delete", &target, None).await?;
    Ok(())
}

/// Sets a project-scope secret: every environment's runs read it, unless the environment
/// has its own of that name.
pub async fn put_project(app: &App, caller: &Caller, project: &str, name: &str, value: &str) -> AppResult<()> {
    caller.require(Role::Operator)?;
    check_name(name)?;
    check_value(value)?;
    let loaded = projects::load(app, project).await?;
    app.store.put_project_secret(&loaded.project.name, name, value, &caller.actor()).await?;
    let target = format!("secret:{}/{name}", loaded.project.name);
    app.store.audit(&caller.actor(), "secret.set", &target, None).await?;
    Ok(())
}

pub async fn list_project(app: &App, caller: &Caller, project: &str) -> AppResult<Vec<SecretView>> {
    caller.require(Role::Viewer)?;
    let loaded = projects::load(app, project).await?;
    Ok(app.store.list_project_secrets(&loaded.project.name).await?.into_iter().map(SecretView::from).collect())
}

pub async fn delete_project(app: &App, caller: &Caller, project: &str, name: &str) -> AppResult<()> {
    caller.require(Role::Operator)?;
    check_name(name)?;
    let loaded = projects::load(app, project).await?;
    if !app.store.delete_project_secret(&loaded.project.name, name).await? {
        return Err(AppError::not_found("secret", name));
    }
    let target = format!("secret:{}/{name}", loaded.project.name);
    app.store.audit(&caller.actor(), "secret.delete", &target, None).await?;
    Ok(())
}
