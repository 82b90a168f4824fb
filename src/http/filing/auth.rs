//! `FilingClient`: the extractor that authenticates the filing system by API key
//! (`Authorization: Bearer hyk_…`) and charges its request quota.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use chrono::Duration;

use crate::domain::ids::ClientId;
use crate::flow::accounts::{hash_api_key, API_KEY_PREFIX};
use crate::flow::{quota, Actor, FlowError};
use crate::http::caller::{bearer_token, client_ip};
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// An authenticated filing-system client.
#[derive(Debug, Clone)]
pub struct FilingClient {
    /// Its id.
    pub id: ClientId,
    /// The caller's address, for the audit log.
    pub ip: Option<String>,
}

impl FilingClient {
    /// The client as an audit actor.
    pub fn actor(&self) -> Actor {
        Actor::client(&self.id, self.ip.clone())
    }
}

fn unauthorized(code: &'static str, zh: &'static str, en: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, zh, en)
}

/// Reads the bearer key: absent and malformed are told apart for the integrator.
fn bearer_key(parts: &Parts) -> Result<&str, ApiError> {
    if !parts.headers.contains_key(header::AUTHORIZATION) {
        return Err(unauthorized(
            "missing_api_key",
            "缺少 API 密钥（Authorization: Bearer …）",
            "Missing API key (Authorization: Bearer …)",
        ));
    }
    let key = bearer_token(parts)
        .filter(|k| k.starts_with(API_KEY_PREFIX) && k.len() == API_KEY_PREFIX.len() + 43);
    key.ok_or_else(|| {
        unauthorized(
            "malformed_api_key",
            "API 密钥格式不正确",
            "The API key is malformed; send `Authorization: Bearer hyk_…`",
        )
    })
}

impl FromRequestParts<AppState> for FilingClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer_key(parts)?;
        let found = state
            .store
            .find_client_by_key_hash(&hash_api_key(key))
            .await
            .map_err(ApiError::internal)?;
        let Some((client, key)) = found else {
            return Err(unauthorized(
                "unknown_api_key",
                "API 密钥无效",
                "Unknown API key",
            ));
        };
        if client.revoked_at.is_some() || key.revoked_at.is_some() {
            return Err(unauthorized(
                "revoked_api_key",
                "API 密钥已被吊销",
                "This API key was revoked",
            ));
        }
        charge_quota(state, &client.id).await?;
        Ok(FilingClient {
            id: client.id,
            ip: client_ip(parts),
        })
    }
}

async fn charge_quota(state: &AppState, client: &ClientId) -> Result<(), ApiError> {
    let limit = state.settings.filing.requests_per_minute;
    let key = format!("filing_api:{client}");
    match quota::take(
        state.store.as_ref(),
        &key,
        limit,
        Duration::minutes(1),
        state.clock.now(),
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(FlowError::Locked { retry_after_secs }) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "请求过于频繁，请稍后再试",
            "Too many requests for this client; slow down",
        )
        .retry_after(retry_after_secs)),
        Err(other) => Err(other.into()),
    }
}
