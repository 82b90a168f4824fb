//! Fixed-window request quotas kept in the database, so they hold across instances.

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::FlowError;
use crate::store::Store;

/// Counts one request against `key`'s quota of `limit` per `window`; when over, returns
/// `Locked` with the seconds until the window ends.
pub async fn take(
    store: &dyn Store,
    key: &str,
    limit: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    let start = now.duration_trunc(window).unwrap_or(now);
    let end = start + window;
    // Rows outlive their window by one more window, then `delete_expired_counters` drops them.
    let count = store
        .increment_counter(key, start, end + window, now)
        .await?;
    if count > i64::from(limit) {
        let secs = (end - now).num_seconds().max(1);
        return Err(FlowError::Locked {
            retry_after_secs: secs.unsigned_abs(),
        });
    }
    Ok(())
}
