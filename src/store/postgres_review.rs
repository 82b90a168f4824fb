//! PostgreSQL implementation of `ReviewStore`: reviewer logins and sessions, the queue,
//! leases, decisions and the purge. Times are `timestamptz`, as in `postgres`.
//!
//! Every race (claims, decisions, login failures) is settled by one conditional write: a
//! concurrent updater waits for the row lock and then re-checks its `where` against the
//! winner's row (read committed).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::postgres::{
    insert_event_in, CaseRow, PostgresStore, ReviewerRow, CASE_COLUMNS, REVIEWER_COLUMNS,
};
use super::review::{
    ClaimOutcome, DecideOutcome, DecisionRecord, Lease, LoginFailure, NewDecision,
    NewReviewerSession, QueueCounts, QueueItem, QueuePage, QueueQuery, ReviewStore,
    ReviewerSession,
};
use super::{
    backend, id_from_db, on_unique, reopened_columns, CaseRecord, NewEvent, Reviewer, StoreError,
};
use crate::domain::ids::{CaseId, ReviewerId};

/// How often a claim re-runs when the case changed between its update and its read.
const CLAIM_RETRIES: usize = 8;

#[derive(FromRow)]
struct ReviewerSessionRow {
    reviewer_id: String,
    csrf_token: String,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ReviewerSessionRow> for ReviewerSession {
    type Error = StoreError;
    fn try_from(r: ReviewerSessionRow) -> Result<Self, StoreError> {
        Ok(ReviewerSession {
            reviewer_id: id_from_db(&r.reviewer_id, ReviewerId::parse)?,
            csrf_token: r.csrf_token,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// A case's lease columns with the holder's display name (any of them may be null).
#[derive(FromRow)]
struct LeaseRow {
    lease_reviewer_id: Option<String>,
    lease_until: Option<DateTime<Utc>>,
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
    submitted_at: DateTime<Utc>,
    decided_at: DateTime<Utc>,
}

impl TryFrom<DecisionRow> for DecisionRecord {
    type Error = StoreError;
    fn try_from(r: DecisionRow) -> Result<Self, StoreError> {
        Ok(DecisionRecord {
            reviewer_id: id_from_db(&r.reviewer_id, ReviewerId::parse)?,
            decision: r.decision,
            reasons: r.reasons,
            note: r.note,
            submitted_at: r.submitted_at,
            decided_at: r.decided_at,
        })
    }
}

/// The queue's `where` clause, shared by the page and the count. Binds: $1 now, $2 overdue
/// only, $3 leased to.
const QUEUE_FILTER: &str = "status = 'in_review'
    and (not $2 or due_at < $1)
    and ($3::text is null or (lease_reviewer_id = $3 and lease_until > $1))";

#[async_trait]
impl ReviewStore for PostgresStore {
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

    async fn record_login_failure(
        &self,
        id: &ReviewerId,
        max_failures: i32,
        lock_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LoginFailure, StoreError> {
        // One statement: the right-hand sides all see the old count, and a concurrent
        // failure waits for the row lock and then counts on top of this one.
        let row: Option<(i32, Option<DateTime<Utc>>)> = sqlx::query_as(
            "update reviewers set
                 failed_logins = case when failed_logins + 1 >= $1 then 0 else failed_logins + 1 end,
                 locked_until = case when failed_logins + 1 >= $1 then $2 else locked_until end,
                 updated_at = $3
             where id = $4
             returning failed_logins, locked_until",
        )
        .bind(max_failures)
        .bind(lock_until)
        .bind(now)
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let (failures, locked_until) = row.ok_or(StoreError::NotFound)?;
        // The count is at least 1 after an increment, so 0 means this failure set the lock.
        let locked_until = if failures == 0 { locked_until } else { None };
        Ok(LoginFailure {
            failures,
            locked_until,
        })
    }

    async fn record_login_success(
        &self,
        id: &ReviewerId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("update reviewers set failed_logins = 0, updated_at = $1 where id = $2")
                .bind(now)
                .bind(id.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_reviewer_password(
        &self,
        username: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let id: Option<(String,)> = sqlx::query_as(
            "update reviewers set password_hash = $1, failed_logins = 0, locked_until = null,
                 updated_at = $2
             where username = $3
             returning id",
        )
        .bind(password_hash)
        .bind(now)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let (id,) = id.ok_or(StoreError::NotFound)?;
        revoke_sessions_in(&mut tx, &id, now).await?;
        tx.commit().await.map_err(backend)
    }

    async fn disable_reviewer(&self, username: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let id: Option<(String,)> = sqlx::query_as(
            "update reviewers set disabled_at = coalesce(disabled_at, $1), updated_at = $1
             where username = $2
             returning id",
        )
        .bind(now)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let (id,) = id.ok_or(StoreError::NotFound)?;
        revoke_sessions_in(&mut tx, &id, now).await?;
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
        .bind(at)
        .bind(session.expires_at)
        .bind(at)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(on_unique("session_exists"))?;
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
        .bind(now)
        .bind(now)
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
        .bind(now)
        .bind(now)
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
             where {QUEUE_FILTER}
             order by due_at, submitted_at, id limit $4 offset $5"
        );
        let rows = sqlx::query(&sql)
            .bind(q.now)
            .bind(q.overdue_only)
            .bind(mine)
            .bind(i64::from(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let items = rows
            .iter()
            .map(|row| {
                let case = CaseRecord::try_from(CaseRow::from_row(row).map_err(backend)?)?;
                let lease = LeaseRow::from_row(row).map_err(backend)?.live_at(q.now)?;
                Ok(QueueItem { case, lease })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sql = format!("select count(*) from cases where {QUEUE_FILTER}");
        let (total,): (i64,) = sqlx::query_as(&sql)
            .bind(q.now)
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
             from cases where status = 'in_review'",
        )
        .bind(now)
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
        let sql =
            format!("select {LEASE_COLUMNS} from cases where id = $1 and status = 'in_review'");
        let row = sqlx::query_as::<_, LeaseRow>(&sql)
            .bind(case_id.as_str())
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
                 where id = $4 and status = 'in_review'
                   and (lease_reviewer_id is null or lease_until <= $3 or lease_reviewer_id = $1)",
            )
            .bind(reviewer_id.as_str())
            .bind(until)
            .bind(now)
            .bind(case_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if claimed.rows_affected() == 1 {
                return Ok(ClaimOutcome::Claimed { until });
            }
            let state = case_state(&self.pool, case_id).await?;
            if state.status != "in_review" {
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
        event: Option<&NewEvent>,
    ) -> Result<DecideOutcome, StoreError> {
        let at = d.now;
        let decision = if d.approved { "approved" } else { "rejected" };
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let sql = format!(
            "update cases set status = $1, decided_at = $2, decided_by = $3, lease_reviewer_id = null,
                 lease_until = null, last_activity_at = $2, updated_at = $2{}
             where id = $4 and status = 'in_review' and lease_reviewer_id = $3 and lease_until > $2
             returning submitted_at",
            reopened_columns(d.approved, &d.reopen)
        );
        let decided: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(&sql)
            .bind(decision)
            .bind(at)
            .bind(d.reviewer_id.as_str())
            .bind(d.case_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let Some((submitted_at,)) = decided else {
            let state = case_state(&mut *tx, &d.case_id).await?;
            return Ok(if state.status == "in_review" {
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
        .bind(decision)
        .bind(&d.reasons)
        .bind(&d.note)
        .bind(submitted_at)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(event) = event {
            insert_event_in(&mut tx, event).await?;
        }
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
        let ids: Vec<(String,)> = sqlx::query_as(
            "select id from cases
             where purged_at is null and cancelled_at is null
               and ((decided_at is not null and decided_at < $1
                         and status in ('approved', 'rejected'))
                    or (status not in ('in_review', 'approved', 'rejected', 'ineligible')
                         and last_activity_at < $2))
             order by id limit $3",
        )
        .bind(decided_before)
        .bind(idle_before)
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
            .bind(now)
            .bind(case_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// Ends every open session of a reviewer.
async fn revoke_sessions_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    reviewer_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "update reviewer_sessions set revoked_at = $1, updated_at = $1
         where reviewer_id = $2 and revoked_at is null",
    )
    .bind(at)
    .bind(reviewer_id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// A case's status and lease; `NotFound` when there is no such case.
async fn case_state<'e, E>(executor: E, case_id: &CaseId) -> Result<CaseStateRow, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let sql = format!("select status, {LEASE_COLUMNS} from cases where id = $1");
    sqlx::query_as::<_, CaseStateRow>(&sql)
        .bind(case_id.as_str())
        .fetch_optional(executor)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)
}
