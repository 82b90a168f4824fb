//! One case at the review desk: claim it, see it (full registered data, audited), its
//! photos, and the decision.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::ReviewerUser;
use super::queue::LeaseInfo;
use crate::domain::case::PhotoKind;
use crate::domain::ids::CaseId;
use crate::flow::review::{self, CaseForReview, DecisionInput};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, AppPath};
use crate::http::jpeg::jpeg_response;
use crate::http::state::AppState;

fn case_id(raw: &str) -> ApiResult<CaseId> {
    CaseId::parse(raw).map_err(|_| ApiError::not_found())
}

/// A claim.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimResponse {
    /// The case.
    pub case_id: String,
    /// The lease ends then unless renewed (claim again).
    pub lease_until: DateTime<Utc>,
    /// Seconds until then, by the server's clock.
    pub lease_seconds_left: i64,
}

/// Take a case for 15 minutes (claiming again renews the lease).
#[utoipa::path(post, path = "/review/v1/cases/{id}/claim", tag = "review",
    params(("id" = String, Path, description = "heyan's case id")),
    responses(
        (status = 200, description = "Claimed", body = ClaimResponse),
        (status = 403, description = "`reviewer_required`: the account lacks the reviewer role", body = ErrorBody),
        (status = 404, description = "`not_found`: no such case in review", body = ErrorBody),
        (status = 409, description = "`case_leased` or `already_decided`", body = ErrorBody),
    ))]
pub async fn claim(
    State(state): State<AppState>,
    user: ReviewerUser,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<ClaimResponse>> {
    let id = case_id(&id)?;
    let until = review::claim(&state, &user.signed_in.reviewer, &id, &user.actor()).await?;
    Ok(Json(ClaimResponse {
        case_id: id.to_string(),
        lease_until: until,
        lease_seconds_left: (until - state.clock.now()).num_seconds(),
    }))
}

/// A principal as registered, unmasked for comparison with the card.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrincipalView {
    /// Name.
    pub name: String,
    /// Document type.
    pub id_type: String,
    /// Full number.
    pub id_number: String,
    /// Masked mobile number.
    pub mobile_masked: String,
}

/// A website of the case.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebsiteView {
    /// Domain.
    pub domain: String,
    /// Its principal.
    pub principal: PrincipalView,
}

/// The liveness outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct LivenessView {
    /// Whether a check passed.
    pub passed: bool,
    /// Per action: frames, movement.
    #[schema(value_type = Object)]
    pub actions: Value,
    /// When.
    pub at: Option<DateTime<Utc>>,
}

/// A photo to show.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoView {
    /// liveness, handheld, front, back.
    pub kind: &'static str,
    /// Where to fetch it (same session).
    pub url: String,
    /// Pixels.
    pub width: i32,
    /// Pixels.
    pub height: i32,
}

/// The latest decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    /// approved | rejected.
    pub decision: String,
    /// `[{code, step}]`.
    #[schema(value_type = Object)]
    pub reasons: Value,
    /// The note.
    pub note: Option<String>,
    /// Reviewer id.
    pub decided_by: String,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// A case at the review desk.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewCaseResponse {
    /// heyan's id.
    pub case_id: String,
    /// The filing system's id.
    pub filing_id: String,
    /// Status.
    pub status: String,
    /// individual | enterprise.
    pub subject_type: String,
    /// Subject name, unmasked.
    pub subject_name: String,
    /// Entered review.
    pub submitted_at: Option<DateTime<Utc>>,
    /// Due.
    pub due_at: Option<DateTime<Utc>>,
    /// Negative when overdue.
    pub seconds_left: Option<i64>,
    /// Past due.
    pub overdue: bool,
    /// Who holds it.
    pub lease: Option<LeaseInfo>,
    /// Websites and principals.
    pub websites: Vec<WebsiteView>,
    /// Liveness.
    pub liveness: LivenessView,
    /// Whether the App check happened in Shanghai.
    pub location_in_shanghai: Option<bool>,
    /// The watermarked photos, in App order.
    pub photos: Vec<PhotoView>,
    /// The latest decision, if any.
    pub decision: Option<DecisionView>,
}

/// The case with everything registered (full ID numbers: audited). For the reviewer who
/// holds its lease or decided it.
#[utoipa::path(get, path = "/review/v1/cases/{id}", tag = "review",
    params(("id" = String, Path, description = "heyan's case id")),
    responses(
        (status = 200, description = "The case", body = ReviewCaseResponse),
        (status = 403, description = "`reviewer_required`: the account lacks the reviewer role", body = ErrorBody),
        (status = 404, description = "`not_found`: no such case in review", body = ErrorBody),
        (status = 409, description = "`not_claimed` or `case_leased`", body = ErrorBody),
    ))]
