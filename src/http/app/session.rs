//! Phone check: request an SMS code, exchange it for a session; the case's steps.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AppUser;
use crate::domain::MobileNumber;
use crate::error_code::ErrorCode;
use crate::flow::app_auth::{self, SessionStarted, SignIn};
use crate::flow::app_steps::{self, AppCaseView, AppStep};
use crate::flow::case_choice::CaseChoice;
use crate::flow::FlowError;
use crate::http::caller::ClientAddr;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::AppJson;
use crate::http::state::AppState;

/// The mobile number filled in the filing system.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
#[schema(example = json!({"mobile": "138 1234 5678"}))]
pub struct SmsRequest {
    /// 11 digits; +86, spaces and dashes are accepted.
    pub mobile: String,
    /// The token of the case's QR code, when the App was opened from it: a code is sent
    /// only when the number is that case's principal's (the answer is the same either way).
    pub download_token: Option<String>,
}

/// The same answer for every number.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsResponse {
    /// What to tell the user, in Chinese.
    pub message_zh: &'static str,
    /// The same in English.
    pub message_en: &'static str,
    /// Seconds before a new code may be requested.
    pub resend_after_secs: u32,
    /// How long the code is valid.
    pub expires_in_secs: u32,
}

/// The code from the SMS.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
#[schema(example = json!({"mobile": "13812345678", "code": "123456", "download_token": "9f86d081884c7d659a2feaa0c55ad015"}))]
pub struct SessionRequest {
    /// The same mobile number.
    pub mobile: String,
    /// The 6-digit code.
    pub code: String,
    /// The token of the case's QR code (`/d/{token}`, or `t` in the App's deep link),
    /// when the App was opened from it: the session then binds to that case only.
    pub download_token: Option<String>,
}

/// The phone has open cases at several providers (or several filings): the principal
/// chooses one with `POST /app/v1/sessions/choice`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseChoiceResponse {
    /// Always `choose_case`.
    pub next_step: &'static str,
    /// What to tell the user, in Chinese.
    pub message_zh: &'static str,
    /// The same in English.
    pub message_en: &'static str,
    /// Send back with the chosen case; works once.
    pub choice_token: String,
    /// After this, verify the phone again.
    pub expires_at: DateTime<Utc>,
    /// The cases, newest first.
    pub cases: Vec<CaseOptionResponse>,
}

/// One case the principal may choose.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseOptionResponse {
    /// Send back as `case_id` to choose it.
    pub case_id: String,
    /// The hosting provider that registered the filing.
    pub provider: String,
    /// The provider's filing id.
    pub filing_id: String,
    /// The websites it covers.
    pub domains: Vec<String>,
    /// The principal's name, masked (张*).
    pub principal_name: String,
    /// The principal's ID number, masked.
    pub id_number: String,
    /// When the provider registered it.
    pub registered_at: DateTime<Utc>,
}

impl CaseChoiceResponse {
    fn new(choice: CaseChoice) -> Self {
        let cases = choice
            .options
            .into_iter()
            .map(|o| CaseOptionResponse {
                case_id: o.case_id.to_string(),
                provider: o.provider,
                filing_id: o.filing_id,
                domains: o.domains,
                principal_name: o.principal_name_masked,
                id_number: o.id_number_masked,
                registered_at: o.registered_at,
            })
            .collect();
        Self {
            next_step: "choose_case",
            message_zh: "该手机号登记在多个备案中，请选择本次要核验的备案；如有不认识的服务商，请勿选择",
            message_en: "This number is in several filings; choose the one to verify now, and never one from a provider you do not know",
            choice_token: choice.token,
            expires_at: choice.expires_at,
            cases,
        }
    }
}

/// The case chosen from a [`CaseChoiceResponse`].
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
#[schema(example = json!({"choice_token": "q5Yx…", "case_id": "case_0f3c…"}))]
pub struct ChoiceRequest {
    /// `choice_token` from the sign-in answer.
    pub choice_token: String,
    /// One of the offered `case_id`s.
    pub case_id: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Send as `Authorization: Bearer <token>`; idle 30 minutes, at most 2 hours.
    pub token: String,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// The case and its steps.
    pub case: AppCaseResponse,
}

/// One step of the App check.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepResponse {
    /// phone, consent, liveness, handheld, front, back, complete.
    pub step: &'static str,
    /// Whether it is done.
    pub done: bool,
    /// What the App shows, in Chinese.
    pub prompt_zh: &'static str,
    /// The same in English.
    pub prompt_en: &'static str,
}

/// The case as the App sees it: the steps and what comes next.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppCaseResponse {
    /// The case's status.
    pub status: String,
    /// Steps in order.
    pub steps: Vec<StepResponse>,
    /// The first step not done (null when all are).
    pub next_step: Option<&'static str>,
    /// The websites this one check covers.
    pub websites: Vec<String>,
}

impl AppCaseResponse {
    /// The App's view of a case: its steps and websites.
    pub fn new(view: AppCaseView) -> Self {
        let case = &view.case;
        let steps = AppStep::ALL
            .into_iter()
            .map(|step| StepResponse {
                step: step.as_str(),
                done: step.is_done(case),
                prompt_zh: step.prompt_zh(),
                prompt_en: step.prompt_en(),
            })
            .collect();
        Self {
            status: case.status.as_str().into(),
            steps,
            next_step: app_steps::next_step(case).map(AppStep::as_str),
            websites: view.websites,
        }
    }
}

