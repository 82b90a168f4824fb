//! `ErrorCode`: the one catalog of every error code a client can receive, with its HTTP
//! status and its zh-CN and English message.
//!
//! Lower layers (`store`, `flow`, `imaging`, `domain`) carry the typed code and any figures
//! as [`ErrorFacts`], never prose; `http::error` renders code + facts into the response. A
//! message that needs a figure names it as a `{placeholder}` in the table below; the
//! placeholders and the facts they read are listed on [`ErrorFacts`].
//!
//! The snake_case strings are a contract with clients: never rename one. Field-level
//! problems (`"fields": {"mobile": ["too_short"]}`) are a separate, open vocabulary owned by
//! the parsers that produce them, except the liveness problems ([`LivenessProblem`]),
//! whose hints also reach the principal inside `liveness_failed` and so live here too.
//!
//! To add a code: add a row to the table; the tests check that it is unique snake_case,
//! has both messages and uses only known placeholders, and the OpenAPI test checks every
//! operation that names it lists it under its status.

use std::fmt;

use axum::http::StatusCode;

use crate::domain::liveness::LivenessAction;
use crate::flow::app_steps::AppStep;
use crate::imaging::liveness::Reason;
use crate::imaging::pipeline::SeenFormat;

/// One row of the catalog.
struct Entry {
    code: &'static str,
    status: StatusCode,
    zh: &'static str,
    en: &'static str,
}

macro_rules! catalog {
    ($( $variant:ident = $code:literal, $status:ident, $zh:literal, $en:literal; )+) => {
        /// A stable error code; see the module doc. Each variant's doc is its English message.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( #[doc = $en] $variant, )+
        }

        impl ErrorCode {
            /// Every code, in catalog order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            fn entry(self) -> Entry {
                match self {
                    $( ErrorCode::$variant => Entry {
                        code: $code,
                        status: StatusCode::$status,
                        zh: $zh,
                        en: $en,
                    }, )+
                }
            }
        }
    };
}

