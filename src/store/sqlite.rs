//! SQLite implementation of `Store` (the default backend): one file, WAL mode, created
//! and migrated on first start. Times are stored as INTEGER milliseconds (UTC).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};

use super::{
    audit_hash, backend, id_from_db, idempotency_state, kind_from_db, on_unique, roles_from_db,
    status_from_db, step_column, AppSession, AuditEntry, CaseRecord, Client, ClientKey,
    ConsumeOutcome, EventFailure, IdempotencyStart, IdempotencyState, NewAppSession, NewAuditEntry,
    NewCase, NewClient, NewClientKey, NewEvent, NewReviewer, NewSingleUseToken, NewSmsChallenge,
    NewVerificationCode, OutboxEvent, PhotoRecord, Progress, RedeemOutcome, Reviewer, SmsChallenge,
    Store, StoreError, WebsiteRecord, GENESIS_HASH,
};
use crate::config::DatabaseKind;
use crate::domain::case::PhotoKind;
use crate::domain::ids::{CaseId, ClientId, ClientKeyId, EventId, ReviewerId};
use crate::domain::role::Role;

/// SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file named by `url`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("database.url `{url}` is not a valid SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Writers queue on the file lock; wait for it rather than fail under bursts.
            .busy_timeout(Duration::from_secs(10));
        create_parent_dir(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the SQLite database at `{url}`"))?;
        Ok(Self { pool })
    }
}

fn create_parent_dir(file: &Path) -> anyhow::Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database folder {}", dir.display())),
        _ => Ok(()),
    }
}

pub(super) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("timestamp out of range: {ms}")))
}

pub(super) fn opt_from_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(from_ms).transpose()
}

