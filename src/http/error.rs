//! `ApiError`: the one error type every handler returns, and the one JSON shape every
//! audience sees: `{"code", "message_zh", "message_en", "fields"?, "request_id"?}`.
//!
//! `code` is stable snake_case that clients may branch on; the messages are for people.
//! A 5xx never carries internal text: the cause travels in the response extensions to the
//! logging middleware (`log_internal_errors`), which logs it once with the request id.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`.
    #[schema(example = "not_found")]
    pub code: Cow<'static, str>,
    /// What happened and what to do, in Chinese.
    pub message_zh: Cow<'static, str>,
    /// The same in English.
    pub message_en: Cow<'static, str>,
    /// Per-field problems where input was invalid: field path → problems.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<String>>,
    /// The request id, on server errors, to quote to operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    // Boxed: handlers return `Result<_, ApiError>` everywhere, and the Ok path stays small.
    body: Box<ErrorBody>,
    retry_after_secs: Option<u64>,
    source: Option<anyhow::Error>,
}

/// The hidden cause of a 5xx, handed to the logging middleware.
#[derive(Clone)]
pub struct InternalErrorCause(pub Arc<anyhow::Error>);

impl ApiError {
    /// An error with a status, a stable code and messages in both languages.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message_zh: impl Into<Cow<'static, str>>,
        message_en: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                code: Cow::Borrowed(code),
                message_zh: message_zh.into(),
                message_en: message_en.into(),
                fields: BTreeMap::new(),
                request_id: None,
            }),
            retry_after_secs: None,
            source: None,
        }
    }

    /// A server-side failure: the client sees only `internal_error`.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut err = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "服务器内部错误，请稍后重试",
            "Internal server error; please try again later",
        );
        err.source = Some(cause.into());
        err
    }

    /// No such resource (or one the caller may not see: the answer is the same).
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "请求的资源不存在",
            "The requested resource does not exist",
        )
    }

    /// Input that failed validation; add details with `with_field`.
    pub fn invalid_input() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "提交的信息有误，请检查标出的字段",
            "Some fields are invalid; see `fields`",
        )
    }

    /// Adds a problem for one field path (e.g. `websites[1].principal.id_number`).
    pub fn with_field(mut self, path: impl Into<String>, problem: impl Into<String>) -> Self {
        self.body
            .fields
            .entry(path.into())
            .or_default()
            .push(problem.into());
        self
    }

    /// Tells the client when to try again (sets `Retry-After`).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine code.
    pub fn code(&self) -> &str {
        &self.body.code
    }

    /// The JSON body as sent (for idempotent replays).
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.body).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(&*self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = self.source {
            response
                .extensions_mut()
                .insert(InternalErrorCause(Arc::new(cause)));
        }
        response
    }
}

/// Logs the cause of every 5xx once, with the request id, and puts the request id in the
/// body so a user can quote it.
pub async fn log_internal_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    if !response.status().is_server_error() {
        return response;
    }
    let status = response.status();
    match response.extensions().get::<InternalErrorCause>() {
        Some(cause) => tracing::error!(
            request.id = request_id.as_deref().unwrap_or("-"),
            error = format!("{:#}", cause.0),
            "request failed"
        ),
        None => return response,
    }
    let mut body = ApiError::internal(anyhow::anyhow!("logged")).body;
    body.request_id = request_id;
    let mut fresh = (status, axum::Json(*body)).into_response();
    fresh.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    fresh
}

/// Turns a panic inside a handler into a JSON 500 instead of a dropped connection.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "服务器内部错误，请稍后重试",
        "Internal server error; please try again later",
    )
    .into_response()
}

/// The answer for paths no route matches.
pub async fn route_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "没有这个接口，请检查地址",
        "No such endpoint; check the path",
    )
}

/// The answer for a known path called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "此接口不支持该请求方法",
        "This endpoint does not accept that method",
    )
}

/// The answer when a request runs past the configured timeout.
pub fn timeout_error() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "request_timeout",
        "处理超时，请稍后重试",
        "The request took too long; please try again",
    )
    .retry_after(5)
}