catalog! {
    // Any audience, any route.
    InternalError = "internal_error", INTERNAL_SERVER_ERROR,
        "服务器内部错误，请稍后重试", "Internal server error; please try again later";
    NotFound = "not_found", NOT_FOUND,
        "请求的资源不存在", "The requested resource does not exist";
    RouteNotFound = "route_not_found", NOT_FOUND,
        "没有这个接口，请检查地址", "No such endpoint; check the path";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED,
        "此接口不支持该请求方法", "This endpoint does not accept that method";
    RequestTimeout = "request_timeout", SERVICE_UNAVAILABLE,
        "处理超时，请稍后重试", "The request took too long; please try again";
    InvalidInput = "invalid_input", UNPROCESSABLE_ENTITY,
        "提交的信息有误，请检查标出的字段", "Some fields are invalid; see `fields`";
    InvalidQuery = "invalid_query", BAD_REQUEST,
        "查询参数有误", "The query string is invalid";
    UnreadableBody = "unreadable_body", BAD_REQUEST,
        "无法读取请求内容", "The request body could not be read";
    MalformedJson = "malformed_json", BAD_REQUEST,
        "请求内容不是有效的 JSON", "The request body is not valid JSON";
    InvalidJsonFields = "invalid_json_fields", UNPROCESSABLE_ENTITY,
        "请求内容的字段不符合要求", "The JSON body has missing or mistyped fields";
    JsonContentTypeRequired = "json_content_type_required", UNSUPPORTED_MEDIA_TYPE,
        "请使用 Content-Type: application/json",
        "Send the body with Content-Type: application/json";
    MultipartRequired = "multipart_required", UNSUPPORTED_MEDIA_TYPE,
        "请以 multipart/form-data 格式上传", "Send the body as multipart/form-data";
    MalformedMultipart = "malformed_multipart", BAD_REQUEST,
        "上传内容格式有误，请重试", "The multipart body is malformed; try again";
    BodyTooLarge = "body_too_large", PAYLOAD_TOO_LARGE,
        "上传内容过大", "The request body is too large";

    // Filing API: keys, quotas, idempotency.
    MissingApiKey = "missing_api_key", UNAUTHORIZED,
        "缺少 API 密钥（Authorization: Bearer …）", "Missing API key (Authorization: Bearer …)";
    MalformedApiKey = "malformed_api_key", UNAUTHORIZED,
        "API 密钥格式不正确", "The API key is malformed; send `Authorization: Bearer hyk_…`";
    UnknownApiKey = "unknown_api_key", UNAUTHORIZED,
        "API 密钥无效", "Unknown API key";
    RevokedApiKey = "revoked_api_key", UNAUTHORIZED,
        "API 密钥已被吊销", "This API key was revoked";
    RateLimited = "rate_limited", TOO_MANY_REQUESTS,
        "请求过于频繁，请稍后再试", "Too many requests for this client; slow down";
    InvalidIdempotencyKey = "invalid_idempotency_key", BAD_REQUEST,
        "Idempotency-Key 须为 1–255 个可见 ASCII 字符",
        "Idempotency-Key must be 1–255 visible ASCII characters";
    IdempotencyKeyReused = "idempotency_key_reused", UNPROCESSABLE_ENTITY,
        "该 Idempotency-Key 已用于另一个请求",
        "This Idempotency-Key was used for a different request";
    IdempotencyInProgress = "idempotency_in_progress", CONFLICT,
        "使用该 Idempotency-Key 的请求仍在处理中",
        "A request with this Idempotency-Key is still being processed";
    QrSizeOutOfRange = "qr_size_out_of_range", BAD_REQUEST,
        "二维码尺寸须在 128 到 2048 像素之间", "size must be 128–2048 pixels";
    FilingIdTaken = "filing_id_taken", CONFLICT,
        "该备案号已登记", "This filing id is already registered";

    // The case's status (the domain's transition refusals).
    CaseCancelled = "case_cancelled", GONE,
        "该核验已被取消", "This case was cancelled";
    CaseIneligible = "case_ineligible", CONFLICT,
        "该备案不符合 App 核验条件，请使用普通拍照方式",
        "This case is not eligible for the App check; use the ordinary photo method";
    CodeNotIssued = "code_not_issued", CONFLICT,
        "负责人尚未在 App 中完成核验，暂无图片验证码",
        "The principal has not finished the App check; no verification code yet";
    CodeNotRedeemed = "code_not_redeemed", CONFLICT,
        "请先兑换图片验证码", "Redeem the image verification code first";
    AlreadySubmitted = "already_submitted", CONFLICT,
        "该核验已提交审核", "This case was already submitted for review";
    AppStepsClosed = "app_steps_closed", CONFLICT,
        "核验已完成，无需再拍摄；如需重新核验请联系备案服务商",
        "The check is finished; nothing more to capture. Ask your hosting provider to start again if needed";
    AlreadyDecided = "already_decided", CONFLICT,
        "该案件已审核完毕或不在审核队列中",
        "This case was already decided or is not in review";
    CasePurged = "case_purged", GONE,
        "该核验的照片已按规定删除，核验已结束；如需继续请联系备案服务商重新发起",
        "This case's photos were deleted on schedule and the case is over; ask your hosting provider to start a new check";
    StepNotReopened = "step_not_reopened", CONFLICT,
        "审核意见没有要求重拍这一步，请只重拍被退回的步骤",
        "The review did not reopen this step; retake only the steps it sent back";
    TransitionRaced = "transition_raced", CONFLICT,
        "案件状态刚刚发生变化，请刷新后重试",
        "The case changed at the same moment; reload and try again";

    // Image verification codes.
    CodeInvalid = "code_invalid", UNPROCESSABLE_ENTITY,
        "图片验证码不正确，请核对后重新输入（{tries_left} 次机会）",
        "The image verification code is not correct ({tries_left} attempts left)";
    CodeExpired = "code_expired", GONE,
        "图片验证码已过期，请让负责人在 App 中重新获取",
        "The verification code expired; the principal can get a new one in the App";
    CodeAlreadyUsed = "code_already_used", CONFLICT,
        "该图片验证码已使用", "This verification code was already used";
    TooManyAttempts = "too_many_attempts", TOO_MANY_REQUESTS,
        "错误次数过多，请稍后再试", "Too many wrong attempts; try again later";

    // App: phone, session, consent.
    InvalidMobile = "invalid_mobile", UNPROCESSABLE_ENTITY,
        "请输入备案时填写的 11 位手机号", "Enter the 11-digit mobile number given in the filing";
    SmsResendTooSoon = "sms_resend_too_soon", TOO_MANY_REQUESTS,
        "验证码已发送，请稍后再重新获取", "A code was just sent; wait before asking again";
    SmsDailyLimit = "sms_daily_limit", TOO_MANY_REQUESTS,
        "该手机号今日获取验证码次数已达上限，请明天再试",
        "This number has reached today's limit of codes; try tomorrow";
    SmsIpLimit = "sms_ip_limit", TOO_MANY_REQUESTS,
        "请求过于频繁，请稍后再试", "Too many requests from this network; try later";
    IdDailyLimit = "id_daily_limit", TOO_MANY_REQUESTS,
        "该证件今日核验次数已达上限，请明天再试",
        "This ID number has reached today's limit of checks; try tomorrow";
    SmsCodeInvalid = "sms_code_invalid", UNPROCESSABLE_ENTITY,
        "短信验证码不正确，请重新输入（{tries_left} 次机会）",
        "The SMS code is not correct ({tries_left} attempts left)";
    SmsCodeExpired = "sms_code_expired", GONE,
        "短信验证码已过期，请重新获取", "The SMS code expired; ask for a new one";
    SmsCodeDead = "sms_code_dead", GONE,
        "短信验证码已失效，请重新获取", "This SMS code no longer works; ask for a new one";
    SessionRequired = "session_required", UNAUTHORIZED,
        "登录已失效，请重新获取短信验证码", "Your session has ended; verify your phone again";
    SessionInvalid = "session_invalid", UNAUTHORIZED,
        "登录已失效，请重新获取短信验证码", "Your session has ended; verify your phone again";
    SessionExpired = "session_expired", UNAUTHORIZED,
        "登录已失效，请重新获取短信验证码", "Your session has ended; verify your phone again";
    CaseClosed = "case_closed", UNAUTHORIZED,
        "登录已失效，请重新获取短信验证码", "Your session has ended; verify your phone again";
    QrCodeInvalid = "qr_code_invalid", GONE,
        "二维码已失效，请在备案系统中重新获取二维码",
        "This QR code no longer works; get a new one from the filing system";
    QrMobileMismatch = "qr_mobile_mismatch", UNPROCESSABLE_ENTITY,
        "该手机号不是此二维码对应备案中登记的负责人手机号，请输入备案时填写的手机号",
        "This number is not the principal's number in this QR code's filing; enter the number given in the filing";
    CaseChoiceExpired = "case_choice_expired", GONE,
        "选择已失效，请重新获取短信验证码", "The choice has expired; verify your phone again";
    CaseNotOffered = "case_not_offered", UNPROCESSABLE_ENTITY,
        "请从列出的备案中选择一项，并重新获取短信验证码",
        "Choose one of the filings listed; verify your phone again";
    ConsentRequired = "consent_required", FORBIDDEN,
        "请先阅读并同意个人信息处理说明",
        "Read and accept the personal information consent first";
    ConsentOutdated = "consent_outdated", CONFLICT,
        "同意书已更新，请重新阅读后同意",
        "The consent text has changed; read and accept the current one";
    StepOutOfOrder = "step_out_of_order", CONFLICT,
        "请先完成上一步：{next_step}", "Do the earlier step first: {next_step}";
    StepsMissing = "steps_missing", CONFLICT,
        "还有步骤未完成：{steps}", "Some steps are not done: {steps}";

    // App: liveness and location.
    LocationRequired = "location_required", UNPROCESSABLE_ENTITY,
        "请允许 App 获取位置信息：核验须在上海市范围内进行",
        "Allow the App to read your location: the check must be done in Shanghai";
    LocationNotFinite = "location_not_finite", UNPROCESSABLE_ENTITY,
        "无法确认您的位置，请打开手机定位（GPS）后重试",
        "Your location could not be used (not a number); turn on location (GPS) and try again";
    LatitudeOutOfRange = "latitude_out_of_range", UNPROCESSABLE_ENTITY,
        "无法确认您的位置，请打开手机定位（GPS）后重试",
        "Your location could not be used (latitude out of range); turn on location (GPS) and try again";
    LongitudeOutOfRange = "longitude_out_of_range", UNPROCESSABLE_ENTITY,
        "无法确认您的位置，请打开手机定位（GPS）后重试",
        "Your location could not be used (longitude out of range); turn on location (GPS) and try again";
    LocationAccuracyInvalid = "location_accuracy_invalid", UNPROCESSABLE_ENTITY,
        "无法确认您的位置，请打开手机定位（GPS）后重试",
        "Your location could not be used (negative accuracy); turn on location (GPS) and try again";
    LocationAccuracyTooLow = "location_accuracy_too_low", UNPROCESSABLE_ENTITY,
        "无法确认您的位置，请打开手机定位（GPS）后重试",
        "Your location could not be used (the fix is too coarse); turn on location (GPS) and try again";
    OutsideShanghai = "outside_shanghai", UNPROCESSABLE_ENTITY,
        "当前位置不在上海市，App 核验须在上海市范围内进行；如不在上海，请使用普通拍照方式",
        "You are not in Shanghai. The App check must be done within Shanghai; elsewhere, use the ordinary photo method";
    ChallengeNotFound = "challenge_not_found", NOT_FOUND,
        "找不到这次动作检测，请重新开始本人核验",
        "No such challenge; start the liveness check again";
    ChallengeUsed = "challenge_used", CONFLICT,
        "本次动作检测已提交过，请重新开始本人核验",
        "This challenge was already used; start the liveness check again";
    ChallengeExpired = "challenge_expired", GONE,
        "动作检测已超时，请重新开始本人核验",
        "The challenge expired; start the liveness check again";
    UnknownPart = "unknown_part", UNPROCESSABLE_ENTITY,
        "上传内容包含无法识别的部分", "A part is not named after a liveness action";
    UnexpectedAction = "unexpected_action", UNPROCESSABLE_ENTITY,
        "上传的动作与本次要求不符，请重新开始本人核验",
        "These frames are for an action this challenge did not ask for; start again";
    FrameCount = "frame_count", UNPROCESSABLE_ENTITY,
        "“{action}”需要 {frames} 张画面，请重新开始本人核验",
        "“{action}” needs {frames} frames; start again";
    FrameUnreadable = "frame_unreadable", UNPROCESSABLE_ENTITY,
        "“{action}”的第 {frame} 张画面无法读取：{cause}",
        "Frame {frame} of “{action}” cannot be used: {cause}";
    LivenessFailed = "liveness_failed", UNPROCESSABLE_ENTITY,
        "本人核验未通过：{hints}。请重新开始本人核验",
        "The liveness check did not pass: {hints}. Start it again";
    LivenessAttemptsExhausted = "liveness_attempts_exhausted", TOO_MANY_REQUESTS,
        "本人核验次数已用完，请联系备案服务商重新发起核验",
        "No liveness attempts are left for this case; ask your hosting provider to start a new check";

    // App: photos (the pipeline's refusals and the face check).
    UploadLimitReached = "upload_limit_reached", TOO_MANY_REQUESTS,
        "该照片的拍摄次数已用完，请联系备案服务商重新发起核验",
        "No uploads of this photo are left for this case; ask your hosting provider to start a new check";
    PhotoBusy = "photo_busy", TOO_MANY_REQUESTS,
        "当前处理的照片较多，请几秒后重试",
        "Many photos are being processed; try again in a few seconds";
    ServerBusy = "server_busy", TOO_MANY_REQUESTS,
        "服务器繁忙，请稍后重试（本次不计入尝试次数）",
        "The server is busy; try again shortly (this attempt did not count)";
    NoFace = "no_face", UNPROCESSABLE_ENTITY,
        "照片中未检测到人脸，请手持身份证正对镜头、露出面部后重新拍摄",
        "No face found; hold your ID card, face the camera with your face uncovered, and retake";
    UnsupportedFormat = "unsupported_format", UNPROCESSABLE_ENTITY,
        "收到的是{seen_zh}，请上传 JPEG、PNG 或 WebP 格式的照片",
        "This is {seen_en}; please upload a JPEG, PNG or WebP photo";
    TooLarge = "too_large", UNPROCESSABLE_ENTITY,
        "照片文件过大（上限 {max_mb} MB），请重新拍摄或压缩后上传",
        "The file is too large (at most {max_mb} MB); retake or compress the photo";
    DimensionsTooLarge = "dimensions_too_large", UNPROCESSABLE_ENTITY,
        "照片像素过多，请使用手机相机的标准分辨率重新拍摄",
        "The photo has too many pixels; retake it at the camera's standard resolution";
    TooSmall = "too_small", UNPROCESSABLE_ENTITY,
        "照片分辨率过低（至少 {min_size}），请重新拍摄",
        "The photo's resolution is too low (at least {min_size}); retake it";
    Corrupt = "corrupt", UNPROCESSABLE_ENTITY,
        "照片文件已损坏或不完整，请重新拍摄后上传",
        "The file is damaged or incomplete; retake the photo and upload it again";
    TooBlurry = "too_blurry", UNPROCESSABLE_ENTITY,
        "照片模糊，请对焦后重新拍摄", "The photo is blurry; focus and retake it";
    TooDark = "too_dark", UNPROCESSABLE_ENTITY,
        "照片过暗，请在光线充足处重新拍摄", "The photo is too dark; retake it in good light";
    TooBright = "too_bright", UNPROCESSABLE_ENTITY,
        "照片过亮，请避免强光直射后重新拍摄",
        "The photo is too bright; avoid direct strong light and retake it";
    Glare = "glare", UNPROCESSABLE_ENTITY,
        "照片有反光或过曝区域，请调整角度避开反光后重新拍摄",
        "Part of the photo is blown out by glare; tilt the card away from the light and retake it";

    // Review console and accounts.
    InvalidCredentials = "invalid_credentials", UNAUTHORIZED,
        "用户名或密码错误", "Wrong username or password";
    LoginRequired = "login_required", UNAUTHORIZED,
        "请先登录", "Please log in";
    AccountLocked = "account_locked", LOCKED,
        "登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试",
        "Too many failed logins; the account is locked for {minutes} more minutes";
    AccountDisabled = "account_disabled", FORBIDDEN,
        "该账号已停用", "This account is disabled";
    AuditorRequired = "auditor_required", FORBIDDEN,
        "只有审计员可以查看审计记录", "Only auditors may read the audit log";
    ReviewerRequired = "reviewer_required", FORBIDDEN,
        "只有审核员可以查看和审核案件", "Only reviewers may see and decide cases";
    LoginIpLimit = "login_ip_limit", TOO_MANY_REQUESTS,
        "该网络登录尝试过多，请稍后再试",
        "Too many login attempts from this network; try again later";
    CsrfFailed = "csrf_failed", FORBIDDEN,
        "页面已过期，请刷新后重试", "The page is out of date; reload and try again";
    CaseLeased = "case_leased", CONFLICT,
        "该案件正由其他审核员处理", "Another reviewer is working on this case";
    NotClaimed = "not_claimed", CONFLICT,
        "请先认领该案件（认领 15 分钟内有效）", "Claim the case first (a claim lasts 15 minutes)";
    ClientNameTaken = "client_name_taken", CONFLICT,
        "名称已被使用", "The name is taken";
    ReviewerUsernameTaken = "reviewer_username_taken", CONFLICT,
        "名称已被使用", "The name is taken";
    ClientRevoked = "client_revoked", CONFLICT,
        "该客户端已被吊销", "This client was revoked";
    TwoKeysActive = "two_keys_active", CONFLICT,
        "已有两个有效密钥，请先吊销旧密钥", "Two keys are active; revoke the old one first";
    ClientKeyExists = "client_key_exists", CONFLICT,
        "操作与当前状态冲突", "The request conflicts with the current state";

    // Single-use records that already exist (a random value repeated: practically never).
    TokenExists = "token_exists", CONFLICT,
        "操作与当前状态冲突", "The request conflicts with the current state";
    SessionExists = "session_exists", CONFLICT,
        "操作与当前状态冲突", "The request conflicts with the current state";
}

