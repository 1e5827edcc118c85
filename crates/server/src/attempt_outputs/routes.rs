//! `PUT /api/v1/runs/{run}/attempts/{attempt}/output`: a pod's output file, sent by
//! `terrace attempt-wrap` with the token of its step's ticket, and nothing else: API and
//! pool tokens are unknown here (401), another attempt's token is refused (403), and a
//! ticket takes one upload while its attempt runs. The file is held to the output-file
//! contract exactly as one read on Terrace's host (`terrace_exec::check_upload`): over
//! 1 MiB it is refused unread (413); malformed, it is kept all the same so the run fails
//! with the same error as on any executor, and the answer says why (422).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use terrace_exec::{UploadRefusal, check_upload};
use terrace_model::output::MAX_OUTPUT_FILE_BYTES;
use terrace_store::OutputTicket;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{App, AppError, access};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, bearer};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    // One byte over the limit arrives, so a file just over it is told apart.
    OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::max(MAX_OUTPUT_FILE_BYTES + 1))
}

/// The ticket of the caller's token, for this attempt and good now.
async fn ticket(app: &App, headers: &HeaderMap, run: &str, attempt: u32) -> Result<OutputTicket, AppError> {
    let unknown = || {
        AppError::Unauthenticated(
            "not an output token: this endpoint takes only the token Terrace gave the attempt's pod \
             (TERRACE_OUTPUT_TOKEN); API and pool tokens do not open it"
                .into(),
        )
    };
    let Some(token) = bearer(headers)?.map(str::trim).filter(|t| !t.is_empty()) else { return Err(unknown()) };
    let Some(ticket) = app.store.output_ticket_by_hash(&access::hash_token(token)).await? else {
        return Err(unknown());
    };
    if ticket.run.to_string() != run || ticket.attempt != attempt {
        return Err(AppError::Refused(format!(
            "this output token is for another attempt, not attempt {attempt} of run `{}`",
            access::clip(run)
        )));
    }
    if ticket.used {
        return Err(AppError::Refused("this output token was already used: a step sends its output file once".into()));
    }
    if !ticket.attempt_running || ticket.expires_at < time::OffsetDateTime::now_utc() {
        return Err(AppError::Unauthenticated(format!(
            "this output token has expired: attempt {attempt} of run `{run}` is no longer running"
        )));
    }
    Ok(ticket)
}

/// Receives a pod's output file (the raw JSON file). For `terrace attempt-wrap`, with its
/// step's output token.
#[utoipa::path(put, operation_id = "uploadAttemptOutput", path = "/runs/{run}/attempts/{attempt}/output", tag = "runs",
    security(("bearer" = [])),
    params(("run" = String, Path), ("attempt" = u32, Path)),
    request_body(content = String, content_type = "application/json", description = "the output file, as the job wrote it"),
    responses((status = 204, description = "kept; the run applies it when the step ends"),
        (status = 401, body = ErrorBody, description = "not an output token, or an expired one"),
        (status = 403, body = ErrorBody, description = "another attempt's token, or one already used"),
        (status = 413, body = ErrorBody, description = "over 1 MiB: refused unread"),
        (status = 422, body = ErrorBody, description = "malformed: kept, and the run fails with this error"),
        (status = "default", body = ErrorBody)))]
async fn upload(
    State(app): State<Arc<App>>,
    ApiPath((run, attempt)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, AppError> {
    let attempt: u32 = attempt
        .parse()
        .map_err(|_| AppError::bad("attempt", format!("`{}` is not an attempt number", access::clip(&attempt))))?;
    let ticket = ticket(&app, &headers, &run, attempt).await?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let too_large = |size: u64| {
        let e = check_upload(&[], Some(size)).err().map(|e| e.to_string()).unwrap_or_default();
        AppError::ContentTooLarge(format!("output file: {e}; none of its entries were applied"))
    };
    if let Some(size) = declared.filter(|s: &u64| *s > MAX_OUTPUT_FILE_BYTES as u64) {
        return Err(too_large(size));
    }
    let bytes = axum::body::to_bytes(body, MAX_OUTPUT_FILE_BYTES + 1)
        .await
        .map_err(|_| too_large(MAX_OUTPUT_FILE_BYTES as u64 + 1))?;
    let refusal = match check_upload(&bytes, declared) {
        Ok(()) => None,
        Err(UploadRefusal::TooLarge(_)) => return Err(too_large(declared.unwrap_or(bytes.len() as u64))),
        Err(UploadRefusal::Content(e)) => Some(e),
    };
    if !app.store.put_ticket_output(ticket.id, &bytes).await? {
        return Err(AppError::Refused("this output token was already used: a step sends its output file once".into()));
    }
    tracing::info!(run = %ticket.run, attempt, bytes = bytes.len(), "output file received from a pod");
    match refusal {
        None => Ok(StatusCode::NO_CONTENT),
        Some(e) => Err(AppError::unprocessable(
            None,
            format!("output file: {e}; none of its entries were applied (the run fails with this error)"),
        )),
    }
}
