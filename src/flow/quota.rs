//! Quotas kept in the database, so they hold across instances: fixed-window request
//! quotas, and per-case allowances (liveness attempts, uploads per photo kind).

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{FlowError, Services};
use crate::error_code::ErrorCode;
use crate::store::{CaseRecord, Store};

/// Counts one request against `key`'s quota of `limit` per `window`; when over, returns
/// `too_many_attempts` with the seconds until the window ends (callers relabel it).
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
        return Err(FlowError::retry_later(
            ErrorCode::TooManyAttempts,
            secs.unsigned_abs(),
        ));
    }
    Ok(())
}

/// The part of a client address a per-address limit counts: an IPv4 address whole, an
/// IPv6 address by its /64 (one subscriber's network: its hosts pick addresses freely).
pub fn address_key(ip: Option<&str>) -> String {
    match ip.map(str::parse::<std::net::IpAddr>) {
        Some(Ok(std::net::IpAddr::V6(v6))) => {
            let net = ipnet::Ipv6Net::new(v6, 64).map_or(v6, |n| n.network());
            format!("{net}/64")
        }
        Some(Ok(v4)) => v4.to_string(),
        Some(Err(_)) | None => "unknown".to_owned(),
    }
}

/// Names the limit a quota refusal (`too_many_attempts` from [`take`]) came from.
pub fn relabel(err: FlowError, code: ErrorCode) -> FlowError {
    match err {
        FlowError::Refused {
            code: ErrorCode::TooManyAttempts,
            facts,
        } => FlowError::Refused { code, facts },
        other => other,
    }
}

/// Counts one use of a per-case allowance (`liveness`, `upload_front`…) and returns how
/// many were used, or `code` (an exhausted allowance) beyond `limit`. The window starts at the case's
/// last decision, so a rejection gives the reopened steps a fresh allowance.
pub async fn take_allowance(
    svc: &Services,
    case: &CaseRecord,
    what: &str,
    limit: u32,
    code: ErrorCode,
) -> Result<u32, FlowError> {
    let start = case.decided_at.unwrap_or(case.created_at);
    let key = format!("case_{what}:{}", case.id);
    let used = svc
        .store
        .increment_counter(&key, start, start + Duration::days(400), svc.clock.now())
        .await?;
    let used = u32::try_from(used).unwrap_or(u32::MAX);
    if used > limit {
        return Err(code.into());
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(address_key(Some("203.0.113.5")), "203.0.113.5");
        assert_eq!(address_key(Some("2001:db8::1")), "2001:db8::/64");
        assert_eq!(
            address_key(Some("2001:db8::1")),
            address_key(Some("2001:db8::ffff:2"))
        );
        assert_ne!(
            address_key(Some("2001:db8::1")),
            address_key(Some("2001:db8:0:1::1"))
        );
        assert_eq!(address_key(None), "unknown");
    }
}
