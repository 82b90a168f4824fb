//! The review desk's part of the store: reviewer logins and sessions, the queue, leases,
//! decisions and the purge. A supertrait of `Store`, so `Arc<dyn Store>` reaches it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::cases::{status_list, transition_sql, CaseRow, CASE_COLUMNS};
use super::dialect::{SqlStore, Ts};
use super::{
    backend, found, id_from_db, on_unique, placeholders, reopened_columns, roles_from_db,
    CaseRecord, ChangeRecord, NewReviewer, Reviewer, StoreError,
};
use crate::domain::case::{CaseStatus, PhotoKind, Transition};
use crate::domain::ids::{CaseId, ReviewerId};
use crate::domain::role::Role;
use crate::error_code::ErrorCode;

/// After a failed login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailure {
    /// Failures in a row, counting this one.
    pub failures: i32,
    /// Set when this failure locked the account.
    pub locked_until: Option<DateTime<Utc>>,
}

/// A reviewer session to store.
#[derive(Debug, Clone)]
pub struct NewReviewerSession {
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// Whose.
    pub reviewer_id: ReviewerId,
    /// The CSRF token the console echoes.
    pub csrf_token: String,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Start.
    pub created_at: DateTime<Utc>,
}

/// A stored reviewer session.
#[derive(Debug, Clone)]
pub struct ReviewerSession {
    /// Whose.
    pub reviewer_id: ReviewerId,
    /// The CSRF token.
    pub csrf_token: String,
    /// Last use.
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    /// Set at logout.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Which cases in review to list.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    /// Now (for overdue and live leases).
    pub now: DateTime<Utc>,
    /// Only cases due before `now`.
    pub overdue_only: bool,
    /// Only cases whose live lease this reviewer holds.
    pub leased_to: Option<ReviewerId>,
    /// Rows to skip.
    pub offset: u32,
    /// Rows to return.
    pub limit: u32,
}

/// A lease on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it.
    pub reviewer_id: ReviewerId,
    /// The holder's display name.
    pub display_name: String,
    /// Until then.
    pub until: DateTime<Utc>,
}

/// A case in the queue.
#[derive(Debug, Clone)]
pub struct QueueItem {
    /// The case.
    pub case: CaseRecord,
    /// Its live lease, if any.
    pub lease: Option<Lease>,
    /// Its websites' domains, in filing order.
    pub domains: Vec<String>,
}

/// One page of the queue.
#[derive(Debug, Clone)]
pub struct QueuePage {
    /// Ordered by due time, then submission.
    pub items: Vec<QueueItem>,
    /// Cases matching the query.
    pub total: i64,
}

/// Queue figures for the SLA metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    /// Cases in review.
    pub in_review: i64,
    /// Of those, past their due time.
    pub overdue: i64,
}

/// What a claim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller holds the case until then (a new lease, or its own lease renewed).
    Claimed {
        /// Lease end.
        until: DateTime<Utc>,
    },
    /// Someone else holds a live lease.
    LeasedToOther(Lease),
    /// The case is not in review (decided, cancelled, not yet submitted).
    NotInReview,
}

/// A decision to record.
#[derive(Debug, Clone)]
pub struct NewDecision {
    /// The case.
    pub case_id: CaseId,
    /// Who decides; must hold a live lease.
    pub reviewer_id: ReviewerId,
    /// `approved` or `rejected`.
    pub approved: bool,
    /// JSON `[{code, step}]`.
    pub reasons: String,
    /// The reviewer's note.
    pub note: Option<String>,
    /// Steps a rejection reopens (their progress times are cleared).
    pub reopen: Vec<PhotoKind>,
    /// When.
    pub now: DateTime<Utc>,
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideOutcome {
    /// Recorded; the case is approved or rejected now.
    Decided,
    /// The caller holds no live lease on the case (another reviewer may).
    NotLeased,
    /// The case is not in review any more (decided by someone, or cancelled).
    NotInReview,
}

/// A recorded decision.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    /// Who.
    pub reviewer_id: ReviewerId,
    /// `approved` or `rejected`.
    pub decision: String,
    /// JSON `[{code, step}]`.
    pub reasons: String,
    /// The note.
    pub note: Option<String>,
    /// When the round entered review.
    pub submitted_at: DateTime<Utc>,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// Review-desk storage.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Inserts a reviewer; `Conflict(ReviewerUsernameTaken)` when the name is in use.
    async fn insert_reviewer(&self, reviewer: &NewReviewer) -> Result<(), StoreError>;

