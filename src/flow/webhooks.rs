//! Webhooks to the filing system: events queued in a durable outbox (in the same
//! transaction as the change they report), signed with the client's secret, delivered by a
//! worker with exponential backoff for up to three days. Nothing is lost on restart: an
//! event leaves the outbox only when delivered or given up.
//!
//! Signature: `X-Heyan-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{FlowError, Services};
use crate::domain::ids::{ClientId, EventId};
use crate::pii;
use crate::store::{CaseRecord, Client, EventFailure, NewEvent, OutboxEvent};

/// How many of one client's events a delivery task leases at a time.
const BATCH: u32 = 4;

/// The webhook secret's sealing context for a client.
pub fn secret_context(client: &crate::domain::ids::ClientId) -> String {
    format!("{client}/webhook_secret")
}

/// Builds an event about a case for its client, or `None` when the client has no
/// webhook URL. The body carries ids only, never personal data.
pub async fn case_event(
    svc: &Services,
    case: &CaseRecord,
    event_type: &str,
    extra: Value,
    now: DateTime<Utc>,
) -> Result<Option<NewEvent>, FlowError> {
    let client = svc.store.get_client(&case.client_id).await?;
    if client.webhook_url.is_none() {
        return Ok(None);
    }
    let id = EventId::new();
    let payload = json!({
        "id": id.as_str(),
        "type": event_type,
        "created_at": now,
        "data": { "case_id": case.id.as_str(), "filing_id": case.filing_id, "details": extra },
    });
    Ok(Some(NewEvent {
        id,
        client_id: case.client_id.clone(),
        event_type: event_type.to_owned(),
        payload: payload.to_string(),
        created_at: now,
    }))
}

/// The signature header value for `body` sent at `t` (unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers due events until `stop` fires; looks for due events on
/// `Services::outbox_wakeup` or every `webhook.poll_ms`. Each client's receiver is served
/// by its own task, its events in order, at most `CONCURRENT_CLIENTS` receivers at a time,
/// so a slow or hanging receiver holds back only its own client's events.
pub async fn run_worker(svc: Services, mut stop: tokio::sync::watch::Receiver<bool>) {
    let http = match reqwest::Client::builder()
        .timeout(StdDuration::from_millis(svc.settings.webhook.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are not delivered");
            return;
        }
    };
    let poll = StdDuration::from_millis(svc.settings.webhook.poll_ms);
    let mut deliveries = Deliveries::default();
    loop {
        if let Err(e) = deliveries.start_due(&svc, &http).await {
            tracing::error!(error = format!("{e:#}"), "webhook outbox pass failed");
        }
        tokio::select! {
            _ = stop.changed() => break,
            _ = svc.outbox_wakeup.notified() => {},
            _ = tokio::time::sleep(poll) => {},
            Some(finished) = deliveries.tasks.join_next_with_id() => deliveries.finished(finished),
        }
        if *stop.borrow() {
            break;
        }
    }
    // Events of an interrupted delivery stay leased and are tried again once the lease ends.
    deliveries.tasks.abort_all();
}

/// Receivers at most served at once by one worker.
const CONCURRENT_CLIENTS: usize = 8;

/// The running per-client delivery tasks.
#[derive(Default)]
struct Deliveries {
    tasks: tokio::task::JoinSet<()>,
    busy: HashMap<tokio::task::Id, ClientId>,
}

impl Deliveries {
    /// Starts a task for each client with due events that has none running.
    async fn start_due(&mut self, svc: &Services, http: &reqwest::Client) -> anyhow::Result<()> {
        while let Some(finished) = self.tasks.try_join_next_with_id() {
            self.finished(finished);
        }
        let free = CONCURRENT_CLIENTS.saturating_sub(self.busy.len());
        if free == 0 {
            return Ok(());
        }
        let now = svc.clock.now();
        let limit = u32::try_from(CONCURRENT_CLIENTS * 2).unwrap_or(u32::MAX);
        let due = svc.store.clients_with_due_events(now, limit).await?;
        let idle: Vec<ClientId> = due
            .into_iter()
            .filter(|c| !self.busy.values().any(|b| b == c))
            .take(free)
            .collect();
        for client in idle {
            let (svc, http, id) = (svc.clone(), http.clone(), client.clone());
            let task = self.tasks.spawn(async move {
                if let Err(e) = deliver_client(&svc, &http, &id).await {
                    tracing::error!(client.id = %id, error = format!("{e:#}"), "webhook delivery failed");
                }
            });
            self.busy.insert(task.id(), client);
        }
        Ok(())
    }