impl ErrorCode {
    /// The stable snake_case string clients see.
    pub fn as_str(self) -> &'static str {
        self.entry().code
    }

    /// The HTTP status this code is always answered with.
    pub fn status(self) -> StatusCode {
        self.entry().status
    }

    /// The code named by `raw`, if the catalog has it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == raw)
    }

    /// The Chinese message with its figures from `facts`.
    pub fn message_zh(self, facts: &ErrorFacts) -> String {
        render(self.entry().zh, facts, Lang::Zh)
    }

    /// The English message with its figures from `facts`.
    pub fn message_en(self, facts: &ErrorFacts) -> String {
        render(self.entry().en, facts, Lang::En)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets tests compare a code with its wire string.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<crate::domain::case::TransitionError> for ErrorCode {
    fn from(refused: crate::domain::case::TransitionError) -> Self {
        use crate::domain::case::TransitionError as T;
        match refused {
            T::Cancelled => Self::CaseCancelled,
            T::Ineligible => Self::CaseIneligible,
            T::NoCodeYet => Self::CodeNotIssued,
            T::NotRedeemed => Self::CodeNotRedeemed,
            T::AlreadySubmitted => Self::AlreadySubmitted,
            T::AppStepsClosed => Self::AppStepsClosed,
            T::NotInReview => Self::AlreadyDecided,
            T::Purged => Self::CasePurged,
            T::StepNotReopened => Self::StepNotReopened,
        }
    }
}

/// Why a liveness challenge failed, frame by frame: the field problems listed under
/// `liveness_failed` (`"fields": {"frames.nod[2]": ["no_face"]}`) and the hint each one
/// puts in the message. Part of the catalog: these texts reach the principal too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LivenessProblem {
    /// No frames at all.
    NoFrames,
    /// An action has fewer than `imaging::liveness::MIN_FRAMES` frames.
    TooFewFrames,
    /// A frame shows no face.
    NoFace,
    /// A frame shows more than one face.
    SeveralFaces,
    /// A nod whose face did not move enough vertically.
    NoNod,
    /// A shake whose face did not move enough horizontally.
    NoShake,
    /// The face size differs too much between actions.
    FaceChanged,
}

