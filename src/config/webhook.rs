//! `[webhook]`: delivery of signed events to filing systems.

use serde::{Deserialize, Serialize};

/// Webhook delivery (`[webhook]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// `HEYAN_WEBHOOK__TIMEOUT_MS`: one delivery try's timeout. Default 10000.
    pub timeout_ms: u64,
    /// `HEYAN_WEBHOOK__RETRY_BASE_MS`: first retry delay; doubles each try. Default 30000.
    pub retry_base_ms: u64,
    /// `HEYAN_WEBHOOK__RETRY_MAX_MS`: longest delay between tries. Default 3600000 (1 h).
    pub retry_max_ms: u64,
    /// `HEYAN_WEBHOOK__RETRY_WINDOW_HOURS`: give up this long after the event. Default 72.
    pub retry_window_hours: u32,
    /// `HEYAN_WEBHOOK__POLL_MS`: how often the outbox is checked for due events. Default 1000.
    pub poll_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            retry_base_ms: 30_000,
            retry_max_ms: 3_600_000,
            retry_window_hours: 72,
            poll_ms: 1_000,
        }
    }
}

impl WebhookSettings {
    /// Values that must be positive.
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        super::require_positive(
            problems,
            &[
                (
                    "webhook.timeout_ms (HEYAN_WEBHOOK__TIMEOUT_MS)",
                    self.timeout_ms,
                ),
                (
                    "webhook.retry_base_ms (HEYAN_WEBHOOK__RETRY_BASE_MS)",
                    self.retry_base_ms,
                ),
                ("webhook.poll_ms (HEYAN_WEBHOOK__POLL_MS)", self.poll_ms),
            ],
        );
    }
}
