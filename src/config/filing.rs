//! `[filing]`: the filing-system API's policies (quota, codes, idempotency).

use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Filing-system API policies (`[filing]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilingSettings {
    /// `HEYAN_FILING__REQUESTS_PER_MINUTE`: per-client request quota, shared by all
    /// instances through the database. Default 600.
    pub requests_per_minute: u32,
    /// `HEYAN_FILING__CODE_TTL_HOURS`: how long an image verification code stays valid. Default 72.
    pub code_ttl_hours: u32,
    /// `HEYAN_FILING__REDEEM_MAX_FAILURES`: wrong codes per case before redemption locks. Default 10.
    pub redeem_max_failures: u32,
    /// `HEYAN_FILING__REDEEM_LOCKOUT_MINUTES`: how long the lock lasts. Default 60.
    pub redeem_lockout_minutes: u32,
    /// `HEYAN_FILING__IDEMPOTENCY_HOURS`: how long `Idempotency-Key` answers are kept. Default 24.
    pub idempotency_hours: u32,
}

/// The settings reference's line for each `[filing]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("requests_per_minute", "Per-client request quota on `/filing/v1`, counted in the database so it holds across instances; at least 1."),
    SettingDoc::new("code_ttl_hours", "How long an image verification code stays valid, in hours; at least 1."),
    SettingDoc::new("redeem_max_failures", "Wrong codes per case before redemption locks; at least 1."),
    SettingDoc::new("redeem_lockout_minutes", "How long redemption stays locked, in minutes; at least 1."),
    SettingDoc::new("idempotency_hours", "How long answers to requests with an `Idempotency-Key` are kept, in hours."),
];

impl Default for FilingSettings {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            code_ttl_hours: 72,
            redeem_max_failures: 10,
            redeem_lockout_minutes: 60,
            idempotency_hours: 24,
        }
    }
}

impl FilingSettings {
    /// Values that must be positive.
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        super::require_positive(
            problems,
            &[
                (
                    "filing.requests_per_minute (HEYAN_FILING__REQUESTS_PER_MINUTE)",
                    u64::from(self.requests_per_minute),
                ),
                (
                    "filing.code_ttl_hours (HEYAN_FILING__CODE_TTL_HOURS)",
                    u64::from(self.code_ttl_hours),
                ),
                (
                    "filing.redeem_max_failures (HEYAN_FILING__REDEEM_MAX_FAILURES)",
                    u64::from(self.redeem_max_failures),
                ),
                // Zero would lift the lock the moment it is set: unlimited guessing.
                (
                    "filing.redeem_lockout_minutes (HEYAN_FILING__REDEEM_LOCKOUT_MINUTES)",
                    u64::from(self.redeem_lockout_minutes),
                ),
            ],
        );
    }
}
