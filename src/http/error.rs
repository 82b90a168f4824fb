//! `ApiError`: the one error type every handler returns, and the one JSON shape every
//! audience sees: `{"code", "message_zh", "message_en", "fields"?, "request_id"?}`.
//!
//! `code` is stable snake_case that clients may branch on; the messages are for people.
//! Codes, statuses and messages come from one catalog, `crate::error_code::ErrorCode`:
//! this module only renders them.
//! A 5xx never carries internal text: the cause travels in the response extensions to the
//! logging middleware (`log_internal_errors`), which logs it once with the request id.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error_code::{ErrorCode, ErrorFacts};

/// The result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code from the catalog (`ErrorCode`), e.g. `not_found`.
    #[schema(example = "not_found")]
    pub code: Cow<'static, str>,
    /// What happened and what to do, in Chinese.
    pub message_zh: Cow<'static, str>,
    /// The same in English.
    pub message_en: Cow<'static, str>,
    /// Per-field problems where input was invalid: field path → problems.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<String>>,
    /// The request id, on server errors, to quote to operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Lists every catalog code as the `enum` of `ErrorBody.code` in the OpenAPI document,
/// so clients can generate the whole set; each operation's responses name their own.
pub struct ErrorCatalogInSpec;

impl utoipa::Modify for ErrorCatalogInSpec {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, Schema};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut("ErrorBody") else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(code))) = body.properties.get_mut("code") {
            code.enum_values = Some(
                ErrorCode::ALL
                    .iter()
                    .map(|c| serde_json::Value::from(c.as_str()))
                    .collect(),
            );
        }
    }
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    // Boxed: handlers return `Result<_, ApiError>` everywhere, and the Ok path stays small.
    body: Box<ErrorBody>,
    retry_after_secs: Option<u64>,
    source: Option<anyhow::Error>,
}

/// The hidden cause of a 5xx, handed to the logging middleware.
#[derive(Clone)]
pub struct InternalErrorCause(pub Arc<anyhow::Error>);

impl ApiError {
    /// The catalog's answer for `code`: its status and both messages.
    pub fn new(code: ErrorCode) -> Self {
        Self::with_facts(code, ErrorFacts::default())
    }

    /// The catalog's answer for `code`, with figures and field problems from `facts`; a
    /// `retry_after_secs` fact also sets `Retry-After`.
    pub fn with_facts(code: ErrorCode, facts: ErrorFacts) -> Self {
        let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, problem) in &facts.fields {
            fields
                .entry(path.clone())
                .or_default()
                .push(problem.clone());
        }
        Self {
            status: code.status(),
            body: Box::new(ErrorBody {
                code: Cow::Borrowed(code.as_str()),
                message_zh: code.message_zh(&facts).into(),
                message_en: code.message_en(&facts).into(),
                fields,
                request_id: None,
            }),
            retry_after_secs: facts.retry_after_secs,
            source: None,
        }
    }

    /// A server-side failure: the client sees only `internal_error`.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut err = Self::new(ErrorCode::InternalError);
        err.source = Some(cause.into());
        err
    }

    /// No such resource (or one the caller may not see: the answer is the same).
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }

    /// Input that failed validation; add details with `with_field`.
    pub fn invalid_input() -> Self {
        Self::new(ErrorCode::InvalidInput)
    }

    /// Adds a problem for one field path (e.g. `websites[1].principal.id_number`).
    pub fn with_field(mut self, path: impl Into<String>, problem: impl Into<String>) -> Self {
        self.body
            .fields
            .entry(path.into())
            .or_default()
            .push(problem.into());
        self
    }

    /// Tells the client when to try again (sets `Retry-After`).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine code.
    pub fn code(&self) -> &str {
        &self.body.code
    }

    /// The JSON body as sent (for idempotent replays).
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.body).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(&*self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = self.source {
            response
                .extensions_mut()
                .insert(InternalErrorCause(Arc::new(cause)));
        }
        response
    }
}

