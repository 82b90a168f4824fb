//! Sending queued SMS codes. Asking for a code only queues it (for a number with a case;
//! nothing for others), so the answer is the same, and as quick, for every number; this
//! worker sends what is queued and retries a provider outage while the code is valid.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use super::{FlowError, Services};
use crate::domain::mobile::MobileNumber;
use crate::pii;
use crate::sms::SmsError;
use crate::store::{NewSms, QueuedSms};

/// The sealing context of a queued number.
const MOBILE_CONTEXT: &str = "sms_outbox/mobile";
/// The sealing context of a queued code.
const CODE_CONTEXT: &str = "sms_outbox/code";

/// Codes one pass leases.
const BATCH: u32 = 16;
/// First retry after an outage; doubles with each try.
const RETRY_BASE_SECS: i64 = 5;
/// Longest wait between two tries.
const RETRY_MAX_SECS: i64 = 60;

/// Queues `code` for `mobile` (sealed) and wakes the worker.
pub async fn queue(
    svc: &Services,
    mobile: &MobileNumber,
    code: &str,
    ttl_minutes: u32,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    svc.store
        .queue_sms(&NewSms {
            mobile_sealed: pii::seal(&svc.keys, MOBILE_CONTEXT, mobile.as_str()),
            code_sealed: pii::seal(&svc.keys, CODE_CONTEXT, code),
            ttl_minutes,
            expires_at,
            created_at: now,
        })
        .await?;
    svc.sms_wakeup.notify_one();
    Ok(())
}

/// Sends queued codes until `stop` fires; wakes on `Services::sms_wakeup` or every second.
pub async fn run_worker(svc: Services, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = send_due(&svc).await {
            tracing::error!(error = %e, "SMS outbox pass failed");
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = svc.sms_wakeup.notified() => {},
            _ = tokio::time::sleep(StdDuration::from_secs(1)) => {},
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One pass: lease due codes and try each once; how many were leased.
pub async fn send_due(svc: &Services) -> Result<usize, FlowError> {
    let now = svc.clock.now();
    // Long enough for a batch of tries one after another.
    let lease = Duration::seconds(30 * i64::from(BATCH));
    let due = svc.store.claim_due_sms(now, now + lease, BATCH).await?;
    for sms in &due {
        send_one(svc, sms).await?;
    }
    Ok(due.len())
}

async fn send_one(svc: &Services, sms: &QueuedSms) -> Result<(), FlowError> {
    let opened = pii::open(&svc.keys, MOBILE_CONTEXT, &sms.mobile_sealed)
        .ok()
        .and_then(|raw| MobileNumber::parse(&raw).ok())
        .zip(pii::open(&svc.keys, CODE_CONTEXT, &sms.code_sealed).ok());
    let now = svc.clock.now();
    let Some((mobile, code)) = opened else {
        let why = "the queued number or code cannot be opened";
        svc.store
            .mark_sms_failed(sms.id, now, true, why, now)
            .await?;
        tracing::error!(sms.id = sms.id, "{why}; given up");
        return Ok(());
    };
    match svc.sms.send_code(&mobile, &code, sms.ttl_minutes).await {
        Ok(()) => {
            svc.store.mark_sms_sent(sms.id, svc.clock.now()).await?;
            metrics::counter!("sms_sent_total", "provider" => svc.sms.name()).increment(1);
        }
        Err(e) => {
            let exponent = u32::try_from(sms.attempts).unwrap_or(0).min(10);
            let wait = (RETRY_BASE_SECS << exponent).min(RETRY_MAX_SECS);
            let next = now + Duration::seconds(wait);
            // A refusal will not change; an outage is retried while the code is valid.
            let give_up = matches!(e, SmsError::Rejected(_)) || next >= sms.expires_at;
            svc.store
                .mark_sms_failed(sms.id, next, give_up, &e.to_string(), now)
                .await?;
            let outcome = if give_up { "gave_up" } else { "failed" };
            metrics::counter!("sms_failures_total", "provider" => svc.sms.name(), "outcome" => outcome)
                .increment(1);
            tracing::warn!(sms.id = sms.id, provider = svc.sms.name(), error = %e, give_up, "SMS not sent");
        }
    }
    Ok(())
}
