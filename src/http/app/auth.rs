//! `AppUser`: the extractor for the App's bearer session token (from the SMS check).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error_code::ErrorCode;
use crate::flow::{app_auth, Actor, FlowError};
use crate::http::caller::{bearer_token, client_ip};
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

impl FromRequestParts<AppState> for AppUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).filter(|t| !t.is_empty() && t.len() <= 128);
        let Some(token) = token else {
            return Err(FlowError::from(ErrorCode::SessionRequired).into());
        };
        let (_, case) = app_auth::authenticate(state, token).await?;
        Ok(AppUser {
            case,
            ip: client_ip(parts),
        })
    }
}
