//! The review console: static files from `assets/review/`, compiled into the binary so
//! nothing needs installing, served with a strict Content-Security-Policy (no inline
//! script, nothing from other origins).

use axum::http::StatusCode;
use axum::response::{Redirect, Response};

use crate::http::assets::asset;
use crate::http::error::ApiError;
use crate::http::extract::AppPath;

const INDEX: &str = include_str!("../../../assets/review/index.html");
const APP_JS: &str = include_str!("../../../assets/review/app.js");
const STYLE_CSS: &str = include_str!("../../../assets/review/style.css");

/// Only our own scripts, styles and images; no framing.
const CSP: &str = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn page(content_type: &'static str, body: &'static str) -> Response {
    asset(content_type, CSP, body)
}

/// The console (审核台).
#[utoipa::path(get, path = "/review/", tag = "review-console",
    responses((status = 200, description = "The console's HTML", content_type = "text/html")))]
pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// `/review` without the slash: to the console.
#[utoipa::path(get, path = "/review", tag = "review-console",
    responses((status = 308, description = "To /review/")))]
pub async fn index_redirect() -> Redirect {
    Redirect::permanent("/review/")
}

/// No icon: an empty answer, so browsers do not log a 404 on every page.
#[utoipa::path(get, path = "/favicon.ico", tag = "review-console",
    responses((status = 204, description = "No icon")))]
pub async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The console's script and style sheet.
#[utoipa::path(get, path = "/review/static/{file}", tag = "review-console",
    params(("file" = String, Path, description = "app.js or style.css")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "`not_found`: no such file", body = crate::http::error::ErrorBody),
    ))]
pub async fn static_file(AppPath(file): AppPath<String>) -> Result<Response, ApiError> {
    match file.as_str() {
        "app.js" => Ok(page("text/javascript; charset=utf-8", APP_JS)),
        "style.css" => Ok(page("text/css; charset=utf-8", STYLE_CSS)),
        _ => Err(ApiError::not_found()),
    }
}
