//! The QR landing page `/d/{token}`: what a phone opens after scanning. Sends each
//! platform to its download link, tells in-app browsers (WeChat) to open the system
//! browser, deep-links into the installed App; counts scans.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::error::ApiResult;
use super::extract::AppPath;
use super::landing_page::{self, LandingView};
use super::state::AppState;
use crate::domain::platform::{self, Platform};
use crate::flow::cases;

/// The page for a scanned QR code (zh-CN first, English beside it).
#[utoipa::path(get, path = "/d/{token}", tag = "download",
    params(("token" = String, Path, description = "The token in the case's QR code")),
    responses(
        (status = 200, description = "Landing page (HTML)", content_type = "text/html"),
        (status = 404, description = "Unknown or expired code: a friendly page (HTML)", content_type = "text/html"),
    ))]
pub async fn landing(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppPath(token): AppPath<String>,
) -> ApiResult<Response> {
    if cases::scan_download_token(&state, &token).await?.is_none() {
        return Ok(page(
            StatusCode::NOT_FOUND,
            landing_page::render_not_found(),
        ));
    }
    let ua = platform::detect(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    metrics::counter!("qr_scans_total", "platform" => ua.platform.as_str()).increment(1);
    let links = &state.settings.download;
    let download_url = match ua.platform {
        Platform::Android => links.android_url.clone(),
        Platform::Ios => links.ios_url.clone(),
        Platform::Harmony => links.harmony_url.clone(),
        Platform::Other => None,
    };
    let view = LandingView {
        ua,
        download_url,
        deep_link: links
            .app_scheme
            .as_ref()
            .map(|s| format!("{s}://verify?t={token}")),
        app_name: links.app_name.clone(),
        web_url: links.web_flow.then(|| format!("/m/{token}")),
    };
    Ok(page(StatusCode::OK, landing_page::render(&view)))
}

/// An HTML page the browser must not cache (it may name a case's token).
pub(super) fn page(status: StatusCode, html: String) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}