impl From<crate::flow::FlowError> for ApiError {
    fn from(err: crate::flow::FlowError) -> Self {
        use crate::domain::case::TransitionError as T;
        use crate::flow::FlowError as F;
        match err {
            F::Invalid {
                field,
                code,
                message,
            } => invalid(code, &message).with_field(field, code),
            F::Conflict(name) => conflict(name),
            F::NotFound => ApiError::not_found(),
            F::Transition(t) => match t {
                T::Cancelled => ApiError::new(
                    StatusCode::GONE,
                    "case_cancelled",
                    "该核验已被取消",
                    "This case was cancelled",
                ),
                T::Ineligible => ApiError::new(
                    StatusCode::CONFLICT,
                    "case_ineligible",
                    "该备案不符合 App 核验条件，请使用普通拍照方式",
                    "This case is not eligible for the App check; use the ordinary photo method",
                ),
                T::NoCodeYet => ApiError::new(
                    StatusCode::CONFLICT,
                    "code_not_issued",
                    "负责人尚未在 App 中完成核验，暂无图片验证码",
                    "The principal has not finished the App check; no verification code yet",
                ),
                T::NotRedeemed => ApiError::new(
                    StatusCode::CONFLICT,
                    "code_not_redeemed",
                    "请先兑换图片验证码",
                    "Redeem the image verification code first",
                ),
                T::AlreadySubmitted => ApiError::new(
                    StatusCode::CONFLICT,
                    "already_submitted",
                    "该核验已提交审核",
                    "This case was already submitted for review",
                ),
                T::AppStepsClosed => conflict("app_steps_closed"),
                T::NotInReview => conflict("already_decided"),
                T::Purged => ApiError::new(
                    StatusCode::GONE,
                    "case_purged",
                    "该核验的照片已按规定删除，核验已结束；如需继续请联系备案服务商重新发起",
                    "This case's photos were deleted on schedule and the case is over; ask your hosting provider to start a new check",
                ),
                T::StepNotReopened => conflict("step_not_reopened"),
            },
            F::Locked { retry_after_secs } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "错误次数过多，请稍后再试",
                "Too many wrong attempts; try again later",
            )
            .retry_after(retry_after_secs),
            F::RateLimited {
                code,
                retry_after_secs,
            } => limited(code).retry_after(retry_after_secs),
            F::Unavailable(code) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "短信服务暂时不可用，请稍后再试（本次不计入发送次数）",
                "The SMS service is unavailable; try again later (this attempt does not count)",
            )
            .retry_after(30),
            F::Unauthenticated(code) => unauthenticated(code),
            F::AccountLocked { retry_after_secs } => ApiError::new(
                StatusCode::LOCKED,
                "account_locked",
                format!(
                    "登录失败次数过多，账号已锁定，请 {} 分钟后再试",
                    retry_after_secs.div_ceil(60)
                ),
                format!(
                    "Too many failed logins; the account is locked for {} more minutes",
                    retry_after_secs.div_ceil(60)
                ),
            )
            .retry_after(retry_after_secs),
            F::Forbidden(code) => forbidden(code),
            F::OutOfOrder { next } => ApiError::new(
                StatusCode::CONFLICT,
                "step_out_of_order",
                format!("请先完成上一步：{}", next.prompt_zh()),
                format!("Do the earlier step first: {}", next.prompt_en()),
            )
            .with_field("next_step", next.as_str()),
            F::StepsMissing(steps) => steps.iter().fold(
                ApiError::new(
                    StatusCode::CONFLICT,
                    "steps_missing",
                    format!(
                        "还有步骤未完成：{}",
                        steps
                            .iter()
                            .map(|s| s.prompt_zh())
                            .collect::<Vec<_>>()
                            .join("、")
                    ),
                    format!(
                        "Some steps are not done: {}",
                        steps
                            .iter()
                            .map(|s| s.prompt_en())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                |err, step| err.with_field("missing_steps", step.as_str()),
            ),
            F::Retake {
                code,
                message_zh,
                message_en,
                fields,
            } => fields.into_iter().fold(
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    message_zh,
                    message_en,
                ),
                |err, (path, problem)| err.with_field(path, problem),
            ),
            F::Exhausted(code) => exhausted(code),
            F::Internal(e) => ApiError::internal(e),
        }
    }
}

fn limited(code: &'static str) -> ApiError {
    let (zh, en) = match code {
        "sms_resend_too_soon" => (
            "验证码已发送，请稍后再重新获取",
            "A code was just sent; wait before asking again",
        ),
        "sms_daily_limit" => (
            "该手机号今日获取验证码次数已达上限，请明天再试",
            "This number has reached today's limit of codes; try tomorrow",
        ),
        "sms_ip_limit" => (
            "请求过于频繁，请稍后再试",
            "Too many requests from this network; try later",
        ),
        "photo_busy" => (
            "当前处理的照片较多，请几秒后重试",
            "Many photos are being processed; try again in a few seconds",
        ),
        "login_ip_limit" => (
            "该网络登录尝试过多，请稍后再试",
            "Too many login attempts from this network; try again later",
        ),
        "server_busy" => (
            "服务器繁忙，请稍后重试（本次不计入尝试次数）",
            "The server is busy; try again shortly (this attempt did not count)",
        ),
        "id_daily_limit" => (
            "该证件今日核验次数已达上限，请明天再试",
            "This ID number has reached today's limit of checks; try tomorrow",
        ),
        _ => ("请求过于频繁，请稍后再试", "Too many requests; try later"),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, zh, en)
}

fn unauthenticated(code: &'static str) -> ApiError {
    let (zh, en) = match code {
        "invalid_credentials" => ("用户名或密码错误", "Wrong username or password"),
        "login_required" => ("请先登录", "Please log in"),
        _ => (
            "登录已失效，请重新获取短信验证码",
            "Your session has ended; verify your phone again",
        ),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, zh, en)
}

