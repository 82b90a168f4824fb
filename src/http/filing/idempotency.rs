//! `Idempotency-Key` for the filing system's POSTs: reads the header and runs the handler
//! between `flow::idempotency::begin` and `Claim::keep`; a replay gets the kept answer with
//! `Idempotent-Replayed: true`. A handler cut off (timeout, client gone) drops its claim,
//! which releases the key.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::FilingClient;
use crate::error_code::ErrorCode;
use crate::flow::idempotency::{self, Begun, Claim};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// Runs `handler` at most once per key: a repeat with the same `fingerprint` gets the
/// stored answer (with `Idempotent-Replayed: true`). Without the header it just runs.
pub async fn once<F, Fut>(
    state: &AppState,
    client: &FilingClient,
    headers: &HeaderMap,
    fingerprint: &str,
    handler: F,
) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<(StatusCode, serde_json::Value)>>,
{
    let Some(key) = key_of(headers)? else {
        return handler().await.map(respond);
    };
    match idempotency::begin(state, &client.id, &key, fingerprint).await? {
        Begun::Fresh(claim) => run_and_keep(state, claim, handler).await,
        Begun::Replay { status, body } => Ok(replay(status, &body)),
    }
}

fn key_of(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(raw) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    match key {
        Some(k) => Ok(Some(k.to_owned())),
        None => Err(ApiError::new(ErrorCode::InvalidIdempotencyKey)),
    }
}

/// Runs the handler and stores its answer; a server error releases the key so a retry
/// can run again.
async fn run_and_keep<F, Fut>(state: &AppState, claim: Claim, handler: F) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<(StatusCode, serde_json::Value)>>,
{
    let outcome = handler().await;
    let kept = match &outcome {
        Ok((status, body)) => Some((*status, body.to_string())),
        Err(e) if !e.status().is_server_error() => Some((e.status(), e.body_json().to_string())),
        Err(_) => None,
    };
    let answer = kept
        .as_ref()
        .map(|(status, body)| (status.as_u16(), body.as_str()));
    claim.keep(state, answer).await?;
    outcome.map(respond)
}

fn respond((status, body): (StatusCode, serde_json::Value)) -> Response {
    (status, Json(body)).into_response()
}

fn replay(status: u16, body: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let mut response = (status, Json(json)).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
