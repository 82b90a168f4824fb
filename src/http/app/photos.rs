//! ID photos from the App (handheld, front, back, in that order) and the watermarked
//! previews it shows, liveness frame included.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::AppUser;
use super::session::AppCaseResponse;
use crate::domain::case::PhotoKind;
use crate::flow::app_steps::Captured;
use crate::flow::photos;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppBytes, AppPath};
use crate::http::jpeg::jpeg_response;
use crate::http::state::AppState;

/// A stored photo.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoResponse {
    /// handheld, front or back.
    pub kind: &'static str,
    /// Pixels of the stored, watermarked JPEG.
    pub width: i32,
    /// Pixels.
    pub height: i32,
    /// SHA-256 (hex) of the stored JPEG.
    pub sha256: String,
    /// The watermarked photo to show; retake by uploading again.
    pub preview_url: String,
    /// The case's steps.
    pub case: AppCaseResponse,
}

fn photo_kind(raw: &str) -> ApiResult<PhotoKind> {
    PhotoKind::parse(raw).ok_or_else(ApiError::not_found)
}

/// Upload a photo: the body is the JPEG, PNG or WebP file itself (the type is read from
/// the bytes), at most 10 MiB. Handheld, then front, then back; uploading again retakes.
#[utoipa::path(put, path = "/app/v1/photos/{kind}", tag = "app",
    params(("kind" = String, Path, description = "handheld, front or back")),
    request_body(content_type = "image/jpeg", description = "The photo's bytes (JPEG, PNG or WebP)"),
    responses(
        (status = 200, description = "Checked, watermarked and stored", body = PhotoResponse),
        (status = 403, description = "`consent_required`", body = ErrorBody),
        (status = 409, description = "`step_out_of_order` (names `next_step`), or the case no longer takes captures", body = ErrorBody),
        (status = 413, description = "`body_too_large`: over 10 MiB", body = ErrorBody),
        (status = 422, description = "Refused with a retake hint: `too_blurry`, `too_dark`, `too_small`, `no_face`…", body = ErrorBody),
        (status = 429, description = "`upload_limit_reached` (10 per kind), or `photo_busy` (Retry-After)", body = ErrorBody),
    ),
    security(("app_session" = [])))]
pub async fn upload_photo(
    State(state): State<AppState>,
    user: AppUser,
    AppPath(kind): AppPath<String>,
    AppBytes(body): AppBytes,
) -> ApiResult<Json<PhotoResponse>> {
    let kind = photo_kind(&kind)?;
    let bytes: Arc<[u8]> = Arc::from(body.as_ref());
    let Captured {
        outcome: record,
        case,
    } = photos::upload(&state, &user.case, kind, bytes, &user.actor()).await?;
    Ok(Json(PhotoResponse {
        kind: kind.as_str(),
        width: record.width,
        height: record.height,
        sha256: record.sha256,
        preview_url: format!("/app/v1/photos/{}", kind.as_str()),
        case: AppCaseResponse::new(case),
    }))
}

/// The watermarked photo as stored (what reviewers will see).
#[utoipa::path(get, path = "/app/v1/photos/{kind}", tag = "app",
    params(("kind" = String, Path, description = "liveness, handheld, front or back")),
    responses(
        (status = 200, description = "The watermarked JPEG; Cache-Control: no-store; ETag", content_type = "image/jpeg", body = Vec<u8>),
        (status = 304, description = "Unchanged since the given ETag"),
        (status = 404, description = "`not_found`: not taken yet", body = ErrorBody),
    ),
    security(("app_session" = [])))]
pub async fn get_photo(
    State(state): State<AppState>,
    user: AppUser,
    headers: HeaderMap,
    AppPath(kind): AppPath<String>,
) -> ApiResult<Response> {
    let kind = photo_kind(&kind)?;
    let viewed = photos::view(&state, &user.case, kind, &user.actor()).await?;
    jpeg_response(viewed, &headers)
}
