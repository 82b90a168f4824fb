//! Reviewer login, logout and "who am I" (which also gives the console its CSRF token
//! after a reload).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{ReviewerUser, COOKIE};
use crate::flow::reviewer_auth;
use crate::http::caller::ClientAddr;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::AppJson;
use crate::http::state::AppState;
use crate::store::Reviewer;

/// Credentials.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// The account, as the console shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewerInfo {
    /// Its id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// reviewer, auditor.
    pub roles: Vec<&'static str>,
}

impl From<&Reviewer> for ReviewerInfo {
    fn from(r: &Reviewer) -> Self {
        Self {
            id: r.id.to_string(),
            username: r.username.clone(),
            display_name: r.display_name.clone(),
            roles: r.roles.iter().map(|role| role.as_str()).collect(),
        }
    }
}

/// A session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The account.
    pub reviewer: ReviewerInfo,
    /// Send in `X-CSRF-Token` on every POST made with the cookie.
    pub csrf_token: String,
    /// For API use: `Authorization: Bearer <token>` (the console uses the cookie).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// Log in: sets the console cookie and returns a bearer token for API use.
#[utoipa::path(post, path = "/review/v1/login", tag = "review", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; Set-Cookie heyan_review", body = LoginResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 403, description = "`account_disabled`", body = ErrorBody),
        (status = 423, description = "`account_locked` after 5 failures (Retry-After)", body = ErrorBody),
        (status = 429, description = "`login_ip_limit` (attempts per address per hour) or `server_busy`; Retry-After; a busy answer counts no attempt", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    AppJson(body): AppJson<LoginRequest>,
) -> ApiResult<Response> {
    let password = SecretString::from(body.password);
    let session = reviewer_auth::login(&state, body.username.trim(), &password, ip).await?;
    let max_age = (session.expires_at - state.clock.now())
        .num_seconds()
        .max(0);
    let cookie = session_cookie(&session.token, max_age, state.settings.review.cookie_secure);
    let body = LoginResponse {
        reviewer: ReviewerInfo::from(&session.reviewer),
        csrf_token: session.csrf_token,
        token: Some(session.token),
        expires_at: session.expires_at,
    };
    Ok(([(header::SET_COOKIE, cookie?)], Json(body)).into_response())
}

/// The signed-in reviewer and the session's CSRF token.
#[utoipa::path(get, path = "/review/v1/me", tag = "review",
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "`login_required`", body = ErrorBody),
    ))]
pub async fn me(user: ReviewerUser) -> Json<LoginResponse> {
    let s = &user.signed_in;
    Json(LoginResponse {
        reviewer: ReviewerInfo::from(&s.reviewer),
        csrf_token: s.session.csrf_token.clone(),
        token: None,
        expires_at: s.session.expires_at,
    })
}

/// Log out: ends the session and clears the cookie.
#[utoipa::path(post, path = "/review/v1/logout", tag = "review",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`csrf_failed`", body = ErrorBody),
    ))]
pub async fn logout(State(state): State<AppState>, user: ReviewerUser) -> ApiResult<Response> {
    reviewer_auth::logout(&state, &user.signed_in, &user.actor()).await?;
    let cookie = session_cookie("", 0, state.settings.review.cookie_secure)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// The console cookie: HttpOnly, SameSite=Strict, scoped to /review, Secure when asked.
fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> ApiResult<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={token}; Path=/review; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&value).map_err(ApiError::internal)
}