fn exhausted(code: &'static str) -> ApiError {
    let (zh, en) = match code {
        "liveness_attempts_exhausted" => (
            "本人核验次数已用完，请联系备案服务商重新发起核验",
            "No liveness attempts are left for this case; ask your hosting provider to start a new check",
        ),
        _ => (
            "该照片的拍摄次数已用完，请联系备案服务商重新发起核验",
            "No uploads of this photo are left for this case; ask your hosting provider to start a new check",
        ),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, zh, en)
}

fn forbidden(code: &'static str) -> ApiError {
    let (zh, en) = match code {
        "consent_required" => (
            "请先阅读并同意个人信息处理说明",
            "Read and accept the personal information consent first",
        ),
        "account_disabled" => ("该账号已停用", "This account is disabled"),
        "auditor_required" => (
            "只有审计员可以查看审计记录",
            "Only auditors may read the audit log",
        ),
        "reviewer_required" => (
            "只有审核员可以查看和审核案件",
            "Only reviewers may see and decide cases",
        ),
        "csrf_failed" => (
            "页面已过期，请刷新后重试",
            "The page is out of date; reload and try again",
        ),
        _ => ("当前不能进行此操作", "This is not allowed now"),
    };
    ApiError::new(StatusCode::FORBIDDEN, code, zh, en)
}

fn invalid(code: &'static str, detail: &str) -> ApiError {
    match code {
        "sms_code_invalid" => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sms_code_invalid",
            format!(
                "短信验证码不正确，请重新输入（{}）",
                detail.replace(" attempts left", " 次机会")
            ),
            format!("The SMS code is not correct ({detail})"),
        ),
        "code_invalid" => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "code_invalid",
            format!(
                "图片验证码不正确，请核对后重新输入（{}）",
                detail.replace(" attempts left", " 次机会")
            ),
            format!("The image verification code is not correct ({detail})"),
        ),
        _ => ApiError::invalid_input(),
    }
}

fn conflict(name: &'static str) -> ApiError {
    let (status, zh, en) = match name {
        "code_expired" => (
            StatusCode::GONE,
            "图片验证码已过期，请让负责人在 App 中重新获取",
            "The verification code expired; the principal can get a new one in the App",
        ),
        "code_already_used" => (
            StatusCode::CONFLICT,
            "该图片验证码已使用",
            "This verification code was already used",
        ),
        "sms_code_expired" => (
            StatusCode::GONE,
            "短信验证码已过期，请重新获取",
            "The SMS code expired; ask for a new one",
        ),
        "sms_code_dead" => (
            StatusCode::GONE,
            "短信验证码已失效，请重新获取",
            "This SMS code no longer works; ask for a new one",
        ),
        "consent_outdated" => (
            StatusCode::CONFLICT,
            "同意书已更新，请重新阅读后同意",
            "The consent text has changed; read and accept the current one",
        ),
        "case_not_open" => (
            StatusCode::CONFLICT,
            "该核验当前不能生成验证码",
            "This case cannot take a verification code now",
        ),
        "app_steps_closed" => (
            StatusCode::CONFLICT,
            "核验已完成，无需再拍摄；如需重新核验请联系备案服务商",
            "The check is finished; nothing more to capture. Ask your hosting provider to start again if needed",
        ),
        "step_not_reopened" => (
            StatusCode::CONFLICT,
            "审核意见没有要求重拍这一步，请只重拍被退回的步骤",
            "The review did not reopen this step; retake only the steps it sent back",
        ),
        "challenge_used" => (
            StatusCode::CONFLICT,
            "本次动作检测已提交过，请重新开始本人核验",
            "This challenge was already used; start the liveness check again",
        ),
        "challenge_expired" => (
            StatusCode::GONE,
            "动作检测已超时，请重新开始本人核验",
            "The challenge expired; start the liveness check again",
        ),
        "challenge_not_found" => (
            StatusCode::NOT_FOUND,
            "找不到这次动作检测，请重新开始本人核验",
            "No such challenge; start the liveness check again",
        ),
        "case_leased" => (
            StatusCode::CONFLICT,
            "该案件正由其他审核员处理",
            "Another reviewer is working on this case",
        ),
        "not_claimed" => (
            StatusCode::CONFLICT,
            "请先认领该案件（认领 15 分钟内有效）",
            "Claim the case first (a claim lasts 15 minutes)",
        ),
        "already_decided" => (
            StatusCode::CONFLICT,
            "该案件已审核完毕或不在审核队列中",
            "This case was already decided or is not in review",
        ),
        "client_name_taken" | "reviewer_username_taken" => {
            (StatusCode::CONFLICT, "名称已被使用", "The name is taken")
        }
        _ => (
            StatusCode::CONFLICT,
            "操作与当前状态冲突",
            "The request conflicts with the current state",
        ),
    };
    ApiError::new(status, name, zh, en)
}
