//! Extractors whose rejections are `ApiError`, so malformed JSON, bad paths and bad query
//! strings get the same JSON error shape as everything else. Handlers take these, never
//! bare `axum::Json`, `Path` or `Query`.

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

use super::error::ApiError;
use crate::error_code::ErrorCode;

/// JSON body extractor with `ApiError` rejections.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

/// Path parameters extractor with `ApiError` rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

/// Query string extractor with `ApiError` rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// Raw body extractor (photo uploads) with `ApiError` rejections.
#[derive(Debug, Clone, Default)]
pub struct AppBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for AppBytes {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state).await?;
        Ok(Self(bytes))
    }
}

/// Multipart body extractor (liveness frames) with `ApiError` rejections.
#[derive(Debug)]
pub struct AppMultipart(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for AppMultipart {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let multipart = axum::extract::Multipart::from_request(req, state).await?;
        Ok(Self(multipart))
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return body_too_large();
        }
        unreadable_body()
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(_: MultipartRejection) -> Self {
        ApiError::new(ErrorCode::MultipartRequired)
    }
}

impl From<MultipartError> for ApiError {
    fn from(err: MultipartError) -> Self {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return body_too_large();
        }
        ApiError::new(ErrorCode::MalformedMultipart)
    }
}

fn unreadable_body() -> ApiError {
    ApiError::new(ErrorCode::UnreadableBody)
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                ApiError::new(ErrorCode::InvalidJsonFields).with_field("body", e.body_text())
            }
            JsonRejection::JsonSyntaxError(_) => ApiError::new(ErrorCode::MalformedJson),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::new(ErrorCode::JsonContentTypeRequired)
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
            _ => unreadable_body(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::not_found()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(ErrorCode::InvalidQuery).with_field("query", rejection.body_text())
    }
}

/// The answer for a body over the route's limit.
pub fn body_too_large() -> ApiError {
    ApiError::new(ErrorCode::BodyTooLarge)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::DefaultBodyLimit;
    use axum::http::Request;
    use axum::routing::post;
    use axum::Router;
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::*;

    #[derive(Deserialize)]
    struct Echo {
        #[allow(dead_code)]
        n: u32,
    }

    async fn echo(AppJson(_): AppJson<Echo>) -> &'static str {
        "ok"
    }

    async fn send(body: &'static str, content_type: &str) -> (StatusCode, serde_json::Value) {
        let app = Router::new()
            .route("/", post(echo))
            .layer(DefaultBodyLimit::max(64));
        let response = app
            .oneshot(
                Request::post("/")
                    .header("content-type", content_type)
                    .body(Body::from(body))
                    .expect("valid request"),
            )
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    #[tokio::test]
    async fn json_rejections_use_the_error_shape() {
        let long =
            Box::leak(format!("{{\"n\": 1, \"pad\": \"{}\"}}", "x".repeat(100)).into_boxed_str());
        let cases: [(&str, &'static str, &str, StatusCode, &str); 4] = [
            (
                "syntax error",
                "{",
                "application/json",
                StatusCode::BAD_REQUEST,
                "malformed_json",
            ),
            (
                "wrong type",
                "{\"n\": \"x\"}",
                "application/json",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_json_fields",
            ),
            (
                "no content type",
                "{\"n\": 1}",
                "text/plain",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_content_type_required",
            ),
            (
                "over the limit",
                long,
                "application/json",
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
            ),
        ];
        for (what, body, ct, status, code) in cases {
            let (got_status, json) = send(body, ct).await;
            assert_eq!(got_status, status, "{what}");
            assert_eq!(json["code"], code, "{what}");
            assert!(
                json["message_zh"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}"
            );
            assert!(
                json["message_en"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}"
            );
        }
    }
}
