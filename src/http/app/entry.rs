//! The entry of the web flow (and of an App opened from the QR code): what the principal
//! sees before signing in, from the case's QR token.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::flow::case_choice;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::AppPath;
use crate::http::state::AppState;

/// The filing behind a QR code, masked: enough to recognise it and know which number to
/// type.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryResponse {
    /// The hosting provider that registered the filing.
    pub provider: String,
    /// The websites the check covers.
    pub domains: Vec<String>,
    /// The principal's registered mobile number(s), masked (`138****5678`).
    pub mobile_hints: Vec<String>,
}

/// The filing behind a QR code, before sign-in (masked; does not count a scan).
#[utoipa::path(get, path = "/app/v1/entry/{token}", tag = "app",
    params(("token" = String, Path, description = "The token in the case's QR code")),
    responses(
        (status = 200, description = "The filing", body = EntryResponse),
        (status = 410, description = "`qr_code_invalid`: unknown token, or the case is closed", body = ErrorBody),
    ))]
pub async fn get_entry(
    State(state): State<AppState>,
    AppPath(token): AppPath<String>,
) -> ApiResult<Json<EntryResponse>> {
    let entry = case_choice::entry(&state, &token).await?;
    Ok(Json(EntryResponse {
        provider: entry.provider,
        domains: entry.domains,
        mobile_hints: entry.mobile_hints,
    }))
}
