//! Consent to processing sensitive personal information (PIPL: separate consent).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AppUser;
use super::session::AppCaseResponse;
use crate::flow::app_auth::{self, CONSENT_TEXT, CONSENT_VERSION};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::AppJson;
use crate::http::state::AppState;

/// The current consent text.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentResponse {
    /// Version to send back when accepting.
    pub version: &'static str,
    /// The text (Markdown, zh-CN first).
    pub text: &'static str,
    /// SHA-256 (hex) of the text, to send back when accepting.
    pub text_sha256: String,
}

/// Acceptance of the text the App showed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AcceptConsentRequest {
    /// The version shown.
    pub version: String,
    /// The SHA-256 shown.
    pub text_sha256: String,
}

/// The current consent text.
#[utoipa::path(get, path = "/app/v1/consent", tag = "app",
    responses((status = 200, description = "The consent text", body = ConsentResponse)))]
pub async fn get_consent() -> Json<ConsentResponse> {
    Json(ConsentResponse {
        version: CONSENT_VERSION,
        text: CONSENT_TEXT,
        text_sha256: app_auth::consent_text_hash(),
    })
}

/// Accept the consent text; liveness and photos are refused until then.
#[utoipa::path(post, path = "/app/v1/consent", tag = "app", request_body = AcceptConsentRequest,
    responses(
        (status = 200, description = "Recorded; the case's steps", body = AppCaseResponse),
        (status = 401, description = "`session_required`, `session_invalid`, `session_expired` or `case_closed`: no session, or it expired", body = ErrorBody),
        (status = 409, description = "`consent_outdated`: the text shown is not the current one", body = ErrorBody),
    ),
    security(("app_session" = [])))]
pub async fn accept_consent(
    State(state): State<AppState>,
    user: AppUser,
    AppJson(body): AppJson<AcceptConsentRequest>,
) -> ApiResult<Json<AppCaseResponse>> {
    let view = app_auth::accept_consent(
        &state,
        &user.case,
        &body.version,
        &body.text_sha256,
        &user.actor(),
    )
    .await?;
    Ok(Json(AppCaseResponse::new(view)))
}
