//! The principal's flow in a phone browser (`/m/{token}`): static files from
//! `assets/web/`, compiled into the binary, that drive the same App API a native App uses.
//! Bound to the case of the QR token: its SMS and session go to that case only (the page
//! sends the token with both). Served only while `download.web_flow` is on.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::assets::asset;
use super::error::{ApiError, ApiResult};
use super::extract::AppPath;
use super::state::AppState;
use super::{download, landing_page};
use crate::flow::case_choice;

const INDEX: &str = include_str!("../../assets/web/index.html");
const APP_JS: &str = include_str!("../../assets/web/app.js");
const STYLE_CSS: &str = include_str!("../../assets/web/style.css");

/// Our own script and style only; photos shown from `blob:` URLs (fetched with the session
/// token) and the code image from a `data:` URL; camera and location for this page only.
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
                   style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'none'";

/// Camera and location for this origin only; nothing else.
const PERMISSIONS: &str = "camera=(self), geolocation=(self), microphone=()";

/// The web flow's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(static_file))
}

/// The web flow's page for a case's QR token.
#[utoipa::path(get, path = "/m/{token}", tag = "download",
    params(("token" = String, Path, description = "The token in the case's QR code")),
    responses(
        (status = 200, description = "The web flow (HTML)", content_type = "text/html"),
        (status = 404, description = "Unknown or closed case, or the web flow is off: a friendly page (HTML)", content_type = "text/html"),
    ))]
pub async fn page(
    State(state): State<AppState>,
    AppPath(token): AppPath<String>,
) -> ApiResult<Response> {
    let open = state.settings.download.web_flow
        && case_choice::open_case_of_token(&state, &token)
            .await?
            .is_some();
    if !open {
        let html = landing_page::render_not_found();
        return Ok(download::page(StatusCode::NOT_FOUND, html));
    }
    let mut response = asset("text/html; charset=utf-8", CSP, INDEX);
    response
        .headers_mut()
        .insert("permissions-policy", HeaderValue::from_static(PERMISSIONS));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The web flow's script and style sheet.
#[utoipa::path(get, path = "/m/static/{file}", tag = "download",
    params(("file" = String, Path, description = "app.js or style.css")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "`not_found`: no such file", body = crate::http::error::ErrorBody),
    ))]
pub async fn static_file(AppPath(file): AppPath<String>) -> Result<Response, ApiError> {
    match file.as_str() {
        "app.js" => Ok(asset("text/javascript; charset=utf-8", CSP, APP_JS)),
        "style.css" => Ok(asset("text/css; charset=utf-8", CSP, STYLE_CSS)),
        _ => Err(ApiError::not_found()),
    }
}

/// Bytes the web flow sends a phone (page, script, style), uncompressed.
pub const TOTAL_BYTES: usize = INDEX.len() + APP_JS.len() + STYLE_CSS.len();

#[cfg(test)]
mod tests {
    use super::*;

    /// A phone on a slow network loads the whole flow at once: keep it small
    /// (docs/web-flow.md states the figures), and everything from heyan itself.
    #[test]
    fn the_web_flow_is_small_and_self_contained() {
        const { assert!(TOTAL_BYTES < 48 * 1024) };
        assert!(!INDEX.contains("=\"http") && !INDEX.contains("<script>"));
        assert!(!APP_JS.contains("fetch('http") && !APP_JS.contains("import "));
        assert!(!STYLE_CSS.contains("url(") && !STYLE_CSS.contains("@import"));
    }
}
