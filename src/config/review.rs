//! `[review]`: the review desk (console cookies, leases, logins, sessions, retention).

use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// Review desk settings (`[review]`), defaults from DESIGN.md and the review issue.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewSettings {
    /// `HEYAN_REVIEW__COOKIE_SECURE`: mark the console session cookie `Secure` (HTTPS
    /// only). Default false in development; production requires true.
    pub cookie_secure: bool,
    /// `HEYAN_REVIEW__LEASE_MINUTES`: how long a claimed case stays with its reviewer.
    /// Default 15.
    pub lease_minutes: u32,
    /// `HEYAN_REVIEW__MAX_FAILED_LOGINS`: failed logins in a row that lock an account.
    /// Default 5.
    pub max_failed_logins: u32,
    /// `HEYAN_REVIEW__LOCK_MINUTES`: how long a locked account stays locked. Default 15.
    pub lock_minutes: u32,
    /// `HEYAN_REVIEW__LOGINS_PER_IP_PER_HOUR`: login attempts per client address per hour,
    /// whatever the account. Default 30.
    pub logins_per_ip_per_hour: u32,
    /// `HEYAN_REVIEW__SESSION_IDLE_MINUTES`: a reviewer session ends after this long
    /// unused. Default 60.
    pub session_idle_minutes: u32,
    /// `HEYAN_REVIEW__SESSION_MAX_HOURS`: and at the latest this long after login (a
    /// working day). Default 12.
    pub session_max_hours: u32,
    /// `HEYAN_REVIEW__PURGE_AFTER_DECISION_DAYS`: photos are deleted this long after the
    /// decision. Default 30.
    pub purge_after_decision_days: u32,
    /// `HEYAN_REVIEW__PURGE_IDLE_DAYS`: photos of a case abandoned before review are
    /// deleted this long after its last activity. Default 7.
    pub purge_idle_days: u32,
}

/// The settings reference's line for each `[review]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("cookie_secure", "Mark the console's session cookie `Secure` (HTTPS only); production requires `true`."),
    SettingDoc::new("lease_minutes", "How long a claimed case stays with its reviewer, in minutes."),
    SettingDoc::new("max_failed_logins", "Failed logins in a row that lock an account."),
    SettingDoc::new("lock_minutes", "How long a locked account stays locked, in minutes."),
    SettingDoc::new("logins_per_ip_per_hour", "Login attempts per client address per hour, whatever the account."),
    SettingDoc::new("session_idle_minutes", "A reviewer session ends after this many minutes unused."),
    SettingDoc::new("session_max_hours", "A reviewer session ends at the latest this many hours after login."),
    SettingDoc::new("purge_after_decision_days", "Photos are deleted this many days after the decision."),
    SettingDoc::new("purge_idle_days", "Photos of a case abandoned before review are deleted this many days after its last activity."),
];

impl Default for ReviewSettings {
    fn default() -> Self {
        Self {
            cookie_secure: false,
            lease_minutes: 15,
            max_failed_logins: 5,
            lock_minutes: 15,
            logins_per_ip_per_hour: 30,
            session_idle_minutes: 60,
            session_max_hours: 12,
            purge_after_decision_days: 30,
            purge_idle_days: 7,
        }
    }
}
