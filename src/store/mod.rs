//! The `Store` port: every durable record heyan keeps, in domain language. Two backends
//! implement it — `sqlite` (default) and `postgres` — and one conformance suite
//! (`tests/store`) holds both to the same behaviour.
//!
//! Invariants that span several statements live inside one store method and one
//! transaction; callers never hold a transaction. SQL stays in the backend files.

mod audit;
pub mod postgres;
mod postgres_review;
mod records;
pub mod review;
pub mod sqlite;
mod sqlite_review;

pub use audit::{audit_hash, GENESIS_HASH};
pub use records::*;
pub use review::{
    ClaimOutcome, DecideOutcome, DecisionRecord, Lease, LoginFailure, NewDecision,
    NewReviewerSession, QueueCounts, QueueItem, QueuePage, QueueQuery, ReviewStore,
    ReviewerSession,
};

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::{database_kind_of, DatabaseKind};
use crate::domain::case::{CaseStatus, PhotoKind};
use crate::domain::ids::{CaseId, ClientId, ClientKeyId, EventId, ReviewerId};
use crate::domain::role::Role;

/// What can go wrong in storage, in terms callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record asked for with `get_*` does not exist.
    #[error("record not found")]
    NotFound,
    /// A uniqueness rule was broken; the name says which (e.g. `client_name_taken`).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Anything else: connection, SQL, data that does not convert.
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

/// A new filing-system client.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// Its id.
    pub id: ClientId,
    /// A unique, human-chosen name (the hosting provider).
    pub name: String,
    /// Where signed webhook events go.
    pub webhook_url: Option<String>,
    /// The webhook signing secret, sealed (`pii::seal`).
    pub webhook_secret_sealed: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A filing-system client as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its id.
    pub id: ClientId,
    /// Its unique name.
    pub name: String,
    /// Where signed webhook events go.
    pub webhook_url: Option<String>,
    /// The webhook signing secret, sealed.
    pub webhook_secret_sealed: Option<String>,
    /// Set once the client is revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A new API key for a client; only its hash is stored.
#[derive(Debug, Clone)]
pub struct NewClientKey {
    /// Its id.
    pub id: ClientKeyId,
    /// The client it belongs to.
    pub client_id: ClientId,
    /// SHA-256 (hex) of the key.
    pub key_hash: String,
    /// The key's first characters, for operators to tell keys apart.
    pub key_prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// An API key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    /// Its id.
    pub id: ClientKeyId,
    /// The client it belongs to.
    pub client_id: ClientId,
    /// The key's first characters.
    pub key_prefix: String,
    /// Set once the key is revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A new reviewer account.
#[derive(Debug, Clone)]
pub struct NewReviewer {
    /// Its id.
    pub id: ReviewerId,
    /// Unique login name.
    pub username: String,
    /// Name shown in the console and the audit log.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// What the account may do.
    pub roles: Vec<Role>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A reviewer account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Reviewer {
    /// Its id.
    pub id: ReviewerId,
    /// Unique login name.
    pub username: String,
    /// Name shown in the console.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// What the account may do.
    pub roles: Vec<Role>,
    /// Set once the account is disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Logins are refused until then (after too many failures).
    pub locked_until: Option<DateTime<Utc>>,
    /// Failed logins in a row since the last success or lock.
    pub failed_logins: i32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Reviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reviewer")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("disabled_at", &self.disabled_at)
            .field("locked_until", &self.locked_until)
            .field("failed_logins", &self.failed_logins)
            .finish_non_exhaustive()
    }
}

/// A new single-use token (only its HMAC is stored).
#[derive(Debug, Clone)]
pub struct NewSingleUseToken {
    /// What it is for, e.g. `liveness_nonce`.
    pub purpose: String,
    /// HMAC (hex) of the token.
    pub token_hash: String,
    /// What it grants access to.
    pub subject: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// What happened when a single-use token was presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome {
    /// This call used the token; here is what it grants.
    Consumed {
        /// The token's subject.
        subject: String,
    },
    /// Someone used it before.
    AlreadyUsed,
    /// It expired unused.
    Expired,
    /// No such token.
    Unknown,
}

/// Durable storage for every record heyan keeps; the review desk's part is the
/// `ReviewStore` supertrait.
#[async_trait]
pub trait Store: review::ReviewStore + Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> DatabaseKind;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Inserts a client together with its first key, in one transaction.
    /// `Conflict("client_name_taken")` when the name is in use.
    async fn insert_client(&self, client: &NewClient, key: &NewClientKey)
        -> Result<(), StoreError>;

