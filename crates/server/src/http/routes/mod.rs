//! The `/api/v1` resources, one module each; each module registers its own routes.

mod approvals;
mod deliveries;
mod environments;
mod events;
mod logs;
mod pool_tokens;
mod previews;
mod projects;
mod promotions;
mod runs;
mod secrets;
mod states;
mod tokens;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;

use crate::app::App;

pub fn api() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .merge(projects::routes())
        .merge(environments::routes())
        .merge(events::routes())
        .merge(runs::routes())
        .merge(logs::routes())
        .merge(secrets::routes())
        .merge(states::routes())
        .merge(tokens::routes())
        .merge(approvals::routes())
        .merge(previews::routes())
        .merge(deliveries::routes())
        .merge(promotions::routes())
        .merge(pool_tokens::routes())
        .merge(crate::agents::routes::routes())
        .merge(crate::attempt_outputs::routes::routes())
}
