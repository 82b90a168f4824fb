//! The review desk (`/review/v1`) and its console (`/review/`): reviewer login, the queue
//! by due time, leases, the case with its photos, decisions, and the audit log for
//! auditors.

pub mod audit;
pub mod auth;
pub mod cases;
pub mod console;
pub mod queue;
pub mod session;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;

/// The review routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(queue::get_queue))
        .routes(routes!(cases::claim))
        .routes(routes!(cases::get_case))
        .routes(routes!(cases::get_photo))
        .routes(routes!(cases::decide))
        .routes(routes!(audit::get_audit))
        .routes(routes!(console::index))
        .routes(routes!(console::index_redirect))
        .routes(routes!(console::static_file))
        .routes(routes!(console::favicon))
}