/// Logs the cause of every 5xx once, with the request id, and puts the request id in the
/// body so a user can quote it.
pub async fn log_internal_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    if !response.status().is_server_error() {
        return response;
    }
    let status = response.status();
    match response.extensions().get::<InternalErrorCause>() {
        Some(cause) => tracing::error!(
            request.id = request_id.as_deref().unwrap_or("-"),
            error = format!("{:#}", cause.0),
            "request failed"
        ),
        None => return response,
    }
    let mut body = ApiError::internal(anyhow::anyhow!("logged")).body;
    body.request_id = request_id;
    let mut fresh = (status, axum::Json(*body)).into_response();
    fresh.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    fresh
}

/// Turns a panic inside a handler into a JSON 500 instead of a dropped connection.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    ApiError::new(ErrorCode::InternalError).into_response()
}

/// The answer for paths no route matches.
pub async fn route_not_found() -> ApiError {
    ApiError::new(ErrorCode::RouteNotFound)
}

/// The answer for a known path called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed)
}

/// The answer when a request runs past the configured timeout.
pub fn timeout_error() -> ApiError {
    ApiError::new(ErrorCode::RequestTimeout).retry_after(5)
}

/// Every flow error goes through the catalog: field validation becomes `invalid_input`
/// with its field, everything else is the error's code and facts.
impl From<crate::flow::FlowError> for ApiError {
    fn from(err: crate::flow::FlowError) -> Self {
        use crate::flow::FlowError as F;
        match err {
            F::Invalid { field, problem, .. } => {
                ApiError::invalid_input().with_field(field, problem)
            }
            F::Refused { code, facts } => ApiError::with_facts(code, *facts),
            F::Internal(e) => ApiError::internal(e),
            other => ApiError::new(other.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::RefOr;

    use super::*;

    /// Backticked words in a response description that are not error codes.
    const NOT_CODES: &[&str] = &["fields", "missing_steps", "next_step"];

    /// Every error response in the OpenAPI document names the codes it may carry in
    /// backticks (`` `case_cancelled` ``); each must be in the catalog and listed under the
    /// catalog's status. Codes any operation may answer (`route_not_found`,
    /// `internal_error`, `malformed_json`, …) are described once, in the document's info.
    #[test]
    fn every_error_response_lists_catalog_codes_under_their_status() {
        let spec = crate::http::openapi();
        let mut problems = Vec::new();
        let info = spec.info.description.as_deref().unwrap_or_default();
        for word in backticked(info) {
            if ErrorCode::parse(word).is_none() {
                problems.push(format!("info: `{word}` is not in the catalog"));
            }
        }
        for (path, item) in &spec.paths.paths {
            let operations = [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("delete", &item.delete),
                ("patch", &item.patch),
            ];
            for (method, op) in operations {
                let Some(op) = op else { continue };
                for (status, response) in &op.responses.responses {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let status: u16 = status.parse().unwrap_or(0);
                    if status < 400 || !has_error_body(response) {
                        continue;
                    }
                    let at = format!("{method} {path} {status}");
                    let named = backticked(&response.description);
                    let codes: Vec<&str> = named
                        .iter()
                        .copied()
                        .filter(|w| !NOT_CODES.contains(w))
                        .collect();
                    if codes.is_empty() {
                        problems.push(format!("{at}: names no code"));
                    }
                    for word in codes {
                        match ErrorCode::parse(word) {
                            None => problems.push(format!("{at}: `{word}` is not in the catalog")),
                            Some(code) if code.status().as_u16() != status => problems
                                .push(format!("{at}: `{word}` is answered with {}", code.status())),
                            Some(_) => {}
                        }
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    fn has_error_body(response: &utoipa::openapi::Response) -> bool {
        response.content.values().any(|content| {
            matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/ErrorBody"))
        })
    }

    #[test]
    fn the_error_body_schema_lists_every_catalog_code() {
        let spec = serde_json::to_value(crate::http::openapi()).expect("spec");
        let listed = &spec["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"];
        let listed: Vec<&str> = listed
            .as_array()
            .expect("an enum of codes")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, all);
    }

    fn backticked(text: &str) -> Vec<&str> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect()
    }
}
