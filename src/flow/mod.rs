//! Use cases: each function is one thing a user or operator does, orchestrating the ports
//! (store, blobs, clock, keys). Business rules live in `domain`; SQL in `store`; HTTP in
//! `http`. Errors are `FlowError`, in business terms.

pub mod accounts;
pub mod app_auth;
pub mod app_steps;
pub mod audit;
pub mod case_choice;
pub mod cases;
pub mod codes;
pub mod health;
pub mod idempotency;
pub mod liveness;
pub mod maintenance;
pub mod photos;
pub mod purge;
pub mod quota;
pub mod review;
pub mod reviewer_auth;
pub mod sms_outbox;
pub mod webhooks;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::blob::BlobStore;
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::calendar::BusinessCalendar;
use crate::domain::case::TransitionError;
use crate::error_code::{ErrorCode, ErrorFacts};
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
    /// Wakes the SMS worker when a code is queued.
    pub sms_wakeup: Arc<Notify>,
    /// Sends SMS codes.
    pub sms: Arc<dyn crate::sms::SmsSender>,
    /// Bounds how much image work runs at once.
    pub photo_gate: crate::imaging::pipeline::PhotoGate,
}

/// What went wrong, in business terms; `http::error` renders it through the catalog
/// ([`ErrorCode`]), so the status and the messages live in one place.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The input broke a rule; `field` names it and `problem` says which rule. Clients see
    /// `invalid_input` with `fields: {field: [problem]}`.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field path, e.g. `name`.
        field: String,
        /// A field-level problem code, e.g. `too_long`.
        problem: &'static str,
        /// A human explanation, for operators (the CLI).
        message: String,
    },
    /// Not there, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The case's status does not allow this.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Refused by a rule: the code says which, the facts carry its figures (tries left,
    /// retry after, missing steps) and any field problems.
    #[error("refused: {code}")]
    Refused {
        /// The catalog code.
        code: ErrorCode,
        /// Figures for the message and field problems.
        facts: Box<ErrorFacts>,
    },
    /// A fault of ours or a dependency's.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl FlowError {
    /// Refused with `code` and the given facts.
    pub fn refused(code: ErrorCode, facts: ErrorFacts) -> Self {
        Self::Refused {
            code,
            facts: Box::new(facts),
        }
    }

    /// Refused with `code`; trying again after `secs` may work.
    pub fn retry_later(code: ErrorCode, secs: u64) -> Self {
        Self::refused(code, ErrorFacts::retry_after(secs))
    }

    /// A wrong code typed into the field `code` (`sms_code_invalid`, `code_invalid`), with
    /// the tries left before it dies or locks.
    pub fn wrong_code(code: ErrorCode, tries_left: u32) -> Self {
        let facts = ErrorFacts {
            tries_left: Some(tries_left),
            ..ErrorFacts::default()
        };
        Self::refused(code, facts.with_field("code", code.as_str()))
    }

    /// The catalog code a client sees for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::InvalidInput,
            Self::NotFound => ErrorCode::NotFound,
            Self::Transition(refused) => ErrorCode::from(*refused),
            Self::Refused { code, .. } => *code,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }
}

impl From<ErrorCode> for FlowError {
    fn from(code: ErrorCode) -> Self {
        Self::refused(code, ErrorFacts::default())
    }
}

impl From<StoreError> for FlowError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(code) => code.into(),
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
