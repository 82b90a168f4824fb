//! Operations endpoints: `/healthz` (the process is up), `/readyz` (database and blob
//! store answer), `/metrics` (Prometheus text), `/openapi.json` (this API's spec) and
//! `/version`. No authentication: they reveal no personal data.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The ops routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(version))
}

/// Liveness answer.
#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Readiness answer: overall status and one entry per dependency.
#[derive(Serialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `ok` or `unavailable`.
    pub database: &'static str,
    /// `ok` or `unavailable`.
    pub blob_store: &'static str,
    /// Days of business-day calendar data left; below 0 submissions fail.
    pub calendar_days_left: i64,
    /// Things operators should act on soon (e.g. the calendar data ending within 60 days).
    pub warnings: Vec<String>,
}

/// Warn this many days before the calendar data ends.
const CALENDAR_WARNING_DAYS: i64 = 60;

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

/// The database and the blob store both answer.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyResponse),
        (status = 503, description = "A dependency is unavailable", body = ReadyResponse),
    ))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (db, blobs) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()),
        tokio::time::timeout(PROBE_TIMEOUT, state.blobs.check()),
    );
    let database = probe_result(
        "database",
        db.map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| format!("{e:#}"))),
    );
    let blob_store = probe_result(
        "blob store",
        blobs
            .map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string())),
    );
    let (calendar_days_left, warnings) = calendar_outlook(&state);
    let ready = database == "ok" && blob_store == "ok" && calendar_days_left >= 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = ReadyResponse {
        status: if ready { "ready" } else { "not_ready" },
        database,
        blob_store,
        calendar_days_left,
        warnings,
    };
    (status, Json(body))
}

/// Days of calendar data left (also a gauge), with a warning inside the last 60 days.
fn calendar_outlook(state: &AppState) -> (i64, Vec<String>) {
    let today = state
        .clock
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let left = state.calendar.days_left(today);
    #[allow(clippy::cast_precision_loss)] // days fit an f64 exactly
    metrics::gauge!("heyan_calendar_days_left").set(left as f64);
    let mut warnings = Vec::new();
    if left < CALENDAR_WARNING_DAYS {
        let until = state.calendar.covered_until();
        warnings.push(format!(
            "business-day calendar data ends {until} ({left} days): add the next year (assets/calendar/README.md, calendar.extra_files)"
        ));
        tracing::warn!(days_left = left, covered_until = %until, "business-day calendar data ends soon");
    }
    (left, warnings)
}

/// Logs a failed probe (operators need the cause) and reduces it to a label.
fn probe_result(what: &str, result: Result<(), String>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(cause) => {
            tracing::warn!(dependency = what, error = %cause, "readiness probe failed");
            "unavailable"
        }
    }
}

/// The review queue's size and overdue count, read at scrape time so they are never stale.
async fn review_gauges(state: &AppState) {
    match state.store.review_counts(state.clock.now()).await {
        #[allow(clippy::cast_precision_loss)] // queue sizes fit an f64 exactly
        Ok(counts) => {
            metrics::gauge!("heyan_review_queue_size").set(counts.in_review as f64);
            metrics::gauge!("heyan_review_overdue").set(counts.overdue as f64);
        }
        Err(e) => tracing::warn!(error = %e, "could not count the review queue"),
    }
}

/// Prometheus text format: requests by route and status, latency histograms, the review
/// queue (size, overdue) and time to decision in business hours.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    review_gauges(&state).await;
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
