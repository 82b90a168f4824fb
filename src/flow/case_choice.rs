//! Which case a verified phone signs in to. Any hosting provider can register a case with
//! any mobile number, so a phone can be the principal's number in open cases at several
//! providers; a session never lands silently in one of them. The QR code's token picks
//! its own case; without it a single open case is taken as it is, and several are shown
//! to the principal (provider, filing id, domains; personal data masked), who chooses.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::cases::{case_of_download_token, MOBILE_PURPOSE};
use super::{app_auth, audit, Actor, FlowError, Services};
use crate::domain::ids::CaseId;
use crate::domain::MobileNumber;
use crate::error_code::ErrorCode;
use crate::store::{CaseRecord, ConsumeOutcome, NewSingleUseToken};

/// The most cases one phone is offered (newest first); more open cases than this for one
/// number is not a real principal's situation.
pub const MAX_OFFERED: u32 = 10;
/// Single-use token purpose of a choice.
const CHOICE_PURPOSE: &str = "app_case_choice";
/// How long the principal has to choose before verifying the phone again.
const CHOICE_TTL_MINUTES: i64 = 10;

/// Where a verified phone goes.
#[derive(Debug)]
pub enum Target {
    /// Straight into this case.
    One(Box<CaseRecord>),
    /// The principal chooses among these (newest first).
    Several(Vec<CaseRecord>),
}

/// The cases a mobile number may sign in to, newest first, looked up under every HMAC
/// key so that cases registered before a key rotation are found too.
pub async fn sign_in_cases(
    svc: &Services,
    mobile: &MobileNumber,
) -> Result<Vec<CaseRecord>, FlowError> {
    let mut found: Vec<CaseRecord> = Vec::new();
    for mac in phone_macs(svc, mobile) {
        let cases = svc
            .store
            .find_sign_in_cases_by_mobile(&mac, MAX_OFFERED)
            .await?;
        for case in cases {
            if !found.iter().any(|c| c.id == case.id) {
                found.push(case);
            }
        }
    }
    found.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    found.truncate(MAX_OFFERED as usize);
    Ok(found)
}

fn phone_macs(svc: &Services, mobile: &MobileNumber) -> Vec<String> {
    svc.keys
        .hmac_all(MOBILE_PURPOSE, mobile.as_str().as_bytes())
        .into_iter()
        .map(hex::encode)
        .collect()
}

/// Where the phone signs in: the QR token's case only when the App came with one,
/// otherwise the phone's open case, or a choice when there are several.
pub async fn target(
    svc: &Services,
    mobile: &MobileNumber,
    download_token: Option<&str>,
) -> Result<Target, FlowError> {
    if let Some(token) = download_token {
        let case = token_case(svc, mobile, token).await??;
        return Ok(Target::One(Box::new(case)));
    }
    let mut cases = sign_in_cases(svc, mobile).await?;
    match cases.len() {
        // The case closed between sending the code and signing in.
        0 => Err(ErrorCode::CaseClosed.into()),
        1 => Ok(Target::One(Box::new(cases.remove(0)))),
        _ => Ok(Target::Several(cases)),
    }
}

/// The QR token's case when the principal may sign in to it and it lists this number;
/// otherwise why not (`qr_code_invalid`, `qr_mobile_mismatch`).
pub async fn token_case(
    svc: &Services,
    mobile: &MobileNumber,
    token: &str,
) -> Result<Result<CaseRecord, FlowError>, FlowError> {
    let Some(case) = open_case_of_token(svc, token).await? else {
        return Ok(Err(ErrorCode::QrCodeInvalid.into()));
    };
    let macs = phone_macs(svc, mobile);
    let websites = svc.store.list_websites(&case.id).await?;
    Ok(if websites.iter().any(|w| macs.contains(&w.mobile_hmac)) {
        Ok(case)
    } else {
        Err(ErrorCode::QrMobileMismatch.into())
    })
}

/// One case the principal may choose, as shown to them.
#[derive(Debug, Clone)]
pub struct CaseOption {
    /// The case.
    pub case_id: CaseId,
    /// The hosting provider (the filing client's name).
    pub provider: String,
    /// The provider's own filing id.
    pub filing_id: String,
    /// The websites it covers.
    pub domains: Vec<String>,
    /// The principal's name, masked.
    pub principal_name_masked: String,
    /// The principal's ID number, masked.
    pub id_number_masked: String,
    /// When the provider registered it.
    pub registered_at: DateTime<Utc>,
}

