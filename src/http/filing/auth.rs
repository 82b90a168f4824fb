//! `FilingClient`: the extractor that authenticates the filing system by API key
//! (`Authorization: Bearer hyk_…`) and charges its request quota.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::domain::ids::ClientId;
use crate::error_code::ErrorCode;
use crate::flow::accounts::{self, API_KEY_PREFIX};
use crate::flow::Actor;
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

/// Reads the bearer key: absent and malformed are told apart for the integrator.
fn bearer_key(parts: &Parts) -> Result<&str, ApiError> {
    if !parts.headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::new(ErrorCode::MissingApiKey));
    }
    let key = bearer_token(parts)
        .filter(|k| k.starts_with(API_KEY_PREFIX) && k.len() == API_KEY_PREFIX.len() + 43);
    key.ok_or_else(|| ApiError::new(ErrorCode::MalformedApiKey))
}

impl FromRequestParts<AppState> for FilingClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer_key(parts)?;
        let id = accounts::authenticate_client(state, key).await?;
        Ok(FilingClient {
            id,
            ip: client_ip(parts),
        })
    }
}
