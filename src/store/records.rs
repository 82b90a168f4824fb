//! Input and output records of the `Store` port for cases, photos, codes, events, the
//! audit log and idempotency. Sealed fields hold `pii::seal` output; masked fields are safe
//! for list views.

use chrono::{DateTime, Utc};

use crate::blob::BlobId;
use crate::domain::case::{CaseStatus, PhotoKind, Region, SubjectType};
use crate::domain::ids::{CaseId, ClientId, EventId};

/// A website as registered, with its principal's data sealed, masked and HMACed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsiteRecord {
    /// Order as registered (0-based).
    pub position: i32,
    /// The domain.
    pub domain: String,
    /// Principal's name, sealed.
    pub principal_name_sealed: String,
    /// Principal's name, masked (张*).
    pub principal_name_masked: String,
    /// Document type name.
    pub id_type: String,
    /// Document number, sealed.
    pub id_number_sealed: String,
    /// Document number, masked.
    pub id_number_masked: String,
    /// HMAC of the document number.
    pub id_number_hmac: String,
    /// Mobile number, sealed.
    pub mobile_sealed: String,
    /// Mobile number, masked.
    pub mobile_masked: String,
    /// HMAC of the mobile number.
    pub mobile_hmac: String,
}

/// A case to insert.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// Its id.
    pub id: CaseId,
    /// The client that registered it.
    pub client_id: ClientId,
    /// The filing system's id.
    pub filing_id: String,
    /// Normalised region.
    pub region: Region,
    /// Who the filing is for.
    pub subject_type: SubjectType,
    /// Subject name, sealed.
    pub subject_name_sealed: String,
    /// Subject name, masked.
    pub subject_name_masked: String,
    /// Whether the App check is possible.
    pub eligible: bool,
    /// The reason code when not.
    pub ineligible_reason: Option<String>,
    /// Initial status (`awaiting_app` or `ineligible`).
    pub status: CaseStatus,
    /// The QR code's token.
    pub download_token: String,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Websites in order.
    pub websites: Vec<WebsiteRecord>,
}

/// When each step of a case happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// SMS check passed.
    pub phone_verified_at: Option<DateTime<Utc>>,
    /// Consent recorded.
    pub consent_at: Option<DateTime<Utc>>,
    /// Liveness passed.
    pub liveness_at: Option<DateTime<Utc>>,
    /// Handheld photo accepted.
    pub handheld_at: Option<DateTime<Utc>>,
    /// Front photo accepted.
    pub front_at: Option<DateTime<Utc>>,
    /// Back photo accepted.
    pub back_at: Option<DateTime<Utc>>,
    /// Latest code issued.
    pub code_issued_at: Option<DateTime<Utc>>,
    /// Code redeemed.
    pub redeemed_at: Option<DateTime<Utc>>,
    /// Submitted for review.
    pub submitted_at: Option<DateTime<Utc>>,
}

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    /// Its id.
    pub id: CaseId,
    /// Owning client.
    pub client_id: ClientId,
    /// The filing system's id.
    pub filing_id: String,
    /// Normalised region.
    pub region: Region,
    /// Who the filing is for.
    pub subject_type: SubjectType,
    /// Subject name, sealed.
    pub subject_name_sealed: String,
    /// Subject name, masked.
    pub subject_name_masked: String,
    /// Whether the App check is possible.
    pub eligible: bool,
    /// The reason code when not.
    pub ineligible_reason: Option<String>,
    /// Current status.
    pub status: CaseStatus,
    /// The QR code's token.
    pub download_token: String,
    /// QR scans so far.
    pub scan_count: i64,
    /// Redemption is blocked until then.
    pub redeem_locked_until: Option<DateTime<Utc>>,
    /// The consent text version the principal accepted.
    pub consent_version: Option<String>,
    /// Whether the App check happened in Shanghai (null until reported).
    pub location_in_shanghai: Option<bool>,
    /// What the passed liveness check showed (JSON: actions, frames, movement), for reviewers.
    pub liveness_result: Option<String>,
    /// Step times.
    pub progress: Progress,
    /// Review due time.
    pub due_at: Option<DateTime<Utc>>,
    /// Decision time.
    pub decided_at: Option<DateTime<Utc>>,
    /// Cancellation time.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When its photos were purged.
    pub purged_at: Option<DateTime<Utc>>,
    /// Last change by anyone.
    pub last_activity_at: DateTime<Utc>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last row update.
    pub updated_at: DateTime<Utc>,
}

impl CaseRecord {
    /// Whether the case's QR download code still leads anywhere: eligible and open.
    pub fn download_active(&self) -> bool {
        self.eligible && self.status.is_open()
    }

    /// Whether the principal may sign in to it: eligible, in a [`CaseStatus::SIGN_IN`]
    /// status and not purged (the same test as the store's lookup by mobile number).
    pub fn accepts_sign_in(&self) -> bool {
        self.eligible && CaseStatus::SIGN_IN.contains(&self.status) && self.purged_at.is_none()
    }
}

