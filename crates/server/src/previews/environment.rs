//! A preview's environment: made at run time from its class's `from` (the one entry
//! point runtime environments have), its variables replaced on a push; it goes with its
//! `delete` event (every job's delete first, the record last).

use terrace_engine::runtime_env::{NewEnvironment, PREVIEW_ORIGIN as ORIGIN, create_runtime_environment};
use terrace_store::PreviewRecord;

use crate::app::{App, AppError, AppResult, projects};

pub(super) async fn exists(app: &App, r: &PreviewRecord) -> AppResult<bool> {
    Ok(app.store.get_environment(&r.project, &r.environment).await?.is_some())
}

/// Makes the environment, or gives it the variables of the deploy in flight.
pub(super) async fn prepare(app: &App, r: &PreviewRecord) -> AppResult<()> {
    let variables = r.pending_variables.clone().unwrap_or_else(|| r.variables.clone());
    match app.store.get_environment(&r.project, &r.environment).await? {
        Some(env) => match &env.runtime {
            Some(def) if def.origin == ORIGIN => {
                if def.variables != variables {
                    app.store.set_runtime_variables(&r.project, &r.environment, &variables).await?;
                }
                Ok(())
            }
            _ => Err(AppError::Conflict(format!(
                "environment `{}` exists and was not made for this preview: delete it, or rename it",
                r.environment
            ))),
        },
        None => {
            let loaded = projects::load(app, &r.project).await?;
            let Some(class) = loaded.project.previews.get(&r.class) else {
                return Err(AppError::Conflict(format!("preview class `{}` is no longer in terrace.yaml", r.class)));
            };
            let new = NewEnvironment {
                from: class.from.clone(),
                to: r.environment.clone(),
                variables,
                origin: ORIGIN.into(),
                by: format!("preview:{}#{}", r.full_name, r.number),
            };
            create_runtime_environment(&loaded.project, app.store.as_ref(), new).await?;
            Ok(())
        }
    }
}