impl LivenessProblem {
    /// Every problem.
    pub const ALL: &'static [LivenessProblem] = &[
        Self::NoFrames,
        Self::TooFewFrames,
        Self::NoFace,
        Self::SeveralFaces,
        Self::NoNod,
        Self::NoShake,
        Self::FaceChanged,
    ];

    /// The problem code in `fields`, and the hint templates (zh, en). Placeholders:
    /// `{action}` (the action's name), `{frame}` (1-based), `{min_frames}`.
    const fn entry(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::NoFrames => (
                "too_few_frames",
                "未收到核验照片，请重新开始本人核验",
                "No frames were received; start the check again",
            ),
            Self::TooFewFrames => (
                "too_few_frames",
                "“{action}”动作的照片少于 {min_frames} 张，请按提示重新完成该动作",
                "Fewer than {min_frames} frames for the {action}; do the action again as prompted",
            ),
            Self::NoFace => (
                "no_face",
                "“{action}”动作的第 {frame} 张照片中未检测到人脸，请正对镜头、保持光线充足后重试",
                "No face found in frame {frame} of the {action}; face the camera in good light and try again",
            ),
            Self::SeveralFaces => (
                "several_faces",
                "“{action}”动作的第 {frame} 张照片中检测到多张人脸，请确保画面中只有本人后重试",
                "More than one face in frame {frame} of the {action}; make sure only you are in view and try again",
            ),
            Self::NoNod => (
                "no_movement",
                "未检测到点头动作，请正对镜头、按提示缓慢点头后重试",
                "No nod was seen; face the camera and nod slowly as prompted, then try again",
            ),
            Self::NoShake => (
                "no_movement",
                "未检测到摇头动作，请正对镜头、按提示缓慢左右摇头后重试",
                "No head shake was seen; face the camera and slowly turn your head left and right as prompted, then try again",
            ),
            Self::FaceChanged => (
                "face_changed",
                "各动作中的人脸大小相差过大，请本人全程正对镜头、保持距离不变后重试",
                "The face changed size too much between actions; stay in front of the camera at the same distance throughout and try again",
            ),
        }
    }

    /// The stable problem code (`no_face`, `no_movement`…).
    pub const fn code(self) -> &'static str {
        self.entry().0
    }

    /// The hint in Chinese for `action` and `frame` (0-based).
    pub fn hint_zh(self, action: Option<LivenessAction>, frame: Option<usize>) -> String {
        self.hint(self.entry().1, action.map(LivenessAction::name_zh), frame)
    }

    /// The hint in English.
    pub fn hint_en(self, action: Option<LivenessAction>, frame: Option<usize>) -> String {
        self.hint(self.entry().2, action.map(LivenessAction::name_en), frame)
    }

    fn hint(self, template: &str, action: Option<&str>, frame: Option<usize>) -> String {
        template
            .replace("{action}", action.unwrap_or("?"))
            .replace(
                "{frame}",
                &frame.map_or_else(|| "?".into(), |i| (i + 1).to_string()),
            )
            .replace(
                "{min_frames}",
                &crate::imaging::liveness::MIN_FRAMES.to_string(),
            )
    }
}

