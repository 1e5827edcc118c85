//! Which plan of a pull request is its newest: plans run in parallel, so an older plan
//! (of an earlier head) may finish after a newer one. The pull request's one comment shows
//! only the newest: a plan that a later plan of the same pull request follows leaves the
//! comment alone (its commit statuses still go to its own commit).

use terrace_forge::PullRequest;
use terrace_model::Event;
use terrace_store::control::{RequestFilter, RequestRecord};

use super::HandleError;
use super::comment::Planned;
use crate::app::App;

/// How many of an environment's latest requests are looked at for a newer plan.
const LOOK_BACK: u32 = 200;

/// Whether a plan of `pr` was queued after the plans of `planned` (the newest delivery
/// of a pull request is the last one to queue its plans).
pub(super) async fn superseded(app: &App, pr: &PullRequest, planned: &[Planned]) -> Result<bool, HandleError> {
    let slug = pr.repository.slug();
    for p in planned {
        let Some(ours) = app.store.get_request(p.request).await? else { continue };
        let filter = RequestFilter {
            project: Some(p.project.clone()),
            environment: Some(p.environment.clone()),
            state: None,
            limit: Some(LOOK_BACK),
        };
        let later =
            app.store.list_requests(&filter).await?.into_iter().any(|r| is_later_plan_of(&r, &ours, pr.number, &slug));
        if later {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_later_plan_of(r: &RequestRecord, ours: &RequestRecord, number: u64, slug: &str) -> bool {
    let same_pr =
        r.origin.as_ref().is_some_and(|o| o.pull_request == Some(number) && o.repository.as_deref() == Some(slug));
    r.event == Event::Plan && same_pr && (r.created_at, r.id.to_string()) > (ours.created_at, ours.id.to_string())
}
