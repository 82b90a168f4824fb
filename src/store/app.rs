//! The App side: finding a case by the principal's phone, SMS challenges and App
//! sessions (tokens stored hashed).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::cases::{status_list, CaseRow, CASE_COLUMNS};
use super::dialect::{SqlStore, Ts};
use super::{
    backend, id_from_db, on_unique, AppSession, CaseRecord, NewAppSession, NewSmsChallenge,
    SmsChallenge, StoreError,
};
use crate::domain::case::CaseStatus;
use crate::domain::ids::CaseId;
use crate::error_code::ErrorCode;

/// The App side: SMS challenges and App sessions.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// The eligible cases the principal may sign in to (see [`CaseRecord::accepts_sign_in`])
    /// with a website whose principal's mobile has this HMAC, newest first, at most `limit`.
    async fn find_sign_in_cases_by_mobile(
        &self,
        mobile_hmac: &str,
        limit: u32,
    ) -> Result<Vec<CaseRecord>, StoreError>;

    /// Stores a sent SMS code.
    async fn insert_sms_challenge(&self, challenge: &NewSmsChallenge) -> Result<(), StoreError>;

    /// The newest SMS challenges for a phone, newest first, at most `limit`.
    async fn recent_sms_challenges(
        &self,
        phone_hmac: &str,
        limit: u32,
    ) -> Result<Vec<SmsChallenge>, StoreError>;

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
}

#[derive(FromRow)]
struct SmsChallengeRow {
    id: i64,
    case_id: String,
    code_hash: String,
    attempts: i32,
    expires_at: Ts,
    consumed_at: Option<Ts>,
    created_at: Ts,
}

impl TryFrom<SmsChallengeRow> for SmsChallenge {
    type Error = StoreError;
    fn try_from(r: SmsChallengeRow) -> Result<Self, StoreError> {
        Ok(SmsChallenge {
            id: r.id,
            case_id: id_from_db(&r.case_id, CaseId::parse)?,
            code_hash: r.code_hash,
            attempts: r.attempts,
            expires_at: r.expires_at.into(),
            consumed_at: r.consumed_at.map(Into::into),
            created_at: r.created_at.into(),
        })
    }
}

#[derive(FromRow)]
struct AppSessionRow {
    case_id: String,
    last_seen_at: Ts,
    expires_at: Ts,
    revoked_at: Option<Ts>,
}

impl TryFrom<AppSessionRow> for AppSession {
    type Error = StoreError;
    fn try_from(r: AppSessionRow) -> Result<Self, StoreError> {
        Ok(AppSession {
            case_id: id_from_db(&r.case_id, CaseId::parse)?,
            last_seen_at: r.last_seen_at.into(),
            expires_at: r.expires_at.into(),
            revoked_at: r.revoked_at.map(Into::into),
        })
    }
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl AppStore for SqlStore<$db> {
            async fn find_sign_in_cases_by_mobile(
                &self,
                mobile_hmac: &str,
                limit: u32,
            ) -> Result<Vec<CaseRecord>, StoreError> {
                let sql = format!(
                    "select {CASE_COLUMNS} from cases where eligible
                       and status in ({open}) and purged_at is null
                       and id in (select case_id from websites where mobile_hmac = $1)
                     order by created_at desc, id limit $2",
                    open = status_list(CaseStatus::SIGN_IN),
                );
                sqlx::query_as::<_, CaseRow>(&sql)
                    .bind(mobile_hmac)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?
                    .into_iter()
                    .map(CaseRecord::try_from)
                    .collect()
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
                .bind(Ts(c.expires_at))
                .bind(Ts(at))
                .bind(Ts(at))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn recent_sms_challenges(
                &self,
                phone_hmac: &str,
                limit: u32,
            ) -> Result<Vec<SmsChallenge>, StoreError> {
                sqlx::query_as::<_, SmsChallengeRow>(
                    "select id, case_id, code_hash, attempts, expires_at, consumed_at, created_at
                     from sms_challenges where phone_hmac = $1 order by id desc limit $2",
                )
                .bind(phone_hmac)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .into_iter()
                .map(SmsChallenge::try_from)
                .collect()
            }

            async fn fail_sms_challenge(&self, id: i64, now: DateTime<Utc>) -> Result<i32, StoreError> {
                let (attempts,): (i32,) = sqlx::query_as(
                    "update sms_challenges set attempts = attempts + 1, updated_at = $1 where id = $2 returning attempts",
                )
                .bind(Ts(now))
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
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(id)
                .bind(max_attempts)
                .bind(Ts(now))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn start_app_session(&self, session: &NewAppSession) -> Result<(), StoreError> {
                let at = session.created_at;
                let mut tx = Self::begin_write(&self.pool).await?;
                sqlx::query(
                    "update cases set phone_verified_at = coalesce(phone_verified_at, $1), last_activity_at = $2, updated_at = $3
                     where id = $4",
                )
                .bind(Ts(at))
                .bind(Ts(at))
                .bind(Ts(at))
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
                .bind(Ts(at))
                .bind(Ts(session.expires_at))
                .bind(Ts(at))
                .bind(Ts(at))
                .execute(&mut *tx)
                .await
                .map_err(on_unique(ErrorCode::SessionExists))?;
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
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(token_hash)
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
