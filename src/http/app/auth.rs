//! `AppUser`: the extractor for the App's bearer session token (from the SMS check).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::flow::{app_auth, Actor, FlowError};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::CaseRecord;

/// The principal, signed in by SMS, and the case the session is bound to.
#[derive(Debug, Clone)]
pub struct AppUser {
    /// The case.
    pub case: CaseRecord,
    /// The caller's address, for the audit log.
    pub ip: Option<String>,
}

impl AppUser {
    /// The principal as an audit actor.
    pub fn actor(&self) -> Actor {
        Actor::app(&self.case.id, self.ip.clone())
    }
}

/// The client address of a request, when the server knows it.
pub fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

impl FromRequestParts<AppState> for AppUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128);
        let Some(token) = token else {
            return Err(FlowError::Unauthenticated("session_required").into());
        };
        let (_, case) = app_auth::authenticate(state, token).await?;
        Ok(AppUser {
            case,
            ip: client_ip(parts),
        })
    }
}

/// The caller's address without authentication (for the SMS endpoints).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_ip(parts)))
    }
}
