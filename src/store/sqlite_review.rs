//! SQLite implementation of `ReviewStore`: reviewer logins and sessions, the queue, leases,
//! decisions and the purge. Times are INTEGER milliseconds (UTC), as in `sqlite`.
//!
//! Every race (claims, decisions, login failures) is settled by one conditional write: SQLite
//! takes the database write lock at a writing statement, so racers queue behind it and then
//! see the winner's row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::review::{
    ClaimOutcome, DecideOutcome, DecisionRecord, Lease, LoginFailure, NewDecision,
    NewReviewerSession, QueueCounts, QueueItem, QueuePage, QueueQuery, ReviewStore,
    ReviewerSession,
};
use super::sqlite::{
    from_ms, insert_event_in, opt_from_ms, to_ms, CaseRow, ReviewerRow, SqliteStore, CASE_COLUMNS,
    REVIEWER_COLUMNS,
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
    last_seen_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<ReviewerSessionRow> for ReviewerSession {
    type Error = StoreError;
    fn try_from(r: ReviewerSessionRow) -> Result<Self, StoreError> {
        Ok(ReviewerSession {
            reviewer_id: id_from_db(&r.reviewer_id, ReviewerId::parse)?,
            csrf_token: r.csrf_token,
            last_seen_at: from_ms(r.last_seen_at)?,
            expires_at: from_ms(r.expires_at)?,
            revoked_at: opt_from_ms(r.revoked_at)?,
        })
    }
}

/// A case's lease columns with the holder's display name (any of them may be null).
#[derive(FromRow)]
struct LeaseRow {
    lease_reviewer_id: Option<String>,
    lease_until: Option<i64>,
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
        if until <= to_ms(now) {
            return Ok(None);
        }
        Ok(Some(Lease {
            reviewer_id: id_from_db(&id, ReviewerId::parse)?,
            display_name,
            until: from_ms(until)?,
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
    submitted_at: i64,
    decided_at: i64,
}

impl TryFrom<DecisionRow> for DecisionRecord {
    type Error = StoreError;
    fn try_from(r: DecisionRow) -> Result<Self, StoreError> {
        Ok(DecisionRecord {
            reviewer_id: id_from_db(&r.reviewer_id, ReviewerId::parse)?,
            decision: r.decision,
            reasons: r.reasons,
            note: r.note,
            submitted_at: from_ms(r.submitted_at)?,
            decided_at: from_ms(r.decided_at)?,
        })
    }
}

/// The queue's `where` clause, shared by the page and the count. Binds: overdue only, now,
/// leased to (twice), now.
const QUEUE_FILTER: &str = "status = 'in_review'
    and (not ? or due_at < ?)
    and (? is null or (lease_reviewer_id = ? and lease_until > ?))";

#[async_trait]
impl ReviewStore for SqliteStore {
    async fn get_reviewer(&self, id: &ReviewerId) -> Result<Reviewer, StoreError> {
        let sql = format!("select {REVIEWER_COLUMNS} from reviewers where id = ?");
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
        // One statement: the right-hand sides all see the old count, so the increment and
        // the lock cannot be split by a concurrent failure.
        let row: Option<(i32, Option<i64>)> = sqlx::query_as(
            "update reviewers set
                 failed_logins = case when failed_logins + 1 >= ? then 0 else failed_logins + 1 end,
                 locked_until = case when failed_logins + 1 >= ? then ? else locked_until end,
                 updated_at = ?
             where id = ?
             returning failed_logins, locked_until",
        )
        .bind(max_failures)
        .bind(max_failures)
        .bind(to_ms(lock_until))
        .bind(to_ms(now))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let (failures, locked_until) = row.ok_or(StoreError::NotFound)?;
        // The count is at least 1 after an increment, so 0 means this failure set the lock.
        let locked_until = if failures == 0 {
            opt_from_ms(locked_until)?
        } else {
            None
        };
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
            sqlx::query("update reviewers set failed_logins = 0, updated_at = ? where id = ?")
                .bind(to_ms(now))
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
        let at = to_ms(now);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let id: Option<(String,)> = sqlx::query_as(
            "update reviewers set password_hash = ?, failed_logins = 0, locked_until = null,
                 updated_at = ?
             where username = ?
             returning id",
        )
        .bind(password_hash)
        .bind(at)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let (id,) = id.ok_or(StoreError::NotFound)?;
        revoke_sessions_in(&mut tx, &id, at).await?;
        tx.commit().await.map_err(backend)
    }

    async fn disable_reviewer(&self, username: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let at = to_ms(now);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let id: Option<(String,)> = sqlx::query_as(
            "update reviewers set disabled_at = coalesce(disabled_at, ?), updated_at = ?
             where username = ?
             returning id",
        )
        .bind(at)
        .bind(at)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let (id,) = id.ok_or(StoreError::NotFound)?;
        revoke_sessions_in(&mut tx, &id, at).await?;
        tx.commit().await.map_err(backend)
    }

    async fn start_reviewer_session(&self, session: &NewReviewerSession) -> Result<(), StoreError> {
        let at = to_ms(session.created_at);
        sqlx::query(
            "insert into reviewer_sessions (token_hash, reviewer_id, csrf_token, last_seen_at,
                 expires_at, created_at, updated_at)
             values (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.token_hash)
        .bind(session.reviewer_id.as_str())
        .bind(&session.csrf_token)
        .bind(at)
        .bind(to_ms(session.expires_at))
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
             from reviewer_sessions where token_hash = ?",
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
            "update reviewer_sessions set last_seen_at = ?, updated_at = ? where token_hash = ?",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
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
            "update reviewer_sessions set revoked_at = ?, updated_at = ?
             where token_hash = ? and revoked_at is null",
        )
        .bind(to_ms(now))
        .bind(to_ms(now))
        .bind(token_hash)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn review_queue(&self, q: &QueueQuery) -> Result<QueuePage, StoreError> {
        let now = to_ms(q.now);
        let mine = q.leased_to.as_ref().map(ReviewerId::as_str);
        let sql = format!(
            "select {CASE_COLUMNS}, {LEASE_COLUMNS} from cases
             where {QUEUE_FILTER}
             order by due_at, submitted_at, id limit ? offset ?"
        );
        let rows = sqlx::query(&sql)
            .bind(q.overdue_only)
            .bind(now)
            .bind(mine)
            .bind(mine)
            .bind(now)
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
            .bind(q.overdue_only)
            .bind(now)
            .bind(mine)
            .bind(mine)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(QueuePage { items, total })
    }

    async fn review_counts(&self, now: DateTime<Utc>) -> Result<QueueCounts, StoreError> {
        let (in_review, overdue): (i64, i64) = sqlx::query_as(
            "select count(*), count(case when due_at < ? then 1 end)
             from cases where status = 'in_review'",
        )
        .bind(to_ms(now))
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
            format!("select {LEASE_COLUMNS} from cases where id = ? and status = 'in_review'");
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
                "update cases set lease_reviewer_id = ?, lease_until = ?, updated_at = ?
                 where id = ? and status = 'in_review'
                   and (lease_reviewer_id is null or lease_until <= ? or lease_reviewer_id = ?)",
            )
            .bind(reviewer_id.as_str())
            .bind(to_ms(until))
            .bind(to_ms(now))
            .bind(case_id.as_str())
            .bind(to_ms(now))
            .bind(reviewer_id.as_str())
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
        let at = to_ms(d.now);
        let decision = if d.approved { "approved" } else { "rejected" };
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The conditional update comes first so the transaction holds the write lock
        // before it reads anything.
        let sql = format!(
            "update cases set status = ?, decided_at = ?, decided_by = ?, lease_reviewer_id = null,
                 lease_until = null, last_activity_at = ?, updated_at = ?{}
             where id = ? and status = 'in_review' and lease_reviewer_id = ? and lease_until > ?
             returning submitted_at",
            reopened_columns(d.approved, &d.reopen)
        );
        let decided: Option<(Option<i64>,)> = sqlx::query_as(&sql)
            .bind(decision)
            .bind(at)
            .bind(d.reviewer_id.as_str())
            .bind(at)
            .bind(at)
            .bind(d.case_id.as_str())
            .bind(d.reviewer_id.as_str())
            .bind(at)
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
             values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.case_id.as_str())
        .bind(d.reviewer_id.as_str())
        .bind(decision)
        .bind(&d.reasons)
        .bind(&d.note)
        .bind(submitted_at)
        .bind(at)
        .bind(at)
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
             from decisions where case_id = ? order by id",
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
               and ((decided_at is not null and decided_at < ?
                         and status in ('approved', 'rejected'))
                    or (status not in ('in_review', 'approved', 'rejected', 'ineligible')
                         and last_activity_at < ?))
             order by id limit ?",
        )
        .bind(to_ms(decided_before))
        .bind(to_ms(idle_before))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        ids.into_iter()
            .map(|(id,)| id_from_db(&id, CaseId::parse))
            .collect()
    }

    async fn mark_purged(&self, case_id: &CaseId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query("update cases set purged_at = ?, updated_at = ? where id = ?")
            .bind(to_ms(now))
            .bind(to_ms(now))
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
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    reviewer_id: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "update reviewer_sessions set revoked_at = ?, updated_at = ?
         where reviewer_id = ? and revoked_at is null",
    )
    .bind(at)
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
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let sql = format!("select status, {LEASE_COLUMNS} from cases where id = ?");
    sqlx::query_as::<_, CaseStateRow>(&sql)
        .bind(case_id.as_str())
        .fetch_optional(executor)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)
}
