//! Retention: photos are deleted `review.purge_after_decision_days` (30) after the
//! decision, and `review.purge_idle_days` (7) after the last activity of a case abandoned
//! before review. `heyan purge` runs one pass; the server runs it with its housekeeping.
//! Each purge is audited and the filing system hears `case.purged`.

use chrono::Duration;
use serde_json::json;

use super::{audit, photos, webhooks, Actor, FlowError, Services};
use crate::domain::ids::CaseId;

/// Cases handled per batch.
const BATCH: u32 = 100;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Cases whose photos were purged.
    pub cases: usize,
    /// Photos deleted.
    pub photos: usize,
}

/// Purges every case that is due now.
pub async fn purge_due(svc: &Services) -> Result<PurgeReport, FlowError> {
    let now = svc.clock.now();
    let policy = &svc.settings.review;
    let decided_before = now - Duration::days(i64::from(policy.purge_after_decision_days));
    let idle_before = now - Duration::days(i64::from(policy.purge_idle_days));
    let mut report = PurgeReport::default();
    loop {
        let due = svc
            .store
            .purgeable_cases(decided_before, idle_before, BATCH)
            .await?;
        if due.is_empty() {
            return Ok(report);
        }
        for case_id in &due {
            report.photos += purge_case(svc, case_id).await?;
            report.cases += 1;
        }
    }
}

/// Deletes one case's photos, marks it purged, tells its filing system, audits it.
async fn purge_case(svc: &Services, case_id: &CaseId) -> Result<usize, FlowError> {
    let now = svc.clock.now();
    let case = svc.store.get_case(case_id).await?;
    let reason = if case.decided_at.is_some() {
        "retention_after_decision"
    } else {
        "abandoned"
    };
    let purged = photos::purge_case_photos(svc, case_id).await?;
    svc.store.mark_purged(case_id, now).await?;
    let details = json!({ "reason": reason, "photos": purged });
    if let Some(event) =
        webhooks::case_event(svc, &case, "case.purged", details.clone(), now).await?
    {
        svc.store.insert_event(&event).await?;
        svc.outbox_wakeup.notify_one();
    }
    audit::record(
        svc.store.as_ref(),
        &Actor::system(),
        "case.purged",
        Some(case_id),
        details,
        now,
    )
    .await?;
    tracing::info!(case.id = %case_id, photos = purged, reason, "photos purged");
    Ok(purged)
}
