//! Cases: register (with eligibility), read by id or filing id, submit for review, cancel.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::FilingClient;
use super::idempotency;
use crate::domain::case::{
    IdNumber, IdType, Ineligibility, Principal, Region, Registration, SubjectType, Website,
};
use crate::domain::ids::CaseId;
use crate::domain::{DomainName, FilingId, MobileNumber, PersonName};
use crate::flow::cases::{self, CaseView};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, AppPath};
use crate::http::state::AppState;

/// Most websites one filing may list.
const MAX_WEBSITES: usize = 50;

/// A case registration from the filing system. Every field is checked and all problems
/// are reported together, with field paths.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
#[schema(example = json!({
    "filing_id": "BA-2026-000123",
    "region": "shanghai",
    "subject_type": "individual",
    "subject_name": "张三",
    "websites": [{
        "domain": "example.cn",
        "principal": {"name": "张三", "id_type": "resident_id_card", "id_number": "11010519491231002X", "mobile": "13812345678"}
    }]
}))]
pub struct RegisterCaseRequest {
    /// The filing system's id for this filing (1–64 of A-Z a-z 0-9 _ . : -).
    pub filing_id: String,
    /// The filing's region; `shanghai` (or 上海, 310000) is eligible.
    pub region: String,
    /// `individual` (个人) or `enterprise` (企业).
    pub subject_type: String,
    /// The subject's name: the person's or the company's.
    pub subject_name: String,
    /// The websites of the filing (1–50), each with its principal.
    pub websites: Vec<WebsiteInput>,
}

/// One website as registered.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct WebsiteInput {
    /// The domain, e.g. `example.cn`.
    pub domain: String,
    /// The website's principal (网站负责人).
    pub principal: PrincipalInput,
}

/// A website's principal.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PrincipalInput {
    /// Name as on the document.
    pub name: String,
    /// `resident_id_card`, `passport`, `hk_macao_permit`, `taiwan_permit`,
    /// `foreign_permanent_residence` or `other`.
    pub id_type: String,
    /// Document number; for resident ID cards checked per GB 11643.
    pub id_number: String,
    /// The mobile number filled in the filing system (the SMS goes here).
    pub mobile: String,
}

/// Collects field problems while parsing.
#[derive(Default)]
struct Problems(Vec<(String, &'static str)>);

impl Problems {
    fn check<T, E>(
        &mut self,
        path: impl Into<String>,
        result: Result<T, E>,
        code: impl Fn(&E) -> &'static str,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push((path.into(), code(&e)));
                None
            }
        }
    }

    fn push(&mut self, path: impl Into<String>, code: &'static str) {
        self.0.push((path.into(), code));
    }

    fn into_error(self) -> ApiError {
        self.0
            .into_iter()
            .fold(ApiError::invalid_input(), |err, (path, code)| {
                err.with_field(path, code)
            })
    }
}

impl RegisterCaseRequest {
    /// Parses every field into domain types, or reports every problem at once.
    fn parse(&self) -> Result<Registration, ApiError> {
        let mut p = Problems::default();
        let filing_id = p.check("filing_id", FilingId::parse(&self.filing_id), |e| e.code());
        let region = p.check("region", Region::parse(&self.region).ok_or(()), |_| {
            "invalid"
        });
        let subject_type = p.check(
            "subject_type",
            SubjectType::parse(&self.subject_type).ok_or(()),
            |_| "invalid",
        );
        let subject_name = self.subject_name.trim();
        if subject_name.is_empty()
            || subject_name.chars().count() > 128
            || subject_name.chars().any(char::is_control)
        {
            p.push(
                "subject_name",
                if subject_name.is_empty() {
                    "empty"
                } else {
                    "invalid"
                },
            );
        }
        if self.websites.is_empty() {
            p.push("websites", "empty");
        } else if self.websites.len() > MAX_WEBSITES {
            p.push("websites", "too_many");
        }
        let websites: Vec<Option<Website>> = self
            .websites
            .iter()
            .take(MAX_WEBSITES)
            .enumerate()
            .map(|(i, w)| parse_website(&mut p, i, w))
            .collect();
        if !p.0.is_empty() {
            return Err(p.into_error());
        }
        match (filing_id, region, subject_type) {
            (Some(filing_id), Some(region), Some(subject_type)) => Ok(Registration {
                filing_id,
                region,
                subject_type,
                subject_name: subject_name.to_owned(),
                websites: websites.into_iter().flatten().collect(),
            }),
            _ => Err(ApiError::invalid_input()),
        }
    }
}