/// A stored (watermarked, encrypted) photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoRecord {
    /// Its case.
    pub case_id: CaseId,
    /// Which photo.
    pub kind: PhotoKind,
    /// Its image in the blob store.
    pub blob_id: BlobId,
    /// Pixels.
    pub width: i32,
    /// Pixels.
    pub height: i32,
    /// Bytes of the stored JPEG.
    pub size_bytes: i64,
    /// SHA-256 (hex) of the stored JPEG.
    pub sha256: String,
    /// SHA-256 (hex) of the original upload.
    pub original_sha256: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A verification code to issue.
#[derive(Debug, Clone)]
pub struct NewVerificationCode {
    /// Its case.
    pub case_id: CaseId,
    /// HMAC of the normalised code.
    pub code_hash: String,
    /// End of validity.
    pub expires_at: DateTime<Utc>,
    /// Issue time.
    pub created_at: DateTime<Utc>,
}

/// What a redemption attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// This call redeemed the code.
    Redeemed,
    /// The code was redeemed before.
    AlreadyUsed,
    /// The code expired.
    Expired,
    /// No live code of this case matches (never says whether it exists elsewhere).
    Wrong,
}

/// A webhook event to queue.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Its id.
    pub id: EventId,
    /// Receiving client.
    pub client_id: ClientId,
    /// e.g. `case.completed`.
    pub event_type: String,
    /// The JSON body as it will be signed and sent.
    pub payload: String,
    /// Creation time; retries stop 3 days later.
    pub created_at: DateTime<Utc>,
}

/// A queued webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Its id.
    pub id: EventId,
    /// Receiving client.
    pub client_id: ClientId,
    /// e.g. `case.completed`.
    pub event_type: String,
    /// The JSON body.
    pub payload: String,
    /// Tries so far.
    pub attempts: i32,
    /// Next try.
    pub next_attempt_at: DateTime<Utc>,
    /// Set once delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Set once abandoned.
    pub gave_up_at: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A failed delivery try.
#[derive(Debug, Clone)]
pub struct EventFailure {
    /// Which event.
    pub id: EventId,
    /// Tries so far, including this one.
    pub attempts: i32,
    /// When to try again.
    pub next_attempt_at: DateTime<Utc>,
    /// Stop trying (past the retry window).
    pub give_up: bool,
    /// What went wrong (no personal data).
    pub error: String,
    /// Now.
    pub now: DateTime<Utc>,
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// client | app | reviewer | system | operator.
    pub actor_type: String,
    /// The actor's id.
    pub actor_id: String,
    /// e.g. `photo.pulled`.
    pub action: String,
    /// The case concerned.
    pub case_id: Option<String>,
    /// The caller's address.
    pub ip: Option<String>,
    /// JSON details, never raw personal data.
    pub details: String,
}

/// What a change of a case's status writes besides the case row, in the same transaction:
/// its audit entry, and the webhook event for the filing system (none without a webhook
/// URL). A status change without its audit entry cannot happen.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    /// The audit entry.
    pub audit: NewAuditEntry,
    /// The event to queue.
    pub event: Option<NewEvent>,
}

/// An audit entry as stored, with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// 1, 2, 3, …
    pub seq: i64,
    /// The entry's content.
    pub entry: NewAuditEntry,
    /// Hash of the previous entry (`GENESIS_HASH` for the first).
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// The start of an idempotent request.
#[derive(Debug, Clone)]
pub struct IdempotencyStart {
    /// The calling client.
    pub client_id: ClientId,
    /// The `Idempotency-Key` header.
    pub key: String,
    /// SHA-256 of method, path and body.
    pub request_hash: String,
    /// Now.
    pub now: DateTime<Utc>,
    /// When the record may be forgotten (24 h).
    pub expires_at: DateTime<Utc>,
}

/// What the store knows about an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// First use: run the request.
    Fresh,
    /// Seen with the same request: here is the response to replay.
    Replay {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// Seen with a different request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// An SMS code sent to a phone for a case.
#[derive(Debug, Clone)]
pub struct NewSmsChallenge {
    /// HMAC of the mobile number.
    pub phone_hmac: String,
    /// The case the number belongs to.
    pub case_id: CaseId,
    /// HMAC of the code.
    pub code_hash: String,
    /// End of validity.
    pub expires_at: DateTime<Utc>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

/// An SMS challenge as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsChallenge {
    /// Row id.
    pub id: i64,
    /// The case.
    pub case_id: CaseId,
    /// HMAC of the code.
    pub code_hash: String,
    /// Wrong tries so far.
    pub attempts: i32,
    /// End of validity.
    pub expires_at: DateTime<Utc>,
    /// Set once used.
    pub consumed_at: Option<DateTime<Utc>>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

/// A new App session (only the token's hash is stored).
#[derive(Debug, Clone)]
pub struct NewAppSession {
    /// SHA-256 (hex) of the bearer token.
    pub token_hash: String,
    /// The case it is bound to.
    pub case_id: CaseId,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Start.
    pub created_at: DateTime<Utc>,
}

/// An App session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSession {
    /// The case it is bound to.
    pub case_id: CaseId,
    /// Last use (idle expiry counts from here).
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Set once revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}
