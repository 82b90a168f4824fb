//! Housekeeping the server does on its own: dropping expired rate-limit windows and
//! idempotency records so those tables stay small, purging photos that are due, and
//! refreshing the review queue gauges.

use std::time::Duration;

use super::Services;

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

/// One pass; failures are logged and retried on the next pass.
pub async fn sweep(svc: &Services) {
    let now = svc.clock.now();
    match svc.store.delete_expired_counters(now).await {
        Ok(n) if n > 0 => tracing::debug!(rows = n, "expired rate-limit windows deleted"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not delete expired rate-limit windows"),
    }
    match svc.store.delete_expired_idempotency(now).await {
        Ok(n) if n > 0 => tracing::debug!(rows = n, "expired idempotency records deleted"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not delete expired idempotency records"),
    }
    if let Err(e) = super::purge::purge_due(svc).await {
        tracing::warn!(error = %e, "purging due photos failed; the next pass retries");
    }
}
