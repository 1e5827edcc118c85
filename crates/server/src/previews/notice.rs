//! What the previews tell the `notifications:` of their project (beside the pull request's
//! comment and statuses): a destroy that failed, which is retried with backoff.

use terrace_engine::notify::Notice;
use terrace_model::notify::NotifyKind;
use terrace_store::PreviewRecord;

/// What a failed destroy of a preview tells the `notifications:` of its project.
pub(super) fn destroy_failed(r: &PreviewRecord, retry_in: std::time::Duration) -> Notice {
    let reason = r.reason.clone().unwrap_or_default();
    Notice {
        kind: NotifyKind::DestroyFailed,
        environment: r.environment.clone(),
        text: format!(
            "{}/{}: the preview of {}#{} could not be destroyed: {reason}",
            r.project, r.environment, r.full_name, r.number
        ),
        detail: serde_json::json!({
            "repository": r.full_name, "pull_request": r.number, "attempts": r.attempts,
            "retry_in_seconds": retry_in.as_secs(), "request": r.request_id,
        }),
    }
}
