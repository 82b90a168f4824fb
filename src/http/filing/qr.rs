//! The case's QR download code, as PNG and SVG. It holds `{public_base_url}/d/{token}`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::FilingClient;
use super::cases::case_id;
use crate::flow::cases::{self, QrFormat};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{AppPath, AppQuery};
use crate::http::state::AppState;

/// QR image options.
#[derive(Debug, Deserialize, IntoParams)]
pub struct QrQuery {
    /// Side in pixels, 128–2048 (default 512); rounded up to whole modules.
    pub size: Option<u32>,
}

async fn render(
    state: AppState,
    client: FilingClient,
    id: String,
    size: Option<u32>,
    format: QrFormat,
) -> ApiResult<Response> {
    let image = cases::qr_code(&state, &client.id, &case_id(&id)?, size, format).await?;
    Ok((
        [
            (header::CONTENT_TYPE, image.content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        image.bytes,
    )
        .into_response())
}

/// The QR download code as PNG (error correction M, 4-module quiet zone).
#[utoipa::path(get, path = "/filing/v1/cases/{id}/qr.png", tag = "filing",
    params(("id" = String, Path, description = "heyan's case id"), QrQuery),
    responses(
        (status = 200, description = "PNG image", content_type = "image/png", body = Vec<u8>),
        (status = 400, description = "`qr_size_out_of_range`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such case for this client", body = ErrorBody),
        (status = 409, description = "`case_ineligible`", body = ErrorBody),
        (status = 410, description = "`case_cancelled`", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_qr_png(
    State(state): State<AppState>,
    client: FilingClient,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<QrQuery>,
) -> ApiResult<Response> {
    render(state, client, id, query.size, QrFormat::Png).await
}

/// The QR download code as SVG.
#[utoipa::path(get, path = "/filing/v1/cases/{id}/qr.svg", tag = "filing",
    params(("id" = String, Path, description = "heyan's case id"), QrQuery),
    responses(
        (status = 200, description = "SVG image", content_type = "image/svg+xml", body = String),
        (status = 400, description = "`qr_size_out_of_range`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such case for this client", body = ErrorBody),
        (status = 409, description = "`case_ineligible`", body = ErrorBody),
        (status = 410, description = "`case_cancelled`", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_qr_svg(
    State(state): State<AppState>,
    client: FilingClient,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<QrQuery>,
) -> ApiResult<Response> {
    render(state, client, id, query.size, QrFormat::Svg).await
}
