//! Image verification codes: issued when the App finishes, redeemed by the filing system.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::app_steps::{self, Captured};
use super::{audit, cases, webhooks, Actor, FlowError, Services};
use crate::domain::case::{CaseStatus, Transition};
use crate::domain::ids::{CaseId, ClientId};
use crate::domain::verification_code::VerificationCode;
use crate::error_code::{ErrorCode, ErrorFacts};
use crate::pii;
use crate::store::{CaseRecord, ChangeRecord, NewVerificationCode, PhotoRecord, RedeemOutcome};

/// HMAC purpose of stored codes.
const CODE_PURPOSE: &str = "verification_code";

/// A code to show in the App.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    /// The code.
    pub code: VerificationCode,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The App finishes: every step must be done (the answer lists what is missing), then a
/// new code is issued. Asking again before redemption issues a new code and voids the old
/// one, for a principal who lost the screen. Answers with the code and the case after it.
pub async fn complete(
    svc: &Services,
    case: &CaseRecord,
    actor: &Actor,
) -> Result<Captured<IssuedCode>, FlowError> {
    if case.status != CaseStatus::CodeIssued {
        app_steps::ensure_open_to_app(case)?;
    }
    let missing = app_steps::missing_for_completion(case);
    if !missing.is_empty() {
        let facts = missing.iter().fold(ErrorFacts::default(), |facts, step| {
            facts.with_field("missing_steps", step.as_str())
        });
        let facts = ErrorFacts {
            steps: missing,
            ..facts
        };
        return Err(FlowError::refused(ErrorCode::StepsMissing, facts));
    }
    let issued = issue(svc, case, actor).await?;
    app_steps::captured(svc, &case.id, issued).await
}

/// Issues a new code for a case whose App steps are done, voiding any earlier code, and
/// queues `case.completed` for the filing system. Returns the code to show in the App.
pub async fn issue(
    svc: &Services,
    case: &CaseRecord,
    actor: &Actor,
) -> Result<IssuedCode, FlowError> {
    let now = svc.clock.now();
    let code = VerificationCode::generate();
    let ttl = Duration::hours(i64::from(svc.settings.filing.code_ttl_hours));
    let record = NewVerificationCode {
        case_id: case.id.clone(),
        code_hash: pii::lookup_hmac(&svc.keys, CODE_PURPOSE, code.as_str()),
        expires_at: now + ttl,
        created_at: now,
    };
    let event = webhooks::case_event(
        svc,
        case,
        "case.completed",
        json!({ "code_expires_at": record.expires_at }),
        now,
    )
    .await?;
    let queues_event = event.is_some();
    let change = audit::change(
        actor,
        Transition::IssueCode,
        &case.id,
        json!({ "expires_at": record.expires_at }),
        now,
        event,
    );
    svc.store.issue_code(&record, &change).await?;
    if queues_event {
        svc.outbox_wakeup.notify_one();
    }
    Ok(IssuedCode {
        code,
        expires_at: record.expires_at,
    })
}

/// What the filing system gets for a redeemed code.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The case after redemption.
    pub case: CaseRecord,
    /// Its photos.
    pub photos: Vec<PhotoRecord>,
}

/// Redeems a code typed into the filing system. Wrong codes count towards a lock; the
/// answer never says whether a code exists for another case.
pub async fn redeem(
    svc: &Services,
    client: &ClientId,
    case_id: &CaseId,
    typed: &str,
    actor: &Actor,
) -> Result<Manifest, FlowError> {
    let case = cases::owned_case(svc, client, case_id).await?;
    case.status.can_redeem()?;
    let now = svc.clock.now();
    let policy = &svc.settings.filing;
    let max = i32::try_from(policy.redeem_max_failures).unwrap_or(i32::MAX);
    let lockout = Duration::minutes(i64::from(policy.redeem_lockout_minutes));
    // Counted before the code is checked: racing wrong codes cannot all pass as first tries.
    let Some(attempt) = svc
        .store
        .begin_redeem_attempt(case_id, max, now - lockout, now)
        .await?
    else {
        return Err(locked_out(svc, case_id, now).await?);
    };
    let change = audit::change(actor, Transition::Redeem, case_id, json!({}), now, None);
    let outcome = match VerificationCode::parse(typed) {
        Ok(code) => try_hashes(svc, case_id, &code, &change).await?,
        // A malformed entry is just another wrong code.
        Err(_) => RedeemOutcome::Wrong,
    };
    let wrong = outcome == RedeemOutcome::Wrong;
    let locked = svc
        .store
        .settle_redeem_attempt(case_id, attempt, wrong, max, now + lockout, now)
        .await?;
    match outcome {
        RedeemOutcome::Redeemed => {
            let case = svc.store.get_case(case_id).await?;
            let photos = svc.store.list_photos(case_id).await?;
            Ok(Manifest { case, photos })
        }
        RedeemOutcome::AlreadyUsed => Err(ErrorCode::CodeAlreadyUsed.into()),
        RedeemOutcome::Expired => Err(ErrorCode::CodeExpired.into()),
        RedeemOutcome::Wrong => {
            audit::record(
                svc.store.as_ref(),
                actor,
                "code.redeem_failed",
                Some(&case.id),
                json!({ "failures": attempt, "locked": locked }),
                now,
            )
            .await?;
            if locked {
                return Err(FlowError::retry_later(
                    ErrorCode::TooManyAttempts,
                    lockout.num_seconds().unsigned_abs(),
                ));
            }
            let left = u32::try_from(max - attempt).unwrap_or(0);
            Err(FlowError::wrong_code(ErrorCode::CodeInvalid, left))
        }
    }
}

/// Why no try was let through: redemption is locked (until when), or the run's last tries
/// are being checked right now (a moment).
async fn locked_out(
    svc: &Services,
    case_id: &CaseId,
    now: DateTime<Utc>,
) -> Result<FlowError, FlowError> {
    let case = svc.store.get_case(case_id).await?;
    let secs = case
        .redeem_locked_until
        .filter(|until| *until > now)
        .map_or(5, |until| (until - now).num_seconds().max(1));
    Ok(FlowError::retry_later(
        ErrorCode::TooManyAttempts,
        secs.unsigned_abs(),
    ))
}

/// Tries the code's HMAC under every key, so a rotation does not void live codes.
async fn try_hashes(
    svc: &Services,
    case_id: &CaseId,
    code: &VerificationCode,
    change: &ChangeRecord,
) -> Result<RedeemOutcome, FlowError> {
    let mut last = RedeemOutcome::Wrong;
    for mac in svc.keys.hmac_all(CODE_PURPOSE, code.as_str().as_bytes()) {
        last = svc
            .store
            .redeem_code(case_id, &hex::encode(mac), change.audit.at, change)
            .await?;
        if last != RedeemOutcome::Wrong {
            break;
        }
    }
    Ok(last)
}
