//! `Idempotency-Key` records: a key is claimed once, then replays its stored answer. A
//! claim without an answer can be released (the request failed) or found stale (the
//! request died without releasing it); `expires_at` bounds how long an answer is kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::dialect::{SqlStore, Ts};
use super::{backend, idempotency_state, IdempotencyStart, IdempotencyState, StoreError};
use crate::domain::ids::ClientId;

/// `Idempotency-Key` records of the filing API.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
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

    /// Releases a claim on `key` that still has no answer and was made at or before
    /// `claimed_before`: its request can no longer be running (it was cut off without
    /// releasing the key, e.g. the process died). Answered keys are kept. Returns whether a
    /// claim was released.
    async fn release_stale_idempotent(
        &self,
        client_id: &ClientId,
        key: &str,
        claimed_before: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Deletes idempotency records that expired before `now`; returns how many.
    async fn delete_expired_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[derive(FromRow)]
struct IdempotencyRow {
    request_hash: String,
    response_status: Option<i32>,
    response_body: Option<String>,
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl IdempotencyStore for SqlStore<$db> {
            async fn begin_idempotent(&self, b: &IdempotencyStart) -> Result<IdempotencyState, StoreError> {
                sqlx::query("delete from idempotency_keys where client_id = $1 and idem_key = $2 and expires_at <= $3")
                    .bind(b.client_id.as_str())
                    .bind(&b.key)
                    .bind(Ts(b.now))
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
                .bind(Ts(b.expires_at))
                .bind(Ts(b.now))
                .bind(Ts(b.now))
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
                .bind(Ts(now))
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

            async fn release_stale_idempotent(
                &self,
                client_id: &ClientId,
                key: &str,
                claimed_before: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "delete from idempotency_keys
                     where client_id = $1 and idem_key = $2 and response_status is null and created_at <= $3",
                )
                .bind(client_id.as_str())
                .bind(key)
                .bind(Ts(claimed_before))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_expired_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query("delete from idempotency_keys where expires_at < $1")
                    .bind(Ts(now))
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(done.rows_affected())
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