fn parse_website(p: &mut Problems, i: usize, w: &WebsiteInput) -> Option<Website> {
    let at = |field: &str| format!("websites[{i}].{field}");
    let domain = p.check(at("domain"), DomainName::parse(&w.domain), |e| e.code());
    let pr = &w.principal;
    let name = p.check(at("principal.name"), PersonName::parse(&pr.name), |e| {
        e.code()
    });
    let id_type = p.check(
        at("principal.id_type"),
        IdType::parse(&pr.id_type).ok_or(()),
        |_| "unknown_id_type",
    );
    let id_number = id_type.and_then(|t| {
        p.check(
            at("principal.id_number"),
            IdNumber::parse(t, &pr.id_number),
            |e| e.code(),
        )
    });
    let mobile = p.check(
        at("principal.mobile"),
        MobileNumber::parse(&pr.mobile),
        |e| e.code(),
    );
    Some(Website {
        domain: domain?,
        principal: Principal {
            name: name?,
            id_type: id_type?,
            id_number: id_number?,
            mobile: mobile?,
        },
    })
}

/// Why a case is not eligible, for people and programs.
#[derive(Debug, Serialize, ToSchema)]
pub struct IneligibleReason {
    /// `region_not_shanghai`, `id_type_not_resident_card` or `principals_differ`.
    #[schema(example = "id_type_not_resident_card")]
    pub code: String,
    /// Explanation in Chinese.
    pub message_zh: String,
    /// Explanation in English.
    pub message_en: String,
}

/// When each step was done (null: not yet).
#[derive(Debug, Serialize, ToSchema)]
pub struct StepsResponse {
    /// The principal verified the phone by SMS.
    pub phone_verified_at: Option<DateTime<Utc>>,
    /// Consent to processing sensitive personal information was recorded.
    pub consent_at: Option<DateTime<Utc>>,
    /// Liveness check passed.
    pub liveness_at: Option<DateTime<Utc>>,
    /// Handheld ID photo accepted.
    pub handheld_at: Option<DateTime<Utc>>,
    /// ID card front accepted.
    pub front_at: Option<DateTime<Utc>>,
    /// ID card back accepted.
    pub back_at: Option<DateTime<Utc>>,
    /// Latest image verification code issued.
    pub code_issued_at: Option<DateTime<Utc>>,
    /// The code was redeemed.
    pub redeemed_at: Option<DateTime<Utc>>,
    /// Submitted for review.
    pub submitted_at: Option<DateTime<Utc>>,
    /// A reviewer decided.
    pub decided_at: Option<DateTime<Utc>>,
}

/// A principal, masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrincipalResponse {
    /// Masked name, e.g. 张*.
    #[schema(example = "张*")]
    pub name: String,
    /// Document type.
    pub id_type: String,
    /// Masked document number.
    #[schema(example = "110***********002X")]
    pub id_number: String,
    /// Masked mobile number.
    #[schema(example = "138****5678")]
    pub mobile: String,
}

/// A website, with its principal masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebsiteResponse {
    /// The domain.
    pub domain: String,
    /// The principal, masked.
    pub principal: PrincipalResponse,
}

