//! The mobile App's API (`/app/v1`): the phone check by SMS, the App session, consent.
//! Liveness, photos and completion follow (issue 4). Every refusal tells a person what to
//! do next, in Chinese with English beside it.

pub mod auth;
pub mod consent;
pub mod session;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;

/// The App routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::request_sms))
        .routes(routes!(session::create_session))
        .routes(routes!(session::get_case))
        .routes(routes!(consent::get_consent, consent::accept_consent))
}