/// A choice to make: a single-use token (shown once) and the cases it may pick.
#[derive(Debug)]
pub struct CaseChoice {
    /// Sent back with the chosen case; only its hash is stored.
    pub token: String,
    /// The choice ends then; after it the phone is verified again.
    pub expires_at: DateTime<Utc>,
    /// The cases, newest first.
    pub options: Vec<CaseOption>,
}

/// Offers `cases` to the principal; each case's audit log records that it was shown.
pub async fn offer(
    svc: &Services,
    cases: &[CaseRecord],
    ip: Option<&str>,
) -> Result<CaseChoice, FlowError> {
    let now = svc.clock.now();
    let token = app_auth::new_token();
    let expires_at = now + Duration::minutes(CHOICE_TTL_MINUTES);
    let subject: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    svc.store
        .insert_single_use_token(&NewSingleUseToken {
            purpose: CHOICE_PURPOSE.into(),
            token_hash: app_auth::token_hash(&token),
            subject: subject.join(" "),
            expires_at,
            created_at: now,
        })
        .await?;
    let mut options = Vec::with_capacity(cases.len());
    for case in cases {
        options.push(option(svc, case).await?);
        let actor = Actor::app(&case.id, ip.map(str::to_owned));
        let details = json!({ "offered": cases.len() });
        audit::record(
            svc.store.as_ref(),
            &actor,
            "app.case_offered",
            Some(&case.id),
            details,
            now,
        )
        .await?;
    }
    Ok(CaseChoice {
        token,
        expires_at,
        options,
    })
}

async fn option(svc: &Services, case: &CaseRecord) -> Result<CaseOption, FlowError> {
    let client = svc.store.get_client(&case.client_id).await?;
    let websites = svc.store.list_websites(&case.id).await?;
    let first = websites.first();
    Ok(CaseOption {
        case_id: case.id.clone(),
        provider: client.name,
        filing_id: case.filing_id.clone(),
        domains: websites.iter().map(|w| w.domain.clone()).collect(),
        principal_name_masked: first
            .map(|w| w.principal_name_masked.clone())
            .unwrap_or_default(),
        id_number_masked: first
            .map(|w| w.id_number_masked.clone())
            .unwrap_or_default(),
        registered_at: case.created_at,
    })
}

/// Uses a choice token for `case_id`: the case, when it was offered with the token and
/// the principal may still sign in to it. A token works once, whatever the answer.
pub async fn take(svc: &Services, token: &str, case_id: &str) -> Result<CaseRecord, FlowError> {
    let now = svc.clock.now();
    let outcome = svc
        .store
        .consume_single_use_token(CHOICE_PURPOSE, &app_auth::token_hash(token), now)
        .await?;
    let ConsumeOutcome::Consumed { subject } = outcome else {
        return Err(ErrorCode::CaseChoiceExpired.into());
    };
    let offered = subject.split(' ').find(|id| *id == case_id);
    let Some(id) = offered.and_then(|id| CaseId::parse(id).ok()) else {
        return Err(ErrorCode::CaseNotOffered.into());
    };
    let case = svc.store.get_case(&id).await?;
    if !case.accepts_sign_in() {
        return Err(ErrorCode::CaseClosed.into());
    }
    Ok(case)
}

/// What the web flow shows before sign-in, from the QR code's token: enough for the
/// principal to recognise the filing and the number to type, all masked.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The hosting provider (the filing client's name).
    pub provider: String,
    /// The domains the check covers.
    pub domains: Vec<String>,
    /// The registered principal's mobile numbers, masked (`138****5678`), without repeats.
    pub mobile_hints: Vec<String>,
}

/// The entry of an open case by its QR token; `qr_code_invalid` when the token is unknown
/// or its case closed. Does not count a scan (the landing page does).
pub async fn entry(svc: &Services, token: &str) -> Result<Entry, FlowError> {
    let Some(case) = open_case_of_token(svc, token).await? else {
        return Err(ErrorCode::QrCodeInvalid.into());
    };
    let client = svc.store.get_client(&case.client_id).await?;
    let websites = svc.store.list_websites(&case.id).await?;
    let mut mobile_hints: Vec<String> = Vec::new();
    for w in &websites {
        if !mobile_hints.contains(&w.mobile_masked) {
            mobile_hints.push(w.mobile_masked.clone());
        }
    }
    Ok(Entry {
        provider: client.name,
        domains: websites.into_iter().map(|w| w.domain).collect(),
        mobile_hints,
    })
}

/// The case behind a QR token while the principal may sign in to it.
pub async fn open_case_of_token(
    svc: &Services,
    token: &str,
) -> Result<Option<CaseRecord>, FlowError> {
    let case = case_of_download_token(svc, token).await?;
    Ok(case.filter(CaseRecord::accepts_sign_in))
}