fn parse_mobile(raw: &str) -> ApiResult<MobileNumber> {
    MobileNumber::parse(raw)
        .map_err(|e| ApiError::new(ErrorCode::InvalidMobile).with_field("mobile", e.code()))
}

/// Ask for an SMS code. The answer is the same whether or not the number is registered.
#[utoipa::path(post, path = "/app/v1/sms", tag = "app", request_body = SmsRequest,
    responses(
        (status = 202, description = "If the number belongs to an open case, a code was sent", body = SmsResponse),
        (status = 422, description = "`invalid_mobile`: not a mainland mobile number", body = ErrorBody),
        (status = 429, description = "`sms_resend_too_soon`, `sms_daily_limit` or `sms_ip_limit`: too soon, or a daily/hourly limit (Retry-After)", body = ErrorBody),
    ))]
pub async fn request_sms(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    AppJson(body): AppJson<SmsRequest>,
) -> ApiResult<(StatusCode, Json<SmsResponse>)> {
    let mobile = parse_mobile(&body.mobile)?;
    let download_token = body.download_token.as_deref().filter(|t| !t.is_empty());
    let sent = app_auth::send_sms_code(&state, &mobile, download_token, ip.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SmsResponse {
            message_zh: "如该手机号为备案登记的负责人手机号，验证码已发送，请注意查收",
            message_en:
                "If this number is the principal's number in the filing, a code is on its way",
            resend_after_secs: sent.resend_after_secs,
            expires_in_secs: sent.expires_in_secs,
        }),
    ))
}

/// Exchange the SMS code for a session bound to the case, or for a choice of case when
/// the number is in several open filings.
#[utoipa::path(post, path = "/app/v1/sessions", tag = "app", request_body = SessionRequest,
    responses(
        (status = 201, description = "Signed in", body = SessionResponse),
        (status = 200, description = "The number is in several open filings: choose one (`next_step` = `choose_case`)", body = CaseChoiceResponse),
        (status = 401, description = "`case_closed`: the case closed after the code was sent", body = ErrorBody),
        (status = 410, description = "`sms_code_expired` or `sms_code_dead`: request a new one; `qr_code_invalid`: the QR code's case is closed or unknown", body = ErrorBody),
        (status = 422, description = "`sms_code_invalid`: wrong code (says how many tries remain); `qr_mobile_mismatch`: the QR code's filing does not list this number (the code stays valid)", body = ErrorBody),
        (status = 429, description = "`id_daily_limit`: too many checks for this ID number today", body = ErrorBody),
    ))]
pub async fn create_session(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    AppJson(body): AppJson<SessionRequest>,
) -> ApiResult<Response> {
    let mobile = parse_mobile(&body.mobile)?;
    let download_token = body.download_token.as_deref().filter(|t| !t.is_empty());
    let signed_in =
        app_auth::start_session(&state, &mobile, &body.code, download_token, ip.as_deref()).await?;
    Ok(match signed_in {
        SignIn::Started(started) => session_created(*started),
        SignIn::Choose(choice) => {
            (StatusCode::OK, Json(CaseChoiceResponse::new(choice))).into_response()
        }
    })
}

/// Choose the case to verify from the cases offered at sign-in.
#[utoipa::path(post, path = "/app/v1/sessions/choice", tag = "app", request_body = ChoiceRequest,
    responses(
        (status = 201, description = "Signed in to the chosen case", body = SessionResponse),
        (status = 401, description = "`case_closed`: the chosen case closed meanwhile", body = ErrorBody),
        (status = 410, description = "`case_choice_expired`: the choice was used or expired; verify the phone again", body = ErrorBody),
        (status = 422, description = "`case_not_offered`: not one of the offered cases (the choice is used up)", body = ErrorBody),
    ))]
pub async fn choose_case(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    AppJson(body): AppJson<ChoiceRequest>,
) -> ApiResult<Response> {
    if body.choice_token.is_empty() || body.choice_token.len() > 128 {
        return Err(FlowError::from(ErrorCode::CaseChoiceExpired).into());
    }
    let started =
        app_auth::choose_case(&state, &body.choice_token, &body.case_id, ip.as_deref()).await?;
    Ok(session_created(started))
}

fn session_created(started: SessionStarted) -> Response {
    let body = SessionResponse {
        token: started.token,
        expires_at: started.expires_at,
        case: AppCaseResponse::new(started.case),
    };
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The case's steps and what comes next.
#[utoipa::path(get, path = "/app/v1/case", tag = "app",
    responses(
        (status = 200, description = "Steps", body = AppCaseResponse),
        (status = 401, description = "`session_required`, `session_invalid`, `session_expired` or `case_closed`: no session, or it expired", body = ErrorBody),
    ),
    security(("app_session" = [])))]
pub async fn get_case(
    State(state): State<AppState>,
    user: AppUser,
) -> ApiResult<Json<AppCaseResponse>> {
    let view = app_steps::view_of(&state, user.case).await?;
    Ok(Json(AppCaseResponse::new(view)))
}
