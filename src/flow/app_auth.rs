//! How the principal gets into the App: an SMS code to the mobile number filled in the
//! filing system, exchanged for an App session bound to the case, then consent.
//!
//! The SMS answer is the same whether or not the number belongs to a case, and every limit
//! applies to every number alike, so the endpoint reveals nothing about who is registered.

use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::app_steps::{self, AppCaseView};
use super::case_choice::{self, CaseChoice, Target};
use super::cases::MOBILE_PURPOSE;
use super::{audit, quota, sms_outbox, Actor, FlowError, Services};
use crate::domain::ids::CaseId;
use crate::domain::MobileNumber;
use crate::error_code::ErrorCode;
use crate::pii;
use crate::store::{AppSession, CaseRecord, NewAppSession, NewSmsChallenge, SmsChallenge};

/// The consent text's version; a new text gets a new version.
pub const CONSENT_VERSION: &str = "v1";
/// The consent text (zh-CN first, English after).
pub const CONSENT_TEXT: &str = include_str!("../../assets/consent/zh-CN-v1.md");
/// HMAC purpose of SMS codes.
const SMS_CODE_PURPOSE: &str = "sms_code";

/// SHA-256 (hex) of the consent text, recorded with each acceptance.
pub fn consent_text_hash() -> String {
    hex::encode(Sha256::digest(CONSENT_TEXT.as_bytes()))
}

/// What the App is told after asking for a code (identical for every number).
#[derive(Debug, Clone, Copy)]
pub struct SmsAccepted {
    /// Least seconds before asking again.
    pub resend_after_secs: u32,
    /// How long a code stays valid.
    pub expires_in_secs: u32,
}

fn phone_hmac(svc: &Services, mobile: &MobileNumber) -> String {
    pii::lookup_hmac(&svc.keys, MOBILE_PURPOSE, mobile.as_str())
}

fn code_hash(svc: &Services, phone: &str, code: &str) -> String {
    pii::lookup_hmac(&svc.keys, SMS_CODE_PURPOSE, &format!("{phone}:{code}"))
}

fn retry_after(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    (until - now).num_seconds().max(1).unsigned_abs()
}

/// The cap on one phone's codes per day over all requesting addresses, as a multiple of
/// the per-address cap (`app.sms_per_phone_per_day`).
const PHONE_CAP_ACROSS_ADDRESSES: i64 = 3;

/// Queues a code for `mobile` when it is the principal's number of an open eligible case
/// (of the QR code's case, when `download_token` is given); the answer and its limits are
/// the same for every number.
pub async fn send_sms_code(
    svc: &Services,
    mobile: &MobileNumber,
    download_token: Option<&str>,
    ip: Option<&str>,
) -> Result<SmsAccepted, FlowError> {
    let policy = &svc.settings.app;
    let now = svc.clock.now();
    let phone = phone_hmac(svc, mobile);
    let ip_key = format!("sms_ip:{}", quota::address_key(ip));
    quota::take(
        svc.store.as_ref(),
        &ip_key,
        policy.sms_per_ip_per_hour,
        Duration::hours(1),
        now,
    )
    .await
    .map_err(|e| quota::relabel(e, ErrorCode::SmsIpLimit))?;
    // The daily cap counts per requesting address, so that someone typing the principal's
    // number elsewhere cannot use up the principal's sends; a cap over all addresses
    // (PHONE_CAP_ACROSS_ADDRESSES times as many) still bounds the messages a phone gets.
    let day = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    let per_address = i64::from(policy.sms_per_phone_per_day);
    let day_keys = [
        (
            format!("sms_phone:{phone}:{}", quota::address_key(ip)),
            per_address,
        ),
        (
            format!("sms_phone:{phone}"),
            per_address * PHONE_CAP_ACROSS_ADDRESSES,
        ),
    ];
    for (key, cap) in &day_keys {
        if svc.store.get_counter(key, day).await? >= *cap {
            let until = day + Duration::days(1);
            return Err(FlowError::retry_later(
                ErrorCode::SmsDailyLimit,
                retry_after(until, now),
            ));
        }
    }
    let cooldown_key = format!("sms_cooldown:{phone}");
    let cooldown_end = now + Duration::seconds(i64::from(policy.sms_resend_secs));
    if let Some(until) = svc
        .store
        .claim_cooldown(&cooldown_key, cooldown_end, now)
        .await?
    {
        return Err(FlowError::retry_later(
            ErrorCode::SmsResendTooSoon,
            retry_after(until, now),
        ));
    }
    deliver(svc, mobile, download_token, &phone, now).await?;
    for (key, _) in &day_keys {
        svc.store
            .increment_counter(key, day, day + Duration::days(2), now)
            .await?;
    }
    Ok(SmsAccepted {
        resend_after_secs: policy.sms_resend_secs,
        expires_in_secs: policy.sms_code_ttl_minutes * 60,
    })
}

