//! `[app]`: the App API's policies (SMS codes, sessions).

use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// App API policies (`[app]`), defaults from DESIGN.md.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppSettings {
    /// `HEYAN_APP__SMS_CODE_TTL_MINUTES`: an SMS code's validity. Default 5.
    pub sms_code_ttl_minutes: u32,
    /// `HEYAN_APP__SMS_MAX_ATTEMPTS`: wrong tries before a code dies. Default 5.
    pub sms_max_attempts: u32,
    /// `HEYAN_APP__SMS_RESEND_SECS`: least time between two sends to one phone. Default 60.
    pub sms_resend_secs: u32,
    /// `HEYAN_APP__SMS_PER_PHONE_PER_DAY`: sends per phone per 24 h from one client
    /// address (three times as many from all addresses together). Default 10.
    pub sms_per_phone_per_day: u32,
    /// `HEYAN_APP__SMS_PER_IP_PER_HOUR`: sends per client address per hour. Default 30.
    pub sms_per_ip_per_hour: u32,
    /// `HEYAN_APP__VERIFICATIONS_PER_ID_PER_DAY`: code checks per ID number per day. Default 30.
    pub verifications_per_id_per_day: u32,
    /// `HEYAN_APP__SESSION_IDLE_MINUTES`: an App session ends after this long unused. Default 30.
    pub session_idle_minutes: u32,
    /// `HEYAN_APP__SESSION_MAX_MINUTES`: and at the latest this long after it began. Default 120.
    pub session_max_minutes: u32,
}

/// The settings reference's line for each `[app]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new(
        "sms_code_ttl_minutes",
        "How long an SMS code stays valid, in minutes.",
    ),
    SettingDoc::new(
        "sms_max_attempts",
        "Wrong tries before an SMS code stops working.",
    ),
    SettingDoc::new(
        "sms_resend_secs",
        "Least time between two codes sent to one phone, in seconds.",
    ),
    SettingDoc::new(
        "sms_per_phone_per_day",
        "Codes sent to one phone per 24 hours from one client address; three times as many from all addresses together.",
    ),
    SettingDoc::new(
        "sms_per_ip_per_hour",
        "Codes sent per client address per hour.",
    ),
    SettingDoc::new(
        "verifications_per_id_per_day",
        "Code checks per ID number per day.",
    ),
    SettingDoc::new(
        "session_idle_minutes",
        "An App session ends after this many minutes unused.",
    ),
    SettingDoc::new(
        "session_max_minutes",
        "An App session ends at the latest this many minutes after it began.",
    ),
];

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            sms_code_ttl_minutes: 5,
            sms_max_attempts: 5,
            sms_resend_secs: 60,
            sms_per_phone_per_day: 10,
            sms_per_ip_per_hour: 30,
            verifications_per_id_per_day: 30,
            session_idle_minutes: 30,
            session_max_minutes: 120,
        }
    }
}