    /// The reviewer with this login name.
    async fn find_reviewer_by_username(
        &self,
        username: &str,
    ) -> Result<Option<Reviewer>, StoreError>;

    /// A reviewer by id (`NotFound` when absent).
    async fn get_reviewer(&self, id: &ReviewerId) -> Result<Reviewer, StoreError>;

    /// Reserves one password check on an account: counts it as a failure in advance, so
    /// that checks running at once are counted before any of them ends. Refused (`None`)
    /// while the account is locked or `max_failures` checks since the last success are
    /// already counted; otherwise the check's number, 1 to `max_failures`. Atomic across
    /// instances.
    async fn begin_login_attempt(
        &self,
        id: &ReviewerId,
        max_failures: i32,
        now: DateTime<Utc>,
    ) -> Result<Option<i32>, StoreError>;

    /// Settles check number `attempt` that found a wrong password (it was counted when it
    /// began): the check that reached `max_failures` locks the account until `lock_until`
    /// and the count starts again.
    async fn record_login_failure(
        &self,
        id: &ReviewerId,
        attempt: i32,
        max_failures: i32,
        lock_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LoginFailure, StoreError>;

    /// A successful login resets the failure count.
    async fn record_login_success(
        &self,
        id: &ReviewerId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Sets a new password hash, lifts any lock and ends the reviewer's sessions;
    /// `NotFound` for an unknown username.
    async fn set_reviewer_password(
        &self,
        username: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Disables an account and ends its sessions; `NotFound` for an unknown username.
    async fn disable_reviewer(&self, username: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Stores a new session.
    async fn start_reviewer_session(&self, session: &NewReviewerSession) -> Result<(), StoreError>;

    /// A session by token hash, whatever its state.
    async fn find_reviewer_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ReviewerSession>, StoreError>;

    /// Marks a session used now (idle expiry counts from here).
    async fn touch_reviewer_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Ends a session (logout).
    async fn revoke_reviewer_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Cases in review, most urgent first.
    async fn review_queue(&self, query: &QueueQuery) -> Result<QueuePage, StoreError>;

    /// Queue size and overdue count at `now`.
    async fn review_counts(&self, now: DateTime<Utc>) -> Result<QueueCounts, StoreError>;

    /// The live lease on a case, if any.
    async fn case_lease(
        &self,
        case_id: &CaseId,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError>;

    /// Takes (or renews) the lease on a case in review unless another reviewer holds a
    /// live one. Of concurrent claimers exactly one wins.
    async fn claim_case(
        &self,
        case_id: &CaseId,
        reviewer_id: &ReviewerId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StoreError>;

    /// Records a decision by the lease holder with its audit entry and event, in one
    /// transaction (`Transition::Approve` or `Reject`):
    /// the case becomes approved or rejected, its lease ends, a rejection clears the
    /// progress of the steps it reopens. Of concurrent deciders exactly one wins.
    async fn decide_case(
        &self,
        decision: &NewDecision,
        record: &ChangeRecord,
    ) -> Result<DecideOutcome, StoreError>;

    /// A case's decisions, oldest first.
    async fn list_decisions(&self, case_id: &CaseId) -> Result<Vec<DecisionRecord>, StoreError>;

    /// Cases whose photos are due for purging: decided before `decided_before`, or not
    /// decided, not in review and idle since before `idle_before`; not purged yet.
    async fn purgeable_cases(
        &self,
        decided_before: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CaseId>, StoreError>;

    /// Records that a case's photos are gone.
    async fn mark_purged(&self, case_id: &CaseId, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// The columns `ReviewerRow` reads.
pub(super) const REVIEWER_COLUMNS: &str =
    "id, username, display_name, password_hash, roles, disabled_at, locked_until, failed_logins, created_at";

#[derive(FromRow)]
pub(super) struct ReviewerRow {
    id: String,
    username: String,
    display_name: String,
    password_hash: String,
    roles: String,
    disabled_at: Option<Ts>,
    locked_until: Option<Ts>,
    failed_logins: i32,
    created_at: Ts,
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
            disabled_at: row.disabled_at.map(Into::into),
            locked_until: row.locked_until.map(Into::into),
            failed_logins: row.failed_logins,
            created_at: row.created_at.into(),
        })
    }
}

/// How often a claim re-runs when the case changed between its update and its read.
const CLAIM_RETRIES: usize = 8;

#[derive(FromRow)]
struct ReviewerSessionRow {
    reviewer_id: String,
    csrf_token: String,
    last_seen_at: Ts,
    expires_at: Ts,
    revoked_at: Option<Ts>,
}

impl TryFrom<ReviewerSessionRow> for ReviewerSession {
    type Error = StoreError;
    fn try_from(r: ReviewerSessionRow) -> Result<Self, StoreError> {
        Ok(ReviewerSession {
            reviewer_id: id_from_db(&r.reviewer_id, ReviewerId::parse)?,
            csrf_token: r.csrf_token,
            last_seen_at: r.last_seen_at.into(),
            expires_at: r.expires_at.into(),
            revoked_at: r.revoked_at.map(Into::into),
        })
    }
}

/// A case's lease columns with the holder's display name (any of them may be null).
#[derive(FromRow)]
struct LeaseRow {
    lease_reviewer_id: Option<String>,
    lease_until: Option<Ts>,
    lease_display_name: Option<String>,
}

impl LeaseRow {
    /// The lease when it is still live at `now`.
    fn live_at(self, now: DateTime<Utc>) -> Result<Option<Lease>, StoreError> {
        let (Some(id), Some(until), Some(display_name)) = (
            self.lease_reviewer_id,
            self.lease_until,
            self.lease_display_name,
        ) else {
            return Ok(None);
        };
        let until: DateTime<Utc> = until.into();
        if until <= now {
            return Ok(None);
        }
        Ok(Some(Lease {
            reviewer_id: id_from_db(&id, ReviewerId::parse)?,
            display_name,
            until,
        }))
    }
}

/// Selects a case's lease as a `LeaseRow` (from `cases`, unaliased).
const LEASE_COLUMNS: &str = "lease_reviewer_id, lease_until,
    (select r.display_name from reviewers r where r.id = cases.lease_reviewer_id) as lease_display_name";

/// The case's status and lease, read after a claim or decision found nothing to update.
#[derive(FromRow)]
struct CaseStateRow {
    status: String,
    #[sqlx(flatten)]
    lease: LeaseRow,
}

#[derive(FromRow)]
struct DecisionRow {
    reviewer_id: String,
    decision: String,
    reasons: String,
    note: Option<String>,
    submitted_at: Ts,
    decided_at: Ts,
}

impl TryFrom<DecisionRow> for DecisionRecord {
    type Error = StoreError;
    fn try_from(r: DecisionRow) -> Result<Self, StoreError> {
        Ok(DecisionRecord {
            reviewer_id: id_from_db(&r.reviewer_id, ReviewerId::parse)?,
            decision: r.decision,
            reasons: r.reasons,
            note: r.note,
            submitted_at: r.submitted_at.into(),
            decided_at: r.decided_at.into(),
        })
    }
}

/// The queue's `where` clause, shared by the page and the count. Binds: $1 now, $2 overdue
/// only, $3 leased to.
fn queue_filter() -> String {
    format!(
        "status = '{in_review}'
         and (not $2 or due_at < $1)
         and (cast($3 as text) is null or (lease_reviewer_id = $3 and lease_until > $1))",
        in_review = CaseStatus::InReview.as_str()
    )
}

macro_rules! stamp {
    ($db:ty) => {
        #[async_trait]
        impl ReviewStore for SqlStore<$db> {
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
                .bind(Ts(reviewer.created_at))
                .execute(&self.pool)
                .await
                .map_err(on_unique(ErrorCode::ReviewerUsernameTaken))?;
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

            async fn get_reviewer(&self, id: &ReviewerId) -> Result<Reviewer, StoreError> {
                let sql = format!("select {REVIEWER_COLUMNS} from reviewers where id = $1");
                sqlx::query_as::<_, ReviewerRow>(&sql)
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?
                    .try_into()
            }

            async fn begin_login_attempt(
                &self,
                id: &ReviewerId,
                max_failures: i32,
                now: DateTime<Utc>,
            ) -> Result<Option<i32>, StoreError> {
                // One statement: of racing checks the row lock lets exactly the first
                // `max_failures` through.
                let counted: Option<(i32,)> = sqlx::query_as(
                    "update reviewers set failed_logins = failed_logins + 1, updated_at = $1
                     where id = $2 and failed_logins < $3
                       and (locked_until is null or locked_until <= $1)
                     returning failed_logins",
                )
                .bind(Ts(now))
                .bind(id.as_str())
                .bind(max_failures)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                if let Some((attempt,)) = counted {
                    return Ok(Some(attempt));
                }
                self.get_reviewer(id).await?;
                Ok(None)
            }

            async fn record_login_failure(
                &self,
                id: &ReviewerId,
                attempt: i32,
                max_failures: i32,
                lock_until: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<LoginFailure, StoreError> {
                if attempt < max_failures {
                    self.get_reviewer(id).await?;
                    return Ok(LoginFailure {
                        failures: attempt,
                        locked_until: None,
                    });
                }
                let done = sqlx::query(
                    "update reviewers set failed_logins = 0, locked_until = $1, updated_at = $2
                     where id = $3",
                )
                .bind(Ts(lock_until))
                .bind(Ts(now))
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                found(done.rows_affected())?;
                Ok(LoginFailure {
                    failures: attempt,
                    locked_until: Some(lock_until),
                })
            }

            async fn record_login_success(
                &self,
                id: &ReviewerId,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let done =
                    sqlx::query("update reviewers set failed_logins = 0, updated_at = $1 where id = $2")
                        .bind(Ts(now))
                        .bind(id.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(backend)?;
                found(done.rows_affected())
            }

            async fn set_reviewer_password(
                &self,
                username: &str,
                password_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                let id: Option<(String,)> = sqlx::query_as(
                    "update reviewers set password_hash = $1, failed_logins = 0, locked_until = null,
                         updated_at = $2
                     where username = $3
                     returning id",
                )
                .bind(password_hash)
                .bind(Ts(now))
                .bind(username)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                let (id,) = id.ok_or(StoreError::NotFound)?;
                Self::revoke_sessions_in(&mut tx, &id, now).await?;
                tx.commit().await.map_err(backend)
            }

            async fn disable_reviewer(&self, username: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = Self::begin_write(&self.pool).await?;
                let id: Option<(String,)> = sqlx::query_as(
                    "update reviewers set disabled_at = coalesce(disabled_at, $1), updated_at = $1
                     where username = $2
                     returning id",
                )
                .bind(Ts(now))
                .bind(username)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                let (id,) = id.ok_or(StoreError::NotFound)?;
                Self::revoke_sessions_in(&mut tx, &id, now).await?;
                tx.commit().await.map_err(backend)
            }

            async fn start_reviewer_session(&self, session: &NewReviewerSession) -> Result<(), StoreError> {
                let at = session.created_at;
                sqlx::query(
                    "insert into reviewer_sessions (token_hash, reviewer_id, csrf_token, last_seen_at,
                         expires_at, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&session.token_hash)
                .bind(session.reviewer_id.as_str())
                .bind(&session.csrf_token)
                .bind(Ts(at))
                .bind(Ts(session.expires_at))
                .bind(Ts(at))
                .bind(Ts(at))
                .execute(&self.pool)
                .await
                .map_err(on_unique(ErrorCode::SessionExists))?;
                Ok(())
            }

            async fn find_reviewer_session(
                &self,
                token_hash: &str,
            ) -> Result<Option<ReviewerSession>, StoreError> {
                sqlx::query_as::<_, ReviewerSessionRow>(
                    "select reviewer_id, csrf_token, last_seen_at, expires_at, revoked_at
                     from reviewer_sessions where token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(ReviewerSession::try_from)
                .transpose()
            }

            async fn touch_reviewer_session(
                &self,
                token_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "update reviewer_sessions set last_seen_at = $1, updated_at = $2 where token_hash = $3",
                )
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(token_hash)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn revoke_reviewer_session(
                &self,
                token_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                // The first revocation time stays.
                sqlx::query(
                    "update reviewer_sessions set revoked_at = $1, updated_at = $2
                     where token_hash = $3 and revoked_at is null",
                )
                .bind(Ts(now))
                .bind(Ts(now))
                .bind(token_hash)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn review_queue(&self, q: &QueueQuery) -> Result<QueuePage, StoreError> {
                let mine = q.leased_to.as_ref().map(ReviewerId::as_str);
                let sql = format!(
                    "select {CASE_COLUMNS}, {LEASE_COLUMNS} from cases
                     where {filter}
                     order by due_at, submitted_at, id limit $4 offset $5",
                    filter = queue_filter(),
                );
                let rows = sqlx::query(&sql)
                    .bind(Ts(q.now))
                    .bind(q.overdue_only)
                    .bind(mine)
                    .bind(i64::from(q.limit))
                    .bind(i64::from(q.offset))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                let mut items = rows
                    .iter()
                    .map(|row| {
                        let case = CaseRecord::try_from(CaseRow::from_row(row).map_err(backend)?)?;
                        let lease = LeaseRow::from_row(row).map_err(backend)?.live_at(q.now)?;
                        Ok(QueueItem { case, lease, domains: Vec::new() })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                // The page's domains in one more query, not one per row.
                let ids: Vec<&str> = items.iter().map(|i| i.case.id.as_str()).collect();
                let sql = format!(
                    "select case_id, domain from websites
                     where case_id in ({}) order by case_id, position",
                    placeholders(ids.len())
                );
                let mut query = sqlx::query_as::<_, (String, String)>(&sql);
                for id in &ids {
                    query = query.bind(*id);
                }
                let domains = query.fetch_all(&self.pool).await.map_err(backend)?;
                for item in &mut items {
                    item.domains = domains
                        .iter()
                        .filter(|(case, _)| case == item.case.id.as_str())
                        .map(|(_, domain)| domain.clone())
                        .collect();
                }
                let sql = format!("select count(*) from cases where {}", queue_filter());
                let (total,): (i64,) = sqlx::query_as(&sql)
                    .bind(Ts(q.now))
                    .bind(q.overdue_only)
                    .bind(mine)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(QueuePage { items, total })
            }

            async fn review_counts(&self, now: DateTime<Utc>) -> Result<QueueCounts, StoreError> {
                let (in_review, overdue): (i64, i64) = sqlx::query_as(
                    "select count(*), count(case when due_at < $1 then 1 end)
                     from cases where status = $2",
                )
                .bind(Ts(now))
                .bind(CaseStatus::InReview.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
                Ok(QueueCounts { in_review, overdue })
            }

            async fn case_lease(
                &self,
                case_id: &CaseId,
                now: DateTime<Utc>,
            ) -> Result<Option<Lease>, StoreError> {
                // A lease only means something while the case is in review.
                let sql = format!("select {LEASE_COLUMNS} from cases where id = $1 and status = $2");
                let row = sqlx::query_as::<_, LeaseRow>(&sql)
                    .bind(case_id.as_str())
                    .bind(CaseStatus::InReview.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                match row {
                    Some(row) => row.live_at(now),
                    None => Ok(None),
                }
            }

            async fn claim_case(
                &self,
                case_id: &CaseId,
                reviewer_id: &ReviewerId,
                until: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<ClaimOutcome, StoreError> {
                for _ in 0..CLAIM_RETRIES {
                    let claimed = sqlx::query(
                        "update cases set lease_reviewer_id = $1, lease_until = $2, updated_at = $3
                         where id = $4 and status = $5
                           and (lease_reviewer_id is null or lease_until <= $3 or lease_reviewer_id = $1)",
                    )
                    .bind(reviewer_id.as_str())
                    .bind(Ts(until))
                    .bind(Ts(now))
                    .bind(case_id.as_str())
                    .bind(CaseStatus::InReview.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                    if claimed.rows_affected() == 1 {
                        return Ok(ClaimOutcome::Claimed { until });
                    }
                    let state = Self::case_state(&self.pool, case_id).await?;
                    if state.status != CaseStatus::InReview.as_str() {
                        return Ok(ClaimOutcome::NotInReview);
                    }
                    if let Some(lease) = state.lease.live_at(now)? {
                        if &lease.reviewer_id != reviewer_id {
                            return Ok(ClaimOutcome::LeasedToOther(lease));
                        }
                    }
                    // The lease ended between the update and the read: try again.
                }
                Err(StoreError::Backend(anyhow::anyhow!(
                    "claim of a case kept changing under {CLAIM_RETRIES} tries"
                )))
            }

            async fn decide_case(
                &self,
                d: &NewDecision,
                record: &ChangeRecord,
            ) -> Result<DecideOutcome, StoreError> {
                let at = Ts(d.now);
                let transition = if d.approved { Transition::Approve } else { Transition::Reject };
                let mut tx = Self::begin_write(&self.pool).await?;
                let sql = format!(
                    "{} and lease_reviewer_id = $3 and lease_until > $1 returning submitted_at",
                    transition_sql(
                        transition,
                        &format!(
                            ", decided_at = $1, decided_by = $3, lease_reviewer_id = null,
                               lease_until = null{}",
                            reopened_columns(d.approved, &d.reopen)
                        ),
                    )
                );
                let decided: Option<(Option<Ts>,)> = sqlx::query_as(&sql)
                    .bind(at)
                    .bind(d.case_id.as_str())
                    .bind(d.reviewer_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                let Some((submitted_at,)) = decided else {
                    let state = Self::case_state(&mut *tx, &d.case_id).await?;
                    return Ok(if state.status == CaseStatus::InReview.as_str() {
                        DecideOutcome::NotLeased
                    } else {
                        DecideOutcome::NotInReview
                    });
                };
                let submitted_at = submitted_at.ok_or_else(|| {
                    StoreError::Backend(anyhow::anyhow!("a case in review without submitted_at"))
                })?;
                sqlx::query(
                    "insert into decisions (case_id, reviewer_id, decision, reasons, note, submitted_at,
                         decided_at, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $7, $7)",
                )
                .bind(d.case_id.as_str())
                .bind(d.reviewer_id.as_str())
                .bind(transition.target().as_str())
                .bind(&d.reasons)
                .bind(&d.note)
                .bind(submitted_at)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                Self::record_change_in(&mut tx, record).await?;
                tx.commit().await.map_err(backend)?;
                Ok(DecideOutcome::Decided)
            }

            async fn list_decisions(&self, case_id: &CaseId) -> Result<Vec<DecisionRecord>, StoreError> {
                sqlx::query_as::<_, DecisionRow>(
                    "select reviewer_id, decision, reasons, note, submitted_at, decided_at
                     from decisions where case_id = $1 order by id",
                )
                .bind(case_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .into_iter()
                .map(DecisionRecord::try_from)
                .collect()
            }

            async fn purgeable_cases(
                &self,
                decided_before: DateTime<Utc>,
                idle_before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<CaseId>, StoreError> {
                // Cancelling purges by itself; ineligible cases never had photos. A rejected case
                // the principal never came back to is purged like an approved one.
                let sql = format!(
                    "select id from cases
                     where purged_at is null and cancelled_at is null
                       and ((decided_at is not null and decided_at < $1 and status in ({decided}))
                            or (status in ({before_review}) and last_activity_at < $2))
                     order by id limit $3",
                    decided = status_list(CaseStatus::DECIDED),
                    before_review = status_list(CaseStatus::BEFORE_REVIEW),
                );
                let ids: Vec<(String,)> = sqlx::query_as(&sql)
                .bind(Ts(decided_before))
                .bind(Ts(idle_before))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                ids.into_iter()
                    .map(|(id,)| id_from_db(&id, CaseId::parse))
                    .collect()
            }

            async fn mark_purged(&self, case_id: &CaseId, now: DateTime<Utc>) -> Result<(), StoreError> {
                let done = sqlx::query("update cases set purged_at = $1, updated_at = $1 where id = $2")
                    .bind(Ts(now))
                    .bind(case_id.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                found(done.rows_affected())
            }
        }


        impl SqlStore<$db> {
            /// Ends every open session of a reviewer.
            async fn revoke_sessions_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                reviewer_id: &str,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "update reviewer_sessions set revoked_at = $1, updated_at = $1
                     where reviewer_id = $2 and revoked_at is null",
                )
                .bind(Ts(at))
                .bind(reviewer_id)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
                Ok(())
            }

            /// A case's status and lease; `NotFound` when there is no such case.
            async fn case_state<'e, E>(executor: E, case_id: &CaseId) -> Result<CaseStateRow, StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let sql = format!("select status, {LEASE_COLUMNS} from cases where id = $1");
                sqlx::query_as::<_, CaseStateRow>(&sql)
                    .bind(case_id.as_str())
                    .fetch_optional(executor)
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)
            }
        }
    };
}

stamp!(sqlx::Sqlite);
stamp!(sqlx::Postgres);
