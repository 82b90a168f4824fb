//! PostgreSQL implementation of `Store`: the backend for several heyan instances behind a
//! load balancer. Times are `timestamptz`.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, FromRow, PgPool};

use super::{
    audit_hash, backend, id_from_db, idempotency_state, kind_from_db, on_unique, roles_from_db,
    status_from_db, step_column, AppSession, AuditEntry, CaseRecord, Client, ClientKey,
    ConsumeOutcome, EventFailure, IdempotencyStart, IdempotencyState, NewAppSession, NewAuditEntry,
    NewCase, NewClient, NewClientKey, NewEvent, NewReviewer, NewSingleUseToken, NewSmsChallenge,
    NewVerificationCode, OutboxEvent, PhotoRecord, Progress, RedeemOutcome, Reviewer, SmsChallenge,
    Store, StoreError, WebsiteRecord, GENESIS_HASH,
};
use crate::config::{redact_url, DatabaseKind};
use crate::domain::case::PhotoKind;
use crate::domain::ids::{CaseId, ClientId, ClientKeyId, EventId, ReviewerId};
use crate::domain::role::Role;

/// PostgreSQL-backed store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database named by `url`.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse().with_context(|| {
            format!(
                "database.url `{}` is not a valid PostgreSQL URL",
                redact_url(url)
            )
        })?;
        // One direct connection first: a pool would hide the cause ("connection refused",
        // "database does not exist") behind a generic acquire timeout.
        let probe = options
            .connect()
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at `{}`", redact_url(url)))?;
        drop(probe.close().await);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }
}

#[derive(FromRow)]
struct ClientRow {
    id: String,
    name: String,
    webhook_url: Option<String>,
    webhook_secret_sealed: Option<String>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            id: id_from_db(&row.id, ClientId::parse)?,
            name: row.name,
            webhook_url: row.webhook_url,
            webhook_secret_sealed: row.webhook_secret_sealed,
            revoked_at: row.revoked_at,
            created_at: row.created_at,
        })
    }
}

#[derive(FromRow)]
struct ClientKeyRow {
    key_id: String,
    key_client_id: String,
    key_prefix: String,
    key_revoked_at: Option<DateTime<Utc>>,
    key_created_at: DateTime<Utc>,
}

impl TryFrom<ClientKeyRow> for ClientKey {
    type Error = StoreError;
    fn try_from(row: ClientKeyRow) -> Result<Self, StoreError> {
        Ok(ClientKey {
            id: id_from_db(&row.key_id, ClientKeyId::parse)?,
            client_id: id_from_db(&row.key_client_id, ClientId::parse)?,
            key_prefix: row.key_prefix,
            revoked_at: row.key_revoked_at,
            created_at: row.key_created_at,
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
    disabled_at: Option<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
    failed_logins: i32,
    created_at: DateTime<Utc>,
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
            disabled_at: row.disabled_at,
            locked_until: row.locked_until,
            failed_logins: row.failed_logins,
            created_at: row.created_at,
        })
    }
}

#[derive(FromRow)]
struct TokenStateRow {
    consumed_at: Option<DateTime<Utc>>,
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
    redeem_locked_until: Option<DateTime<Utc>>,
    consent_version: Option<String>,
    location_in_shanghai: Option<bool>,
    liveness_result: Option<String>,
    phone_verified_at: Option<DateTime<Utc>>,
    consent_at: Option<DateTime<Utc>>,
    liveness_at: Option<DateTime<Utc>>,
    handheld_at: Option<DateTime<Utc>>,
    front_at: Option<DateTime<Utc>>,
    back_at: Option<DateTime<Utc>>,
    code_issued_at: Option<DateTime<Utc>>,
    redeemed_at: Option<DateTime<Utc>>,
    submitted_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    decided_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    purged_at: Option<DateTime<Utc>>,
    last_activity_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
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
            redeem_locked_until: r.redeem_locked_until,
            consent_version: r.consent_version,
            location_in_shanghai: r.location_in_shanghai,
            liveness_result: r.liveness_result,
            progress: Progress {
                phone_verified_at: r.phone_verified_at,
                consent_at: r.consent_at,
                liveness_at: r.liveness_at,
                handheld_at: r.handheld_at,
                front_at: r.front_at,
                back_at: r.back_at,
                code_issued_at: r.code_issued_at,
                redeemed_at: r.redeemed_at,
                submitted_at: r.submitted_at,
            },
            due_at: r.due_at,
            decided_at: r.decided_at,
            cancelled_at: r.cancelled_at,
            purged_at: r.purged_at,
            last_activity_at: r.last_activity_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
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
    created_at: DateTime<Utc>,
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
            created_at: r.created_at,
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
    next_attempt_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    gave_up_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
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
            next_attempt_at: r.next_attempt_at,
            delivered_at: r.delivered_at,
            gave_up_at: r.gave_up_at,
            last_error: r.last_error,
            created_at: r.created_at,
        })
    }
}

