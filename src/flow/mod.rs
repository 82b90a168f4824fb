//! Use cases: each function is one thing a user or operator does, orchestrating the ports
//! (store, blobs, clock, keys). Business rules live in `domain`; SQL in `store`; HTTP in
//! `http`. Errors are `FlowError`, in business terms.

pub mod accounts;
pub mod app_auth;
pub mod app_steps;
pub mod audit;
pub mod cases;
pub mod codes;
pub mod liveness;
pub mod maintenance;
pub mod photos;
pub mod purge;
pub mod quota;
pub mod review;
pub mod reviewer_auth;
pub mod webhooks;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::calendar::BusinessCalendar;
use crate::domain::case::TransitionError;
use crate::secrets::Keyring;
use crate::store::{Store, StoreError};

/// The ports every use case may call. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// Durable records.
    pub store: Arc<dyn Store>,
    /// Encrypted photos.
    pub blobs: Arc<dyn BlobStore>,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Keys derived from the master secret.
    pub keys: Keyring,
    /// The mainland business-day calendar.
    pub calendar: Arc<BusinessCalendar>,
    /// Wakes the webhook worker when an event is queued.
    pub outbox_wakeup: Arc<Notify>,
    /// Sends SMS codes.
    pub sms: Arc<dyn crate::sms::SmsSender>,
    /// Bounds how much image work runs at once.
    pub photo_gate: crate::imaging::pipeline::PhotoGate,
}

/// What went wrong, in business terms; `http::error` maps it to a status and code.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The input broke a rule; `field` names it and `code` says which rule.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field path, e.g. `name`.
        field: String,
        /// A stable code, e.g. `too_long`.
        code: &'static str,
        /// A human explanation.
        message: String,
    },
    /// The thing exists already (the name says what).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Not there, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The case's status does not allow this.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Too many tries; wait this many seconds.
    #[error("too many attempts; retry after {retry_after_secs} s")]
    Locked {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// A limit was reached; `code` says which; try again after the given seconds.
    #[error("limit {code} reached; retry after {retry_after_secs} s")]
    RateLimited {
        /// Stable code, e.g. `sms_resend_too_soon`.
        code: &'static str,
        /// Seconds until it may work.
        retry_after_secs: u64,
    },
    /// A reviewer account is locked after repeated failed logins.
    #[error("account locked; retry after {retry_after_secs} s")]
    AccountLocked {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// A dependency outside our machines is down (e.g. `sms_unavailable`).
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// The caller is not (or no longer) signed in; the code says why.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// An App step was attempted before an earlier one; `next` is what to do first.
    #[error("out of order: {} comes first", next.as_str())]
    OutOfOrder {
        /// The first step not done.
        next: app_steps::AppStep,
    },
    /// The App asked to complete before every step was done.
    #[error("steps missing")]
    StepsMissing(Vec<app_steps::AppStep>),
    /// The upload was understood but cannot be used: the person should retake it. The
    /// messages say what to do; `fields` names what was wrong (`frames.nod[2]`: `no_face`).
    #[error("retake: {code}")]
    Retake {
        /// Stable code, e.g. `photo_blurry`, `liveness_failed`, `outside_shanghai`.
        code: &'static str,
        /// What to do, in Chinese.
        message_zh: String,
        /// The same in English.
        message_en: String,
        /// Path → problem codes.
        fields: Vec<(String, String)>,
    },
    /// A per-case allowance is used up (`liveness_attempts_exhausted`, `upload_limit_reached`);
    /// waiting does not help, the filing system must start a new case.
    #[error("allowance {0} used up")]
    Exhausted(&'static str),
    /// A precondition the user must fulfil first (e.g. `consent_required`).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A fault of ours or a dependency's.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for FlowError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Transition(refused) => Self::Transition(refused),
            StoreError::Backend(e) => Self::Internal(e),
        }
    }
}

/// Whether a session (the App's or a reviewer's) is still alive at `now`: not revoked, not
/// past its absolute expiry, and used within the last `idle`.
pub(crate) fn session_is_live(
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    expires_at: chrono::DateTime<chrono::Utc>,
    last_seen_at: chrono::DateTime<chrono::Utc>,
    idle: chrono::Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    revoked_at.is_none() && expires_at > now && last_seen_at + idle > now
}

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// client | app | reviewer | system | operator.
    pub kind: &'static str,
    /// The actor's id.
    pub id: String,
    /// The caller's address, when known.
    pub ip: Option<String>,
}

impl Actor {
    /// A filing-system client.
    pub fn client(id: &crate::domain::ids::ClientId, ip: Option<String>) -> Self {
        Self {
            kind: "client",
            id: id.to_string(),
            ip,
        }
    }

    /// The App, acting for a case's principal.
    pub fn app(case: &crate::domain::ids::CaseId, ip: Option<String>) -> Self {
        Self {
            kind: "app",
            id: case.to_string(),
            ip,
        }
    }

    /// heyan itself (workers, purges).
    pub fn system() -> Self {
        Self {
            kind: "system",
            id: "heyan".into(),
            ip: None,
        }
    }
}
