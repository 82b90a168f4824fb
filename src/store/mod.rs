//! The `Store` port: every durable record heyan keeps, in domain language. Two backends
//! implement it — SQLite (default) and PostgreSQL — and one conformance suite
//! (`tests/store`) holds both to the same behaviour.
//!
//! Invariants that span several statements live inside one store method and one
//! transaction; callers never hold a transaction. The SQL lives in one file per aggregate
//! (clients, cases, app, codes, photos, outbox, audit, limits, idempotency, review), written
//! once for both databases; `dialect` holds the few real differences.

mod app;
mod audit;
mod cases;
mod clients;
mod codes;
mod dialect;
mod idempotency;
mod limits;
mod outbox;
mod photos;
mod records;
pub mod review;
mod sms_outbox;
mod ticks;
pub mod transfer;

pub use app::AppStore;
pub use audit::{audit_hash, AuditStore, GENESIS_HASH};
pub use cases::CaseStore;
pub use clients::ClientStore;
pub use codes::CodeStore;
pub use dialect::{PostgresStore, SqlStore, SqliteStore};
pub use idempotency::IdempotencyStore;
pub use limits::LimitStore;
pub use outbox::OutboxStore;
pub use photos::PhotoStore;
pub use records::*;
pub use review::{
    ClaimOutcome, DecideOutcome, DecisionRecord, Lease, LoginFailure, NewDecision,
    NewReviewerSession, QueueCounts, QueueItem, QueuePage, QueueQuery, ReviewStore,
    ReviewerSession,
};
pub use sms_outbox::{NewSms, QueuedSms, SmsOutboxStore};
pub use ticks::{TickLease, TickStore};

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::{database_kind_of, DatabaseKind};
use crate::domain::case::{CaseStatus, PhotoKind};
use crate::domain::ids::{ClientId, ClientKeyId, ReviewerId};
use crate::domain::role::Role;
use crate::error_code::ErrorCode;

/// What can go wrong in storage, in terms callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record asked for with `get_*` does not exist.
    #[error("record not found")]
    NotFound,
    /// A uniqueness rule was broken; the code says which (e.g. `client_name_taken`).
    #[error("conflict: {0}")]
    Conflict(ErrorCode),
    /// A status change whose case was not in one of the transition's source statuses; the
    /// domain's reason (`Transition::check`) says why.
    #[error("transition refused: {0}")]
    Transition(crate::domain::case::TransitionError),
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

/// Durable storage for every record heyan keeps, one supertrait per aggregate; each
/// aggregate's SQL is written once, in its own file, for both backends.
#[async_trait]
pub trait Store:
    ClientStore
    + CaseStore
    + AppStore
    + CodeStore
    + PhotoStore
    + OutboxStore
    + SmsOutboxStore
    + AuditStore
    + LimitStore
    + IdempotencyStore
    + TickStore
    + review::ReviewStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is.
    fn kind(&self) -> DatabaseKind;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
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
        DatabaseKind::Sqlite => Arc::new(SqliteStore::connect(url, max_connections).await?),
        DatabaseKind::Postgres => Arc::new(PostgresStore::connect(url, max_connections).await?),
    };
    Ok(store)
}

/// Maps a unique violation to `Conflict(name)`; everything else is `Backend`. Both
/// backends report unique violations through sqlx's portable check, so the store method,
/// not the constraint name, decides the conflict's name.
fn on_unique(name: ErrorCode) -> impl Fn(sqlx::Error) -> StoreError {
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

/// `$1, $2, …, $n`; `null` for none, so `in (…)` stays valid SQL and matches nothing.
fn placeholders(n: usize) -> String {
    if n == 0 {
        return "null".into();
    }
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Ok` when a statement changed a row, `NotFound` when it changed none.
fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A value read from storage that the domain does not know: the database was changed
/// behind heyan's back.
fn corrupt(what: &str, raw: &str) -> StoreError {
    StoreError::Backend(anyhow::anyhow!("unknown {what} in database: {raw}"))
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
