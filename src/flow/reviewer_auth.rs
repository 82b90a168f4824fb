//! Reviewer login and sessions: argon2id passwords, a lock after repeated failures, and
//! sessions (a console cookie or an API bearer token — the same token) with idle and
//! absolute expiry. Every login, failure and lock is audited.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{app_auth::token_hash, audit, quota, Actor, FlowError, Services};
use crate::error_code::ErrorCode;
use crate::store::{NewReviewerSession, Reviewer, ReviewerSession};

/// A new session: the token (shown once) and the CSRF token the console echoes.
#[derive(Debug)]
pub struct LoggedIn {
    /// The bearer token; also the cookie value. Only its hash is stored.
    pub token: String,
    /// Sent back by the console in `X-CSRF-Token` on every state change.
    pub csrf_token: String,
    /// The account.
    pub reviewer: Reviewer,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// A reviewer signed in by a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The account.
    pub reviewer: Reviewer,
    /// The session.
    pub session: ReviewerSession,
    /// SHA-256 of the token (for logout).
    pub token_hash: String,
}

/// Checks a username and password. Unknown names and wrong passwords answer alike and
/// take the same time; a locked account is refused before the password is looked at.
pub async fn login(
    svc: &Services,
    username: &str,
    password: &SecretString,
    ip: Option<String>,
) -> Result<LoggedIn, FlowError> {
    let now = svc.clock.now();
    let ip_key = format!("login_ip:{}", quota::address_key(ip.as_deref()));
    quota::take(
        svc.store.as_ref(),
        &ip_key,
        svc.settings.review.logins_per_ip_per_hour,
        Duration::hours(1),
        now,
    )
    .await
    .map_err(|e| quota::relabel(e, ErrorCode::LoginIpLimit))?;
    // A place for the hash first: a busy server answers busy before any try is counted.
    let admission = svc.photo_gate.admit().map_err(|_| busy())?;
    let attempt = Actor {
        kind: "reviewer",
        id: format!("login:{}", username.chars().take(64).collect::<String>()),
        ip: ip.clone(),
    };
    let reviewer = match svc.store.find_reviewer_by_username(username).await? {
        Some(reviewer) if reviewer.disabled_at.is_none() => reviewer,
        found => {
            // Same work as a real check, so timing does not tell which names exist, and a
            // disabled account never says whether the password was right.
            let password = password.clone();
            let _ = admission.run(move || verify(DUMMY_HASH, &password)).await;
            let (actor, reason) = match &found {
                Some(r) => (reviewer_actor(r, ip), "disabled"),
                None => (attempt, "unknown_user"),
            };
            let action = if found.is_some() {
                "reviewer.login_refused"
            } else {
                "reviewer.login_failed"
            };
            audit_login(svc, &actor, action, json!({ "reason": reason }), now).await?;
            return Err(match found {
                Some(_) => ErrorCode::AccountDisabled,
                None => ErrorCode::InvalidCredentials,
            }
            .into());
        }
    };
    let actor = reviewer_actor(&reviewer, ip);
    let policy = &svc.settings.review;
    let max = i32::try_from(policy.max_failed_logins).unwrap_or(i32::MAX);
    // Counted before the check, so a burst of parallel tries tests at most `max` passwords.
    let Some(try_number) = svc
        .store
        .begin_login_attempt(&reviewer.id, max, now)
        .await?
    else {
        audit_login(
            svc,
            &actor,
            "reviewer.login_refused",
            json!({"reason": "locked"}),
            now,
        )
        .await?;
        let until = reviewer.locked_until.filter(|u| *u > now).unwrap_or(now);
        return Err(locked(until, now));
    };
    let (hash, given) = (reviewer.password_hash.clone(), password.clone());
    let right = admission
        .run(move || verify(&hash, &given))
        .await
        .map_err(|e| FlowError::Internal(anyhow::anyhow!("password check: {e}")))?;
    if !right {
        return Err(failed(svc, &reviewer, try_number, &actor, now).await?);
    }
    svc.store.record_login_success(&reviewer.id, now).await?;
    let session = start_session(svc, &reviewer, now).await?;
    audit_login(svc, &actor, "reviewer.login", json!({}), now).await?;
    Ok(session)
}

fn reviewer_actor(reviewer: &Reviewer, ip: Option<String>) -> Actor {
    Actor {
        kind: "reviewer",
        id: reviewer.id.to_string(),
        ip,
    }
}

/// The answer when the CPU gate is full: try again shortly; nothing was counted.
fn busy() -> FlowError {
    FlowError::retry_later(ErrorCode::ServerBusy, 2)
}

