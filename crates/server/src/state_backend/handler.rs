//! One handler for the four methods Terraform's `http` backend sends. Answers are what the
//! backend reads: 200 with the state (204 when there is none), 423 with the holder's lock
//! info when locked, 401/403 for credentials, and a plain-text reason otherwise.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use terrace_model::RunId;
use terrace_store::{RunLease, RunState, StateKey, Store, StoreError};

use super::STATE_LIMIT;

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message.into()).into_response()
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::LeaseLost { .. } | StoreError::StateLocked { .. } | StoreError::Conflict(_) => {
            text(StatusCode::CONFLICT, e.to_string())
        }
        other => {
            tracing::error!(error = %other, "terraform state backend");
            text(StatusCode::INTERNAL_SERVER_ERROR, "the store failed; see the server log")
        }
    }
}

fn unauthorized() -> Response {
    let mut r =
        text(StatusCode::UNAUTHORIZED, "a run's credentials are needed (TF_HTTP_USERNAME and TF_HTTP_PASSWORD)");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"terrace state\""));
    r
}

/// The run id and token of HTTP Basic credentials.
fn credentials(headers: &HeaderMap) -> Option<(RunId, String)> {
    let encoded = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, token) = decoded.split_once(':')?;
    Some((user.parse().ok()?, token.to_string()))
}

/// The run behind the credentials, if they are its token and it may touch `key` now.
async fn authorize(store: &dyn Store, headers: &HeaderMap, key: &StateKey) -> Result<RunLease, Box<Response>> {
    let Some((run, _)) = credentials(headers).filter(|(run, token)| store.check_state_token(*run, token)) else {
        return Err(Box::new(unauthorized()));
    };
    let record = match store.get_run(run).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Box::new(unauthorized())),
        Err(e) => return Err(Box::new(store_error(e))),
    };
    if (record.project.as_str(), record.environment.as_str(), record.job.as_str())
        != (key.project.as_str(), key.environment.as_str(), key.job.as_str())
    {
        let why = format!("run {run} may use the state of its own job only, not {key}");
        return Err(Box::new(text(StatusCode::FORBIDDEN, why)));
    }
    match (record.state, record.lease()) {
        (RunState::Queued | RunState::Running, Some(lease)) => Ok(lease),
        _ => {
            let why = format!("run {run} has ended ({}): its token is no longer valid", record.state);
            Err(Box::new(text(StatusCode::FORBIDDEN, why)))
        }
    }
}

/// Terraform's lock info: only its `ID` matters here; the rest is kept as given.
fn lock_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "ID")]
        id: String,
    }
    serde_json::from_slice::<Info>(body).ok().map(|i| i.id).filter(|id| !id.is_empty() && id.len() <= 200)
}

fn bad_lock() -> Response {
    text(StatusCode::BAD_REQUEST, "the lock body must be Terraform's lock info, a JSON object with an `ID`")
}

async fn read_body(body: Body) -> Option<Bytes> {
    axum::body::to_bytes(body, STATE_LIMIT).await.ok()
}

pub(super) async fn serve(
    State(store): State<Arc<dyn Store>>,
    Path((project, environment, job)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let key = StateKey { project, environment, job };
    let lease = match authorize(store.as_ref(), &headers, &key).await {
        Ok(lease) => lease,
        Err(r) => return *r,
    };
    let Some(body) = read_body(body).await else {
        let limit = format!("a state is limited to {} MiB", STATE_LIMIT / 1024 / 1024);
        return text(StatusCode::PAYLOAD_TOO_LARGE, limit);
    };
    match method.as_str() {
        "GET" => match store.read_state(&key, None).await {
            Ok(Some((_, state))) => json(StatusCode::OK, String::from_utf8_lossy(&state).into_owned()),
            Ok(None) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => store_error(e),
        },
        "POST" => {
            let id = query.as_deref().and_then(|q| {
                form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "ID").map(|(_, v)| v.into_owned())
            });
            if !serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.is_object()) {
                return text(StatusCode::BAD_REQUEST, "a state must be a JSON object");
            }
            match store.write_state(&lease, &key, id.as_deref(), &body).await {
                Ok(_) => StatusCode::OK.into_response(),
                Err(e) => store_error(e),
            }
        }
        "LOCK" => {
            let Some(id) = lock_id(&body) else { return bad_lock() };
            let info = String::from_utf8_lossy(&body).into_owned();
            match store.lock_state(&lease, &key, &id, &info).await {
                Ok(None) => StatusCode::OK.into_response(),
                Ok(Some(holder)) => json(StatusCode::LOCKED, holder.info),
                Err(e) => store_error(e),
            }
        }
        "UNLOCK" => {
            let Some(id) = lock_id(&body) else { return bad_lock() };
            match store.unlock_state(&key, &id).await {
                Ok(true) => StatusCode::OK.into_response(),
                // Released already (its run ended, or recovery took it back): nothing held.
                Ok(false) => match store.state_lock(&key).await {
                    Ok(None) => StatusCode::OK.into_response(),
                    Ok(Some(holder)) => json(StatusCode::CONFLICT, holder.info),
                    Err(e) => store_error(e),
                },
                Err(e) => store_error(e),
            }
        }
        other => text(StatusCode::METHOD_NOT_ALLOWED, format!("{other} is not a method of Terraform's http backend")),
    }
}