    fn finished(&mut self, result: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let id = match result {
            Ok((id, ())) => id,
            Err(e) => e.id(),
        };
        self.busy.remove(&id);
    }
}

/// Delivers one client's due events in order, a few at a time, until none is due or its
/// receiver fails (the rest wait for their lease to end, then for the next pass).
pub async fn deliver_client(
    svc: &Services,
    http: &reqwest::Client,
    client: &ClientId,
) -> anyhow::Result<usize> {
    // Leased for the whole batch: the tries run one after another.
    let lease = Duration::milliseconds(
        i64::try_from(svc.settings.webhook.timeout_ms)
            .unwrap_or(i64::MAX / 64)
            .saturating_mul(i64::from(BATCH) + 1),
    );
    let mut delivered = 0;
    loop {
        let now = svc.clock.now();
        let events = svc
            .store
            .claim_due_events_of(client, now, now + lease, BATCH)
            .await?;
        if events.is_empty() {
            return Ok(delivered);
        }
        for event in &events {
            if !deliver_one(svc, http, event).await? {
                return Ok(delivered);
            }
            delivered += 1;
        }
    }
}

/// Tries one event once; whether the receiver took it.
async fn deliver_one(
    svc: &Services,
    http: &reqwest::Client,
    event: &OutboxEvent,
) -> anyhow::Result<bool> {
    let client = svc.store.get_client(&event.client_id).await?;
    let result = post(svc, http, &client, event).await;
    let now = svc.clock.now();
    match result {
        Ok(()) => {
            svc.store.mark_event_delivered(&event.id, now).await?;
            metrics::counter!("webhook_deliveries_total", "outcome" => "delivered").increment(1);
            tracing::info!(event.id = %event.id, event.kind = %event.event_type, attempts = event.attempts + 1, "webhook delivered");
        }
        Err(error) => {
            let failure = next_try(svc, event, error, now);
            let outcome = if failure.give_up { "gave_up" } else { "failed" };
            metrics::counter!("webhook_deliveries_total", "outcome" => outcome).increment(1);
            tracing::warn!(event.id = %event.id, attempts = failure.attempts, error = %failure.error, give_up = failure.give_up, "webhook delivery failed");
            svc.store.mark_event_failed(&failure).await?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// Exponential backoff from `retry_base_ms`, capped at `retry_max_ms`; giving up once
/// the next try would fall past the retry window.
fn next_try(
    svc: &Services,
    event: &OutboxEvent,
    error: String,
    now: DateTime<Utc>,
) -> EventFailure {
    let policy = &svc.settings.webhook;
    let attempts = event.attempts + 1;
    let exponent = u32::try_from(attempts - 1).unwrap_or(0).min(30);
    let delay_ms = policy
        .retry_base_ms
        .saturating_mul(1u64 << exponent)
        .min(policy.retry_max_ms);
    let next = now + Duration::milliseconds(i64::try_from(delay_ms).unwrap_or(i64::MAX / 4));
    let window_end = event.created_at + Duration::hours(i64::from(policy.retry_window_hours));
    EventFailure {
        id: event.id.clone(),
        attempts,
        next_attempt_at: next,
        give_up: next > window_end,
        error,
        now,
    }
}

async fn post(
    svc: &Services,
    http: &reqwest::Client,
    client: &Client,
    event: &OutboxEvent,
) -> Result<(), String> {
    let url = client
        .webhook_url
        .as_deref()
        .ok_or("the client has no webhook URL")?;
    let sealed = client
        .webhook_secret_sealed
        .as_deref()
        .ok_or("the client has no webhook secret")?;
    let secret = pii::open(&svc.keys, &secret_context(&client.id), sealed)
        .map_err(|e| format!("webhook secret: {e}"))?;
    let t = svc.clock.now().timestamp();
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-heyan-event-id", event.id.as_str())
        .header("x-heyan-event-type", &event.event_type)
        .header("x-heyan-signature", signature(&secret, t, &event.payload))
        .body(event.payload.clone())
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("receiver answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_time_and_body() {
        let s = signature("whsec_x", 1_700_000_000, "{\"a\":1}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(s, signature("whsec_x", 1_700_000_001, "{\"a\":1}"));
        assert_ne!(s, signature("whsec_x", 1_700_000_000, "{\"a\":2}"));
        assert_ne!(s, signature("whsec_y", 1_700_000_000, "{\"a\":1}"));
    }
}
