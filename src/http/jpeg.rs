//! The one way a stored photo leaves heyan over HTTP: `image/jpeg`, never cached
//! (`Cache-Control: no-store`), with its SHA-256 as the ETag so a repeat pull can be a 304.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult};
use crate::flow::photos::PulledPhoto;

/// The photo, or 304 when `If-None-Match` names its ETag.
pub fn jpeg_response(pulled: PulledPhoto, headers: &HeaderMap) -> ApiResult<Response> {
    let etag = format!("\"{}\"", pulled.record.sha256);
    let etag_value = HeaderValue::from_str(&etag).map_err(ApiError::internal)?;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::ETAG, etag_value),
    ];
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    Ok((common, [(header::CONTENT_TYPE, "image/jpeg")], pulled.jpeg).into_response())
}
