//! Housekeeping the server does on its own: dropping expired rate-limit windows,
//! idempotency records, sent SMS codes and expired single-use tokens so those tables stay
//! small, purging photos that are due, and deleting blobs that no photo row names.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::photos::blob_error;
use super::{audit, Actor, FlowError, Services};
use crate::blob::BlobId;

/// How often housekeeping runs.
const EVERY: Duration = Duration::from_secs(600);

/// Runs housekeeping until `stop` fires.
pub async fn run(svc: Services, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        sweep(&svc).await;
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(EVERY) => {},
        }
    }
}

/// One pass, on one instance at a time (the others skip it); failures are logged and
/// retried on the next pass.
pub async fn sweep(svc: &Services) {
    let lease = match svc.store.claim_tick("housekeeping").await {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            tracing::debug!("another instance runs this housekeeping pass");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not claim the housekeeping pass; the next one retries");
            return;
        }
    };
    let now = svc.clock.now();
    let counters = svc.store.delete_expired_counters(now).await;
    log_deleted(counters, "expired rate-limit windows");
    let idempotency = svc.store.delete_expired_idempotency(now).await;
    log_deleted(idempotency, "expired idempotency records");
    // A queued code holds a sealed phone number: gone an hour after it was sent.
    let sms = svc
        .store
        .delete_finished_sms(now - chrono::Duration::hours(1))
        .await;
    log_deleted(sms, "sent SMS codes");
    // Kept a day past expiry, so that a late use is still told "expired".
    let tokens = svc
        .store
        .delete_expired_single_use_tokens(now - chrono::Duration::days(1))
        .await;
    log_deleted(tokens, "expired single-use tokens");
    if let Err(e) = super::purge::purge_due(svc).await {
        tracing::warn!(error = %e, "purging due photos failed; the next pass retries");
    }
    if let Err(e) = sweep_orphan_blobs(svc).await {
        tracing::warn!(error = %e, "sweeping orphaned blobs failed; the next pass retries");
    }
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "releasing the housekeeping pass");
    }
}

/// Logs what a deletion pass did; a failure is retried on the next pass.
fn log_deleted(result: Result<u64, crate::store::StoreError>, what: &str) {
    match result {
        Ok(0) => {}
        Ok(rows) => tracing::debug!(rows, "{what} deleted"),
        Err(e) => tracing::warn!(error = %e, "could not delete {what}"),
    }
}

/// How long a blob may exist without its photo row before the sweep takes it: far longer
/// than an upload between writing its blob and its row (bounded by the request timeout).
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// What one orphan sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrphanSweep {
    /// Blobs no photo row names.
    pub blobs: usize,
    /// Leftovers of interrupted writes.
    pub interrupted_writes: usize,
}

/// Deletes blobs older than [`ORPHAN_GRACE`] that no photo row names, and the leftovers
/// of interrupted writes: what a crash between writing a photo's blob and its row leaves
/// (an encrypted ID photo nothing would ever delete). Audited when it removes anything.
pub async fn sweep_orphan_blobs(svc: &Services) -> Result<OrphanSweep, FlowError> {
    let now = svc.clock.now();
    let cutoff = SystemTime::from(now) - ORPHAN_GRACE;
    let old: Vec<BlobId> = svc
        .blobs
        .list()
        .await
        .map_err(blob_error)?
        .into_iter()
        .filter(|b| b.written_at < cutoff)
        .map(|b| b.id)
        .collect();
    let referenced: HashSet<BlobId> = svc
        .store
        .referenced_blobs(&old)
        .await?
        .into_iter()
        .collect();
    let mut swept = OrphanSweep::default();
    for id in old.iter().filter(|id| !referenced.contains(id)) {
        svc.blobs.delete(id).await.map_err(blob_error)?;
        swept.blobs += 1;
    }
    swept.interrupted_writes = svc
        .blobs
        .remove_interrupted_writes(cutoff)
        .await
        .map_err(blob_error)?;
    if swept != OrphanSweep::default() {
        tracing::info!(
            blobs = swept.blobs,
            interrupted_writes = swept.interrupted_writes,
            "orphaned blobs deleted"
        );
        audit::record(
            svc.store.as_ref(),
            &Actor::system(),
            "blob.orphans_deleted",
            None,
            json!({ "blobs": swept.blobs, "interrupted_writes": swept.interrupted_writes }),
            now,
        )
        .await?;
    }
    Ok(swept)
}