/// Stores a code and queues it for sending when the number belongs to a case; does
/// nothing otherwise. The provider is called by the SMS worker, never while the request
/// waits, so the answer is the same, and as quick, for every number.
async fn deliver(
    svc: &Services,
    mobile: &MobileNumber,
    download_token: Option<&str>,
    phone: &str,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    let case = match download_token {
        Some(token) => case_choice::token_case(svc, mobile, token).await?.ok(),
        None => case_choice::sign_in_cases(svc, mobile)
            .await?
            .into_iter()
            .next(),
    };
    let Some(case) = case else {
        tracing::info!(sms.to = %mobile, "SMS code requested for a number without an open case");
        return Ok(());
    };
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let ttl = svc.settings.app.sms_code_ttl_minutes;
    let expires_at = now + Duration::minutes(i64::from(ttl));
    let challenge = NewSmsChallenge {
        phone_hmac: phone.to_owned(),
        case_id: case.id.clone(),
        code_hash: code_hash(svc, phone, &code),
        expires_at,
        created_at: now,
    };
    svc.store.insert_sms_challenge(&challenge).await?;
    sms_outbox::queue(svc, mobile, &code, ttl, expires_at, now).await
}

/// A new App session: the bearer token (shown once) and the case it opens.
#[derive(Debug)]
pub struct SessionStarted {
    /// The bearer token; only its hash is stored.
    pub token: String,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// The case as the App sees it.
    pub case: AppCaseView,
}

/// What a correct SMS code leads to.
#[derive(Debug)]
pub enum SignIn {
    /// A session bound to the one case the phone may sign in to.
    Started(Box<SessionStarted>),
    /// The phone is the principal's number in several open cases: the principal chooses.
    Choose(CaseChoice),
}

/// How many of a phone's newest codes are accepted. Anyone may ask for a code for any
/// number; with two live codes, a code someone else asked for does not void the one the
/// principal is typing (see docs/app-api.md).
const LIVE_CODES: u32 = 2;

/// Exchanges a correct SMS code for a session, or for a choice of case when the phone has
/// several (see [`case_choice`]); with the QR code's `download_token` the session binds to
/// that case only. A wrong code says how many tries remain; a dead or expired one says to
/// ask for a new code.
pub async fn start_session(
    svc: &Services,
    mobile: &MobileNumber,
    code: &str,
    download_token: Option<&str>,
    ip: Option<&str>,
) -> Result<SignIn, FlowError> {
    let now = svc.clock.now();
    let policy = &svc.settings.app;
    let phone = phone_hmac(svc, mobile);
    let max = i32::try_from(policy.sms_max_attempts).unwrap_or(i32::MAX);
    let recent = svc.store.recent_sms_challenges(&phone, LIVE_CODES).await?;
    if recent.is_empty() {
        return Err(no_code_sent(svc, &phone, max, now).await?);
    }
    let live: Vec<&SmsChallenge> = recent
        .iter()
        .filter(|c| c.consumed_at.is_none() && c.attempts < max && c.expires_at > now)
        .collect();
    let Some(newest) = live.first() else {
        // Nothing to check against: why, judged on the newest code.
        return Err(FlowError::from(match recent.first() {
            Some(c) if c.consumed_at.is_none() && c.attempts < max => ErrorCode::SmsCodeExpired,
            _ => ErrorCode::SmsCodeDead,
        }));
    };
    charge_id_number(svc, &newest.case_id, now).await?;
    let typed = code_hash(svc, &phone, code.trim());
    let matched = live
        .iter()
        .find(|c| bool::from(typed.as_bytes().ct_eq(c.code_hash.as_bytes())));
    let Some(challenge) = matched else {
        // A wrong try counts against the newest code.
        let attempts = svc.store.fail_sms_challenge(newest.id, now).await?;
        let left = (max - attempts).max(0);
        return Err(if left == 0 {
            FlowError::from(ErrorCode::SmsCodeDead)
        } else {
            FlowError::wrong_code(ErrorCode::SmsCodeInvalid, left.unsigned_abs())
        });
    };
    // Where the phone goes is settled before the code is used up: a QR code for another
    // filing leaves the code valid for the right number.
    let target = case_choice::target(svc, mobile, download_token).await?;
    if !svc
        .store
        .consume_sms_challenge(challenge.id, max, now)
        .await?
    {
        return Err(FlowError::from(ErrorCode::SmsCodeDead));
    }
    match target {
        Target::One(case) => {
            let started = open_session(svc, &case.id, ip, json!({})).await?;
            Ok(SignIn::Started(Box::new(started)))
        }
        Target::Several(cases) => case_choice::offer(svc, &cases, ip)
            .await
            .map(SignIn::Choose),
    }
}