/// A case as the filing system sees it; personal data masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseResponse {
    /// heyan's case id.
    #[schema(example = "case_4f1c0d7e9a2b4c6d8e0f1a2b3c4d5e6f")]
    pub case_id: String,
    /// The filing system's id.
    pub filing_id: String,
    /// Normalised region.
    pub region: String,
    /// individual | enterprise.
    pub subject_type: String,
    /// Masked subject name.
    pub subject_name: String,
    /// Whether the App check is possible.
    pub eligible: bool,
    /// Why not, when not.
    pub ineligible_reason: Option<IneligibleReason>,
    /// ineligible, awaiting_app, code_issued, redeemed, in_review, approved, rejected, cancelled.
    #[schema(example = "awaiting_app")]
    pub status: String,
    /// Step times.
    pub steps: StepsResponse,
    /// Review due time (one business day after submission).
    pub due_at: Option<DateTime<Utc>>,
    /// Cancellation time.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// How often the QR code was scanned.
    pub qr_scans: i64,
    /// The landing page the QR code opens (eligible cases only).
    pub download_page_url: Option<String>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Websites in registered order.
    pub websites: Vec<WebsiteResponse>,
}

impl CaseResponse {
    /// Maps a case view for the filing system.
    pub fn new(state: &AppState, view: CaseView) -> Self {
        let CaseView { case, websites } = view;
        let reason = case
            .ineligible_reason
            .as_deref()
            .and_then(Ineligibility::parse)
            .map(|r| IneligibleReason {
                code: r.code().into(),
                message_zh: r.message_zh().into(),
                message_en: r.message_en().into(),
            });
        let landing = case
            .download_active()
            .then(|| cases::download_page_url(&state.settings, &case.download_token));
        let p = case.progress;
        Self {
            download_page_url: landing,
            case_id: case.id.to_string(),
            filing_id: case.filing_id,
            region: case.region.as_str().to_owned(),
            subject_type: case.subject_type.as_str().to_owned(),
            subject_name: case.subject_name_masked,
            eligible: case.eligible,
            ineligible_reason: reason,
            status: case.status.as_str().into(),
            steps: StepsResponse {
                phone_verified_at: p.phone_verified_at,
                consent_at: p.consent_at,
                liveness_at: p.liveness_at,
                handheld_at: p.handheld_at,
                front_at: p.front_at,
                back_at: p.back_at,
                code_issued_at: p.code_issued_at,
                redeemed_at: p.redeemed_at,
                submitted_at: p.submitted_at,
                decided_at: case.decided_at,
            },
            due_at: case.due_at,
            cancelled_at: case.cancelled_at,
            qr_scans: case.scan_count,
            created_at: case.created_at,
            updated_at: case.updated_at,
            websites: websites
                .into_iter()
                .map(|w| WebsiteResponse {
                    domain: w.domain,
                    principal: PrincipalResponse {
                        name: w.principal_name_masked,
                        id_type: w.id_type,
                        id_number: w.id_number_masked,
                        mobile: w.mobile_masked,
                    },
                })
                .collect(),
        }
    }
}

/// Parses a case id from a path; a malformed id is a 404 like an unknown one.
pub fn case_id(raw: &str) -> ApiResult<CaseId> {
    CaseId::parse(raw).map_err(|_| ApiError::not_found())
}

fn to_json(state: &AppState, view: CaseView) -> serde_json::Value {
    serde_json::to_value(CaseResponse::new(state, view)).unwrap_or_default()
}

/// Register a case. Eligibility is decided at once. The same filing id again returns the
/// existing case with 200.
#[utoipa::path(post, path = "/filing/v1/cases", tag = "filing",
    request_body = RegisterCaseRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 hours")),
    responses(
        (status = 201, description = "Registered", body = CaseResponse),
        (status = 200, description = "This filing id was registered before; the existing case", body = CaseResponse),
        (status = 400, description = "`invalid_idempotency_key`", body = ErrorBody),
        (status = 401, description = "`missing_api_key`, `malformed_api_key`, `unknown_api_key` or `revoked_api_key` (every filing operation)", body = ErrorBody),
        (status = 409, description = "`idempotency_in_progress` (Retry-After)", body = ErrorBody),
        (status = 422, description = "`invalid_input` (all fields reported, with paths), or `idempotency_key_reused` for another request", body = ErrorBody,
            example = json!({"code": "invalid_input", "message_zh": "提交的信息有误，请检查标出的字段", "message_en": "Some fields are invalid; see `fields`", "fields": {"websites[1].principal.id_number": ["bad_check_digit"]}})),
        (status = 429, description = "`rate_limited`: request quota exceeded (every filing operation)", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn create_case(
    State(state): State<AppState>,
    client: FilingClient,
    headers: HeaderMap,
    AppJson(request): AppJson<RegisterCaseRequest>,
) -> ApiResult<Response> {
    let fingerprint = format!(
        "POST /filing/v1/cases {}",
        serde_json::to_string(&request).unwrap_or_default()
    );
    idempotency::once(&state, &client, &headers, &fingerprint, || async {
        let registration = request.parse()?;
        let outcome = cases::register(&state, &client.id, registration, &client.actor()).await?;
        let status = if outcome.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, to_json(&state, outcome.view)))
    })
    .await
}

