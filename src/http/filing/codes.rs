//! Redeeming the image verification code and pulling the watermarked photos.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::FilingClient;
use super::cases::case_id;
use super::idempotency;
use crate::domain::case::PhotoKind;
use crate::flow::{codes, photos};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, AppPath};
use crate::http::jpeg::jpeg_response;
use crate::http::state::AppState;

/// The code the principal typed into the filing system.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
#[schema(example = json!({"code": "7KX4-M9QP"}))]
pub struct RedeemRequest {
    /// 8 characters; case-insensitive; spaces and dashes are ignored.
    pub code: String,
}

/// One photo in the manifest.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoEntry {
    /// handheld, front, back or liveness.
    #[schema(example = "front")]
    pub kind: String,
    /// Pixels.
    pub width: i32,
    /// Pixels.
    pub height: i32,
    /// Bytes of the JPEG.
    pub size_bytes: i64,
    /// SHA-256 (hex) of the JPEG, also its ETag.
    pub sha256: String,
    /// Where to GET it (with the API key).
    pub url: String,
}

/// Liveness result.
#[derive(Debug, Serialize, ToSchema)]
pub struct LivenessResult {
    /// Whether the liveness check passed.
    pub passed: bool,
    /// When.
    pub at: Option<DateTime<Utc>>,
}

/// What a redeemed code gives the filing system.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestResponse {
    /// heyan's case id.
    pub case_id: String,
    /// The filing system's id.
    pub filing_id: String,
    /// The case's status (`redeemed`).
    pub status: String,
    /// The watermarked photos.
    pub photos: Vec<PhotoEntry>,
    /// Liveness result.
    pub liveness: LivenessResult,
    /// Whether the capture happened in Shanghai (null until the App reports a location).
    pub location_in_shanghai: Option<bool>,
}

/// Redeem the image verification code; answers with the photo manifest.
#[utoipa::path(post, path = "/filing/v1/cases/{id}/redeem", tag = "filing",
    request_body = RedeemRequest,
    params(("id" = String, Path, description = "heyan's case id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 hours")),
    responses(
        (status = 200, description = "Redeemed: the photo manifest", body = ManifestResponse),
        (status = 400, description = "`invalid_idempotency_key`", body = ErrorBody),
        (status = 409, description = "`code_already_used`, `code_not_issued`, `already_submitted`, `case_ineligible` or `idempotency_in_progress`", body = ErrorBody),
        (status = 410, description = "`code_expired` or `case_cancelled`", body = ErrorBody),
        (status = 422, description = "`code_invalid`: wrong code (says how many tries remain); `idempotency_key_reused` for another request", body = ErrorBody,
            example = json!({"code": "code_invalid", "message_zh": "图片验证码不正确，请核对后重新输入（9 次机会）", "message_en": "The image verification code is not correct (9 attempts left)", "fields": {"code": ["code_invalid"]}})),
        (status = 429, description = "`too_many_attempts`: too many wrong codes, locked for an hour (Retry-After)", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn redeem_code(
    State(state): State<AppState>,
    client: FilingClient,
    headers: HeaderMap,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<RedeemRequest>,
) -> ApiResult<Response> {
    let fingerprint = format!("POST /filing/v1/cases/{id}/redeem {}", request.code);
    idempotency::once(&state, &client, &headers, &fingerprint, || async {
        let case = case_id(&id)?;
        let manifest =
            codes::redeem(&state, &client.id, &case, &request.code, &client.actor()).await?;
        let body = manifest_response(&state, manifest);
        Ok((
            StatusCode::OK,
            serde_json::to_value(body).unwrap_or_default(),
        ))
    })
    .await
}

fn manifest_response(state: &AppState, m: codes::Manifest) -> ManifestResponse {
    let base = state.settings.public_base_url();
    let mut photos = m.photos;
    photos.sort_by_key(|p| PhotoKind::ALL.iter().position(|k| *k == p.kind));
    ManifestResponse {
        photos: photos
            .into_iter()
            .map(|p| PhotoEntry {
                url: format!(
                    "{base}/filing/v1/cases/{}/photos/{}",
                    m.case.id,
                    p.kind.as_str()
                ),
                kind: p.kind.as_str().into(),
                width: p.width,
                height: p.height,
                size_bytes: p.size_bytes,
                sha256: p.sha256,
            })
            .collect(),
        liveness: LivenessResult {
            passed: m.case.progress.liveness_at.is_some(),
            at: m.case.progress.liveness_at,
        },
        location_in_shanghai: m.case.location_in_shanghai,
        case_id: m.case.id.to_string(),
        filing_id: m.case.filing_id,
        status: m.case.status.as_str().into(),
    }
}

/// Pull one watermarked photo (after redemption). Every pull is audited.
#[utoipa::path(get, path = "/filing/v1/cases/{id}/photos/{kind}", tag = "filing",
    params(("id" = String, Path, description = "heyan's case id"),
           ("kind" = String, Path, description = "handheld, front, back or liveness"),
           ("If-None-Match" = Option<String>, Header, description = "The ETag from an earlier pull")),
    responses(
        (status = 200, description = "The watermarked JPEG; Cache-Control: no-store; ETag", content_type = "image/jpeg", body = Vec<u8>),
        (status = 304, description = "Unchanged since the given ETag"),
        (status = 404, description = "`not_found`: no such case or photo", body = ErrorBody),
        (status = 409, description = "`code_not_redeemed` or `case_ineligible`", body = ErrorBody),
        (status = 410, description = "`case_cancelled`", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_photo(
    State(state): State<AppState>,
    client: FilingClient,
    headers: HeaderMap,
    AppPath((id, kind)): AppPath<(String, String)>,
) -> ApiResult<Response> {
    let kind = PhotoKind::parse(&kind).ok_or_else(ApiError::not_found)?;
    let pulled = photos::pull(&state, &client.id, &case_id(&id)?, kind, &client.actor()).await?;
    jpeg_response(pulled, &headers)
}
