//! `[webhook]`: delivery of signed events to filing systems.

use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

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

/// The settings reference's line for each `[webhook]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new(
        "timeout_ms",
        "Timeout of one delivery try, in milliseconds; at least 1.",
    ),
    SettingDoc::new(
        "retry_base_ms",
        "Delay before the first retry, doubling with each try, in milliseconds; at least 1.",
    ),
    SettingDoc::new(
        "retry_max_ms",
        "Longest delay between two tries, in milliseconds.",
    ),
    SettingDoc::new(
        "retry_window_hours",
        "Delivery gives up this many hours after the event.",
    ),
    SettingDoc::new(
        "poll_ms",
        "How often the outbox is checked for due events, in milliseconds; at least 1.",
    ),
];

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
