//! The case's QR download code, as PNG and SVG. It holds `{public_base_url}/d/{token}`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::FilingClient;
use super::cases::{case_id, download_page_url};
use crate::error_code::ErrorCode;
use crate::flow::cases::owned_case;
use crate::flow::FlowError;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppPath, AppQuery};
use crate::http::state::AppState;
use crate::imaging::qr;
use crate::telemetry::spawn_blocking_in_span;

/// QR image options.
#[derive(Debug, Deserialize, IntoParams)]
pub struct QrQuery {
    /// Side in pixels, 128–2048 (default 512); rounded up to whole modules.
    pub size: Option<u32>,
}

enum Format {
    Png,
    Svg,
}

async fn render(
    state: AppState,
    client: FilingClient,
    id: String,
    size: Option<u32>,
    format: Format,
) -> ApiResult<Response> {
    let size = qr::checked_size(size).map_err(|_| {
        let code = ErrorCode::QrSizeOutOfRange;
        ApiError::new(code).with_field("size", code.as_str())
    })?;
    let case = owned_case(&state, &client.id, &case_id(&id)?).await?;
    case.status.can_show_qr().map_err(FlowError::Transition)?;
    let url = download_page_url(&state, &case.download_token);
    let rendered = spawn_blocking_in_span(move || match format {
        Format::Png => qr::render_png(&url, size).map(|png| ("image/png", png)),
        Format::Svg => qr::render_svg(&url, size).map(|svg| ("image/svg+xml", svg.into_bytes())),
    })
    .await
    .map_err(ApiError::internal)?;
    let (content_type, bytes) = rendered.map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
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
    render(state, client, id, query.size, Format::Png).await
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
    render(state, client, id, query.size, Format::Svg).await
}