/// Read a case: status, step-by-step progress, due time; personal data masked.
#[utoipa::path(get, path = "/filing/v1/cases/{id}", tag = "filing",
    params(("id" = String, Path, description = "heyan's case id")),
    responses(
        (status = 200, description = "The case", body = CaseResponse),
        (status = 404, description = "`not_found`: no such case for this client", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_case(
    State(state): State<AppState>,
    client: FilingClient,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<CaseResponse>> {
    let view = cases::get(&state, &client.id, &case_id(&id)?).await?;
    Ok(Json(CaseResponse::new(&state, view)))
}

/// Read a case by the filing system's own filing id.
#[utoipa::path(get, path = "/filing/v1/filings/{filing_id}", tag = "filing",
    params(("filing_id" = String, Path, description = "The filing system's id")),
    responses(
        (status = 200, description = "The case", body = CaseResponse),
        (status = 404, description = "`not_found`: no case for this filing id", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_case_by_filing_id(
    State(state): State<AppState>,
    client: FilingClient,
    AppPath(filing_id): AppPath<String>,
) -> ApiResult<Json<CaseResponse>> {
    let view = cases::get_by_filing_id(&state, &client.id, &filing_id).await?;
    Ok(Json(CaseResponse::new(&state, view)))
}

/// Submit the redeemed photos for review; the case is due one business day later.
#[utoipa::path(post, path = "/filing/v1/cases/{id}/submit", tag = "filing",
    params(("id" = String, Path, description = "heyan's case id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 hours")),
    responses(
        (status = 200, description = "In review, with `due_at`", body = CaseResponse),
        (status = 400, description = "`invalid_idempotency_key`", body = ErrorBody),
        (status = 409, description = "`code_not_redeemed`, `already_submitted`, `case_ineligible` or `idempotency_in_progress`", body = ErrorBody),
        (status = 410, description = "`case_cancelled`", body = ErrorBody),
        (status = 422, description = "`idempotency_key_reused` for another request", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn submit_case(
    State(state): State<AppState>,
    client: FilingClient,
    headers: HeaderMap,
    AppPath(id): AppPath<String>,
) -> ApiResult<Response> {
    let fingerprint = format!("POST /filing/v1/cases/{id}/submit");
    idempotency::once(&state, &client, &headers, &fingerprint, || async {
        let view = cases::submit(&state, &client.id, &case_id(&id)?, &client.actor()).await?;
        Ok((StatusCode::OK, to_json(&state, view)))
    })
    .await
}

/// Cancel a case (the filing was withdrawn, cancelled or deregistered). Its photos are
/// purged at once and the filing system hears `case.purged`.
#[utoipa::path(delete, path = "/filing/v1/cases/{id}", tag = "filing",
    params(("id" = String, Path, description = "heyan's case id")),
    responses(
        (status = 200, description = "Cancelled", body = CaseResponse),
        (status = 404, description = "`not_found`: no such case for this client", body = ErrorBody),
        (status = 410, description = "`case_cancelled`: cancelled before", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn cancel_case(
    State(state): State<AppState>,
    client: FilingClient,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<CaseResponse>> {
    let view = cases::cancel(&state, &client.id, &case_id(&id)?, &client.actor()).await?;
    Ok(Json(CaseResponse::new(&state, view)))
}
