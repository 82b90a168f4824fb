//! `ReviewerUser`: the extractor for a signed-in reviewer. The console sends the session
//! cookie (HttpOnly, SameSite=Strict) and, on every state change, the session's CSRF
//! token in `X-CSRF-Token`; API callers send the same token as `Authorization: Bearer`,
//! which needs no CSRF token because browsers never attach it on their own.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use subtle::ConstantTimeEq;

use crate::error_code::ErrorCode;
use crate::flow::reviewer_auth::{self, SignedIn};
use crate::flow::{Actor, FlowError};
use crate::http::caller::{bearer_token, client_ip};
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The console's session cookie.
pub const COOKIE: &str = "heyan_review";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in reviewer.
#[derive(Debug, Clone)]
pub struct ReviewerUser {
    /// The account and session.
    pub signed_in: SignedIn,
    /// The caller's address, for the audit log.
    pub ip: Option<String>,
}

impl ReviewerUser {
    /// The reviewer as an audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: "reviewer",
            id: self.signed_in.reviewer.id.to_string(),
            ip: self.ip.clone(),
        }
    }
}

/// Where the token came from decides whether CSRF applies.
enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

fn credential(parts: &Parts) -> Option<Credential<'_>> {
    if let Some(token) = bearer_token(parts) {
        return Some(Credential::Bearer(token));
    }
    cookie_value(parts, COOKIE).map(Credential::Cookie)
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for ReviewerUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (token, from_cookie) = match credential(parts) {
            Some(Credential::Bearer(t)) => (t, false),
            Some(Credential::Cookie(t)) => (t, true),
            None => return Err(FlowError::from(ErrorCode::LoginRequired).into()),
        };
        if token.is_empty() || token.len() > 128 {
            return Err(FlowError::from(ErrorCode::LoginRequired).into());
        }
        let signed_in = reviewer_auth::authenticate(state, token).await?;
        if from_cookie && changes_state(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            let expected = signed_in.session.csrf_token.as_bytes();
            if !bool::from(sent.ct_eq(expected)) {
                return Err(FlowError::from(ErrorCode::CsrfFailed).into());
            }
        }
        Ok(ReviewerUser {
            signed_in,
            ip: client_ip(parts),
        })
    }
}