async fn failed(
    svc: &Services,
    reviewer: &Reviewer,
    try_number: i32,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<FlowError, FlowError> {
    let policy = &svc.settings.review;
    let lock_until = now + Duration::minutes(i64::from(policy.lock_minutes));
    let max = i32::try_from(policy.max_failed_logins).unwrap_or(i32::MAX);
    let failure = svc
        .store
        .record_login_failure(&reviewer.id, try_number, max, lock_until, now)
        .await?;
    audit_login(
        svc,
        actor,
        "reviewer.login_failed",
        json!({"reason": "wrong_password"}),
        now,
    )
    .await?;
    if let Some(until) = failure.locked_until {
        audit_login(
            svc,
            actor,
            "reviewer.locked",
            json!({ "until": until, "after_failures": max }),
            now,
        )
        .await?;
        return Ok(locked(until, now));
    }
    Ok(FlowError::from(ErrorCode::InvalidCredentials))
}

fn locked(until: DateTime<Utc>, now: DateTime<Utc>) -> FlowError {
    FlowError::retry_later(
        ErrorCode::AccountLocked,
        (until - now).num_seconds().max(1).unsigned_abs(),
    )
}

async fn start_session(
    svc: &Services,
    reviewer: &Reviewer,
    now: DateTime<Utc>,
) -> Result<LoggedIn, FlowError> {
    let token = random_hex(32);
    let csrf_token = random_hex(16);
    let expires_at = now + Duration::hours(i64::from(svc.settings.review.session_max_hours));
    svc.store
        .start_reviewer_session(&NewReviewerSession {
            token_hash: token_hash(&token),
            reviewer_id: reviewer.id.clone(),
            csrf_token: csrf_token.clone(),
            expires_at,
            created_at: now,
        })
        .await?;
    Ok(LoggedIn {
        token,
        csrf_token,
        reviewer: reviewer.clone(),
        expires_at,
    })
}

/// The reviewer behind a token, when the session and the account are alive.
pub async fn authenticate(svc: &Services, token: &str) -> Result<SignedIn, FlowError> {
    let hash = token_hash(token);
    let session = svc
        .store
        .find_reviewer_session(&hash)
        .await?
        .ok_or(FlowError::from(ErrorCode::LoginRequired))?;
    let now = svc.clock.now();
    let idle = Duration::minutes(i64::from(svc.settings.review.session_idle_minutes));
    if !super::session_is_live(
        session.revoked_at,
        session.expires_at,
        session.last_seen_at,
        idle,
        now,
    ) {
        return Err(FlowError::from(ErrorCode::LoginRequired));
    }
    let reviewer = svc.store.get_reviewer(&session.reviewer_id).await?;
    if reviewer.disabled_at.is_some() {
        return Err(FlowError::from(ErrorCode::LoginRequired));
    }
    svc.store.touch_reviewer_session(&hash, now).await?;
    Ok(SignedIn {
        reviewer,
        session,
        token_hash: hash,
    })
}

/// Ends a session.
pub async fn logout(svc: &Services, signed_in: &SignedIn, actor: &Actor) -> Result<(), FlowError> {
    let now = svc.clock.now();
    svc.store
        .revoke_reviewer_session(&signed_in.token_hash, now)
        .await?;
    audit_login(svc, actor, "reviewer.logout", json!({}), now).await
}

async fn audit_login(
    svc: &Services,
    actor: &Actor,
    action: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    audit::record(svc.store.as_ref(), actor, action, None, details, now).await
}

fn verify(phc: &str, password: &SecretString) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok()
    })
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// An argon2id hash of a random password nobody knows, with the default parameters, so
/// checking an unknown username costs what checking a real one does.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$wJdDtLeSJ8Qs0Ia3aXl2Y9Sk0r0oWm5Jr4Yx9Zb2rWQ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_parses_with_default_parameters_and_matches_nothing() {
        let hash = PasswordHash::new(DUMMY_HASH).expect("a PHC string");
        assert_eq!(hash.algorithm.as_str(), "argon2id");
        let defaults = argon2::Params::default();
        let params = argon2::Params::try_from(&hash).expect("params");
        assert_eq!(params.m_cost(), defaults.m_cost());
        assert_eq!(params.t_cost(), defaults.t_cost());
        assert!(!verify(DUMMY_HASH, &SecretString::from("password")));
    }

    #[test]
    fn a_real_hash_verifies_only_its_password() {
        let password = SecretString::from("correct horse battery");
        let phc = super::super::accounts::hash_password(&password).expect("hash");
        assert!(verify(&phc, &password));
        assert!(!verify(&phc, &SecretString::from("wrong horse battery")));
        assert!(!verify("not a hash", &password));
    }
}