    /// The client and key for a key hash, when the key exists (revoked or not).
    async fn find_client_by_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(Client, ClientKey)>, StoreError>;

    /// The client with this id.
    async fn get_client(&self, id: &ClientId) -> Result<Client, StoreError>;

    /// All clients, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;

    /// Inserts a reviewer; `Conflict("reviewer_username_taken")` when the name is in use.
    async fn insert_reviewer(&self, reviewer: &NewReviewer) -> Result<(), StoreError>;

    /// The reviewer with this login name.
    async fn find_reviewer_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Reviewer>, StoreError>;

    /// Stores a single-use token; `Conflict("token_exists")` for a duplicate.
    async fn insert_single_use_token(&self, token: &NewSingleUseToken) -> Result<(), StoreError>;

    /// Uses a token at `now`. Of any number of concurrent callers, exactly one gets
    /// `Consumed`.
    async fn consume_single_use_token(
        &self,
        purpose: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ConsumeOutcome, StoreError>;

    /// Adds one to the counter `key` for the window starting at `window_start` and returns
    /// the new count. Concurrent increments are never lost.
    async fn increment_counter(
        &self,
        key: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// The current count of a counter window (0 when absent).
    async fn get_counter(&self, key: &str, window_start: DateTime<Utc>) -> Result<i64, StoreError>;

    /// Deletes counter windows that expired before `now`; returns how many.
    async fn delete_expired_counters(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Adds a key to a client (rotation); `Conflict("client_key_exists")` on a hash clash.
    async fn insert_client_key(&self, key: &NewClientKey) -> Result<(), StoreError>;

    /// A client's keys, oldest first.
    async fn list_client_keys(&self, client_id: &ClientId) -> Result<Vec<ClientKey>, StoreError>;

    /// Revokes one key; `NotFound` when it does not exist or is already revoked.
    async fn revoke_client_key(
        &self,
        key_id: &ClientKeyId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Revokes a client and with it every key; `NotFound` when absent or already revoked.
    async fn revoke_client(
        &self,
        client_id: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Inserts a case with its websites; `Conflict("filing_id_taken")` when the client
    /// registered this filing id before.
    async fn insert_case(&self, case: &NewCase) -> Result<(), StoreError>;

    /// The case with this id (any client's: callers check ownership).
    async fn get_case(&self, id: &CaseId) -> Result<CaseRecord, StoreError>;

    /// A client's case by the filing system's id.
    async fn find_case_by_filing_id(
        &self,
        client_id: &ClientId,
        filing_id: &str,
    ) -> Result<Option<CaseRecord>, StoreError>;

    /// The case whose QR code carries this download token.
    async fn find_case_by_download_token(
        &self,
        token: &str,
    ) -> Result<Option<CaseRecord>, StoreError>;

    /// A case's websites, in registered order.
    async fn list_websites(&self, case_id: &CaseId) -> Result<Vec<WebsiteRecord>, StoreError>;

    /// Counts one scan of the case's QR code.
    async fn record_scan(&self, case_id: &CaseId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Issues a new verification code for an open case: voids earlier codes, stores the
    /// new one, moves the case to `code_issued` and queues `event`, in one transaction.
    /// `Conflict("case_not_open")` when the case cannot take a code.
    async fn issue_code(
        &self,
        code: &NewVerificationCode,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError>;

    /// Redeems a code of a case at `now`. Of concurrent redemptions of one code exactly one
    /// gets `Redeemed`; that one also moves the case to `redeemed`.
    async fn redeem_code(
        &self,
        case_id: &CaseId,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError>;

    /// Blocks redemption for the case until `until` (after too many wrong codes).
    async fn lock_redemption(
        &self,
        case_id: &CaseId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Moves a redeemed case into review with its due time; `Conflict("case_not_redeemed")`
    /// when it is not redeemed (any more).
    async fn submit_case(
        &self,
        case_id: &CaseId,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Cancels a case and queues `event`, in one transaction; `Conflict("case_cancelled")`
    /// when it was cancelled before. Photos are removed separately (`delete_photo`).
    async fn cancel_case(
        &self,
        case_id: &CaseId,
        now: DateTime<Utc>,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError>;

    /// Stores a photo, replacing one of the same kind (a retake), and marks its step done
    /// in the same transaction; returns the replaced photo's blob id so its blob can be
    /// deleted.
    async fn upsert_photo(&self, photo: &PhotoRecord) -> Result<Option<String>, StoreError>;

    /// A case's photos.
    async fn list_photos(&self, case_id: &CaseId) -> Result<Vec<PhotoRecord>, StoreError>;

    /// Removes a photo's row (after its blob is deleted).
    async fn delete_photo(&self, case_id: &CaseId, kind: PhotoKind) -> Result<(), StoreError>;

    /// Queues a webhook event.
    async fn insert_event(&self, event: &NewEvent) -> Result<(), StoreError>;

    /// Leases up to `limit` due, undelivered events until `lease_until`; an event leased by
    /// one worker is not handed to another before the lease ends.
    async fn claim_due_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Records a successful delivery.
    async fn mark_event_delivered(
        &self,
        id: &EventId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records a failed try: the next one at `next_attempt_at`, or none when `give_up`.
    async fn mark_event_failed(&self, failure: &EventFailure) -> Result<(), StoreError>;

    /// An event by id (tests and operators).
    async fn get_event(&self, id: &EventId) -> Result<OutboxEvent, StoreError>;

    /// Appends to the audit log, chaining the entry to the previous one. Concurrent
    /// writers never fork the chain: each sequence number is taken once.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// Audit entries in order, optionally for one case, after sequence `after`.
    async fn list_audit(
        &self,
        case_id: Option<&CaseId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Starts an idempotent request: `Fresh` claims the key for this request.
    async fn begin_idempotent(
        &self,
        begin: &IdempotencyStart,
    ) -> Result<IdempotencyState, StoreError>;

    /// Stores the response of a request started with `begin_idempotent`.
    async fn finish_idempotent(
        &self,
        client_id: &ClientId,
        key: &str,
        status: u16,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Releases a key whose request failed, so a retry can run again.
    async fn abandon_idempotent(&self, client_id: &ClientId, key: &str) -> Result<(), StoreError>;

    /// Deletes idempotency records that expired before `now`; returns how many.
    async fn delete_expired_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The newest eligible, open case with a website whose principal's mobile has this HMAC.
    async fn find_open_case_by_mobile(
        &self,
        mobile_hmac: &str,
    ) -> Result<Option<CaseRecord>, StoreError>;

    /// Stores a sent SMS code.
    async fn insert_sms_challenge(&self, challenge: &NewSmsChallenge) -> Result<(), StoreError>;

    /// The newest SMS challenge for a phone.
    async fn latest_sms_challenge(
        &self,
        phone_hmac: &str,
    ) -> Result<Option<SmsChallenge>, StoreError>;

    /// Counts a wrong try; returns the tries so far.
    async fn fail_sms_challenge(&self, id: i64, now: DateTime<Utc>) -> Result<i32, StoreError>;

    /// Uses a challenge if it is still unused, under `max_attempts` and unexpired; of
    /// concurrent callers at most one gets `true`.
    async fn consume_sms_challenge(
        &self,
        id: i64,
        max_attempts: i32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Starts an App session and marks the case's phone as verified, in one transaction.
    async fn start_app_session(&self, session: &NewAppSession) -> Result<(), StoreError>;

    /// The session with this token hash.
    async fn find_app_session(&self, token_hash: &str) -> Result<Option<AppSession>, StoreError>;

    /// Records a use of the session (idle expiry restarts).
    async fn touch_app_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Starts a cooldown for `key` until `until` unless one is still running at `now`;
    /// returns the running cooldown's end when it is. Atomic across instances.
    async fn claim_cooldown(
        &self,
        key: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Ends a cooldown early (the action it guarded did not happen).
    async fn release_cooldown(&self, key: &str) -> Result<(), StoreError>;

    /// Records whether the App check happens in Shanghai (never the coordinates).
    async fn record_location(
        &self,
        case_id: &CaseId,
        in_shanghai: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records what a passed liveness check showed (JSON summary, no image data).
    async fn record_liveness(
        &self,
        case_id: &CaseId,
        result: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records the principal's consent (text version and hash) on the case.
    async fn record_consent(
        &self,
        case_id: &CaseId,
        version: &str,
        text_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// The case column holding the time a photo's step was done.
fn step_column(kind: PhotoKind) -> &'static str {
    match kind {
        PhotoKind::Liveness => "liveness_at",
        PhotoKind::Handheld => "handheld_at",
        PhotoKind::Front => "front_at",
        PhotoKind::Back => "back_at",
    }
}

/// `, <step>_at = null` for each step a rejection reopens (each column once; an approval
/// reopens nothing), appended to a decision's `update cases set …`.
fn reopened_columns(approved: bool, reopen: &[PhotoKind]) -> String {
    if approved {
        return String::new();
    }
    let mut columns: Vec<&str> = reopen.iter().map(|k| step_column(*k)).collect();
    columns.sort_unstable();
    columns.dedup();
    columns.iter().map(|c| format!(", {c} = null")).collect()
}

/// Opens the backend named by the URL's scheme (without migrating).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Arc<dyn Store>> {
    let kind = database_kind_of(url).map_err(anyhow::Error::msg)?;
    let store: Arc<dyn Store> = match kind {
        DatabaseKind::Sqlite => Arc::new(sqlite::SqliteStore::connect(url, max_connections).await?),
        DatabaseKind::Postgres => {
            Arc::new(postgres::PostgresStore::connect(url, max_connections).await?)
        }
    };
    Ok(store)
}

/// Maps a unique violation to `Conflict(name)`; everything else is `Backend`. Both
/// backends report unique violations through sqlx's portable check, so the store method,
/// not the constraint name, decides the conflict's name.
fn on_unique(name: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(name),
        _ => StoreError::Backend(err.into()),
    }
}

/// Any other database error.
fn backend(err: sqlx::Error) -> StoreError {
    StoreError::Backend(err.into())
}

/// Converts a role list read from storage.
fn roles_from_db(raw: &str) -> Result<Vec<Role>, StoreError> {
    Role::parse_list(raw).map_err(|e| StoreError::Backend(anyhow::anyhow!(e)))
}

/// Interprets an existing idempotency row for a request with `request_hash`.
fn idempotency_state(
    row: Option<(String, Option<i64>, Option<String>)>,
    request_hash: &str,
) -> IdempotencyState {
    match row {
        // Expired and deleted between our insert and read: treat as in progress; the client retries.
        None => IdempotencyState::InProgress,
        Some((hash, _, _)) if hash != request_hash => IdempotencyState::Mismatch,
        Some((_, Some(status), Some(body))) => IdempotencyState::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body,
        },
        Some(_) => IdempotencyState::InProgress,
    }
}

/// Converts a status read from storage.
fn status_from_db(raw: &str) -> Result<CaseStatus, StoreError> {
    CaseStatus::parse(raw).ok_or_else(|| {
        StoreError::Backend(anyhow::anyhow!("unknown case status in database: {raw}"))
    })
}

/// Converts a photo kind read from storage.
fn kind_from_db(raw: &str) -> Result<PhotoKind, StoreError> {
    PhotoKind::parse(raw).ok_or_else(|| {
        StoreError::Backend(anyhow::anyhow!("unknown photo kind in database: {raw}"))
    })
}

/// Converts an id read from storage.
fn id_from_db<T>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, crate::domain::ids::IdError>,
) -> Result<T, StoreError> {
    parse(raw).map_err(|_| StoreError::Backend(anyhow::anyhow!("malformed id in database: {raw}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::reopened_columns;
    use crate::domain::case::PhotoKind;

    #[test]
    fn a_rejection_clears_each_reopened_step_once_and_an_approval_none() {
        let reopen = [PhotoKind::Front, PhotoKind::Liveness, PhotoKind::Front];
        assert_eq!(
            reopened_columns(false, &reopen),
            ", front_at = null, liveness_at = null"
        );
        assert_eq!(reopened_columns(false, &[]), "");
        assert_eq!(reopened_columns(true, &reopen), "");
    }

    fn names(dir: &str) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .expect("migrations folder exists")
            .map(|e| {
                e.expect("readable entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn both_backends_have_the_same_migration_names() {
        let root = env!("CARGO_MANIFEST_DIR");
        let sqlite = names(&format!("{root}/migrations/sqlite"));
        let postgres = names(&format!("{root}/migrations/postgres"));
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, postgres);
    }
}
