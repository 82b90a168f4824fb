//! The review desk's part of the store: reviewer logins and sessions, the queue, leases,
//! decisions and the purge. A supertrait of `Store`, so `Arc<dyn Store>` reaches it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{CaseRecord, NewEvent, Reviewer, StoreError};
use crate::domain::case::PhotoKind;
use crate::domain::ids::{CaseId, ReviewerId};

/// After a failed login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailure {
    /// Failures in a row, counting this one (0 once a lock was set).
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
    /// A reviewer by id (`NotFound` when absent).
    async fn get_reviewer(&self, id: &ReviewerId) -> Result<Reviewer, StoreError>;

    /// Counts a failed login; at `max_failures` in a row the account is locked until
    /// `lock_until` and the count starts again. Atomic across instances.
    async fn record_login_failure(
        &self,
        id: &ReviewerId,
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

    /// Records a decision by the lease holder and queues its event, in one transaction:
    /// the case becomes approved or rejected, its lease ends, a rejection clears the
    /// progress of the steps it reopens. Of concurrent deciders exactly one wins.
    async fn decide_case(
        &self,
        decision: &NewDecision,
        event: Option<&NewEvent>,
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
