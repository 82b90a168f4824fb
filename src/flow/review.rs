//! The review desk: the queue by due time, leases so two reviewers never work on one case,
//! the case view with the full registered data (audited), photos for the lease holder or
//! the decider only, decisions with reasons that reopen App steps, and the audit log for
//! auditors.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::photos::{self, PulledPhoto};
use super::{audit, webhooks, Actor, FlowError, Services};
use crate::domain::case::{PhotoKind, Transition};
use crate::domain::ids::CaseId;
use crate::domain::review::{parse_reasons, reopened_steps, Reason};
use crate::domain::role::Role;
use crate::error_code::ErrorCode;
use crate::pii;
use crate::store::{
    AuditEntry, CaseRecord, ClaimOutcome, DecideOutcome, DecisionRecord, Lease, NewDecision,
    QueuePage, QueueQuery, Reviewer, WebsiteRecord,
};

/// Queue filters and paging.
#[derive(Debug, Clone, Copy)]
pub struct QueueFilter {
    /// Only overdue cases.
    pub overdue_only: bool,
    /// Only cases the caller holds.
    pub mine: bool,
    /// 1-based page.
    pub page: u32,
    /// Rows per page (1–200).
    pub per_page: u32,
}

/// The queue at a moment.
#[derive(Debug, Clone)]
pub struct Queue {
    /// The page.
    pub page: QueuePage,
    /// When it was read (for time left).
    pub now: DateTime<Utc>,
    /// Overdue cases in the whole queue.
    pub overdue_count: i64,
}

/// Cases in review, most urgent first.
pub async fn queue(
    svc: &Services,
    reviewer: &Reviewer,
    filter: QueueFilter,
) -> Result<Queue, FlowError> {
    require(reviewer, Role::Reviewer)?;
    let now = svc.clock.now();
    let per_page = filter.per_page.clamp(1, 200);
    let query = QueueQuery {
        now,
        overdue_only: filter.overdue_only,
        leased_to: filter.mine.then(|| reviewer.id.clone()),
        offset: filter
            .page
            .max(1)
            .saturating_sub(1)
            .saturating_mul(per_page),
        limit: per_page,
    };
    let page = svc.store.review_queue(&query).await?;
    let counts = svc.store.review_counts(now).await?;
    Ok(Queue {
        page,
        now,
        overdue_count: counts.overdue,
    })
}

/// Takes the case for `review.lease_minutes` (renewing one's own lease).
pub async fn claim(
    svc: &Services,
    reviewer: &Reviewer,
    case_id: &CaseId,
    actor: &Actor,
) -> Result<DateTime<Utc>, FlowError> {
    require(reviewer, Role::Reviewer)?;
    let now = svc.clock.now();
    let until = now + Duration::minutes(i64::from(svc.settings.review.lease_minutes));
    match svc
        .store
        .claim_case(case_id, &reviewer.id, until, now)
        .await?
    {
        ClaimOutcome::Claimed { until } => {
            audit::record(
                svc.store.as_ref(),
                actor,
                "case.claimed",
                Some(case_id),
                json!({ "until": until }),
                now,
            )
            .await?;
            Ok(until)
        }
        ClaimOutcome::LeasedToOther(_) => Err(ErrorCode::CaseLeased.into()),
        ClaimOutcome::NotInReview => Err(not_in_review(svc, case_id).await),
    }
}

/// A case as a reviewer sees it: everything registered, unsealed.
#[derive(Debug, Clone)]
pub struct CaseForReview {
    /// The case.
    pub case: CaseRecord,
    /// Subject name, unsealed.
    pub subject_name: String,
    /// Websites with their principals unsealed.
    pub websites: Vec<(WebsiteRecord, UnsealedPrincipal)>,
    /// Its photos' records.
    pub photos: Vec<crate::store::PhotoRecord>,
    /// The live lease.
    pub lease: Option<Lease>,
    /// Decisions so far.
    pub decisions: Vec<DecisionRecord>,
    /// When it was read.
    pub now: DateTime<Utc>,
}

/// A principal's personal data, for the reviewer who compares it with the card.
#[derive(Debug, Clone)]
pub struct UnsealedPrincipal {
    /// Name.
    pub name: String,
    /// Full document number.
    pub id_number: String,
}