/// Serialised as its code.
impl serde::Serialize for LivenessProblem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// The figures a message may need, and the per-field problems that go with an error.
///
/// Placeholders: `{tries_left}`, `{minutes}` (from `retry_after_secs`), `{next_step}` (the
/// first of `steps`), `{steps}`, `{action}`, `{frame}` (1-based), `{frames}` (a min–max
/// range), `{cause}` (the message of `cause`), `{hints}`, `{seen_zh}`/`{seen_en}`,
/// `{max_mb}`, `{min_size}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorFacts {
    /// Tries left before a code dies or redemption locks.
    pub tries_left: Option<u32>,
    /// Seconds until trying again may work; also sent as `Retry-After`.
    pub retry_after_secs: Option<u64>,
    /// App steps: the next one (`step_out_of_order`) or the missing ones (`steps_missing`).
    pub steps: Vec<AppStep>,
    /// The liveness action concerned.
    pub action: Option<LivenessAction>,
    /// The frame's index within its action (0-based; messages count from 1).
    pub frame: Option<usize>,
    /// The allowed number of frames per action, inclusive.
    pub frames: Option<(usize, usize)>,
    /// The refusal behind a wrapping code (`frame_unreadable`); its figures are these facts.
    pub cause: Option<ErrorCode>,
    /// Why a liveness check failed, per frame or action (`{hints}` lists their hints).
    pub reasons: Vec<Reason>,
    /// What an unsupported upload turned out to be.
    pub seen: Option<SeenFormat>,
    /// The upload size limit, in MiB.
    pub max_mb: Option<u64>,
    /// The least photo size, long edge × short edge.
    pub min_size: Option<(u32, u32)>,
    /// Field path → problem code, for `"fields"` in the body.
    pub fields: Vec<(String, String)>,
}

