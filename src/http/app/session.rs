//! Phone check: request an SMS code, exchange it for a session; the case's steps.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AppUser;
use crate::domain::MobileNumber;
use crate::error_code::ErrorCode;
use crate::flow::app_auth;
use crate::flow::app_steps::{self, AppCaseView, AppStep};
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
#[schema(example = json!({"mobile": "13812345678", "code": "123456"}))]
pub struct SessionRequest {
    /// The same mobile number.
    pub mobile: String,
    /// The 6-digit code.
    pub code: String,
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
    let sent = app_auth::send_sms_code(&state, &mobile, ip.as_deref()).await?;
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

/// Exchange the SMS code for a session bound to the case.
#[utoipa::path(post, path = "/app/v1/sessions", tag = "app", request_body = SessionRequest,
    responses(
        (status = 201, description = "Signed in", body = SessionResponse),
        (status = 410, description = "`sms_code_expired` or `sms_code_dead`: request a new one", body = ErrorBody),
        (status = 422, description = "`sms_code_invalid`: wrong code (says how many tries remain)", body = ErrorBody),
        (status = 429, description = "`id_daily_limit`: too many checks for this ID number today", body = ErrorBody),
    ))]
pub async fn create_session(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    AppJson(body): AppJson<SessionRequest>,
) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    let mobile = parse_mobile(&body.mobile)?;
    let started = app_auth::start_session(&state, &mobile, &body.code, ip.as_deref()).await?;
    let case = AppCaseResponse::new(started.case);
    Ok((
        StatusCode::CREATED,
        Json(SessionResponse {
            token: started.token,
            expires_at: started.expires_at,
            case,
        }),
    ))
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