#[derive(FromRow)]
struct ClientRow {
    id: String,
    name: String,
    webhook_url: Option<String>,
    webhook_secret_sealed: Option<String>,
    revoked_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            id: id_from_db(&row.id, ClientId::parse)?,
            name: row.name,
            webhook_url: row.webhook_url,
            webhook_secret_sealed: row.webhook_secret_sealed,
            revoked_at: opt_from_ms(row.revoked_at)?,
            created_at: from_ms(row.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct ClientKeyRow {
    key_id: String,
    key_client_id: String,
    key_prefix: String,
    key_revoked_at: Option<i64>,
    key_created_at: i64,
}

impl TryFrom<ClientKeyRow> for ClientKey {
    type Error = StoreError;
    fn try_from(row: ClientKeyRow) -> Result<Self, StoreError> {
        Ok(ClientKey {
            id: id_from_db(&row.key_id, ClientKeyId::parse)?,
            client_id: id_from_db(&row.key_client_id, ClientId::parse)?,
            key_prefix: row.key_prefix,
            revoked_at: opt_from_ms(row.key_revoked_at)?,
            created_at: from_ms(row.key_created_at)?,
        })
    }
}

#[derive(FromRow)]
pub(super) struct ReviewerRow {
    id: String,
    username: String,
    display_name: String,
    password_hash: String,
    roles: String,
    disabled_at: Option<i64>,
    locked_until: Option<i64>,
    failed_logins: i32,
    created_at: i64,
}

impl TryFrom<ReviewerRow> for Reviewer {
    type Error = StoreError;
    fn try_from(row: ReviewerRow) -> Result<Self, StoreError> {
        Ok(Reviewer {
            id: id_from_db(&row.id, ReviewerId::parse)?,
            username: row.username,
            display_name: row.display_name,
            password_hash: row.password_hash,
            roles: roles_from_db(&row.roles)?,
            disabled_at: opt_from_ms(row.disabled_at)?,
            locked_until: opt_from_ms(row.locked_until)?,
            failed_logins: row.failed_logins,
            created_at: from_ms(row.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct TokenStateRow {
    consumed_at: Option<i64>,
}

#[derive(FromRow)]
pub(super) struct CaseRow {
    id: String,
    client_id: String,
    filing_id: String,
    region: String,
    subject_type: String,
    subject_name_sealed: String,
    subject_name_masked: String,
    eligible: bool,
    ineligible_reason: Option<String>,
    status: String,
    download_token: String,
    scan_count: i64,
    redeem_locked_until: Option<i64>,
    consent_version: Option<String>,
    location_in_shanghai: Option<bool>,
    liveness_result: Option<String>,
    phone_verified_at: Option<i64>,
    consent_at: Option<i64>,
    liveness_at: Option<i64>,
    handheld_at: Option<i64>,
    front_at: Option<i64>,
    back_at: Option<i64>,
    code_issued_at: Option<i64>,
    redeemed_at: Option<i64>,
    submitted_at: Option<i64>,
    due_at: Option<i64>,
    decided_at: Option<i64>,
    cancelled_at: Option<i64>,
    purged_at: Option<i64>,
    last_activity_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<CaseRow> for CaseRecord {
    type Error = StoreError;
    fn try_from(r: CaseRow) -> Result<Self, StoreError> {
        Ok(CaseRecord {
            id: id_from_db(&r.id, CaseId::parse)?,
            client_id: id_from_db(&r.client_id, ClientId::parse)?,
            filing_id: r.filing_id,
            region: r.region,
            subject_type: r.subject_type,
            subject_name_sealed: r.subject_name_sealed,
            subject_name_masked: r.subject_name_masked,
            eligible: r.eligible,
            ineligible_reason: r.ineligible_reason,
            status: status_from_db(&r.status)?,
            download_token: r.download_token,
            scan_count: r.scan_count,
            redeem_locked_until: opt_from_ms(r.redeem_locked_until)?,
            consent_version: r.consent_version,
            location_in_shanghai: r.location_in_shanghai,
            liveness_result: r.liveness_result,
            progress: Progress {
                phone_verified_at: opt_from_ms(r.phone_verified_at)?,
                consent_at: opt_from_ms(r.consent_at)?,
                liveness_at: opt_from_ms(r.liveness_at)?,
                handheld_at: opt_from_ms(r.handheld_at)?,
                front_at: opt_from_ms(r.front_at)?,
                back_at: opt_from_ms(r.back_at)?,
                code_issued_at: opt_from_ms(r.code_issued_at)?,
                redeemed_at: opt_from_ms(r.redeemed_at)?,
                submitted_at: opt_from_ms(r.submitted_at)?,
            },
            due_at: opt_from_ms(r.due_at)?,
            decided_at: opt_from_ms(r.decided_at)?,
            cancelled_at: opt_from_ms(r.cancelled_at)?,
            purged_at: opt_from_ms(r.purged_at)?,
            last_activity_at: from_ms(r.last_activity_at)?,
            created_at: from_ms(r.created_at)?,
            updated_at: from_ms(r.updated_at)?,
        })
    }
}

#[derive(FromRow)]
struct WebsiteRow {
    position: i32,
    domain: String,
    principal_name_sealed: String,
    principal_name_masked: String,
    id_type: String,
    id_number_sealed: String,
    id_number_masked: String,
    id_number_hmac: String,
    mobile_sealed: String,
    mobile_masked: String,
    mobile_hmac: String,
}

impl From<WebsiteRow> for WebsiteRecord {
    fn from(r: WebsiteRow) -> Self {
        WebsiteRecord {
            position: r.position,
            domain: r.domain,
            principal_name_sealed: r.principal_name_sealed,
            principal_name_masked: r.principal_name_masked,
            id_type: r.id_type,
            id_number_sealed: r.id_number_sealed,
            id_number_masked: r.id_number_masked,
            id_number_hmac: r.id_number_hmac,
            mobile_sealed: r.mobile_sealed,
            mobile_masked: r.mobile_masked,
            mobile_hmac: r.mobile_hmac,
        }
    }
}

#[derive(FromRow)]
struct PhotoRow {
    case_id: String,
    kind: String,
    blob_id: String,
    width: i32,
    height: i32,
    size_bytes: i64,
    sha256: String,
    original_sha256: String,
    created_at: i64,
}

impl TryFrom<PhotoRow> for PhotoRecord {
    type Error = StoreError;
    fn try_from(r: PhotoRow) -> Result<Self, StoreError> {
        Ok(PhotoRecord {
            case_id: id_from_db(&r.case_id, CaseId::parse)?,
            kind: kind_from_db(&r.kind)?,
            blob_id: r.blob_id,
            width: r.width,
            height: r.height,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            original_sha256: r.original_sha256,
            created_at: from_ms(r.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct EventRow {
    id: String,
    client_id: String,
    event_type: String,
    payload: String,
    attempts: i32,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
    gave_up_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
}

impl TryFrom<EventRow> for OutboxEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(OutboxEvent {
            id: id_from_db(&r.id, EventId::parse)?,
            client_id: id_from_db(&r.client_id, ClientId::parse)?,
            event_type: r.event_type,
            payload: r.payload,
            attempts: r.attempts,
            next_attempt_at: from_ms(r.next_attempt_at)?,
            delivered_at: opt_from_ms(r.delivered_at)?,
            gave_up_at: opt_from_ms(r.gave_up_at)?,
            last_error: r.last_error,
            created_at: from_ms(r.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    actor_type: String,
    actor_id: String,
    action: String,
    case_id: Option<String>,
    ip: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            seq: r.seq,
            entry: NewAuditEntry {
                at: from_ms(r.at)?,
                actor_type: r.actor_type,
                actor_id: r.actor_id,
                action: r.action,
                case_id: r.case_id,
                ip: r.ip,
                details: r.details,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

#[derive(FromRow)]
struct CodeStateRow {
    redeemed_at: Option<i64>,
    voided_at: Option<i64>,
    expires_at: i64,
}

#[derive(FromRow)]
struct IdempotencyRow {
    request_hash: String,
    response_status: Option<i64>,
    response_body: Option<String>,
}

#[derive(FromRow)]
struct SmsChallengeRow {
    id: i64,
    case_id: String,
    code_hash: String,
    attempts: i32,
    expires_at: i64,
    consumed_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<SmsChallengeRow> for SmsChallenge {
    type Error = StoreError;
    fn try_from(r: SmsChallengeRow) -> Result<Self, StoreError> {
        Ok(SmsChallenge {
            id: r.id,
            case_id: id_from_db(&r.case_id, CaseId::parse)?,
            code_hash: r.code_hash,
            attempts: r.attempts,
            expires_at: from_ms(r.expires_at)?,
            consumed_at: opt_from_ms(r.consumed_at)?,
            created_at: from_ms(r.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct AppSessionRow {
    case_id: String,
    last_seen_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<AppSessionRow> for AppSession {
    type Error = StoreError;
    fn try_from(r: AppSessionRow) -> Result<Self, StoreError> {
        Ok(AppSession {
            case_id: id_from_db(&r.case_id, CaseId::parse)?,
            last_seen_at: from_ms(r.last_seen_at)?,
            expires_at: from_ms(r.expires_at)?,
            revoked_at: opt_from_ms(r.revoked_at)?,
        })
    }
}

pub(super) const CASE_COLUMNS: &str = "id, client_id, filing_id, region, subject_type, subject_name_sealed,
    subject_name_masked, eligible, ineligible_reason, status, download_token, scan_count,
    redeem_locked_until, consent_version, location_in_shanghai, liveness_result, phone_verified_at, consent_at, liveness_at, handheld_at, front_at,
    back_at, code_issued_at, redeemed_at, submitted_at, due_at, decided_at, cancelled_at,
    purged_at, last_activity_at, created_at, updated_at";

/// The columns `ReviewerRow` reads.
pub(super) const REVIEWER_COLUMNS: &str =
    "id, username, display_name, password_hash, roles, disabled_at, locked_until, failed_logins, created_at";

const KEY_COLUMNS: &str = "k.id as key_id, k.client_id as key_client_id, k.key_prefix,
    k.revoked_at as key_revoked_at, k.created_at as key_created_at";

const EVENT_COLUMNS: &str = "id, client_id, event_type, payload, attempts, next_attempt_at,
    delivered_at, gave_up_at, last_error, created_at";

/// How many times an audit append retries after losing the race for a sequence number.
const AUDIT_RETRIES: usize = 64;

const CLIENT_COLUMNS: &str =
    "c.id, c.name, c.webhook_url, c.webhook_secret_sealed, c.revoked_at, c.created_at";

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.pool)
            .await
            .context("applying SQLite migrations")?;
        Ok(())
    }

    async fn insert_client(
        &self,
        client: &NewClient,
        key: &NewClientKey,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let at = to_ms(client.created_at);
        sqlx::query(
            "insert into clients (id, name, webhook_url, webhook_secret_sealed, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(client.id.as_str())
        .bind(&client.name)
        .bind(&client.webhook_url)
        .bind(&client.webhook_secret_sealed)
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(on_unique("client_name_taken"))?;
        sqlx::query(
            "insert into client_keys (id, client_id, key_hash, key_prefix, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.as_str())
        .bind(key.client_id.as_str())
        .bind(&key.key_hash)
        .bind(&key.key_prefix)
        .bind(to_ms(key.created_at))
        .bind(to_ms(key.created_at))
        .execute(&mut *tx)
        .await
        .map_err(on_unique("client_key_exists"))?;
        tx.commit().await.map_err(backend)
    }

    async fn find_client_by_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(Client, ClientKey)>, StoreError> {
        let sql = format!(
            "select {CLIENT_COLUMNS}, k.id as key_id, k.client_id as key_client_id,
                    k.key_prefix, k.revoked_at as key_revoked_at, k.created_at as key_created_at
             from client_keys k join clients c on c.id = k.client_id
             where k.key_hash = ?"
        );
        let row = sqlx::query(&sql)
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let client = Client::try_from(ClientRow::from_row(&row).map_err(backend)?)?;
        let key = ClientKey::try_from(ClientKeyRow::from_row(&row).map_err(backend)?)?;
        Ok(Some((client, key)))
    }

    async fn get_client(&self, id: &ClientId) -> Result<Client, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS} from clients c where c.id = ?");
        sqlx::query_as::<_, ClientRow>(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS} from clients c order by c.created_at, c.id");
        sqlx::query_as::<_, ClientRow>(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .into_iter()
            .map(Client::try_from)
            .collect()
    }

    async fn insert_reviewer(&self, reviewer: &NewReviewer) -> Result<(), StoreError> {
        let at = to_ms(reviewer.created_at);
        sqlx::query(
            "insert into reviewers (id, username, display_name, password_hash, roles, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(reviewer.id.as_str())
        .bind(&reviewer.username)
        .bind(&reviewer.display_name)
        .bind(&reviewer.password_hash)
        .bind(Role::join(&reviewer.roles))
        .bind(at)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(on_unique("reviewer_username_taken"))?;
        Ok(())
    }

    async fn find_reviewer_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Reviewer>, StoreError> {
        let sql = format!("select {REVIEWER_COLUMNS} from reviewers where username = ?");
        sqlx::query_as::<_, ReviewerRow>(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(Reviewer::try_from)
            .transpose()
    }

    async fn insert_single_use_token(&self, token: &NewSingleUseToken) -> Result<(), StoreError> {
        let at = to_ms(token.created_at);
        sqlx::query(
            "insert into single_use_tokens (purpose, token_hash, subject, expires_at, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.purpose)
        .bind(&token.token_hash)
        .bind(&token.subject)
        .bind(to_ms(token.expires_at))
        .bind(at)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(on_unique("token_exists"))?;
        Ok(())
    }

    async fn consume_single_use_token(
        &self,
        purpose: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ConsumeOutcome, StoreError> {
        // The conditional update is the whole guarantee: only one caller can flip
        // consumed_at from null.
        let consumed: Option<(String,)> = sqlx::query_as(
            "update single_use_tokens set consumed_at = ?, updated_at = ?
             where purpose = ? and token_hash = ? and consumed_at is null and expires_at > ?
             returning subject",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(purpose)
        .bind(token_hash)
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some((subject,)) = consumed {
            return Ok(ConsumeOutcome::Consumed { subject });
        }
        let state = sqlx::query_as::<_, TokenStateRow>(
            "select consumed_at from single_use_tokens where purpose = ? and token_hash = ?",
        )
        .bind(purpose)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(match state {
            None => ConsumeOutcome::Unknown,
            Some(TokenStateRow {
                consumed_at: Some(_),
            }) => ConsumeOutcome::AlreadyUsed,
            Some(TokenStateRow { consumed_at: None }) => ConsumeOutcome::Expired,
        })
    }

    async fn increment_counter(
        &self,
        key: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(
            "insert into rate_counters (counter_key, window_start, count, expires_at, created_at, updated_at)
             values (?, ?, 1, ?, ?, ?)
             on conflict (counter_key, window_start)
             do update set count = rate_counters.count + 1, updated_at = excluded.updated_at
             returning count",
        )
        .bind(key)
        .bind(to_ms(window_start))
        .bind(to_ms(expires_at))
        .bind(to_ms(now))
        .bind(to_ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count)
    }

    async fn get_counter(&self, key: &str, window_start: DateTime<Utc>) -> Result<i64, StoreError> {
        let count: Option<(i64,)> = sqlx::query_as(
            "select count from rate_counters where counter_key = ? and window_start = ?",
        )
        .bind(key)
        .bind(to_ms(window_start))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count.map_or(0, |(c,)| c))
    }

    async fn delete_expired_counters(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from rate_counters where expires_at < ?")
            .bind(to_ms(now))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn insert_client_key(&self, key: &NewClientKey) -> Result<(), StoreError> {
        let at = to_ms(key.created_at);
        sqlx::query(
            "insert into client_keys (id, client_id, key_hash, key_prefix, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.as_str())
        .bind(key.client_id.as_str())
        .bind(&key.key_hash)
        .bind(&key.key_prefix)
        .bind(at)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(on_unique("client_key_exists"))?;
        Ok(())
    }

    async fn list_client_keys(&self, client_id: &ClientId) -> Result<Vec<ClientKey>, StoreError> {
        let sql = format!("select {KEY_COLUMNS} from client_keys k where k.client_id = ? order by k.created_at, k.id");
        sqlx::query_as::<_, ClientKeyRow>(&sql)
            .bind(client_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .into_iter()
            .map(ClientKey::try_from)
            .collect()
    }

    async fn revoke_client_key(
        &self,
        key_id: &ClientKeyId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "update client_keys set revoked_at = ?, updated_at = ? where id = ? and revoked_at is null",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(key_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn revoke_client(
        &self,
        client_id: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query(
            "update clients set revoked_at = ?, updated_at = ? where id = ? and revoked_at is null",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(client_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("update client_keys set revoked_at = ?, updated_at = ? where client_id = ? and revoked_at is null")
            .bind(to_ms(now))
            .bind(to_ms(now))
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn insert_case(&self, case: &NewCase) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let at = to_ms(case.created_at);
        sqlx::query(
            "insert into cases (id, client_id, filing_id, region, subject_type, subject_name_sealed,
                 subject_name_masked, eligible, ineligible_reason, status, download_token,
                 last_activity_at, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(case.id.as_str())
        .bind(case.client_id.as_str())
        .bind(&case.filing_id)
        .bind(&case.region)
        .bind(&case.subject_type)
        .bind(&case.subject_name_sealed)
        .bind(&case.subject_name_masked)
        .bind(case.eligible)
        .bind(&case.ineligible_reason)
        .bind(case.status.as_str())
        .bind(&case.download_token)
        .bind(at)
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(on_unique("filing_id_taken"))?;
        for w in &case.websites {
            sqlx::query(
                "insert into websites (case_id, position, domain, principal_name_sealed,
                     principal_name_masked, id_type, id_number_sealed, id_number_masked,
                     id_number_hmac, mobile_sealed, mobile_masked, mobile_hmac, created_at, updated_at)
                 values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(case.id.as_str())
            .bind(w.position)
            .bind(&w.domain)
            .bind(&w.principal_name_sealed)
            .bind(&w.principal_name_masked)
            .bind(&w.id_type)
            .bind(&w.id_number_sealed)
            .bind(&w.id_number_masked)
            .bind(&w.id_number_hmac)
            .bind(&w.mobile_sealed)
            .bind(&w.mobile_masked)
            .bind(&w.mobile_hmac)
            .bind(at)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn get_case(&self, id: &CaseId) -> Result<CaseRecord, StoreError> {
        let sql = format!("select {CASE_COLUMNS} from cases where id = ?");
        sqlx::query_as::<_, CaseRow>(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn find_case_by_filing_id(
        &self,
        client_id: &ClientId,
        filing_id: &str,
    ) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!("select {CASE_COLUMNS} from cases where client_id = ? and filing_id = ?");
        sqlx::query_as::<_, CaseRow>(&sql)
            .bind(client_id.as_str())
            .bind(filing_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(CaseRecord::try_from)
            .transpose()
    }

    async fn find_case_by_download_token(
        &self,
        token: &str,
    ) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!("select {CASE_COLUMNS} from cases where download_token = ?");
        sqlx::query_as::<_, CaseRow>(&sql)
            .bind(token)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(CaseRecord::try_from)
            .transpose()
    }

    async fn list_websites(&self, case_id: &CaseId) -> Result<Vec<WebsiteRecord>, StoreError> {
        let rows = sqlx::query_as::<_, WebsiteRow>(
            "select position, domain, principal_name_sealed, principal_name_masked, id_type,
                    id_number_sealed, id_number_masked, id_number_hmac, mobile_sealed,
                    mobile_masked, mobile_hmac
             from websites where case_id = ? order by position",
        )
        .bind(case_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(WebsiteRecord::from).collect())
    }

    async fn record_scan(&self, case_id: &CaseId, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("update cases set scan_count = scan_count + 1, updated_at = ? where id = ?")
            .bind(to_ms(now))
            .bind(case_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn issue_code(
        &self,
        code: &NewVerificationCode,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        let at = to_ms(code.created_at);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let moved = sqlx::query(
            "update cases set status = 'code_issued', code_issued_at = ?, redeemed_at = null,
                 last_activity_at = ?, updated_at = ?
             where id = ? and status in ('awaiting_app', 'code_issued', 'rejected')",
        )
        .bind(at)
        .bind(at)
        .bind(at)
        .bind(code.case_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if moved.rows_affected() == 0 {
            return Err(StoreError::Conflict("case_not_open"));
        }
        sqlx::query("update verification_codes set voided_at = ?, updated_at = ? where case_id = ? and voided_at is null and redeemed_at is null")
            .bind(at)
            .bind(at)
            .bind(code.case_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "insert into verification_codes (case_id, code_hash, expires_at, created_at, updated_at)
             values (?, ?, ?, ?, ?)",
        )
        .bind(code.case_id.as_str())
        .bind(&code.code_hash)
        .bind(to_ms(code.expires_at))
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(event) = event {
            insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn redeem_code(
        &self,
        case_id: &CaseId,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        let at = to_ms(now);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The conditional update takes the write lock first, so racers queue behind it and
        // then see redeemed_at set.
        let won = sqlx::query(
            "update verification_codes set redeemed_at = ?, updated_at = ?
             where case_id = ? and code_hash = ? and redeemed_at is null and voided_at is null
               and expires_at > ?",
        )
        .bind(at)
        .bind(at)
        .bind(case_id.as_str())
        .bind(code_hash)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if won.rows_affected() == 1 {
            sqlx::query(
                "update cases set status = 'redeemed', redeemed_at = ?, last_activity_at = ?, updated_at = ?
                 where id = ?",
            )
            .bind(at)
            .bind(at)
            .bind(at)
            .bind(case_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            return Ok(RedeemOutcome::Redeemed);
        }
        let state = sqlx::query_as::<_, CodeStateRow>(
            "select redeemed_at, voided_at, expires_at from verification_codes
             where case_id = ? and code_hash = ? order by id desc limit 1",
        )
        .bind(case_id.as_str())
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(match state {
            Some(CodeStateRow {
                redeemed_at: Some(_),
                ..
            }) => RedeemOutcome::AlreadyUsed,
            Some(CodeStateRow {
                voided_at: None,
                expires_at,
                ..
            }) if expires_at <= at => RedeemOutcome::Expired,
            _ => RedeemOutcome::Wrong,
        })
    }

    async fn lock_redemption(
        &self,
        case_id: &CaseId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("update cases set redeem_locked_until = ?, updated_at = ? where id = ?")
            .bind(to_ms(until))
            .bind(to_ms(now))
            .bind(case_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn submit_case(
        &self,
        case_id: &CaseId,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = to_ms(now);
        let done = sqlx::query(
            "update cases set status = 'in_review', submitted_at = ?, due_at = ?,
                 last_activity_at = ?, updated_at = ?
             where id = ? and status = 'redeemed'",
        )
        .bind(at)
        .bind(to_ms(due_at))
        .bind(at)
        .bind(at)
        .bind(case_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("case_not_redeemed"));
        }
        Ok(())
    }

    async fn cancel_case(
        &self,
        case_id: &CaseId,
        now: DateTime<Utc>,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        let at = to_ms(now);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query(
            "update cases set status = 'cancelled', cancelled_at = ?, purged_at = ?,
                 last_activity_at = ?, updated_at = ?
             where id = ? and status <> 'cancelled'",
        )
        .bind(at)
        .bind(at)
        .bind(at)
        .bind(at)
        .bind(case_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("case_cancelled"));
        }
        sqlx::query("update verification_codes set voided_at = ?, updated_at = ? where case_id = ? and voided_at is null")
            .bind(at)
            .bind(at)
            .bind(case_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if let Some(event) = event {
            insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn upsert_photo(&self, photo: &PhotoRecord) -> Result<Option<String>, StoreError> {
        let at = to_ms(photo.created_at);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let replaced: Option<(String,)> =
            sqlx::query_as("delete from photos where case_id = ? and kind = ? returning blob_id")
                .bind(photo.case_id.as_str())
                .bind(photo.kind.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        sqlx::query(
            "insert into photos (case_id, kind, blob_id, width, height, size_bytes, sha256,
                 original_sha256, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(photo.case_id.as_str())
        .bind(photo.kind.as_str())
        .bind(&photo.blob_id)
        .bind(photo.width)
        .bind(photo.height)
        .bind(photo.size_bytes)
        .bind(&photo.sha256)
        .bind(&photo.original_sha256)
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // The photo and its step's time change together: a stored photo is a done step.
        let sql = format!(
            "update cases set {} = ?, last_activity_at = ?, updated_at = ? where id = ?",
            step_column(photo.kind)
        );
        sqlx::query(&sql)
            .bind(at)
            .bind(at)
            .bind(at)
            .bind(photo.case_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(replaced.map(|(blob,)| blob))
    }

    async fn list_photos(&self, case_id: &CaseId) -> Result<Vec<PhotoRecord>, StoreError> {
        sqlx::query_as::<_, PhotoRow>(
            "select case_id, kind, blob_id, width, height, size_bytes, sha256, original_sha256, created_at
             from photos where case_id = ? order by id",
        )
        .bind(case_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .into_iter()
        .map(PhotoRecord::try_from)
        .collect()
    }

    async fn delete_photo(&self, case_id: &CaseId, kind: PhotoKind) -> Result<(), StoreError> {
        sqlx::query("delete from photos where case_id = ? and kind = ?")
            .bind(case_id.as_str())
            .bind(kind.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn insert_event(&self, event: &NewEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        insert_event_in(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn claim_due_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let sql = format!(
            "update webhook_outbox set locked_until = ?, updated_at = ?
             where id in (
                 select id from webhook_outbox
                 where delivered_at is null and gave_up_at is null and next_attempt_at <= ?
                   and (locked_until is null or locked_until <= ?)
                 order by next_attempt_at limit ?)
             returning {EVENT_COLUMNS}"
        );
        sqlx::query_as::<_, EventRow>(&sql)
            .bind(to_ms(lease_until))
            .bind(to_ms(now))
            .bind(to_ms(now))
            .bind(to_ms(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .into_iter()
            .map(OutboxEvent::try_from)
            .collect()
    }

    async fn mark_event_delivered(
        &self,
        id: &EventId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update webhook_outbox set delivered_at = ?, attempts = attempts + 1, locked_until = null,
                 last_error = null, updated_at = ?
             where id = ?",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn mark_event_failed(&self, f: &EventFailure) -> Result<(), StoreError> {
        let gave_up = f.give_up.then(|| to_ms(f.now));
        sqlx::query(
            "update webhook_outbox set attempts = ?, next_attempt_at = ?, gave_up_at = ?,
                 last_error = ?, locked_until = null, updated_at = ?
             where id = ?",
        )
        .bind(f.attempts)
        .bind(to_ms(f.next_attempt_at))
        .bind(gave_up)
        .bind(&f.error)
        .bind(to_ms(f.now))
        .bind(f.id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_event(&self, id: &EventId) -> Result<OutboxEvent, StoreError> {
        let sql = format!("select {EVENT_COLUMNS} from webhook_outbox where id = ?");
        sqlx::query_as::<_, EventRow>(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        for _ in 0..AUDIT_RETRIES {
            let head: Option<(i64, String)> =
                sqlx::query_as("select seq, hash from audit_log order by seq desc limit 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
            let (seq, prev_hash) = match head {
                Some((seq, hash)) => (seq + 1, hash),
                None => (1, GENESIS_HASH.to_owned()),
            };
            let hash = audit_hash(seq, &prev_hash, entry);
            // The primary key on seq is what keeps the chain linear: of two writers that
            // read the same head, one insert fails and that writer reads the new head.
            let inserted = sqlx::query(
                "insert into audit_log (seq, at, actor_type, actor_id, action, case_id, ip, details,
                     prev_hash, hash, created_at, updated_at)
                 values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(to_ms(entry.at))
            .bind(&entry.actor_type)
            .bind(&entry.actor_id)
            .bind(&entry.action)
            .bind(&entry.case_id)
            .bind(&entry.ip)
            .bind(&entry.details)
            .bind(&prev_hash)
            .bind(&hash)
            .bind(to_ms(entry.at))
            .bind(to_ms(entry.at))
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => {
                    return Ok(AuditEntry {
                        seq,
                        entry: entry.clone(),
                        prev_hash,
                        hash,
                    })
                }
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(backend(e)),
            }
        }
        Err(StoreError::Backend(anyhow::anyhow!(
            "audit append lost the race {AUDIT_RETRIES} times"
        )))
    }

    async fn list_audit(
        &self,
        case_id: Option<&CaseId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query_as::<_, AuditRow>(
            "select seq, at, actor_type, actor_id, action, case_id, ip, details, prev_hash, hash
             from audit_log where seq > ? and (? is null or case_id = ?) order by seq limit ?",
        )
        .bind(after)
        .bind(case_id.map(CaseId::as_str))
        .bind(case_id.map(CaseId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .into_iter()
        .map(AuditEntry::try_from)
        .collect()
    }

    async fn begin_idempotent(&self, b: &IdempotencyStart) -> Result<IdempotencyState, StoreError> {
        sqlx::query(
            "delete from idempotency_keys where client_id = ? and idem_key = ? and expires_at <= ?",
        )
        .bind(b.client_id.as_str())
        .bind(&b.key)
        .bind(to_ms(b.now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        let inserted = sqlx::query(
            "insert into idempotency_keys (client_id, idem_key, request_hash, expires_at, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?) on conflict do nothing",
        )
        .bind(b.client_id.as_str())
        .bind(&b.key)
        .bind(&b.request_hash)
        .bind(to_ms(b.expires_at))
        .bind(to_ms(b.now))
        .bind(to_ms(b.now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyState::Fresh);
        }
        let row = sqlx::query_as::<_, IdempotencyRow>(
            "select request_hash, response_status, response_body from idempotency_keys
             where client_id = ? and idem_key = ?",
        )
        .bind(b.client_id.as_str())
        .bind(&b.key)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(idempotency_state(
            row.map(|r| (r.request_hash, r.response_status, r.response_body)),
            &b.request_hash,
        ))
    }

    async fn finish_idempotent(
        &self,
        client_id: &ClientId,
        key: &str,
        status: u16,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update idempotency_keys set response_status = ?, response_body = ?, updated_at = ?
             where client_id = ? and idem_key = ?",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(to_ms(now))
        .bind(client_id.as_str())
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn abandon_idempotent(&self, client_id: &ClientId, key: &str) -> Result<(), StoreError> {
        sqlx::query("delete from idempotency_keys where client_id = ? and idem_key = ? and response_status is null")
            .bind(client_id.as_str())
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_expired_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from idempotency_keys where expires_at < ?")
            .bind(to_ms(now))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn find_open_case_by_mobile(
        &self,
        mobile_hmac: &str,
    ) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!(
            "select {CASE_COLUMNS} from cases where eligible = 1
               and status in ('awaiting_app', 'code_issued', 'rejected')
               and id in (select case_id from websites where mobile_hmac = ?)
             order by created_at desc limit 1"
        );
        sqlx::query_as::<_, CaseRow>(&sql)
            .bind(mobile_hmac)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(CaseRecord::try_from)
            .transpose()
    }

    async fn insert_sms_challenge(&self, c: &NewSmsChallenge) -> Result<(), StoreError> {
        let at = to_ms(c.created_at);
        sqlx::query(
            "insert into sms_challenges (phone_hmac, case_id, code_hash, expires_at, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.phone_hmac)
        .bind(c.case_id.as_str())
        .bind(&c.code_hash)
        .bind(to_ms(c.expires_at))
        .bind(at)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn latest_sms_challenge(
        &self,
        phone_hmac: &str,
    ) -> Result<Option<SmsChallenge>, StoreError> {
        sqlx::query_as::<_, SmsChallengeRow>(
            "select id, case_id, code_hash, attempts, expires_at, consumed_at, created_at
             from sms_challenges where phone_hmac = ? order by id desc limit 1",
        )
        .bind(phone_hmac)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(SmsChallenge::try_from)
        .transpose()
    }

    async fn fail_sms_challenge(&self, id: i64, now: DateTime<Utc>) -> Result<i32, StoreError> {
        let (attempts,): (i32,) = sqlx::query_as(
            "update sms_challenges set attempts = attempts + 1, updated_at = ? where id = ? returning attempts",
        )
        .bind(to_ms(now))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(attempts)
    }

    async fn consume_sms_challenge(
        &self,
        id: i64,
        max_attempts: i32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "update sms_challenges set consumed_at = ?, updated_at = ?
             where id = ? and consumed_at is null and attempts < ? and expires_at > ?",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(id)
        .bind(max_attempts)
        .bind(to_ms(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn start_app_session(&self, session: &NewAppSession) -> Result<(), StoreError> {
        let at = to_ms(session.created_at);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "update cases set phone_verified_at = coalesce(phone_verified_at, ?), last_activity_at = ?, updated_at = ?
             where id = ?",
        )
        .bind(at)
        .bind(at)
        .bind(at)
        .bind(session.case_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "insert into app_sessions (token_hash, case_id, last_seen_at, expires_at, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.token_hash)
        .bind(session.case_id.as_str())
        .bind(at)
        .bind(to_ms(session.expires_at))
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(on_unique("session_exists"))?;
        tx.commit().await.map_err(backend)
    }

    async fn find_app_session(&self, token_hash: &str) -> Result<Option<AppSession>, StoreError> {
        sqlx::query_as::<_, AppSessionRow>(
            "select case_id, last_seen_at, expires_at, revoked_at from app_sessions where token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(AppSession::try_from)
        .transpose()
    }

    async fn touch_app_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update app_sessions set last_seen_at = ?, updated_at = ? where token_hash = ?",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(token_hash)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn claim_cooldown(
        &self,
        key: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        // window_start 0 marks a cooldown row; expires_at holds its end.
        let claimed: Option<(i64,)> = sqlx::query_as(
            "insert into rate_counters (counter_key, window_start, count, expires_at, created_at, updated_at)
             values (?, 0, 1, ?, ?, ?)
             on conflict (counter_key, window_start) do update
               set count = rate_counters.count + 1, expires_at = excluded.expires_at, updated_at = excluded.updated_at
               where rate_counters.expires_at <= ?
             returning expires_at",
        )
        .bind(key)
        .bind(to_ms(until))
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if claimed.is_some() {
            return Ok(None);
        }
        let running: Option<(i64,)> = sqlx::query_as(
            "select expires_at from rate_counters where counter_key = ? and window_start = 0",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        running.map(|(end,)| from_ms(end)).transpose()
    }

    async fn release_cooldown(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("delete from rate_counters where counter_key = ? and window_start = 0")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn record_consent(
        &self,
        case_id: &CaseId,
        version: &str,
        text_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update cases set consent_version = ?, consent_text_hash = ?, consent_at = ?,
                 last_activity_at = ?, updated_at = ?
             where id = ?",
        )
        .bind(version)
        .bind(text_hash)
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(case_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
    async fn record_location(
        &self,
        case_id: &CaseId,
        in_shanghai: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update cases set location_in_shanghai = ?, last_activity_at = ?, updated_at = ?
             where id = ?",
        )
        .bind(in_shanghai)
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(case_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn record_liveness(
        &self,
        case_id: &CaseId,
        result: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update cases set liveness_result = ?, last_activity_at = ?, updated_at = ?
             where id = ?",
        )
        .bind(result)
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(case_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

pub(super) async fn insert_event_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let at = to_ms(event.created_at);
    sqlx::query(
        "insert into webhook_outbox (id, client_id, event_type, payload, next_attempt_at, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event.id.as_str())
    .bind(event.client_id.as_str())
    .bind(&event.event_type)
    .bind(&event.payload)
    .bind(at)
    .bind(at)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}