#[derive(FromRow)]
struct AuditRow {
    seq: i64,
    at: DateTime<Utc>,
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
                at: r.at,
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
    redeemed_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct IdempotencyRow {
    request_hash: String,
    response_status: Option<i32>,
    response_body: Option<String>,
}

#[derive(FromRow)]
struct SmsChallengeRow {
    id: i64,
    case_id: String,
    code_hash: String,
    attempts: i32,
    expires_at: DateTime<Utc>,
    consumed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<SmsChallengeRow> for SmsChallenge {
    type Error = StoreError;
    fn try_from(r: SmsChallengeRow) -> Result<Self, StoreError> {
        Ok(SmsChallenge {
            id: r.id,
            case_id: id_from_db(&r.case_id, CaseId::parse)?,
            code_hash: r.code_hash,
            attempts: r.attempts,
            expires_at: r.expires_at,
            consumed_at: r.consumed_at,
            created_at: r.created_at,
        })
    }
}

#[derive(FromRow)]
struct AppSessionRow {
    case_id: String,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<AppSessionRow> for AppSession {
    type Error = StoreError;
    fn try_from(r: AppSessionRow) -> Result<Self, StoreError> {
        Ok(AppSession {
            case_id: id_from_db(&r.case_id, CaseId::parse)?,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
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
impl Store for PostgresStore {
    fn kind(&self) -> DatabaseKind {
        DatabaseKind::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await
            .context("applying PostgreSQL migrations")?;
        Ok(())
    }

    async fn insert_client(
        &self,
        client: &NewClient,
        key: &NewClientKey,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "insert into clients (id, name, webhook_url, webhook_secret_sealed, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(client.id.as_str())
        .bind(&client.name)
        .bind(&client.webhook_url)
        .bind(&client.webhook_secret_sealed)
        .bind(client.created_at)
        .execute(&mut *tx)
        .await
        .map_err(on_unique("client_name_taken"))?;
        sqlx::query(
            "insert into client_keys (id, client_id, key_hash, key_prefix, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(key.id.as_str())
        .bind(key.client_id.as_str())
        .bind(&key.key_hash)
        .bind(&key.key_prefix)
        .bind(key.created_at)
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
             where k.key_hash = $1"
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
        let sql = format!("select {CLIENT_COLUMNS} from clients c where c.id = $1");
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
        sqlx::query(
            "insert into reviewers (id, username, display_name, password_hash, roles, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(reviewer.id.as_str())
        .bind(&reviewer.username)
        .bind(&reviewer.display_name)
        .bind(&reviewer.password_hash)
        .bind(Role::join(&reviewer.roles))
        .bind(reviewer.created_at)
        .execute(&self.pool)
        .await
        .map_err(on_unique("reviewer_username_taken"))?;
        Ok(())
    }

    async fn find_reviewer_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Reviewer>, StoreError> {
        let sql = format!("select {REVIEWER_COLUMNS} from reviewers where username = $1");
        sqlx::query_as::<_, ReviewerRow>(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(Reviewer::try_from)
            .transpose()
    }

    async fn insert_single_use_token(&self, token: &NewSingleUseToken) -> Result<(), StoreError> {
        sqlx::query(
            "insert into single_use_tokens (purpose, token_hash, subject, expires_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&token.purpose)
        .bind(&token.token_hash)
        .bind(&token.subject)
        .bind(token.expires_at)
        .bind(token.created_at)
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
        // Under READ COMMITTED the losers of a race re-check `consumed_at is null` after the
        // winner commits, so exactly one caller gets the row back.
        let consumed: Option<(String,)> = sqlx::query_as(
            "update single_use_tokens set consumed_at = $1, updated_at = $1
             where purpose = $2 and token_hash = $3 and consumed_at is null and expires_at > $1
             returning subject",
        )
        .bind(now)
        .bind(purpose)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some((subject,)) = consumed {
            return Ok(ConsumeOutcome::Consumed { subject });
        }
        let state = sqlx::query_as::<_, TokenStateRow>(
            "select consumed_at from single_use_tokens where purpose = $1 and token_hash = $2",
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
             values ($1, $2, 1, $3, $4, $4)
             on conflict (counter_key, window_start)
             do update set count = rate_counters.count + 1, updated_at = excluded.updated_at
             returning count",
        )
        .bind(key)
        .bind(window_start)
        .bind(expires_at)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count)
    }

    async fn get_counter(&self, key: &str, window_start: DateTime<Utc>) -> Result<i64, StoreError> {
        let count: Option<(i64,)> = sqlx::query_as(
            "select count from rate_counters where counter_key = $1 and window_start = $2",
        )
        .bind(key)
        .bind(window_start)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(count.map_or(0, |(c,)| c))
    }

    async fn delete_expired_counters(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from rate_counters where expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn insert_client_key(&self, key: &NewClientKey) -> Result<(), StoreError> {
        let at = key.created_at;
        sqlx::query(
            "insert into client_keys (id, client_id, key_hash, key_prefix, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6)",
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
        let sql = format!("select {KEY_COLUMNS} from client_keys k where k.client_id = $1 order by k.created_at, k.id");
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
            "update client_keys set revoked_at = $1, updated_at = $2 where id = $3 and revoked_at is null",
        )
        .bind(now)
        .bind(now)
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
        let done = sqlx::query("update clients set revoked_at = $1, updated_at = $2 where id = $3 and revoked_at is null")
            .bind(now)
            .bind(now)
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("update client_keys set revoked_at = $1, updated_at = $2 where client_id = $3 and revoked_at is null")
            .bind(now)
            .bind(now)
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn insert_case(&self, case: &NewCase) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let at = case.created_at;
        sqlx::query(
            "insert into cases (id, client_id, filing_id, region, subject_type, subject_name_sealed,
                 subject_name_masked, eligible, ineligible_reason, status, download_token,
                 last_activity_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
        let sql = format!("select {CASE_COLUMNS} from cases where id = $1");
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
        let sql =
            format!("select {CASE_COLUMNS} from cases where client_id = $1 and filing_id = $2");
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
        let sql = format!("select {CASE_COLUMNS} from cases where download_token = $1");
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
             from websites where case_id = $1 order by position",
        )
        .bind(case_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(WebsiteRecord::from).collect())
    }

    async fn record_scan(&self, case_id: &CaseId, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("update cases set scan_count = scan_count + 1, updated_at = $1 where id = $2")
            .bind(now)
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
        let at = code.created_at;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let moved = sqlx::query(
            "update cases set status = 'code_issued', code_issued_at = $1, redeemed_at = null,
                 last_activity_at = $2, updated_at = $3
             where id = $4 and status in ('awaiting_app', 'code_issued', 'rejected')",
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
        sqlx::query("update verification_codes set voided_at = $1, updated_at = $2 where case_id = $3 and voided_at is null and redeemed_at is null")
            .bind(at)
            .bind(at)
            .bind(code.case_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "insert into verification_codes (case_id, code_hash, expires_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(code.case_id.as_str())
        .bind(&code.code_hash)
        .bind(code.expires_at)
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
        let at = now;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The conditional update takes the write lock first, so racers queue behind it and
        // then see redeemed_at set.
        let won = sqlx::query(
            "update verification_codes set redeemed_at = $1, updated_at = $2
             where case_id = $3 and code_hash = $4 and redeemed_at is null and voided_at is null
               and expires_at > $5",
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
                "update cases set status = 'redeemed', redeemed_at = $1, last_activity_at = $2, updated_at = $3
                 where id = $4",
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
             where case_id = $1 and code_hash = $2 order by id desc limit 1",
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
            }) if expires_at <= now => RedeemOutcome::Expired,
            _ => RedeemOutcome::Wrong,
        })
    }

    async fn lock_redemption(
        &self,
        case_id: &CaseId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("update cases set redeem_locked_until = $1, updated_at = $2 where id = $3")
            .bind(until)
            .bind(now)
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
        let at = now;
        let done = sqlx::query(
            "update cases set status = 'in_review', submitted_at = $1, due_at = $2,
                 last_activity_at = $3, updated_at = $4
             where id = $5 and status = 'redeemed'",
        )
        .bind(at)
        .bind(due_at)
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
        let at = now;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let done = sqlx::query(
            "update cases set status = 'cancelled', cancelled_at = $1, purged_at = $2,
                 last_activity_at = $3, updated_at = $4
             where id = $5 and status <> 'cancelled'",
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
        sqlx::query("update verification_codes set voided_at = $1, updated_at = $2 where case_id = $3 and voided_at is null")
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
        let at = photo.created_at;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let replaced: Option<(String,)> =
            sqlx::query_as("delete from photos where case_id = $1 and kind = $2 returning blob_id")
                .bind(photo.case_id.as_str())
                .bind(photo.kind.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        sqlx::query(
            "insert into photos (case_id, kind, blob_id, width, height, size_bytes, sha256,
                 original_sha256, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
            "update cases set {} = $1, last_activity_at = $2, updated_at = $3 where id = $4",
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
             from photos where case_id = $1 order by id",
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
        sqlx::query("delete from photos where case_id = $1 and kind = $2")
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
            "update webhook_outbox set locked_until = $1, updated_at = $2
             where id in (
                 select id from webhook_outbox
                 where delivered_at is null and gave_up_at is null and next_attempt_at <= $3
                   and (locked_until is null or locked_until <= $4)
                 order by next_attempt_at limit $5
                 for update skip locked)
             returning {EVENT_COLUMNS}"
        );
        sqlx::query_as::<_, EventRow>(&sql)
            .bind(lease_until)
            .bind(now)
            .bind(now)
            .bind(now)
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
            "update webhook_outbox set delivered_at = $1, attempts = attempts + 1, locked_until = null,
                 last_error = null, updated_at = $2
             where id = $3",
        )
        .bind(now)
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn mark_event_failed(&self, f: &EventFailure) -> Result<(), StoreError> {
        let gave_up = f.give_up.then_some(f.now);
        sqlx::query(
            "update webhook_outbox set attempts = $1, next_attempt_at = $2, gave_up_at = $3,
                 last_error = $4, locked_until = null, updated_at = $5
             where id = $6",
        )
        .bind(f.attempts)
        .bind(f.next_attempt_at)
        .bind(gave_up)
        .bind(&f.error)
        .bind(f.now)
        .bind(f.id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_event(&self, id: &EventId) -> Result<OutboxEvent, StoreError> {
        let sql = format!("select {EVENT_COLUMNS} from webhook_outbox where id = $1");
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
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(seq)
            .bind(entry.at)
            .bind(&entry.actor_type)
            .bind(&entry.actor_id)
            .bind(&entry.action)
            .bind(&entry.case_id)
            .bind(&entry.ip)
            .bind(&entry.details)
            .bind(&prev_hash)
            .bind(&hash)
            .bind(entry.at)
            .bind(entry.at)
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
             from audit_log where seq > $1 and ($2::text is null or case_id = $3) order by seq limit $4",
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
        sqlx::query("delete from idempotency_keys where client_id = $1 and idem_key = $2 and expires_at <= $3")
            .bind(b.client_id.as_str())
            .bind(&b.key)
            .bind(b.now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        let inserted = sqlx::query(
            "insert into idempotency_keys (client_id, idem_key, request_hash, expires_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
        )
        .bind(b.client_id.as_str())
        .bind(&b.key)
        .bind(&b.request_hash)
        .bind(b.expires_at)
        .bind(b.now)
        .bind(b.now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyState::Fresh);
        }
        let row = sqlx::query_as::<_, IdempotencyRow>(
            "select request_hash, response_status, response_body from idempotency_keys
             where client_id = $1 and idem_key = $2",
        )
        .bind(b.client_id.as_str())
        .bind(&b.key)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(idempotency_state(
            row.map(|r| {
                (
                    r.request_hash,
                    r.response_status.map(i64::from),
                    r.response_body,
                )
            }),
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
            "update idempotency_keys set response_status = $1, response_body = $2, updated_at = $3
             where client_id = $4 and idem_key = $5",
        )
        .bind(i32::from(status))
        .bind(body)
        .bind(now)
        .bind(client_id.as_str())
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn abandon_idempotent(&self, client_id: &ClientId, key: &str) -> Result<(), StoreError> {
        sqlx::query("delete from idempotency_keys where client_id = $1 and idem_key = $2 and response_status is null")
            .bind(client_id.as_str())
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_expired_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("delete from idempotency_keys where expires_at < $1")
            .bind(now)
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
            "select {CASE_COLUMNS} from cases where eligible
               and status in ('awaiting_app', 'code_issued', 'rejected')
               and id in (select case_id from websites where mobile_hmac = $1)
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
        let at = c.created_at;
        sqlx::query(
            "insert into sms_challenges (phone_hmac, case_id, code_hash, expires_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.phone_hmac)
        .bind(c.case_id.as_str())
        .bind(&c.code_hash)
        .bind(c.expires_at)
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
             from sms_challenges where phone_hmac = $1 order by id desc limit 1",
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
            "update sms_challenges set attempts = attempts + 1, updated_at = $1 where id = $2 returning attempts",
        )
        .bind(now)
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
            "update sms_challenges set consumed_at = $1, updated_at = $2
             where id = $3 and consumed_at is null and attempts < $4 and expires_at > $5",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(max_attempts)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn start_app_session(&self, session: &NewAppSession) -> Result<(), StoreError> {
        let at = session.created_at;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "update cases set phone_verified_at = coalesce(phone_verified_at, $1), last_activity_at = $2, updated_at = $3
             where id = $4",
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
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.token_hash)
        .bind(session.case_id.as_str())
        .bind(at)
        .bind(session.expires_at)
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(on_unique("session_exists"))?;
        tx.commit().await.map_err(backend)
    }

    async fn find_app_session(&self, token_hash: &str) -> Result<Option<AppSession>, StoreError> {
        sqlx::query_as::<_, AppSessionRow>(
            "select case_id, last_seen_at, expires_at, revoked_at from app_sessions where token_hash = $1",
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
            "update app_sessions set last_seen_at = $1, updated_at = $2 where token_hash = $3",
        )
        .bind(now)
        .bind(now)
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
        // window_start at the epoch marks a cooldown row; expires_at holds its end.
        let claimed: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "insert into rate_counters (counter_key, window_start, count, expires_at, created_at, updated_at)
             values ($1, to_timestamp(0), 1, $2, $3, $3)
             on conflict (counter_key, window_start) do update
               set count = rate_counters.count + 1, expires_at = excluded.expires_at, updated_at = excluded.updated_at
               where rate_counters.expires_at <= $3
             returning expires_at",
        )
        .bind(key)
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if claimed.is_some() {
            return Ok(None);
        }
        let running: Option<(DateTime<Utc>,)> =
            sqlx::query_as("select expires_at from rate_counters where counter_key = $1 and window_start = to_timestamp(0)")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(running.map(|(end,)| end))
    }

    async fn release_cooldown(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "delete from rate_counters where counter_key = $1 and window_start = to_timestamp(0)",
        )
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
            "update cases set consent_version = $1, consent_text_hash = $2, consent_at = $3,
                 last_activity_at = $4, updated_at = $5
             where id = $6",
        )
        .bind(version)
        .bind(text_hash)
        .bind(now)
        .bind(now)
        .bind(now)
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
            "update cases set location_in_shanghai = $1, last_activity_at = $2, updated_at = $3
             where id = $4",
        )
        .bind(in_shanghai)
        .bind(now)
        .bind(now)
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
            "update cases set liveness_result = $1, last_activity_at = $2, updated_at = $3
             where id = $4",
        )
        .bind(result)
        .bind(now)
        .bind(now)
        .bind(case_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

pub(super) async fn insert_event_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    event: &NewEvent,
) -> Result<(), StoreError> {
    let at = event.created_at;
    sqlx::query(
        "insert into webhook_outbox (id, client_id, event_type, payload, next_attempt_at, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
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
