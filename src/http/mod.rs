//! The HTTP layer: the audience routers put together, the middleware stack and the OpenAPI
//! document.
//!
//! The route index is docs/routes.md, generated from the OpenAPI document (a test in
//! `crate::docs` keeps it current). Each audience module owns its prefix: `filing` →
//! `/filing/v1`, `app` → `/app/v1`, `review` → `/review/v1` and `/review/`, `download` →
//! `/d/{token}`, `ops` → health, readiness, this document, version. Metrics (and readiness
//! details) are served by [`admin_router`] on a second listener, `server.admin_listen`;
//! the OpenAPI document lists them under the `ops-admin` tag.
//!
//! Every route is registered through `utoipa_axum::routes!`, which adds it to the OpenAPI
//! document at the same time, so the spec cannot miss a route (a test also scans this
//! folder for plain `.route(` calls). `http` never sees `sqlx` nor the store: handlers call
//! `flow` (a test scans this folder for store access).

pub mod app;
pub mod assets;
pub mod caller;
pub mod download;
pub mod error;
pub mod extract;
pub mod filing;
pub mod jpeg;
pub mod landing_page;
pub mod metrics;
pub mod ops;
pub mod review;
pub mod state;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use axum::{middleware, Extension, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use self::error::ErrorCatalogInSpec;
use self::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The top of the OpenAPI document; paths come from the audience routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "heyan (核验)",
        description = "Shanghai-mode App verification for ICP website filing. Errors share one shape: `{code, message_zh, message_en, fields?, request_id?}`. Each error response below names its codes; any operation may also answer `route_not_found` (404), `method_not_allowed` (405), `malformed_json`, `unreadable_body`, `invalid_query`, `malformed_multipart` (400), `json_content_type_required`, `multipart_required` (415), `body_too_large` (413), `invalid_json_fields` (422), `request_timeout` (503) and `internal_error` (500).",
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&ApiKeyScheme, &ErrorCatalogInSpec),
    tags(
        (name = "filing", description = "The filing system's API: register cases, QR codes, redeem codes, pull photos, submit, cancel. `Authorization: Bearer <API key>` from `heyan client add`."),
        (name = "app", description = "The mobile App's API: SMS phone check, session (`Authorization: Bearer <token>`), consent, location and liveness, ID photos, completion"),
        (name = "review", description = "The review desk: reviewer login (cookie for the console with `X-CSRF-Token` on POSTs, or `Authorization: Bearer <token>`), the queue, leases, cases, decisions, the audit log"),
        (name = "review-console", description = "The reviewers' web console"),
        (name = "download", description = "The QR landing page phones open"),
        (name = "ops", description = "Health, readiness and this document"),
        (name = "ops-admin", description = "Served on the admin listener only (`server.admin_listen`, loopback by default), never on the public port: metrics. The admin listener also answers `/healthz`, and `/readyz` with the details of each dependency."),
    ),
)]
struct ApiDoc;

/// Declares the filing API's bearer key scheme.
struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("hyk_…")
            .build();
        components.add_security_scheme("api_key", SecurityScheme::Http(scheme));
        let session = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("app_session", SecurityScheme::Http(session));
    }
}

/// All routes with their OpenAPI document, before middleware.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(filing::router())
        .merge(app::router())
        .merge(review::router())
        .merge(web::router())
        .routes(utoipa_axum::routes!(download::landing))
        .split_for_parts()
}

/// The admin listener's routes with their OpenAPI paths, before middleware.
pub fn admin_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::new()
        .merge(ops::admin_router())
        .split_for_parts()
}

/// The OpenAPI document: the public operations, plus the operations found only on the
/// admin listener (`ops-admin`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut spec = routes().1;
    for (path, item) in admin_routes().1.paths.paths {
        spec.paths.paths.entry(path).or_insert(item);
    }
    spec
}

/// The complete public application: routes, fallbacks and middleware, bound to `state`.
pub fn router(state: AppState) -> Router {
    let (routes, _) = routes();
    let spec = openapi();
    let timeout = Duration::from_secs(state.settings.server.request_timeout_secs);
    let json_limit = state.settings.server.json_body_limit_bytes;
    let proxies = caller::TrustedProxies::new(state.settings.server.trusted_proxies.clone());
    let routes = routes
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(Extension(Arc::new(spec)))
        .layer(Extension(proxies));
    with_middleware(routes, timeout, json_limit).with_state(state)
}