/// The case for its lease holder or decider; the full ID number is shown, so the view is
/// audited.
pub async fn view(
    svc: &Services,
    reviewer: &Reviewer,
    case_id: &CaseId,
    actor: &Actor,
) -> Result<CaseForReview, FlowError> {
    require(reviewer, Role::Reviewer)?;
    let now = svc.clock.now();
    let (case, lease, decisions) = accessible_case(svc, reviewer, case_id, now).await?;
    let subject_name = unseal(
        svc,
        &format!("{}/subject_name", case.id),
        &case.subject_name_sealed,
    )?;
    let websites = svc
        .store
        .list_websites(case_id)
        .await?
        .into_iter()
        .map(|w| {
            let ctx = |field: &str| format!("{}/website/{}/{field}", case.id, w.position);
            let principal = UnsealedPrincipal {
                name: unseal(svc, &ctx("name"), &w.principal_name_sealed)?,
                id_number: unseal(svc, &ctx("id_number"), &w.id_number_sealed)?,
            };
            Ok((w, principal))
        })
        .collect::<Result<Vec<_>, FlowError>>()?;
    let photos = svc.store.list_photos(case_id).await?;
    audit::record(
        svc.store.as_ref(),
        actor,
        "case.viewed",
        Some(case_id),
        json!({ "personal_data": ["name", "id_number"] }),
        now,
    )
    .await?;
    Ok(CaseForReview {
        case,
        subject_name,
        websites,
        photos,
        lease,
        decisions,
        now,
    })
}

/// A photo for the lease holder or the decider; audited.
pub async fn photo(
    svc: &Services,
    reviewer: &Reviewer,
    case_id: &CaseId,
    kind: PhotoKind,
    actor: &Actor,
) -> Result<PulledPhoto, FlowError> {
    require(reviewer, Role::Reviewer)?;
    accessible_case(svc, reviewer, case_id, svc.clock.now()).await?;
    photos::fetch(svc, case_id, kind, actor, "photo.viewed").await
}

/// The case when the reviewer holds its live lease or decided it; `not_claimed` or
/// `case_leased` otherwise (a case never in review answers like a missing one).
async fn accessible_case(
    svc: &Services,
    reviewer: &Reviewer,
    case_id: &CaseId,
    now: DateTime<Utc>,
) -> Result<(CaseRecord, Option<Lease>, Vec<DecisionRecord>), FlowError> {
    let case = svc.store.get_case(case_id).await?;
    if case.progress.submitted_at.is_none() {
        return Err(FlowError::NotFound);
    }
    let lease = svc.store.case_lease(case_id, now).await?;
    let decisions = svc.store.list_decisions(case_id).await?;
    let holds = lease.as_ref().is_some_and(|l| l.reviewer_id == reviewer.id);
    let decided = decisions.iter().any(|d| d.reviewer_id == reviewer.id);
    if holds || decided {
        return Ok((case, lease, decisions));
    }
    Err(match lease {
        Some(_) => ErrorCode::CaseLeased.into(),
        None => ErrorCode::NotClaimed.into(),
    })
}

/// What the reviewer decided.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    /// Approve, or reject with reasons.
    pub approve: bool,
    /// (code, step) pairs, wire names.
    pub reasons: Vec<(String, String)>,
    /// Optional; required for `other`.
    pub note: Option<String>,
}

