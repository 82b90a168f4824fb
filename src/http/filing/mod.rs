//! The filing-system API (`/filing/v1`): server-to-server JSON, authenticated by API key
//! (`FilingClient`). A client sees only its own cases.

pub mod auth;
pub mod cases;
pub mod codes;
pub mod idempotency;
pub mod qr;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;

/// The filing routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cases::create_case))
        .routes(routes!(cases::get_case, cases::cancel_case))
        .routes(routes!(cases::get_case_by_filing_id))
        .routes(routes!(cases::submit_case))
        .routes(routes!(qr::get_qr_png))
        .routes(routes!(qr::get_qr_svg))
        .routes(routes!(codes::redeem_code))
        .routes(routes!(codes::get_photo))
}
