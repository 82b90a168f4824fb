//! Image verification codes: issuing voids the earlier ones, redeeming is exactly-once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::cases::transition_sql;
use super::dialect::{SqlStore, Ts};
use super::{backend, ChangeRecord, NewVerificationCode, RedeemOutcome, StoreError};
use crate::domain::case::Transition;
use crate::domain::ids::CaseId;

/// Image verification codes: issue, redeem, lock out.
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

    /// Blocks redemption for the case until `until` (after too many wrong codes).
    async fn lock_redemption(
        &self,
        case_id: &CaseId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
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

            async fn lock_redemption(
                &self,
                case_id: &CaseId,
                until: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query("update cases set redeem_locked_until = $1, updated_at = $2 where id = $3")
                    .bind(Ts(until))
                    .bind(Ts(now))
                    .bind(case_id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(())
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
