//! The sweep: the forge is asked about every pull request that still has a preview, so
//! a close Terrace never heard of (it was down, or the webhook was lost) still destroys
//! the preview. Closed or merged turns the preview's wish off; a pull request the forge
//! does not know (deleted, or a token that lost access) is left alone and logged.

use terrace_forge::PrState;
use terrace_store::{PreviewState, PreviewWish};

use super::forge;
use crate::app::{App, AppResult};

/// What one sweep found: the previews whose pull request is no longer open.
pub async fn sweep(app: &App) -> AppResult<Vec<String>> {
    let mut closed = Vec::new();
    for r in app.store.list_previews(None).await? {
        if !r.wanted || r.state == PreviewState::Deleted {
            continue;
        }
        let Some(client) = forge::client(app, &r.forge) else { continue };
        let why = match client.pull_request_state(&r.full_name, r.number).await {
            Ok(PrState::Open) => continue,
            Ok(PrState::Closed) => "the pull request was closed (found by the sweep)",
            Ok(PrState::Merged) => "the pull request was merged (found by the sweep)",
            // Gone, or out of the token's sight: nothing is destroyed on a guess.
            Ok(PrState::Missing) => {
                tracing::warn!(preview = %r.environment, "the forge does not know the pull request (deleted, or the token cannot see it); the preview stays");
                continue;
            }
            Err(e) => {
                tracing::warn!(preview = %r.environment, error = %e, "could not ask the forge about the pull request");
                continue;
            }
        };
        let wish = PreviewWish {
            project: r.project.clone(),
            class: r.class.clone(),
            environment: r.environment.clone(),
            preview_id: r.preview_id.clone(),
            forge: r.forge.clone(),
            repository: r.repository.clone(),
            full_name: r.full_name.clone(),
            number: r.number,
            head_sha: r.head_sha.clone(),
            branch: r.branch.clone(),
            wanted: false,
            why: Some(why.to_string()),
            variables: r.variables.clone(),
        };
        if app.store.wish_preview(&wish).await?.1 {
            tracing::info!(preview = %r.environment, why, "preview no longer wanted");
            closed.push(r.environment.clone());
        }
    }
    if !closed.is_empty() {
        app.wake_previews.notify_one();
    }
    Ok(closed)
}
