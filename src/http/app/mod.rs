//! The mobile App's API (`/app/v1`): the phone check by SMS, the App session, consent,
//! liveness, the ID photos and completion. Every refusal tells a person what to do next,
//! in Chinese with English beside it.

pub mod auth;
pub mod complete;
pub mod consent;
pub mod entry;
pub mod liveness;
pub mod photos;
pub mod session;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;

/// The App routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(entry::get_entry))
        .routes(routes!(session::request_sms))
        .routes(routes!(session::create_session))
        .routes(routes!(session::choose_case))
        .routes(routes!(session::get_case))
        .routes(routes!(consent::get_consent, consent::accept_consent))
        .routes(routes!(liveness::start_challenge))
        .routes(routes!(complete::complete))
        .merge(uploads())
}

/// The routes that take photos: 10 MiB a request instead of the JSON limit.
fn uploads() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(liveness::submit_frames))
        .routes(routes!(photos::upload_photo, photos::get_photo))
        .layer(DefaultBodyLimit::max(UPLOAD_LIMIT_BYTES))
}

/// Largest photo upload or set of liveness frames.
pub const UPLOAD_LIMIT_BYTES: usize = 10 * 1024 * 1024;