pub async fn get_case(
    State(state): State<AppState>,
    user: ReviewerUser,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<ReviewCaseResponse>> {
    let id = case_id(&id)?;
    let view = review::view(&state, &user.signed_in.reviewer, &id, &user.actor()).await?;
    Ok(Json(case_response(view, &user)))
}

fn case_response(view: CaseForReview, user: &ReviewerUser) -> ReviewCaseResponse {
    let case = &view.case;
    let seconds_left = case.due_at.map(|due| (due - view.now).num_seconds());
    let liveness_actions = case
        .liveness_result
        .as_deref()
        .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
        .map(|v| v["actions"].clone())
        .unwrap_or(Value::Array(Vec::new()));
    let mut photos: Vec<_> = view.photos.iter().collect();
    photos.sort_by_key(|p| PhotoKind::ALL.iter().position(|k| *k == p.kind));
    let decision = view.decisions.last().map(|d| DecisionView {
        decision: d.decision.clone(),
        reasons: serde_json::from_str(&d.reasons).unwrap_or(Value::Null),
        note: d.note.clone(),
        decided_by: d.reviewer_id.to_string(),
        decided_at: d.decided_at,
    });
    ReviewCaseResponse {
        case_id: case.id.to_string(),
        filing_id: case.filing_id.clone(),
        status: case.status.as_str().into(),
        subject_type: case.subject_type.as_str().to_owned(),
        subject_name: view.subject_name.clone(),
        submitted_at: case.progress.submitted_at,
        due_at: case.due_at,
        seconds_left,
        overdue: seconds_left.is_some_and(|s| s < 0),
        lease: view
            .lease
            .as_ref()
            .map(|l| LeaseInfo::new(l, user, view.now)),
        websites: view
            .websites
            .iter()
            .map(|(w, p)| WebsiteView {
                domain: w.domain.clone(),
                principal: PrincipalView {
                    name: p.name.clone(),
                    id_type: w.id_type.clone(),
                    id_number: p.id_number.clone(),
                    mobile_masked: w.mobile_masked.clone(),
                },
            })
            .collect(),
        liveness: LivenessView {
            passed: case.progress.liveness_at.is_some(),
            actions: liveness_actions,
            at: case.progress.liveness_at,
        },
        location_in_shanghai: case.location_in_shanghai,
        photos: photos
            .into_iter()
            .map(|p| PhotoView {
                kind: p.kind.as_str(),
                url: format!("/review/v1/cases/{}/photos/{}", case.id, p.kind.as_str()),
                width: p.width,
                height: p.height,
            })
            .collect(),
        decision,
    }
}

/// A watermarked photo, for the lease holder or the decider (audited, never cached).
#[utoipa::path(get, path = "/review/v1/cases/{id}/photos/{kind}", tag = "review",
    params(("id" = String, Path, description = "heyan's case id"),
           ("kind" = String, Path, description = "liveness, handheld, front or back")),
    responses(
        (status = 200, description = "The JPEG; Cache-Control: no-store", content_type = "image/jpeg", body = Vec<u8>),
        (status = 403, description = "`reviewer_required`: the account lacks the reviewer role", body = ErrorBody),
        (status = 404, description = "`not_found`: no such photo", body = ErrorBody),
        (status = 409, description = "`not_claimed` or `case_leased`", body = ErrorBody),
    ))]
pub async fn get_photo(
    State(state): State<AppState>,
    user: ReviewerUser,
    headers: HeaderMap,
    AppPath((id, kind)): AppPath<(String, String)>,
) -> ApiResult<Response> {
    let id = case_id(&id)?;
    let kind = PhotoKind::parse(&kind).ok_or_else(ApiError::not_found)?;
    let photo = review::photo(&state, &user.signed_in.reviewer, &id, kind, &user.actor()).await?;
    jpeg_response(photo, &headers)
}

/// One reason of a rejection.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ReasonInput {
    /// face_not_visible, id_unreadable, id_mismatch, liveness_failed, handheld_invalid, other.
    pub code: String,
    /// The step it concerns: liveness, handheld, front or back.
    pub step: String,
}

/// A decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
#[schema(example = json!({"decision": "reject", "reasons": [{"code": "id_unreadable", "step": "front"}], "note": "反光"}))]
pub struct DecisionRequest {
    /// approve | reject.
    pub decision: String,
    /// For a rejection, at least one.
    pub reasons: Vec<ReasonInput>,
    /// Optional; required with `other`.
    pub note: Option<String>,
}

/// The decision taken.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionResponse {
    /// The case.
    pub case_id: String,
    /// approved | rejected.
    pub status: &'static str,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// Approve, or reject with reasons that reopen the named App steps. Fires `case.decided`.
#[utoipa::path(post, path = "/review/v1/cases/{id}/decision", tag = "review",
    params(("id" = String, Path, description = "heyan's case id")),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "Decided", body = DecisionResponse),
        (status = 403, description = "`reviewer_required`: the account lacks the reviewer role", body = ErrorBody),
        (status = 409, description = "`not_claimed`, `case_leased` or `already_decided`", body = ErrorBody),
        (status = 422, description = "`invalid_input`: unknown reason, step not allowed, note required", body = ErrorBody),
    ))]
pub async fn decide(
    State(state): State<AppState>,
    user: ReviewerUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<DecisionRequest>,
) -> ApiResult<Json<DecisionResponse>> {
    let id = case_id(&id)?;
    let approve = match body.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(ApiError::invalid_input().with_field("decision", "approve_or_reject"));
        }
    };
    let input = DecisionInput {
        approve,
        reasons: body.reasons.into_iter().map(|r| (r.code, r.step)).collect(),
        note: body.note,
    };
    let decided_at =
        review::decide(&state, &user.signed_in.reviewer, &id, input, &user.actor()).await?;
    Ok(Json(DecisionResponse {
        case_id: id.to_string(),
        status: if approve { "approved" } else { "rejected" },
        decided_at,
    }))
}