impl ErrorFacts {
    /// Facts with only a retry delay.
    pub fn retry_after(secs: u64) -> Self {
        Self {
            retry_after_secs: Some(secs),
            ..Self::default()
        }
    }

    /// Adds a field problem.
    pub fn with_field(mut self, path: impl Into<String>, problem: impl Into<String>) -> Self {
        self.fields.push((path.into(), problem.into()));
        self
    }
}

#[derive(Clone, Copy)]
enum Lang {
    Zh,
    En,
}

/// Fills a template's placeholders from `facts`; a missing figure reads `?`.
fn render(template: &'static str, facts: &ErrorFacts, lang: Lang) -> String {
    if !template.contains('{') {
        return template.to_owned();
    }
    let zh = matches!(lang, Lang::Zh);
    let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    let step = |s: &AppStep| if zh { s.prompt_zh() } else { s.prompt_en() };
    let mut out = template.to_owned();
    let mut fill = |name: &str, value: &dyn Fn() -> String| {
        let placeholder = format!("{{{name}}}");
        if out.contains(&placeholder) {
            out = out.replace(&placeholder, &value());
        }
    };
    fill("tries_left", &|| {
        or_unknown(facts.tries_left.map(|n| n.to_string()))
    });
    fill("minutes", &|| {
        or_unknown(facts.retry_after_secs.map(|s| s.div_ceil(60).to_string()))
    });
    fill("next_step", &|| {
        or_unknown(facts.steps.first().map(|s| step(s).to_owned()))
    });
    fill("steps", &|| {
        let names: Vec<&str> = facts.steps.iter().map(step).collect();
        names.join(if zh { "、" } else { ", " })
    });
    fill("action", &|| {
        or_unknown(
            facts
                .action
                .map(|a| if zh { a.prompt_zh() } else { a.prompt_en() }.to_owned()),
        )
    });
    fill("frame", &|| {
        or_unknown(facts.frame.map(|i| (i + 1).to_string()))
    });
    fill("frames", &|| {
        or_unknown(facts.frames.map(|(lo, hi)| format!("{lo}–{hi}")))
    });
    fill("cause", &|| match facts.cause {
        Some(cause) if zh => cause.message_zh(facts),
        Some(cause) => cause.message_en(facts),
        None => "?".into(),
    });
    fill("hints", &|| {
        let mut hints: Vec<String> = facts
            .reasons
            .iter()
            .map(|r| if zh { r.hint_zh() } else { r.hint_en() })
            .collect();
        // Every bad frame is a hint; the first two different ones are enough to act on.
        hints.dedup();
        hints.truncate(2);
        hints.join("；")
    });
    fill("seen_zh", &|| {
        or_unknown(facts.seen.map(|s| s.zh().to_owned()))
    });
    fill("seen_en", &|| {
        or_unknown(facts.seen.map(|s| s.en().to_owned()))
    });
    fill("max_mb", &|| {
        or_unknown(facts.max_mb.map(|m| m.to_string()))
    });
    fill("min_size", &|| {
        or_unknown(facts.min_size.map(|(w, h)| format!("{w}×{h}")))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACEHOLDERS: &[&str] = &[
        "tries_left",
        "minutes",
        "next_step",
        "steps",
        "action",
        "frame",
        "frames",
        "cause",
        "hints",
        "seen_zh",
        "seen_en",
        "max_mb",
        "min_size",
    ];

    fn full_facts() -> ErrorFacts {
        ErrorFacts {
            tries_left: Some(4),
            retry_after_secs: Some(600),
            steps: vec![AppStep::Liveness, AppStep::Front],
            action: Some(LivenessAction::Nod),
            frame: Some(1),
            frames: Some((3, 8)),
            cause: Some(ErrorCode::TooBlurry),
            reasons: vec![Reason {
                problem: LivenessProblem::NoFace,
                action_index: Some(0),
                action: Some(LivenessAction::Blink),
                frame: Some(1),
            }],
            seen: Some(SeenFormat::Gif),
            max_mb: Some(10),
            min_size: Some((800, 600)),
            fields: Vec::new(),
        }
    }

    fn is_cjk(c: char) -> bool {
        ('\u{4e00}'..='\u{9fff}').contains(&c)
    }

    #[test]
    fn every_code_is_unique_snake_case_with_both_messages() {
        let mut seen = std::collections::BTreeSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(
                !s.is_empty()
                    && s.starts_with(|c: char| c.is_ascii_lowercase())
                    && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && !s.ends_with('_')
                    && !s.contains("__"),
                "{s} is not snake_case"
            );
            assert!(seen.insert(s), "{s} appears twice");
            assert_eq!(ErrorCode::parse(s), Some(code), "{s} does not parse back");
            let (zh, en) = (code.entry().zh, code.entry().en);
            assert!(!zh.trim().is_empty(), "{s}: empty zh message");
            assert!(!en.trim().is_empty(), "{s}: empty en message");
            assert!(zh.chars().any(is_cjk), "{s}: zh message has no Chinese");
            assert!(
                en.is_ascii() || !en.chars().any(is_cjk),
                "{s}: en has Chinese"
            );
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{s}: {} is not an error status",
                code.status()
            );
        }
    }

    #[test]
    fn every_placeholder_is_known_and_filled() {
        for &code in ErrorCode::ALL {
            for template in [code.entry().zh, code.entry().en] {
                let mut rest = template;
                while let Some(start) = rest.find('{') {
                    let end = rest[start..].find('}').map(|e| start + e);
                    let name = end.map(|e| &rest[start + 1..e]).unwrap_or_default();
                    assert!(
                        PLACEHOLDERS.contains(&name),
                        "{code}: unknown placeholder {{{name}}}"
                    );
                    rest = &rest[end.unwrap_or(rest.len() - 1) + 1..];
                }
            }
            let facts = full_facts();
            for message in [code.message_zh(&facts), code.message_en(&facts)] {
                assert!(
                    !message.contains('{') && !message.contains('?'),
                    "{code}: {message}"
                );
            }
        }
    }

    #[test]
    fn every_liveness_problem_has_a_code_and_both_hints() {
        for &problem in LivenessProblem::ALL {
            let code = problem.code();
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            let action = Some(LivenessAction::Nod);
            let (zh, en) = (
                problem.hint_zh(action, Some(0)),
                problem.hint_en(action, Some(0)),
            );
            assert!(zh.chars().any(is_cjk), "{problem:?}: {zh}");
            assert!(
                !en.chars().any(is_cjk) && !en.is_empty(),
                "{problem:?}: {en}"
            );
            assert!(
                !zh.contains(['{', '?']) && !en.contains(['{', '?']),
                "{zh} / {en}"
            );
        }
    }

    #[test]
    fn figures_come_from_the_facts_in_each_language() {
        let facts = ErrorFacts {
            tries_left: Some(4),
            ..ErrorFacts::default()
        };
        assert_eq!(
            ErrorCode::SmsCodeInvalid.message_zh(&facts),
            "短信验证码不正确，请重新输入（4 次机会）"
        );
        assert!(ErrorCode::SmsCodeInvalid
            .message_en(&facts)
            .contains("4 attempts left"));
        let locked = ErrorFacts::retry_after(61);
        assert!(ErrorCode::AccountLocked
            .message_zh(&locked)
            .contains("2 分钟"));
        let steps = ErrorFacts {
            steps: vec![AppStep::Handheld, AppStep::Back],
            ..ErrorFacts::default()
        };
        assert!(ErrorCode::StepsMissing.message_zh(&steps).contains("、"));
        assert!(ErrorCode::StepOutOfOrder
            .message_zh(&steps)
            .contains("手持身份证"));
    }

    #[test]
    fn one_code_one_status_where_it_matters() {
        assert_eq!(ErrorCode::CaseCancelled.status(), StatusCode::GONE);
        assert_eq!(
            ErrorCode::from(crate::domain::case::TransitionError::Cancelled),
            ErrorCode::CaseCancelled
        );
        assert_eq!(
            ErrorCode::InternalError.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
