//! Image verification codes: issuing voids the earlier ones, redeeming is exactly-once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::cases::transition_sql;
use super::dialect::{SqlStore, Ts};
use super::{backend, found, ChangeRecord, NewVerificationCode, RedeemOutcome, StoreError};
use crate::domain::case::Transition;
use crate::domain::ids::CaseId;

/// Image verification codes: issue, redeem, count wrong tries and lock out.
#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Issues a new verification code for an open case: voids earlier codes, stores the
    /// new one, moves the case to `code_issued` and queues `event`, in one transaction.
    /// `Transition(_)` when the case's status cannot take a code.
    async fn issue_code(
        &self,
        code: &NewVerificationCode,
        record: &ChangeRecord,
    ) -> Result<(), StoreError>;

    /// Redeems a code of a case at `now`. Of concurrent redemptions of one code exactly one
    /// gets `Redeemed`; that one also moves the case to `redeemed`.
    async fn redeem_code(
        &self,
        case_id: &CaseId,
        code_hash: &str,
        now: DateTime<Utc>,
        record: &ChangeRecord,
    ) -> Result<RedeemOutcome, StoreError>;

    /// Reserves one redemption try on a case, counted before the code is checked so that
    /// racing tries are all counted. A run of tries starts at the first counted one and
    /// lasts until `run_start` passes it; refused (`None`) while redemption is locked or
    /// `max` tries of the current run are already counted. Returns the try's number in
    /// its run.
    async fn begin_redeem_attempt(
        &self,
        case_id: &CaseId,
        max: i32,
        run_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<i32>, StoreError>;

    /// Settles try number `attempt`. A wrong code that is the run's `max`-th locks
    /// redemption until `lock_until` (returns `true`) and starts a new run; a real code
    /// (redeemed, used or expired) starts a new run too.
    async fn settle_redeem_attempt(
        &self,
        case_id: &CaseId,
        attempt: i32,
        wrong: bool,
        max: i32,
        lock_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

#[derive(FromRow)]
struct CodeStateRow {
    redeemed_at: Option<Ts>,
    voided_at: Option<Ts>,
    expires_at: Ts,
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl CodeStore for SqlStore<$db> {
            async fn issue_code(
                &self,
                code: &NewVerificationCode,
                record: &ChangeRecord,
            ) -> Result<(), StoreError> {
                let at = Ts(code.created_at);
                let mut tx = Self::begin_write(&self.pool).await?;
                let sql = transition_sql(
                    Transition::IssueCode,
                    ", code_issued_at = $1, redeemed_at = null",
                );
                let query = sqlx::query(&sql).bind(at).bind(code.case_id.as_str());
                Self::apply_transition_in(&mut tx, Transition::IssueCode, &code.case_id, query)
                    .await?;
                sqlx::query(
                    "update verification_codes set voided_at = $1, updated_at = $1
                     where case_id = $2 and voided_at is null and redeemed_at is null",
                )
                .bind(at)
                .bind(code.case_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                sqlx::query(
                    "insert into verification_codes (case_id, code_hash, expires_at, created_at, updated_at)
                     values ($1, $2, $3, $4, $4)",
                )
                .bind(code.case_id.as_str())
                .bind(&code.code_hash)
                .bind(Ts(code.expires_at))
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                Self::record_change_in(&mut tx, record).await?;
                tx.commit().await.map_err(backend)
            }

            async fn redeem_code(
                &self,
                case_id: &CaseId,
                code_hash: &str,
                now: DateTime<Utc>,
                record: &ChangeRecord,
            ) -> Result<RedeemOutcome, StoreError> {
                let at = Ts(now);
                let mut tx = Self::begin_write(&self.pool).await?;
                // The case row is locked first, as in every other status change, so a
                // redemption and a cancellation never wait on each other's locks. Of racing
                // redeemers the first moves the case; the others then find it redeemed.
                let moved = sqlx::query(&format!(
                    "{} and exists (select 1 from verification_codes
                         where case_id = $2 and code_hash = $3 and redeemed_at is null
                           and voided_at is null and expires_at > $1)",
                    transition_sql(Transition::Redeem, ", redeemed_at = $1")
                ))
                .bind(at)
                .bind(case_id.as_str())
                .bind(code_hash)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if moved.rows_affected() == 1 {
                    sqlx::query(
                        "update verification_codes set redeemed_at = $1, updated_at = $1
                         where case_id = $2 and code_hash = $3 and redeemed_at is null",
                    )
                    .bind(at)
                    .bind(case_id.as_str())
                    .bind(code_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    Self::record_change_in(&mut tx, record).await?;
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
                    }) if expires_at <= at => RedeemOutcome::Expired,
                    _ => RedeemOutcome::Wrong,
                })
            }

            async fn begin_redeem_attempt(
                &self,
                case_id: &CaseId,
                max: i32,
                run_start: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<Option<i32>, StoreError> {
                // One statement: the right-hand sides see the old row, and racing tries
                // queue on its lock, so exactly `max` of them are let through.
                let counted: Option<(i32,)> = sqlx::query_as(
                    "update cases set
                         redeem_attempts = case when redeem_attempts_since is null
                             or redeem_attempts_since <= $3 then 1 else redeem_attempts + 1 end,
                         redeem_attempts_since = case when redeem_attempts_since is null
                             or redeem_attempts_since <= $3 then $1 else redeem_attempts_since end,
                         updated_at = $1
                     where id = $2
                       and (redeem_locked_until is null or redeem_locked_until <= $1)
                       and (redeem_attempts < $4 or redeem_attempts_since is null
                            or redeem_attempts_since <= $3)
                     returning redeem_attempts",
                )
                .bind(Ts(now))
                .bind(case_id.as_str())
                .bind(Ts(run_start))
                .bind(max)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                Ok(counted.map(|(attempt,)| attempt))
            }

            async fn settle_redeem_attempt(
                &self,
                case_id: &CaseId,
                attempt: i32,
                wrong: bool,
                max: i32,
                lock_until: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let lock = wrong && attempt >= max;
                if wrong && !lock {
                    return Ok(false);
                }
                let done = sqlx::query(
                    "update cases set redeem_attempts = 0, redeem_attempts_since = null,
                         redeem_locked_until = case when $1 then $2 else redeem_locked_until end,
                         updated_at = $3
                     where id = $4",
                )
                .bind(lock)
                .bind(Ts(lock_until))
                .bind(Ts(now))
                .bind(case_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                found(done.rows_affected())?;
                Ok(lock)
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
