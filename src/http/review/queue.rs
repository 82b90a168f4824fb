//! The review queue: cases in review by due time, with time left or overdue.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::ReviewerUser;
use crate::flow::review::{self, QueueFilter};
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::AppQuery;
use crate::http::state::AppState;
use crate::store::{Lease, QueueItem};

/// Filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(default)]
pub struct QueueParams {
    /// 1-based.
    pub page: u32,
    /// 1–200 (50).
    pub per_page: u32,
    /// Only cases past their due time.
    pub overdue: bool,
    /// Only cases I hold.
    pub mine: bool,
}

impl Default for QueueParams {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: 50,
            overdue: false,
            mine: false,
        }
    }
}

/// A live lease.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseInfo {
    /// Holder.
    pub reviewer_id: String,
    /// Holder's name.
    pub display_name: String,
    /// Lease end.
    pub until: DateTime<Utc>,
    /// Seconds until the lease ends, by the server's clock (the console counts from this,
    /// so a browser clock that is off does not matter).
    pub seconds_left: i64,
    /// Whether the caller holds it.
    pub mine: bool,
}

impl LeaseInfo {
    /// The lease as the caller sees it at `now`.
    pub fn new(lease: &Lease, me: &ReviewerUser, now: DateTime<Utc>) -> Self {
        Self {
            reviewer_id: lease.reviewer_id.to_string(),
            display_name: lease.display_name.clone(),
            until: lease.until,
            seconds_left: (lease.until - now).num_seconds(),
            mine: lease.reviewer_id == me.signed_in.reviewer.id,
        }
    }
}

/// One case in the queue (masked data only).
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueEntry {
    /// heyan's id.
    pub case_id: String,
    /// The filing system's id.
    pub filing_id: String,
    /// Masked (张*).
    pub subject_name_masked: String,
    /// The websites.
    pub domains: Vec<String>,
    /// Entered review.
    pub submitted_at: Option<DateTime<Utc>>,
    /// One business day later.
    pub due_at: Option<DateTime<Utc>>,
    /// Negative when overdue.
    pub seconds_left: Option<i64>,
    /// Past the due time.
    pub overdue: bool,
    /// Who works on it.
    pub lease: Option<LeaseInfo>,
}

/// A page of the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueResponse {
    /// Most urgent first.
    pub items: Vec<QueueEntry>,
    /// Matching cases.
    pub total: i64,
    /// This page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
    /// Overdue cases in the whole queue.
    pub overdue_count: i64,
}

/// The cases waiting for review, ordered by due time.
#[utoipa::path(get, path = "/review/v1/queue", tag = "review", params(QueueParams),
    responses(
        (status = 200, description = "A page of the queue", body = QueueResponse),
        (status = 403, description = "`reviewer_required`: the account lacks the reviewer role", body = ErrorBody),
        (status = 401, description = "`login_required`", body = ErrorBody),
    ))]
pub async fn get_queue(
    State(state): State<AppState>,
    user: ReviewerUser,
    AppQuery(params): AppQuery<QueueParams>,
) -> ApiResult<Json<QueueResponse>> {
    let filter = QueueFilter {
        overdue_only: params.overdue,
        mine: params.mine,
        page: params.page.max(1),
        per_page: params.per_page.clamp(1, 200),
    };
    let queue = review::queue(&state, &user.signed_in.reviewer, filter).await?;
    let items = queue
        .page
        .items
        .iter()
        .map(|item| entry(item, queue.now, &user))
        .collect();
    Ok(Json(QueueResponse {
        items,
        total: queue.page.total,
        page: filter.page,
        per_page: filter.per_page,
        overdue_count: queue.overdue_count,
    }))
}

fn entry(item: &QueueItem, now: DateTime<Utc>, user: &ReviewerUser) -> QueueEntry {
    let case = &item.case;
    let seconds_left = case.due_at.map(|due| (due - now).num_seconds());
    QueueEntry {
        case_id: case.id.to_string(),
        filing_id: case.filing_id.clone(),
        subject_name_masked: case.subject_name_masked.clone(),
        domains: item.domains.clone(),
        submitted_at: case.progress.submitted_at,
        due_at: case.due_at,
        seconds_left,
        overdue: seconds_left.is_some_and(|s| s < 0),
        lease: item.lease.as_ref().map(|l| LeaseInfo::new(l, user, now)),
    }
}