/// The admin listener's application: metrics, health and detailed readiness, with the same
/// middleware as the public one.
pub fn admin_router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.server.request_timeout_secs);
    let json_limit = state.settings.server.json_body_limit_bytes;
    let routes = admin_routes()
        .0
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(Extension(ops::AdminListener));
    with_middleware(routes, timeout, json_limit).with_state(state)
}

/// The middleware stack, outermost first: request id, tracing span, panic catcher,
/// 5xx logging, metrics, timeout, JSON body limit.
fn with_middleware<S>(routes: Router<S>, timeout: Duration, json_limit: usize) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(middleware::from_fn(error::log_internal_errors))
        .layer(middleware::from_fn(metrics::track))
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            error::timeout_error()
        }))
        .timeout(timeout);
    routes
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(middleware)
}

/// The span of one request: method, route template and request id; never the raw URI,
/// which may carry tokens.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), route, request.id = request_id)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// Every route must go through `routes!` so it lands in the OpenAPI document.
    /// Test modules (everything after `#[cfg(test)]`) build throwaway routers and are skipped.
    #[test]
    fn no_route_bypasses_the_openapi_document() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut offenders = Vec::new();
        visit(&root, &mut |path, text| {
            let production = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in production.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if code.contains(".route(\"") || code.contains(".route_service(") {
                    offenders.push(format!("{}:{}", path.display(), n + 1));
                }
            }
        });
        assert!(
            offenders.is_empty(),
            "routes outside routes!(): {offenders:?}"
        );
    }

    /// Handlers parse, call one `flow` function and render: nothing under `src/http`
    /// reaches the store. The rule, per production line (comments and test modules
    /// skipped): no `.store` field access (`state.store.get_case(…)`, or `.store` starting a
    /// chained line) and no `Store`/`StoreError` types. Plain record types that flows hand
    /// back as read models (`use crate::store::CaseRecord`) are allowed.
    #[test]
    fn no_handler_reaches_the_store() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut offenders = Vec::new();
        visit(&root, &mut |path, text| {
            let production = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in production.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if reaches_store(code) {
                    offenders.push(format!("{}:{}: {code}", path.display(), n + 1));
                }
            }
        });
        assert!(
            offenders.is_empty(),
            "store access outside flow:\n{}",
            offenders.join("\n")
        );
    }

    fn reaches_store(code: &str) -> bool {
        let field_access = code.match_indices(".store").any(|(at, m)| {
            !code[at + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        });
        let types = ["dyn Store", "StoreError", "store::Store", "sqlx"];
        field_access || types.iter().any(|t| code.contains(t))
    }

    #[test]
    fn the_store_rule_sees_what_it_should() {
        let cases = [
            ("state.store.get_case(&id).await?", true),
            ("            .store", true),
            (".store.as_ref(),", true),
            ("fn f(store: &dyn Store) {}", true),
            ("Err(StoreError::NotFound) => {}", true),
            ("use crate::store::CaseRecord;", false),
            ("pub blob_store: &'static str,", false),
            ("(header::CACHE_CONTROL, \"no-store\")", false),
            ("state.stored_at", false),
        ];
        for (line, want) in cases {
            assert_eq!(reaches_store(line), want, "{line}");
        }
    }

    fn visit(dir: &Path, f: &mut dyn FnMut(&Path, &str)) {
        for entry in std::fs::read_dir(dir).expect("src/http is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                visit(&path, f);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source is UTF-8");
                f(&path, &text);
            }
        }
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(60)).await;
        "late"
    }

    async fn boom() -> &'static str {
        panic!("handler bug")
    }

    async fn call(app: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_past_the_timeout_gets_a_json_503() {
        let app = with_middleware(
            Router::new().route("/slow", get(slow)),
            Duration::from_secs(30),
            1024,
        );
        let (status, body) = call(app, "/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "request_timeout");
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_a_json_500_with_the_request_id() {
        let app = with_middleware(
            Router::new().route("/boom", get(boom)),
            Duration::from_secs(30),
            1024,
        );
        let (status, body) = call(app, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "internal_error");
        assert!(
            !body.to_string().contains("handler bug"),
            "no internal text leaks: {body}"
        );
    }
}
