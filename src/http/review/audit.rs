//! The audit log of a case, for reviewers with the auditor role.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::ReviewerUser;
use crate::domain::ids::CaseId;
use crate::flow::review;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::AppQuery;
use crate::http::state::AppState;

/// Which case.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
pub struct AuditParams {
    /// heyan's case id.
    pub case: String,
}

/// One entry of the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    /// Position in the chain.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// client, app, reviewer, system, operator.
    pub actor_kind: String,
    /// Who.
    pub actor_id: String,
    /// What, e.g. `photo.viewed`.
    pub action: String,
    /// The case.
    pub case_id: Option<String>,
    /// From where.
    pub ip: Option<String>,
    /// Details (no personal data).
    #[schema(value_type = Object)]
    pub details: Value,
    /// SHA-256 linking it to the entry before.
    pub hash: String,
}

/// The entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResponse {
    /// Oldest first.
    pub entries: Vec<AuditEntryView>,
}

/// Who did what to a case, oldest first (auditors only; reading it is audited too).
#[utoipa::path(get, path = "/review/v1/audit", tag = "review", params(AuditParams),
    responses(
        (status = 200, description = "The case's entries", body = AuditResponse),
        (status = 403, description = "`auditor_required`", body = ErrorBody),
    ))]
pub async fn get_audit(
    State(state): State<AppState>,
    user: ReviewerUser,
    AppQuery(params): AppQuery<AuditParams>,
) -> ApiResult<Json<AuditResponse>> {
    let id = CaseId::parse(params.case.trim())
        .map_err(|_| ApiError::invalid_input().with_field("case", "invalid"))?;
    let entries =
        review::audit_entries(&state, &user.signed_in.reviewer, &id, &user.actor()).await?;
    let entries = entries
        .into_iter()
        .map(|e| AuditEntryView {
            seq: e.seq,
            at: e.entry.at,
            actor_kind: e.entry.actor_type,
            actor_id: e.entry.actor_id,
            action: e.entry.action,
            case_id: e.entry.case_id,
            ip: e.entry.ip,
            details: serde_json::from_str(&e.entry.details).unwrap_or(Value::Null),
            hash: e.hash,
        })
        .collect();
    Ok(Json(AuditResponse { entries }))
}