/// Decides a case the reviewer holds: approve, or reject reopening the named steps. Fires
/// `case.decided` and starts the retention clock. Of concurrent decisions one wins.
pub async fn decide(
    svc: &Services,
    reviewer: &Reviewer,
    case_id: &CaseId,
    input: DecisionInput,
    actor: &Actor,
) -> Result<DateTime<Utc>, FlowError> {
    require(reviewer, Role::Reviewer)?;
    let reasons = checked_reasons(&input)?;
    let reopen = reopened_steps(&reasons);
    let now = svc.clock.now();
    let case = svc.store.get_case(case_id).await?;
    let note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(2000).collect::<String>());
    let reasons_json = json!(reasons
        .iter()
        .map(|r| json!({ "code": r.code.as_str(), "step": r.step.as_str() }))
        .collect::<Vec<_>>());
    let transition = if input.approve {
        Transition::Approve
    } else {
        Transition::Reject
    };
    let details = json!({
        "decision": transition.target().as_str(),
        "reasons": reasons_json,
        "reopened_steps": reopen.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "decided_at": now,
    });
    let event = webhooks::case_event(svc, &case, "case.decided", details.clone(), now).await?;
    let queues_event = event.is_some();
    let change = audit::change(actor, transition, case_id, details, now, event);
    let outcome = svc
        .store
        .decide_case(
            &NewDecision {
                case_id: case_id.clone(),
                reviewer_id: reviewer.id.clone(),
                approved: input.approve,
                reasons: reasons_json.to_string(),
                note,
                reopen,
                now,
            },
            &change,
        )
        .await?;
    match outcome {
        DecideOutcome::Decided => {}
        DecideOutcome::NotLeased => {
            let lease = svc.store.case_lease(case_id, now).await?;
            return Err(match lease {
                Some(_) => ErrorCode::CaseLeased,
                None => ErrorCode::NotClaimed,
            }
            .into());
        }
        DecideOutcome::NotInReview => return Err(not_in_review(svc, case_id).await),
    }
    if queues_event {
        svc.outbox_wakeup.notify_one();
    }
    record_sla(svc, &case, now);
    Ok(now)
}

fn checked_reasons(input: &DecisionInput) -> Result<Vec<Reason>, FlowError> {
    if input.approve {
        if !input.reasons.is_empty() {
            let err = crate::domain::review::ReasonError::ReasonsOnApproval;
            return Err(reason_error(&err));
        }
        return Ok(Vec::new());
    }
    parse_reasons(&input.reasons, input.note.as_deref()).map_err(|e| reason_error(&e))
}

fn reason_error(err: &crate::domain::review::ReasonError) -> FlowError {
    let (field, problem) = err.field();
    FlowError::Invalid {
        field,
        problem,
        message: err.to_string(),
    }
}

/// Time to decision in business hours, for the SLA histogram.
fn record_sla(svc: &Services, case: &CaseRecord, now: DateTime<Utc>) {
    let Some(submitted) = case.progress.submitted_at else {
        return;
    };
    match svc.calendar.business_hours_between(submitted, now) {
        Ok(hours) => metrics::histogram!("heyan_review_decision_business_hours").record(hours),
        Err(e) => tracing::warn!(error = %e, "time to decision outside the calendar"),
    }
}

/// Why a case cannot be claimed or decided: gone, cancelled, or already decided.
async fn not_in_review(svc: &Services, case_id: &CaseId) -> FlowError {
    match svc.store.get_case(case_id).await {
        Ok(case) if case.progress.submitted_at.is_none() => FlowError::NotFound,
        Ok(case) => match case.status.can_show_qr() {
            Err(closed) => FlowError::Transition(closed),
            Ok(()) => ErrorCode::AlreadyDecided.into(),
        },
        Err(e) => e.into(),
    }
}

/// A case's audit entries, for auditors.
pub async fn audit_entries(
    svc: &Services,
    reviewer: &Reviewer,
    case_id: &CaseId,
    actor: &Actor,
) -> Result<Vec<AuditEntry>, FlowError> {
    require(reviewer, Role::Auditor)?;
    let entries = svc.store.list_audit(Some(case_id), 0, 10_000).await?;
    audit::record(
        svc.store.as_ref(),
        actor,
        "audit.read",
        Some(case_id),
        json!({ "entries": entries.len() }),
        svc.clock.now(),
    )
    .await?;
    Ok(entries)
}

/// Every review operation needs its role: cases and photos the reviewer role, the audit
/// log the auditor role. An account may hold both.
fn require(reviewer: &Reviewer, role: Role) -> Result<(), FlowError> {
    if reviewer.roles.contains(&role) {
        return Ok(());
    }
    Err(match role {
        Role::Reviewer => ErrorCode::ReviewerRequired,
        Role::Auditor => ErrorCode::AuditorRequired,
    }
    .into())
}

fn unseal(svc: &Services, context: &str, sealed: &str) -> Result<String, FlowError> {
    pii::open(&svc.keys, context, sealed)
        .map_err(|e| FlowError::Internal(anyhow::anyhow!("unsealing {context}: {e}")))
}