/// Opens a session on the case the principal chose from a [`CaseChoice`].
pub async fn choose_case(
    svc: &Services,
    choice_token: &str,
    case_id: &str,
    ip: Option<&str>,
) -> Result<SessionStarted, FlowError> {
    let case = case_choice::take(svc, choice_token, case_id).await?;
    open_session(svc, &case.id, ip, json!({ "chosen": true })).await
}

/// Starts an App session on a case the verified phone may sign in to.
async fn open_session(
    svc: &Services,
    case_id: &CaseId,
    ip: Option<&str>,
    details: serde_json::Value,
) -> Result<SessionStarted, FlowError> {
    let now = svc.clock.now();
    let token = new_token();
    let max_minutes = svc.settings.app.session_max_minutes;
    let expires_at = now + Duration::minutes(i64::from(max_minutes));
    let session = NewAppSession {
        token_hash: token_hash(&token),
        case_id: case_id.clone(),
        expires_at,
        created_at: now,
    };
    svc.store.start_app_session(&session).await?;
    let actor = Actor::app(case_id, ip.map(str::to_owned));
    audit::record(
        svc.store.as_ref(),
        &actor,
        "app.phone_verified",
        Some(case_id),
        details,
        now,
    )
    .await?;
    let case = app_steps::current_view(svc, case_id).await?;
    Ok(SessionStarted {
        token,
        expires_at,
        case,
    })
}

/// The answer for a phone no code was ever sent to (no case has the number, or nobody
/// asked): the same as for a wrong code, tries left and then dead, counted per phone over
/// a code's lifetime, so the answer does not tell which numbers have a case.
async fn no_code_sent(
    svc: &Services,
    phone: &str,
    max: i32,
    now: DateTime<Utc>,
) -> Result<FlowError, FlowError> {
    let window = Duration::minutes(i64::from(svc.settings.app.sms_code_ttl_minutes).max(1));
    let start = now.duration_trunc(window).unwrap_or(now);
    let tries = svc
        .store
        .increment_counter(&format!("sms_miss:{phone}"), start, start + window * 2, now)
        .await?;
    let left = i64::from(max) - tries;
    Ok(if left <= 0 {
        FlowError::from(ErrorCode::SmsCodeDead)
    } else {
        FlowError::wrong_code(
            ErrorCode::SmsCodeInvalid,
            left.unsigned_abs().try_into().unwrap_or(u32::MAX),
        )
    })
}

/// At most `verifications_per_id_per_day` code checks per ID number per day, across phones.
async fn charge_id_number(
    svc: &Services,
    case: &CaseId,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    let websites = svc.store.list_websites(case).await?;
    let Some(first) = websites.first() else {
        return Ok(());
    };
    let key = format!("verify_id:{}", first.id_number_hmac);
    quota::take(
        svc.store.as_ref(),
        &key,
        svc.settings.app.verifications_per_id_per_day,
        Duration::days(1),
        now,
    )
    .await
    .map_err(|e| quota::relabel(e, ErrorCode::IdDailyLimit))
}

/// A new bearer token: 256 random bits, URL-safe base64.
pub(super) fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::rngs::OsRng.gen();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 (hex) of a session token: tokens carry 256 random bits, so a plain hash suffices.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The case behind a bearer token, when the session is alive (idle and absolute expiry).
pub async fn authenticate(
    svc: &Services,
    token: &str,
) -> Result<(AppSession, CaseRecord), FlowError> {
    let hash = token_hash(token);
    let session = svc
        .store
        .find_app_session(&hash)
        .await?
        .ok_or(FlowError::from(ErrorCode::SessionInvalid))?;
    let now = svc.clock.now();
    let idle = Duration::minutes(i64::from(svc.settings.app.session_idle_minutes));
    if !super::session_is_live(
        session.revoked_at,
        session.expires_at,
        session.last_seen_at,
        idle,
        now,
    ) {
        return Err(ErrorCode::SessionExpired.into());
    }
    svc.store.touch_app_session(&hash, now).await?;
    let case = svc.store.get_case(&session.case_id).await?;
    if !case.status.is_open() {
        return Err(ErrorCode::CaseClosed.into());
    }
    Ok((session, case))
}

/// Records acceptance of the current consent text; an outdated version or hash is refused.
/// Answers with the case as it is after it.
pub async fn accept_consent(
    svc: &Services,
    case: &CaseRecord,
    version: &str,
    text_hash: &str,
    actor: &Actor,
) -> Result<AppCaseView, FlowError> {
    if version != CONSENT_VERSION || text_hash != consent_text_hash() {
        return Err(ErrorCode::ConsentOutdated.into());
    }
    let now = svc.clock.now();
    svc.store
        .record_consent(&case.id, version, text_hash, now)
        .await?;
    audit::record(
        svc.store.as_ref(),
        actor,
        "app.consent_accepted",
        Some(&case.id),
        json!({ "version": version, "text_sha256": text_hash }),
        now,
    )
    .await?;
    app_steps::current_view(svc, &case.id).await
}
