//! Completing the App check: the image verification code, as text and as a PNG.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::AppUser;
use super::session::AppCaseResponse;
use crate::flow::app_steps::Captured;
use crate::flow::codes;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::state::AppState;
use crate::imaging::code_image;

/// The image verification code to show.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompleteResponse {
    /// 8 characters; the principal types it into the filing system.
    pub code: String,
    /// The same code as a PNG (base64), large and grouped "ABCD EFGH".
    pub code_png_base64: String,
    /// When it stops working (72 hours).
    pub expires_at: DateTime<Utc>,
    /// What to tell the principal, in Chinese.
    pub message_zh: &'static str,
    /// The same in English.
    pub message_en: &'static str,
    /// The case's steps.
    pub case: AppCaseResponse,
}

/// Finish: issues the image verification code once every step is done. Asking again
/// before the filing system redeems it gives a new code and voids the old one.
#[utoipa::path(post, path = "/app/v1/complete", tag = "app",
    responses(
        (status = 201, description = "The code", body = CompleteResponse),
        (status = 409, description = "`steps_missing` (lists `missing_steps`), or the case is past this point", body = ErrorBody),
    ),
    security(("app_session" = [])))]
pub async fn complete(
    State(state): State<AppState>,
    user: AppUser,
) -> ApiResult<(StatusCode, Json<CompleteResponse>)> {
    let Captured {
        outcome: issued,
        case,
    } = codes::complete(&state, &user.case, &user.actor()).await?;
    let png = code_image::render_png(issued.code.as_str()).map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(CompleteResponse {
            code: issued.code.as_str().to_owned(),
            code_png_base64: base64::engine::general_purpose::STANDARD.encode(png),
            expires_at: issued.expires_at,
            message_zh: "核验完成。请在备案系统中输入此图片验证码，72 小时内有效",
            message_en:
                "Done. Enter this image verification code in the filing system within 72 hours",
            case: AppCaseResponse::new(case),
        }),
    ))
}
