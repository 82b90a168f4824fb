//! The SMS outbox: codes to send, leased to one worker at a time and retried while the
//! code is valid. Numbers and codes are stored sealed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::dialect::{Dialect, SqlStore, Ts};
use super::{backend, found, StoreError};

/// A code to send.
#[derive(Debug, Clone)]
pub struct NewSms {
    /// The number, sealed.
    pub mobile_sealed: String,
    /// The code, sealed.
    pub code_sealed: String,
    /// The validity the message states, in minutes.
    pub ttl_minutes: u32,
    /// When the code expires; no try after that.
    pub expires_at: DateTime<Utc>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// A queued code, as a worker leases it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedSms {
    /// Its id.
    pub id: i64,
    /// The number, sealed.
    pub mobile_sealed: String,
    /// The code, sealed.
    pub code_sealed: String,
    /// The validity the message states, in minutes.
    pub ttl_minutes: u32,
    /// Tries so far.
    pub attempts: i32,
    /// When the code expires.
    pub expires_at: DateTime<Utc>,
}

/// The SMS outbox.
#[async_trait]
pub trait SmsOutboxStore: Send + Sync {
    /// Deletes codes sent or given up before `before` (their sealed numbers with them);
    /// returns how many.
    async fn delete_finished_sms(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Queues a code.
    async fn queue_sms(&self, sms: &NewSms) -> Result<(), StoreError>;

    /// Leases up to `limit` due, unsent codes until `lease_until`.
    async fn claim_due_sms(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedSms>, StoreError>;

    /// Records that the provider took the message.
    async fn mark_sms_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records a failed try: the next at `next_attempt_at`, or none when `give_up`.
    async fn mark_sms_failed(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        give_up: bool,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

#[derive(FromRow)]
struct QueuedRow {
    id: i64,
    mobile_sealed: String,
    code_sealed: String,
    ttl_minutes: i32,
    attempts: i32,
    expires_at: Ts,
}

impl From<QueuedRow> for QueuedSms {
    fn from(r: QueuedRow) -> Self {
        QueuedSms {
            id: r.id,
            mobile_sealed: r.mobile_sealed,
            code_sealed: r.code_sealed,
            ttl_minutes: u32::try_from(r.ttl_minutes).unwrap_or(0),
            attempts: r.attempts,
            expires_at: r.expires_at.into(),
        }
    }
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl SmsOutboxStore for SqlStore<$db> {
            async fn delete_finished_sms(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "delete from sms_outbox where sent_at < $1 or gave_up_at < $1",
                )
                .bind(Ts(before))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(done.rows_affected())
            }

            async fn queue_sms(&self, sms: &NewSms) -> Result<(), StoreError> {
                sqlx::query(
                    "insert into sms_outbox (mobile_sealed, code_sealed, ttl_minutes, next_attempt_at,
                         expires_at, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $4, $4)",
                )
                .bind(&sms.mobile_sealed)
                .bind(&sms.code_sealed)
                .bind(i32::try_from(sms.ttl_minutes).unwrap_or(i32::MAX))
                .bind(Ts(sms.created_at))
                .bind(Ts(sms.expires_at))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn claim_due_sms(
                &self,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<QueuedSms>, StoreError> {
                let sql = format!(
                    "update sms_outbox set locked_until = $2, updated_at = $1
                     where id in (
                         select id from sms_outbox
                         where sent_at is null and gave_up_at is null and next_attempt_at <= $1
                           and (locked_until is null or locked_until <= $1)
                         order by next_attempt_at limit $3
                         {skip_locked})
                     returning id, mobile_sealed, code_sealed, ttl_minutes, attempts, expires_at",
                    skip_locked = <$db as Dialect>::SKIP_LOCKED,
                );
                Ok(sqlx::query_as::<_, QueuedRow>(&sql)
                    .bind(Ts(now))
                    .bind(Ts(lease_until))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(QueuedSms::from)
                    .collect())
            }

            async fn mark_sms_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "update sms_outbox set sent_at = $1, attempts = attempts + 1, locked_until = null,
                         updated_at = $1
                     where id = $2",
                )
                .bind(Ts(now))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                found(done.rows_affected())
            }

            async fn mark_sms_failed(
                &self,
                id: i64,
                next_attempt_at: DateTime<Utc>,
                give_up: bool,
                error: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "update sms_outbox set attempts = attempts + 1, next_attempt_at = $1,
                         gave_up_at = case when $2 then $3 else null end, last_error = $4,
                         locked_until = null, updated_at = $3
                     where id = $5",
                )
                .bind(Ts(next_attempt_at))
                .bind(give_up)
                .bind(Ts(now))
                .bind(error)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                found(done.rows_affected())
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
