//! Operations endpoints. On the public listener: `/healthz` (the process is up), `/readyz`
//! (ready or not, nothing more), `/openapi.json` (this API's spec) and `/version`. On the
//! admin listener (`server.admin_listen`, loopback by default): `/metrics` (Prometheus
//! text), `/healthz`, and `/readyz` naming each dependency and the warnings. No
//! authentication: the admin listener is kept off the public network instead, because
//! metrics and readiness details tell an attacker how the service is doing.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;
use crate::flow::health;

/// The public ops routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(version))
}

/// The admin listener's routes: metrics, and health and readiness with details.
pub fn admin_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(metrics))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Marks requests that arrived on the admin listener (an extension set by its router), so
/// `/readyz` may show details there.
#[derive(Clone, Copy, Debug)]
pub struct AdminListener;

/// Liveness answer.
#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Readiness answer: overall status; on the admin listener also one entry per dependency
/// (the other fields are absent on the public listener).
#[derive(Serialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Admin listener only: `ok` or `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
    /// Admin listener only: `ok` or `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob_store: Option<&'static str>,
    /// Admin listener only: days of business-day calendar data left; below 0 submissions
    /// fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_days_left: Option<i64>,
    /// Admin listener only: things operators should act on soon (e.g. the calendar data
    /// ending within 60 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// Build information.
#[derive(Serialize, ToSchema)]
pub struct VersionResponse {
    /// The crate version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is up", body = HealthResponse)))]
async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// The database and the blob store both answer and the calendar data lasts. The public
/// listener answers only `status`; the admin listener (`server.admin_listen`) also names
/// each dependency, the days of calendar data left and the warnings.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyResponse),
        (status = 503, description = "A dependency is unavailable", body = ReadyResponse),
    ))]
async fn readyz(
    State(state): State<AppState>,
    admin: Option<Extension<AdminListener>>,
) -> impl IntoResponse {
    let readiness = health::readiness(&state).await;
    let ready = readiness.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status_text = if ready { "ready" } else { "not_ready" };
    let body = if admin.is_some() {
        ReadyResponse {
            status: status_text,
            database: Some(readiness.database.as_str()),
            blob_store: Some(readiness.blob_store.as_str()),
            calendar_days_left: Some(readiness.calendar_days_left),
            warnings: Some(readiness.warnings),
        }
    } else {
        ReadyResponse {
            status: status_text,
            database: None,
            blob_store: None,
            calendar_days_left: None,
            warnings: None,
        }
    };
    (status, Json(body))
}

/// Prometheus text format: requests by route and status, latency histograms, the review
/// queue (size, overdue) and time to decision in business hours. Served on the admin
/// listener only (`server.admin_listen`).
#[utoipa::path(get, path = "/metrics", tag = "ops-admin",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    health::record_review_gauges(&state).await;
    state.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// This API's OpenAPI 3.1 description, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
async fn openapi_json(
    Extension(spec): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> impl IntoResponse {
    Json(spec.as_ref().clone())
}

/// The running version.
#[utoipa::path(get, path = "/version", tag = "ops",
    responses((status = 200, description = "Build information", body = VersionResponse)))]
async fn version() -> Json<VersionResponse> {
    Json(VersionResponse {
        version: env!("CARGO_PKG_VERSION"),
    })
}
