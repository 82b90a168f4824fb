//! Rate counters, cooldowns and single-use tokens. Every limit lives here, in the
//! database, so several instances share it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::dialect::{SqlStore, Ts, EPOCH};
use super::{backend, on_unique, ConsumeOutcome, NewSingleUseToken, StoreError};
use crate::error_code::ErrorCode;

/// Counters, cooldowns and single-use tokens: every limit lives in the database, so all instances see it.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Stores a single-use token; `Conflict(TokenExists)` for a duplicate.
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

    /// Deletes single-use tokens that expired before `before`; returns how many.
    async fn delete_expired_single_use_tokens(
        &self,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Starts a cooldown for `key` until `until` unless one is still running at `now`;
    /// returns the running cooldown's end when it is. Atomic across instances.
    async fn claim_cooldown(
        &self,
        key: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
}

#[derive(FromRow)]
struct TokenStateRow {
    consumed_at: Option<Ts>,
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl LimitStore for SqlStore<$db> {
            async fn insert_single_use_token(&self, token: &NewSingleUseToken) -> Result<(), StoreError> {
                sqlx::query(
                    "insert into single_use_tokens (purpose, token_hash, subject, expires_at, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $5)",
                )
                .bind(&token.purpose)
                .bind(&token.token_hash)
                .bind(&token.subject)
                .bind(Ts(token.expires_at))
                .bind(Ts(token.created_at))
                .execute(&self.pool)
                .await
                .map_err(on_unique(ErrorCode::TokenExists))?;
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
                .bind(Ts(now))
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
                .bind(Ts(window_start))
                .bind(Ts(expires_at))
                .bind(Ts(now))
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
                .bind(Ts(window_start))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                Ok(count.map_or(0, |(c,)| c))
            }

            async fn delete_expired_counters(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query("delete from rate_counters where expires_at < $1")
                    .bind(Ts(now))
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(done.rows_affected())
            }

            async fn delete_expired_single_use_tokens(
                &self,
                before: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query("delete from single_use_tokens where expires_at < $1")
                    .bind(Ts(before))
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(done.rows_affected())
            }

            async fn claim_cooldown(
                &self,
                key: &str,
                until: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                // window_start at the epoch marks a cooldown row; expires_at holds its end.
                let claimed: Option<(Ts,)> = sqlx::query_as(
                    "insert into rate_counters (counter_key, window_start, count, expires_at, created_at, updated_at)
                     values ($1, $4, 1, $2, $3, $3)
                     on conflict (counter_key, window_start) do update
                       set count = rate_counters.count + 1, expires_at = excluded.expires_at, updated_at = excluded.updated_at
                       where rate_counters.expires_at <= $3
                     returning expires_at",
                )
                .bind(key)
                .bind(Ts(until))
                .bind(Ts(now))
                .bind(EPOCH)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                if claimed.is_some() {
                    return Ok(None);
                }
                let running: Option<(Ts,)> = sqlx::query_as(
                    "select expires_at from rate_counters where counter_key = $1 and window_start = $2",
                )
                .bind(key)
                .bind(EPOCH)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                Ok(running.map(|(end,)| end.into()))
            }

        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
